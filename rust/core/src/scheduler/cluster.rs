//! The working copy of the nodes during one `schedule` call, and the filters and
//! ranking key evaluated against it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::explain::DEFAULT_PLUGIN_EXPLANATION;
use super::filters::{normalize_arch, normalize_os, parse_ip, Filter, IpNet};
use super::{ConstraintOp, NodeInfo, Strategy, TaskGroup, FAULTY_FAILURES};

/// The mutable part of a node: what placements change.
struct NodeState {
    nano_cpus: i128,
    memory_bytes: i128,
    tasks: u64,
    /// Active tasks per interned service, sorted by service; only services that appear
    /// in a group. A sorted vector: a node runs few services, and no hashing is faster.
    service_tasks: Vec<(u32, u64)>,
    /// (interned protocol, port); only protocols that appear in a group.
    host_ports: HashSet<(u32, u32)>,
}

/// A node's position in the ranking; lower is better. `score` is the placement
/// plugins'. For spread `primary` is the service's tasks and `secondary` all tasks;
/// for binpack `free` and minus the tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RankKey {
    pub faulty: bool,
    pub score: i64,
    pub primary: i128,
    pub secondary: i128,
    pub position: usize,
}

struct PlannedConstraint {
    column: usize,
    wants_equal: bool,
    value: u32,
    /// Set for `node.ip` constraints whose value is an address or a network.
    net: Option<IpNet>,
}

/// One group compiled against the cluster's interned strings.
pub(crate) struct GroupPlan<'g> {
    group: &'g TaskGroup,
    /// The interned service ID.
    pub service: u32,
    /// The nodes considered: all, or the preassigned one.
    pub universe: Vec<usize>,
    /// One attribute column per preference level.
    pub preference_columns: Vec<usize>,
    constraints: Vec<PlannedConstraint>,
    /// (os, arch); `None` matches anything.
    platforms: Vec<(Option<u32>, Option<u32>)>,
    host_ports: Vec<(u32, u32)>,
    nano_cpus: i128,
    memory_bytes: i128,
    /// One text per plugin filter step: the group's, and a default for any step a
    /// failure names beyond them.
    pub explanations: Vec<String>,
}

/// Interned strings: attribute values, service IDs, protocols, platforms.
#[derive(Default)]
struct Strings {
    ids: HashMap<String, u32>,
    texts: Vec<String>,
}

impl Strings {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = u32::try_from(self.texts.len()).expect("fewer than 2^32 distinct strings");
        self.ids.insert(text.to_string(), id);
        self.texts.push(text.to_string());
        id
    }
}

const NODE_IP: &str = "node.ip";
const PLATFORM_OS: &str = "node.platform.os";
const PLATFORM_ARCH: &str = "node.platform.arch";

pub(crate) struct Cluster<'a> {
    nodes: &'a [NodeInfo],
    states: Vec<NodeState>,
    strings: Strings,
    /// Attribute key -> index in `columns`.
    column_of: HashMap<String, usize>,
    /// Per attribute key used by a group, the interned value of every node ("" if missing).
    columns: Vec<Vec<u32>>,
    /// Parsed `node.ip` of every node, once a group needs it.
    ips: Option<Vec<Option<IpAddr>>>,
    /// Normalized (os, arch) of every node, once a group needs it.
    platforms: Option<Vec<(u32, u32)>>,
    /// Node ID -> positions, once a group is preassigned.
    by_id: Option<HashMap<&'a str, Vec<usize>>>,
}

impl<'a> Cluster<'a> {
    pub(crate) fn new(nodes: &'a [NodeInfo], groups: &[TaskGroup]) -> Self {
        let mut strings = Strings::default();
        strings.intern("");
        let mut services: HashMap<&str, u32> = HashMap::new();
        let mut protocols: HashMap<&str, u32> = HashMap::new();
        for group in groups {
            services.insert(&group.service_id, strings.intern(&group.service_id));
            for p in &group.host_ports {
                protocols.insert(&p.protocol, strings.intern(&p.protocol));
            }
        }
        let states = nodes
            .iter()
            .map(|node| NodeState {
                nano_cpus: node.nano_cpus.into(),
                memory_bytes: node.memory_bytes.into(),
                tasks: node.tasks,
                service_tasks: {
                    let mut tasks: Vec<(u32, u64)> = node
                        .service_tasks
                        .iter()
                        .filter_map(|(s, &n)| services.get(s.as_str()).map(|&id| (id, n)))
                        .collect();
                    tasks.sort_unstable();
                    tasks
                },
                host_ports: node
                    .host_ports
                    .iter()
                    .filter_map(|p| protocols.get(p.protocol.as_str()).map(|&id| (id, p.port)))
                    .collect(),
            })
            .collect();
        Cluster {
            nodes,
            states,
            strings,
            column_of: HashMap::new(),
            columns: Vec::new(),
            ips: None,
            platforms: None,
            by_id: None,
        }
    }

    /// The text of an interned string.
    pub(crate) fn string(&self, id: u32) -> &str {
        &self.strings.texts[id as usize]
    }

    /// The interned values of an attribute column, one per node.
    pub(crate) fn column(&self, column: usize) -> &[u32] {
        &self.columns[column]
    }

    fn column_for(&mut self, key: &str) -> usize {
        if let Some(&c) = self.column_of.get(key) {
            return c;
        }
        let values = self
            .nodes
            .iter()
            .map(|n| n.attributes.get(key).map_or(0, |v| self.strings.intern(v)))
            .collect();
        self.columns.push(values);
        self.column_of
            .insert(key.to_string(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Compiles a group: interns its strings, builds the columns and indexes it needs.
    pub(crate) fn plan<'g>(&mut self, group: &'g TaskGroup) -> GroupPlan<'g> {
        let service = self.strings.intern(&group.service_id);
        let universe = match &group.node {
            None => (0..self.nodes.len()).collect(),
            Some(id) => {
                let nodes = self.nodes;
                let by_id = self.by_id.get_or_insert_with(|| {
                    let mut m: HashMap<&str, Vec<usize>> = HashMap::new();
                    for (i, n) in nodes.iter().enumerate() {
                        m.entry(n.id.as_str()).or_default().push(i);
                    }
                    m
                });
                by_id.get(id.as_str()).cloned().unwrap_or_default()
            }
        };
        let mut constraints = Vec::with_capacity(group.constraints.len());
        for c in &group.constraints {
            let net = if c.key == NODE_IP {
                IpNet::parse(&c.value)
            } else {
                None
            };
            let column = self.column_for(&c.key);
            if net.is_some() && self.ips.is_none() {
                let ips = self.columns[column]
                    .iter()
                    .map(|&v| parse_ip(&self.strings.texts[v as usize]))
                    .collect();
                self.ips = Some(ips);
            }
            constraints.push(PlannedConstraint {
                column,
                wants_equal: c.op == ConstraintOp::Eq,
                value: self.strings.intern(&c.value),
                net,
            });
        }
        if !group.platforms.is_empty() && self.platforms.is_none() {
            let os = self.column_for(PLATFORM_OS);
            let arch = self.column_for(PLATFORM_ARCH);
            let platforms = (0..self.nodes.len())
                .map(|i| {
                    let os = normalize_os(&self.strings.texts[self.columns[os][i] as usize]);
                    let arch = normalize_arch(&self.strings.texts[self.columns[arch][i] as usize]);
                    (self.strings.intern(&os), self.strings.intern(&arch))
                })
                .collect();
            self.platforms = Some(platforms);
        }
        let platforms = group
            .platforms
            .iter()
            .map(|p| {
                let os = (!p.os.is_empty()).then(|| self.strings.intern(&normalize_os(&p.os)));
                let arch = (!p.architecture.is_empty())
                    .then(|| self.strings.intern(&normalize_arch(&p.architecture)));
                (os, arch)
            })
            .collect();
        let host_ports = group
            .host_ports
            .iter()
            .map(|p| (self.strings.intern(&p.protocol), p.port))
            .collect();
        let preference_columns = group
            .preferences
            .iter()
            .map(|key| self.column_for(key))
            .collect();
        let steps = group
            .plugin_failures
            .iter()
            .max()
            .map_or(0, |&k| k as usize);
        let mut explanations = group.plugin_explanations.clone();
        if explanations.len() < steps {
            explanations.resize(steps, DEFAULT_PLUGIN_EXPLANATION.to_string());
        }
        GroupPlan {
            group,
            service,
            universe,
            preference_columns,
            constraints,
            platforms,
            host_ports,
            nano_cpus: group.nano_cpus.into(),
            memory_bytes: group.memory_bytes.into(),
            explanations,
        }
    }

    /// Whether node `i` passes `filter` for the group, as the node stands now.
    fn passes(&self, i: usize, filter: Filter, plan: &GroupPlan<'_>) -> bool {
        let state = &self.states[i];
        match filter {
            Filter::Ready => self.nodes[i].ready,
            Filter::Resources => {
                plan.nano_cpus <= state.nano_cpus && plan.memory_bytes <= state.memory_bytes
            }
            Filter::Constraints => plan.constraints.iter().all(|c| {
                let value = self.columns[c.column][i];
                let equal = match (c.net, self.ips.as_ref().and_then(|ips| ips[i])) {
                    (Some(net), Some(ip)) => net.contains(ip),
                    _ => value == c.value,
                };
                equal == c.wants_equal
            }),
            Filter::Platform => {
                plan.platforms.is_empty() || {
                    let (os, arch) = self.platforms.as_ref().expect("planned")[i];
                    plan.platforms.iter().any(|&(want_os, want_arch)| {
                        want_os.is_none_or(|w| w == os) && want_arch.is_none_or(|w| w == arch)
                    })
                }
            }
            Filter::HostPorts => plan
                .host_ports
                .iter()
                .all(|p| !state.host_ports.contains(p)),
            Filter::MaxReplicas => {
                plan.group.max_replicas == 0
                    || self.service_tasks(i, plan.service) < plan.group.max_replicas
            }
        }
    }

    /// Ready, plugins, constraints and platform: what no placement changes.
    pub(crate) fn passes_static(&self, i: usize, plan: &GroupPlan<'_>) -> bool {
        self.passes(i, Filter::Ready, plan)
            && plan.group.plugin_failure(i) == 0
            && self.passes(i, Filter::Constraints, plan)
            && self.passes(i, Filter::Platform, plan)
    }

    /// Resources, host ports and max replicas: what a placement on the node can change.
    pub(crate) fn passes_dynamic(&self, i: usize, plan: &GroupPlan<'_>) -> bool {
        [Filter::Resources, Filter::HostPorts, Filter::MaxReplicas]
            .into_iter()
            .all(|f| self.passes(i, f, plan))
    }

    /// Per step of the pipeline (ready, resources, each plugin filter, constraints,
    /// platform, host ports, max replicas), the nodes of the universe for which it is
    /// the first to refuse.
    pub(crate) fn failures(&self, plan: &GroupPlan<'_>) -> Vec<usize> {
        let plugins = plan.explanations.len();
        let mut counts = vec![0; Filter::ALL.len() + plugins];
        for &i in &plan.universe {
            let (before, after) = Filter::ALL.split_at(2);
            let step = if let Some(k) = before.iter().position(|&f| !self.passes(i, f, plan)) {
                Some(k)
            } else if let k @ 1.. = plan.group.plugin_failure(i) {
                Some(1 + k as usize)
            } else {
                after
                    .iter()
                    .position(|&f| !self.passes(i, f, plan))
                    .map(|k| 2 + plugins + k)
            };
            if let Some(step) = step {
                counts[step] += 1;
            }
        }
        counts
    }

    /// Tasks of the (interned) service on node `i`.
    pub(crate) fn service_tasks(&self, i: usize, service: u32) -> u64 {
        let tasks = &self.states[i].service_tasks;
        match tasks.binary_search_by_key(&service, |&(s, _)| s) {
            Ok(k) => tasks[k].1,
            Err(_) => 0,
        }
    }

    /// Node `i`'s key after the preference levels.
    pub(crate) fn rank_key(&self, i: usize, plan: &GroupPlan<'_>, strategy: Strategy) -> RankKey {
        let state = &self.states[i];
        let faulty = self.nodes[i]
            .service_failures
            .get(&plan.group.service_id)
            .is_some_and(|&f| f >= FAULTY_FAILURES);
        let tasks = i128::from(state.tasks);
        let (primary, secondary) = match strategy {
            Strategy::Spread => (i128::from(self.service_tasks(i, plan.service)), tasks),
            Strategy::Binpack => {
                let node = &self.nodes[i];
                let free = share(state.nano_cpus, node.total_nano_cpus)
                    + share(state.memory_bytes, node.total_memory_bytes);
                (free, -tasks)
            }
        };
        RankKey {
            faulty,
            score: plan.group.score(i),
            primary,
            secondary,
            position: i,
        }
    }

    /// Places one task of the group on node `i`.
    pub(crate) fn place(&mut self, i: usize, plan: &GroupPlan<'_>) {
        let state = &mut self.states[i];
        state.nano_cpus -= plan.nano_cpus;
        state.memory_bytes -= plan.memory_bytes;
        state.tasks = state.tasks.saturating_add(1);
        match state
            .service_tasks
            .binary_search_by_key(&plan.service, |&(s, _)| s)
        {
            Ok(k) => state.service_tasks[k].1 = state.service_tasks[k].1.saturating_add(1),
            Err(k) => state.service_tasks.insert(k, (plan.service, 1)),
        }
        state.host_ports.extend(plan.host_ports.iter().copied());
    }
}

/// `available * 10^6 // total` (floor division), 0 when the total is 0.
fn share(available: i128, total: i64) -> i128 {
    let total = i128::from(total);
    if total == 0 {
        return 0;
    }
    let scaled = available * 1_000_000;
    let q = scaled / total;
    if scaled % total != 0 && (scaled < 0) != (total < 0) {
        q - 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn share_floors_like_python() {
        assert_eq!(share(1, 3), 333_333);
        assert_eq!(share(-1, 3), -333_334);
        assert_eq!(share(1, -3), -333_334);
        assert_eq!(share(-1, -3), 333_333);
        assert_eq!(share(5, 0), 0);
    }
}
