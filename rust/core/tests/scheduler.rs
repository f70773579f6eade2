//! Scheduler behaviour: worked examples, and the heap-and-tree scheduler against a
//! naive one (every filter on every node for every task) on random clusters.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use swarmkit_core::scheduler::{
    schedule, Constraint, ConstraintOp, GroupResult, HostPort, NodeInfo, Platform, Strategy,
    TaskGroup,
};

const GB: i64 = 1 << 30;
const CPU: i64 = 1_000_000_000;

fn node(id: &str, attrs: &[(&str, &str)]) -> NodeInfo {
    NodeInfo {
        id: id.to_string(),
        ready: true,
        nano_cpus: 4 * CPU,
        memory_bytes: 8 * GB,
        total_nano_cpus: 4 * CPU,
        total_memory_bytes: 8 * GB,
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn group(service: &str, count: u64) -> TaskGroup {
    TaskGroup {
        service_id: service.to_string(),
        count,
        ..Default::default()
    }
}

fn constraint(key: &str, op: ConstraintOp, value: &str) -> Constraint {
    Constraint {
        key: key.to_string(),
        op,
        value: value.to_string(),
    }
}

fn ids<'a>(result: &GroupResult, nodes: &'a [NodeInfo]) -> Vec<&'a str> {
    result.node_ids(nodes)
}

#[test]
fn six_tasks_spread_two_per_node() {
    let nodes = vec![node("a", &[]), node("b", &[]), node("c", &[])];
    let out = schedule(&nodes, &[group("web", 6)], Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["a", "b", "c", "a", "b", "c"]);
    assert_eq!(out[0].reason, "");
}

#[test]
fn spread_prefers_nodes_with_fewer_tasks_of_the_service_then_fewer_tasks() {
    let mut nodes = vec![node("a", &[]), node("b", &[]), node("c", &[])];
    nodes[0].service_tasks.insert("web".into(), 1);
    nodes[1].tasks = 5;
    let out = schedule(&nodes, &[group("web", 3)], Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["c", "b", "a"]);
}

#[test]
fn faulty_nodes_go_last() {
    let mut nodes = vec![node("a", &[]), node("b", &[])];
    nodes[0].service_failures.insert("web".into(), 5);
    nodes[1].service_tasks.insert("web".into(), 3);
    let out = schedule(&nodes, &[group("web", 1)], Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["b"]);
}

#[test]
fn preferences_spread_over_zones_first() {
    // Zone a has two nodes, zone b one: tasks alternate between the zones.
    let nodes = vec![
        node("a1", &[("node.labels.zone", "a")]),
        node("a2", &[("node.labels.zone", "a")]),
        node("b1", &[("node.labels.zone", "b")]),
    ];
    let g = TaskGroup {
        preferences: vec!["node.labels.zone".into()],
        ..group("web", 4)
    };
    let out = schedule(&nodes, &[g], Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["a1", "b1", "a2", "b1"]);
}

#[test]
fn nodes_without_the_preference_label_form_one_more_branch() {
    let nodes = vec![
        node("x", &[]),
        node("a", &[("node.labels.zone", "a")]),
        node("y", &[]),
    ];
    let g = TaskGroup {
        preferences: vec!["node.labels.zone".into()],
        ..group("web", 4)
    };
    let out = schedule(&nodes, &[g], Strategy::Spread);
    // "" sorts before "a"; within the unlabeled branch, x then y.
    assert_eq!(ids(&out[0], &nodes), ["x", "a", "y", "a"]);
}

#[test]
fn binpack_fills_one_node_first() {
    let nodes = vec![node("a", &[]), node("b", &[])];
    let g = TaskGroup {
        nano_cpus: CPU,
        memory_bytes: GB,
        ..group("web", 6)
    };
    let out = schedule(&nodes, &[g], Strategy::Binpack);
    assert_eq!(ids(&out[0], &nodes), ["a", "a", "a", "a", "b", "b"]);
}

#[test]
fn reservations_that_do_not_fit_leave_tasks_pending_with_a_reason() {
    let mut nodes = vec![
        node("a", &[("node.role", "manager")]),
        node("b", &[("node.role", "worker")]),
        node("c", &[("node.role", "worker")]),
        node("d", &[("node.role", "worker")]),
    ];
    nodes[0].memory_bytes = 0;
    let g = TaskGroup {
        memory_bytes: GB,
        constraints: vec![constraint("node.role", ConstraintOp::Eq, "manager")],
        ..group("db", 2)
    };
    let out = schedule(&nodes, &[g], Strategy::Spread);
    assert!(out[0].nodes.is_empty());
    assert_eq!(
        out[0].reason,
        "no suitable node (scheduling constraints not satisfied on 3 nodes; \
         insufficient resources on 1 node)"
    );
}

#[test]
fn the_rest_of_a_group_fails_once_resources_run_out() {
    let nodes = vec![node("a", &[])];
    let g = TaskGroup {
        nano_cpus: 3 * CPU,
        ..group("web", 3)
    };
    let out = schedule(&nodes, &[g], Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["a"]);
    assert_eq!(
        out[0].reason,
        "no suitable node (insufficient resources on 1 node)"
    );
}

#[test]
fn host_ports_and_max_replicas_limit_tasks_per_node() {
    let mut nodes = vec![node("a", &[]), node("b", &[]), node("c", &[])];
    nodes[2].ready = false;
    let ports = TaskGroup {
        host_ports: vec![HostPort {
            protocol: "tcp".into(),
            port: 80,
        }],
        ..group("web", 3)
    };
    let replicas = TaskGroup {
        max_replicas: 1,
        ..group("api", 3)
    };
    let out = schedule(&nodes, &[ports, replicas], Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["a", "b"]);
    assert_eq!(
        out[0].reason,
        "no suitable node (host-mode port already in use on 2 nodes; \
         1 node not available for new tasks)"
    );
    assert_eq!(ids(&out[1], &nodes), ["a", "b"]);
    assert_eq!(
        out[1].reason,
        "no suitable node (max replicas per node limit exceed on 2 nodes; \
         1 node not available for new tasks)"
    );
}

#[test]
fn node_ip_constraints_take_addresses_and_networks() {
    let nodes = vec![
        node("a", &[("node.ip", "10.0.1.5")]),
        node("b", &[("node.ip", "10.0.2.5")]),
        node("c", &[]),
    ];
    let on = |op, value| TaskGroup {
        constraints: vec![constraint("node.ip", op, value)],
        ..group("web", 2)
    };
    let groups = [
        on(ConstraintOp::Eq, "10.0.1.0/24"),
        on(ConstraintOp::Eq, "10.0.2.5"),
        on(ConstraintOp::Ne, "10.0.0.0/16"),
    ];
    let out = schedule(&nodes, &groups, Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["a", "a"]);
    assert_eq!(ids(&out[1], &nodes), ["b", "b"]);
    assert_eq!(ids(&out[2], &nodes), ["c", "c"]);
}

#[test]
fn platforms_match_aliases_and_wildcards() {
    let nodes = vec![
        node(
            "arm",
            &[
                ("node.platform.os", "linux"),
                ("node.platform.arch", "aarch64"),
            ],
        ),
        node(
            "x86",
            &[
                ("node.platform.os", "Linux"),
                ("node.platform.arch", "x86_64"),
            ],
        ),
    ];
    let on = |os: &str, arch: &str| TaskGroup {
        platforms: vec![Platform {
            os: os.into(),
            architecture: arch.into(),
        }],
        ..group("web", 2)
    };
    let out = schedule(
        &nodes,
        &[on("", "arm64"), on("linux", "AMD64"), on("windows", "")],
        Strategy::Spread,
    );
    assert_eq!(ids(&out[0], &nodes), ["arm", "arm"]);
    assert_eq!(ids(&out[1], &nodes), ["x86", "x86"]);
    assert_eq!(
        out[2].reason,
        "no suitable node (unsupported platform on 2 nodes)"
    );
}

#[test]
fn preassigned_groups_consider_their_node_only() {
    let nodes = vec![node("a", &[]), node("b", &[])];
    let on = |n: &str| TaskGroup {
        node: Some(n.into()),
        max_replicas: 1,
        ..group("agent", 2)
    };
    let out = schedule(&nodes, &[on("b"), on("gone")], Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["b"]);
    assert_eq!(
        out[0].reason,
        "no suitable node (max replicas per node limit exceed on 1 node)"
    );
    assert_eq!(out[1].reason, "no suitable node");
}

// ---- the naive scheduler, straight from docs/design/services.md ----

#[test]
fn plugin_filters_refuse_nodes_under_their_own_explanation() {
    let mut nodes = vec![
        node("a", &[]),
        node("b", &[]),
        node("c", &[]),
        node("d", &[]),
    ];
    nodes[3].memory_bytes = 0;
    let g = TaskGroup {
        memory_bytes: GB,
        max_replicas: 1,
        // d fails resources first, though the second plugin filter refuses it too.
        plugin_failures: vec![1, 2, 0, 2],
        plugin_explanations: vec![
            "load too high on {count} {nodes}".into(),
            "disk full on {count} {nodes}".into(),
        ],
        ..group("web", 2)
    };
    let out = schedule(&nodes, &[g], Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["c"]);
    assert_eq!(
        out[0].reason,
        "no suitable node (insufficient resources on 1 node; load too high on 1 node; \
         disk full on 1 node; max replicas per node limit exceed on 1 node)"
    );
}

#[test]
fn scores_rank_after_faulty_and_before_the_strategy() {
    let mut nodes = vec![node("a", &[]), node("b", &[]), node("c", &[])];
    nodes[2].service_failures.insert("web".into(), 5);
    let g = TaskGroup {
        scores: vec![1, 0, -5],
        ..group("web", 3)
    };
    // b's score beats a's fewer tasks; c's better score does not save it from being faulty.
    let out = schedule(&nodes, std::slice::from_ref(&g), Strategy::Spread);
    assert_eq!(ids(&out[0], &nodes), ["b", "b", "b"]);
    let out = schedule(&nodes, &[g], Strategy::Binpack);
    assert_eq!(ids(&out[0], &nodes), ["b", "b", "b"]);
}

#[test]
fn a_single_plugin_value_applies_to_every_node() {
    let nodes = vec![node("a", &[]), node("b", &[])];
    let refused = TaskGroup {
        plugin_failures: vec![1],
        plugin_explanations: vec!["busy on {count} {nodes}".into()],
        ..group("web", 1)
    };
    let out = schedule(&nodes, &[refused], Strategy::Spread);
    assert_eq!(out[0].reason, "no suitable node (busy on 2 nodes)");
    let global = TaskGroup {
        node: Some("b".into()),
        scores: vec![7],
        ..group("agent", 1)
    };
    assert_eq!(
        ids(&schedule(&nodes, &[global], Strategy::Spread)[0], &nodes),
        ["b"]
    );
}

#[test]
fn a_refusal_without_an_explanation_reads_as_a_plugin_refusal() {
    let nodes = vec![node("a", &[])];
    let g = TaskGroup {
        plugin_failures: vec![2],
        plugin_explanations: vec!["first on {count} {nodes}".into()],
        ..group("web", 1)
    };
    let out = schedule(&nodes, &[g], Strategy::Spread);
    assert_eq!(
        out[0].reason,
        "no suitable node (refused by a placement plugin on 1 node)"
    );
}

struct Naive {
    avail: Vec<(i128, i128)>,
    tasks: Vec<u64>,
    service_tasks: Vec<HashMap<String, u64>>,
    ports: Vec<HashSet<(String, u32)>>,
}

fn attr<'a>(n: &'a NodeInfo, key: &str) -> &'a str {
    n.attributes.get(key).map_or("", String::as_str)
}

fn ip_equal(node_ip: &str, value: &str) -> bool {
    let (a, p) = value
        .split_once('/')
        .map_or((value, None), |(a, p)| (a, Some(p)));
    let net: Option<(IpAddr, u32)> = a.parse::<IpAddr>().ok().and_then(|addr| {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        match p {
            None => Some((addr, max)),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().ok().filter(|&n| n <= max).map(|n| (addr, n))
            }
            Some(_) => None,
        }
    });
    match (net, node_ip.parse::<IpAddr>()) {
        (Some((IpAddr::V4(n), len)), Ok(IpAddr::V4(ip))) => {
            len == 0 || u32::from(n) >> (32 - len) == u32::from(ip) >> (32 - len)
        }
        (Some((IpAddr::V6(n), len)), Ok(IpAddr::V6(ip))) => {
            len == 0 || u128::from(n) >> (128 - len) == u128::from(ip) >> (128 - len)
        }
        (Some(_), Ok(_)) => false,
        _ => node_ip == value,
    }
}

fn arch(a: &str) -> String {
    match a.to_ascii_lowercase().as_str() {
        "x86_64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

/// The group's plugin filter texts, with a default for any filter a failure names
/// beyond them.
fn explanations(g: &TaskGroup) -> Vec<String> {
    let steps = g.plugin_failures.iter().max().map_or(0, |&k| k as usize);
    let mut texts = g.plugin_explanations.clone();
    while texts.len() < steps {
        texts.push("refused by a placement plugin on {count} {nodes}".into());
    }
    texts
}

/// `values[i]`, with none meaning 0 and a single value meaning every node.
fn at<T: Copy + Default>(values: &[T], i: usize) -> T {
    match values.len() {
        0 => T::default(),
        1 => values[0],
        _ => values[i],
    }
}

impl Naive {
    /// The first step of the pipeline that refuses node `i`: 0 ready, 1 resources,
    /// 1 + k plugin filter k, then constraints, platform, host ports, max replicas.
    fn first_failure(&self, nodes: &[NodeInfo], i: usize, g: &TaskGroup) -> Option<usize> {
        let n = &nodes[i];
        let st = self.service_tasks[i]
            .get(&g.service_id)
            .copied()
            .unwrap_or(0);
        let checks = [
            n.ready,
            i128::from(g.nano_cpus) <= self.avail[i].0
                && i128::from(g.memory_bytes) <= self.avail[i].1,
            at(&g.plugin_failures, i) == 0,
            g.constraints.iter().all(|c| {
                let v = attr(n, &c.key);
                let eq = if c.key == "node.ip" {
                    ip_equal(v, &c.value)
                } else {
                    v == c.value
                };
                eq == (c.op == ConstraintOp::Eq)
            }),
            g.platforms.is_empty()
                || g.platforms.iter().any(|p| {
                    (p.os.is_empty() || p.os.eq_ignore_ascii_case(attr(n, "node.platform.os")))
                        && (p.architecture.is_empty()
                            || arch(&p.architecture) == arch(attr(n, "node.platform.arch")))
                }),
            g.host_ports
                .iter()
                .all(|p| !self.ports[i].contains(&(p.protocol.clone(), p.port))),
            g.max_replicas == 0 || st < g.max_replicas,
        ];
        let plugins = explanations(g).len();
        checks.iter().position(|ok| !ok).map(|step| match step {
            0 | 1 => step,
            2 => 1 + at(&g.plugin_failures, i) as usize,
            _ => step - 1 + plugins,
        })
    }

    fn run(nodes: &[NodeInfo], groups: &[TaskGroup], strategy: Strategy) -> Vec<GroupResult> {
        let mut me = Naive {
            avail: nodes
                .iter()
                .map(|n| (n.nano_cpus.into(), n.memory_bytes.into()))
                .collect(),
            tasks: nodes.iter().map(|n| n.tasks).collect(),
            service_tasks: nodes.iter().map(|n| n.service_tasks.clone()).collect(),
            ports: nodes
                .iter()
                .map(|n| {
                    n.host_ports
                        .iter()
                        .map(|p| (p.protocol.clone(), p.port))
                        .collect()
                })
                .collect(),
        };
        let floor = |a: i128, t: i64| {
            if t == 0 {
                0
            } else {
                (a * 1_000_000).div_euclid(t.into())
            }
        };
        let mut out = Vec::new();
        for g in groups {
            let universe: Vec<usize> = (0..nodes.len())
                .filter(|&i| g.node.as_ref().is_none_or(|id| *id == nodes[i].id))
                .collect();
            let mut result = GroupResult::default();
            for _ in 0..g.count {
                let fails: Vec<Option<usize>> = universe
                    .iter()
                    .map(|&i| me.first_failure(nodes, i, g))
                    .collect();
                // Ready, constraints and platform, each on its own (not the first failure).
                let statics: Vec<bool> = universe
                    .iter()
                    .map(|&i| {
                        let mut g = g.clone();
                        (g.nano_cpus, g.memory_bytes, g.max_replicas) = (i64::MIN, i64::MIN, 0);
                        g.host_ports.clear();
                        me.first_failure(nodes, i, &g).is_none()
                    })
                    .collect();
                let key = |i: usize| {
                    let mut k: Vec<(i128, String)> = Vec::new();
                    for l in 0..g.preferences.len() {
                        let prefix = |j: usize| {
                            g.preferences[..=l]
                                .iter()
                                .map(|p| attr(&nodes[j], p))
                                .collect::<Vec<_>>()
                        };
                        let c: u64 = universe
                            .iter()
                            .zip(&statics)
                            .filter(|&(&j, &ok)| ok && prefix(j) == prefix(i))
                            .map(|(&j, _)| {
                                me.service_tasks[j].get(&g.service_id).copied().unwrap_or(0)
                            })
                            .sum();
                        k.push((c.into(), attr(&nodes[i], &g.preferences[l]).to_string()));
                    }
                    let faulty = nodes[i]
                        .service_failures
                        .get(&g.service_id)
                        .is_some_and(|&f| f >= 5);
                    let st = me.service_tasks[i].get(&g.service_id).copied().unwrap_or(0);
                    let tail = match strategy {
                        Strategy::Spread => (i128::from(st), i128::from(me.tasks[i])),
                        Strategy::Binpack => (
                            floor(me.avail[i].0, nodes[i].total_nano_cpus)
                                + floor(me.avail[i].1, nodes[i].total_memory_bytes),
                            -i128::from(me.tasks[i]),
                        ),
                    };
                    (k, faulty, at(&g.scores, i), tail, i)
                };
                let best = universe
                    .iter()
                    .zip(&fails)
                    .filter(|(_, f)| f.is_none())
                    .map(|(&i, _)| key(i))
                    .min();
                let Some((_, _, _, _, i)) = best else {
                    let mut names: Vec<String> = [
                        "{count} {nodes} not available for new tasks",
                        "insufficient resources on {count} {nodes}",
                    ]
                    .map(String::from)
                    .to_vec();
                    names.extend(explanations(g));
                    names.extend(
                        [
                            "scheduling constraints not satisfied on {count} {nodes}",
                            "unsupported platform on {count} {nodes}",
                            "host-mode port already in use on {count} {nodes}",
                            "max replicas per node limit exceed on {count} {nodes}",
                        ]
                        .map(String::from),
                    );
                    let mut counts = vec![0usize; names.len()];
                    fails.iter().flatten().for_each(|&f| counts[f] += 1);
                    let mut parts: Vec<(usize, usize)> = (0..names.len())
                        .filter(|&f| counts[f] > 0)
                        .map(|f| (counts[f], f))
                        .collect();
                    parts.sort_by_key(|&(n, f)| (std::cmp::Reverse(n), f));
                    let text: Vec<String> = parts
                        .iter()
                        .map(|&(n, f)| {
                            let word = if n == 1 { "node" } else { "nodes" };
                            names[f]
                                .replace("{count}", &n.to_string())
                                .replace("{nodes}", word)
                        })
                        .collect();
                    result.reason = if text.is_empty() {
                        "no suitable node".into()
                    } else {
                        format!("no suitable node ({})", text.join("; "))
                    };
                    break;
                };
                me.avail[i].0 -= i128::from(g.nano_cpus);
                me.avail[i].1 -= i128::from(g.memory_bytes);
                me.tasks[i] += 1;
                *me.service_tasks[i].entry(g.service_id.clone()).or_insert(0) += 1;
                for p in &g.host_ports {
                    me.ports[i].insert((p.protocol.clone(), p.port));
                }
                result.nodes.push(i);
            }
            out.push(result);
        }
        out
    }
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn random_case(rng: &mut StdRng) -> (Vec<NodeInfo>, Vec<TaskGroup>) {
    let services = ["s1", "s2", "s3"];
    let zones = ["a", "b", "c", ""];
    let racks = ["r1", "r2"];
    let ips = ["10.0.0.1", "10.0.1.9", "192.168.1.2", "fd00::5", "bad"];
    let archs = ["amd64", "x86_64", "arm64", "aarch64", ""];
    let node_count = rng.gen_range(0..9);
    let nodes: Vec<NodeInfo> = (0..node_count)
        .map(|k| {
            let mut attrs = vec![
                ("node.ip", pick(rng, &ips)),
                ("node.platform.os", pick(rng, &["linux", "windows"])),
                ("node.platform.arch", pick(rng, &archs)),
            ];
            let zone = pick(rng, &zones);
            if !zone.is_empty() {
                attrs.push(("node.labels.zone", zone));
            }
            attrs.push(("node.labels.rack", pick(rng, &racks)));
            let id = if rng.gen_bool(0.1) {
                "dup".to_string()
            } else {
                format!("n{k}")
            };
            let mut n = node(&id, &attrs);
            n.ready = rng.gen_bool(0.85);
            n.total_nano_cpus = rng.gen_range(0..5) * CPU;
            n.total_memory_bytes = rng.gen_range(0..5) * GB;
            n.nano_cpus = n.total_nano_cpus - rng.gen_range(0..2) * CPU;
            n.memory_bytes = n.total_memory_bytes - rng.gen_range(0..2) * GB;
            n.tasks = rng.gen_range(0..4);
            for s in services {
                if rng.gen_bool(0.4) {
                    n.service_tasks.insert(s.into(), rng.gen_range(0..3));
                }
                if rng.gen_bool(0.2) {
                    n.service_failures.insert(s.into(), rng.gen_range(3..7));
                }
            }
            if rng.gen_bool(0.3) {
                n.host_ports.push(HostPort {
                    protocol: pick(rng, &["tcp", "udp"]).into(),
                    port: 80,
                });
            }
            n
        })
        .collect();
    let group_count = rng.gen_range(1..4);
    let groups = (0..group_count)
        .map(|_| {
            let mut g = group(pick(rng, &services), rng.gen_range(0..10));
            g.nano_cpus = rng.gen_range(0..3) * CPU / 2;
            g.memory_bytes = rng.gen_range(0..3) * GB / 2;
            for _ in 0..rng.gen_range(0..3) {
                let op = if rng.gen_bool(0.5) {
                    ConstraintOp::Eq
                } else {
                    ConstraintOp::Ne
                };
                let c = match rng.gen_range(0..3) {
                    0 => constraint("node.labels.zone", op, pick(rng, &zones)),
                    1 => constraint(
                        "node.ip",
                        op,
                        pick(
                            rng,
                            &["10.0.0.0/16", "10.0.1.9", "fd00::/8", "bad", "10.0.0.0/40"],
                        ),
                    ),
                    _ => constraint("node.labels.missing", op, pick(rng, &["", "x"])),
                };
                g.constraints.push(c);
            }
            for _ in 0..rng.gen_range(0..3) {
                g.platforms.push(Platform {
                    os: pick(rng, &["linux", "", "windows"]).into(),
                    architecture: pick(rng, &archs).into(),
                });
            }
            if rng.gen_bool(0.3) {
                g.host_ports.push(HostPort {
                    protocol: pick(rng, &["tcp", "udp"]).into(),
                    port: 80,
                });
            }
            g.max_replicas = rng.gen_range(0..3);
            for key in ["node.labels.zone", "node.labels.rack"] {
                if rng.gen_bool(0.4) {
                    g.preferences.push(key.into());
                }
            }
            if rng.gen_bool(0.15) {
                g.node = Some(pick(rng, &["n0", "n1", "dup", "nope"]).into());
            }
            if rng.gen_bool(0.5) {
                let filters = rng.gen_range(0..3u32);
                for _ in 0..filters {
                    let text = pick(rng, &["load too high on {count} {nodes}", "{nodes}{count}"]);
                    g.plugin_explanations.push(text.into());
                }
                g.plugin_failures = match rng.gen_range(0..3) {
                    0 => Vec::new(),
                    1 => vec![rng.gen_range(0..=filters + 1)],
                    _ => (0..node_count)
                        .map(|_| {
                            if rng.gen_bool(0.6) {
                                0
                            } else {
                                // Now and then beyond the explanations: a default text.
                                rng.gen_range(0..=filters + 1)
                            }
                        })
                        .collect(),
                };
                g.scores = match rng.gen_range(0..3) {
                    0 => Vec::new(),
                    1 => vec![rng.gen_range(-2..3)],
                    _ => (0..node_count)
                        .map(|_| match rng.gen_range(0..8) {
                            0 => i64::MIN,
                            1 => i64::MAX,
                            _ => rng.gen_range(-2..3),
                        })
                        .collect(),
                };
            }
            g
        })
        .collect();
    (nodes, groups)
}

#[test]
fn agrees_with_the_naive_scheduler_on_random_clusters() {
    let mut rng = StdRng::seed_from_u64(7);
    for case in 0..3000 {
        let (nodes, groups) = random_case(&mut rng);
        for strategy in [Strategy::Spread, Strategy::Binpack] {
            assert_eq!(
                schedule(&nodes, &groups, strategy),
                Naive::run(&nodes, &groups, strategy),
                "case {case} {strategy:?}\nnodes {nodes:#?}\ngroups {groups:#?}"
            );
        }
    }
}
