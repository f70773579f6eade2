//! Task placement: which node runs each task of a batch, or why none can.
//!
//! Sans-I/O: [`schedule`] takes a snapshot of the nodes and the groups of tasks to
//! place and returns where each task goes. The rules are those of
//! `docs/design/services.md` ("Scheduler interface"). `swarmkit_py.scheduler.reference`
//! implements the same rules naively in Python and is the oracle of the tests.
//!
//! Per group the static filters (ready, plugins, constraints, platform) run once over
//! the nodes; the nodes that pass sit in a [`tree`] ordered by the ranking key. Each
//! task takes the best node that also passes the dynamic filters (resources, host
//! ports, max replicas). A node that fails a dynamic filter is dropped for the rest of
//! the group: only a placement changes a node, and it is never placed on again.
//!
//! Placement plugins run before the scheduler, outside it: their verdicts and scores
//! arrive per group as plain numbers ([`TaskGroup::plugin_failures`],
//! [`TaskGroup::scores`]), so the pipeline stays free of callbacks.

mod cluster;
mod explain;
mod filters;
mod tree;

use std::collections::HashMap;

pub use filters::Filter;

use cluster::Cluster;
use tree::Tree;

/// Failures of a service on a node (in the last 5 minutes) from which the node ranks last.
pub const FAULTY_FAILURES: u64 = 5;

/// A node as the scheduler sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node ID; task placements name it.
    pub id: String,
    /// Status ready and availability active.
    pub ready: bool,
    /// Available CPU (total minus the reservations of its active tasks), in 1e-9 CPUs.
    pub nano_cpus: i64,
    /// Available memory, in bytes.
    pub memory_bytes: i64,
    /// Total CPU, in 1e-9 CPUs.
    pub total_nano_cpus: i64,
    /// Total memory, in bytes.
    pub total_memory_bytes: i64,
    /// Constraint keys (`node.labels.zone`, `node.ip`, ...) to lowercased values.
    pub attributes: HashMap<String, String>,
    /// Active tasks on the node, all services.
    pub tasks: u64,
    /// Active tasks per service ID.
    pub service_tasks: HashMap<String, u64>,
    /// Failures per service ID in the last 5 minutes.
    pub service_failures: HashMap<String, u64>,
    /// Host-mode published ports in use (a set: duplicates are ignored).
    pub host_ports: Vec<HostPort>,
}

/// A host-mode published port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The published port.
    pub port: u32,
}

/// How a constraint compares the node's value with its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// `key==value` or `key!=value`. A key the node lacks has the value `""`. For `node.ip`
/// the value may be an address or a CIDR network: it is equal when the node's address
/// is that address or lies inside that network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    /// Attribute key, e.g. `node.labels.zone`.
    pub key: String,
    /// Comparison.
    pub op: ConstraintOp,
    /// Lowercased value.
    pub value: String,
}

/// A platform a group's image runs on; an empty field matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Platform {
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `amd64` (`x86_64` and `aarch64` are aliases of `amd64` and `arm64`).
    pub architecture: String,
}

/// Tasks of one service version, identical but for their IDs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskGroup {
    /// The service the tasks belong to.
    pub service_id: String,
    /// How many tasks to place.
    pub count: u64,
    /// CPU reservation per task, in 1e-9 CPUs.
    pub nano_cpus: i64,
    /// Memory reservation per task, in bytes.
    pub memory_bytes: i64,
    /// All must hold.
    pub constraints: Vec<Constraint>,
    /// Empty: any platform.
    pub platforms: Vec<Platform>,
    /// Host-mode ports each task publishes.
    pub host_ports: Vec<HostPort>,
    /// Tasks of the service per node; 0 means unlimited.
    pub max_replicas: u64,
    /// Attribute keys to spread over, level by level.
    pub preferences: Vec<String>,
    /// Preassigned node ID (global services): only that node is considered.
    pub node: Option<String>,
    /// Per node (by position in the `nodes` given to [`schedule`]): 0 when every
    /// placement plugin filter allows the node, else `k`, the first (1-based) that
    /// refuses it. Empty: no plugin filters. A single value applies to every node.
    pub plugin_failures: Vec<u32>,
    /// One per plugin filter: how its refusals read in a reason, `{count}` and `{nodes}`
    /// (`node` or `nodes`) filled in, e.g. `load too high on {count} {nodes}`.
    pub plugin_explanations: Vec<String>,
    /// Per node (by position): the placement plugins' score, lower preferred. Empty:
    /// all 0. A single value applies to every node.
    pub scores: Vec<i64>,
}

impl TaskGroup {
    /// The first plugin filter (1-based) that refuses node `i`, 0 if none does.
    pub fn plugin_failure(&self, i: usize) -> u32 {
        per_node(&self.plugin_failures, i)
    }

    /// The plugins' score of node `i`.
    pub fn score(&self, i: usize) -> i64 {
        per_node(&self.scores, i)
    }
}

/// `values[i]`, where an empty list means all default and one value means all that value.
fn per_node<T: Copy + Default>(values: &[T], i: usize) -> T {
    match values {
        [] => T::default(),
        [value] => *value,
        _ => values.get(i).copied().unwrap_or_default(),
    }
}

/// How the last keys of the ranking order the nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Fewest tasks of the service, then fewest tasks.
    #[default]
    Spread,
    /// Least free share of CPU plus memory, then most tasks.
    Binpack,
}

impl std::str::FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spread" => Ok(Strategy::Spread),
            "binpack" => Ok(Strategy::Binpack),
            other => Err(format!(
                "unknown scheduling strategy {other:?}: use \"spread\" or \"binpack\""
            )),
        }
    }
}

/// Where the tasks of one group went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupResult {
    /// One node index (into the `nodes` given to [`schedule`]) per placed task, in task order.
    pub nodes: Vec<usize>,
    /// `""` when every task was placed, else why the rest were not:
    /// `no suitable node (...)`.
    pub reason: String,
}

impl GroupResult {
    /// The IDs of the nodes the tasks went to.
    pub fn node_ids<'a>(&self, nodes: &'a [NodeInfo]) -> Vec<&'a str> {
        self.nodes.iter().map(|&i| nodes[i].id.as_str()).collect()
    }
}

/// Places the groups in order, each task on the best node that passes every filter,
/// and returns one result per group. The inputs are not modified; placements update
/// a working copy of the nodes, so later tasks and groups see earlier ones.
pub fn schedule(nodes: &[NodeInfo], groups: &[TaskGroup], strategy: Strategy) -> Vec<GroupResult> {
    let mut cluster = Cluster::new(nodes, groups);
    groups
        .iter()
        .map(|group| place_group(&mut cluster, group, strategy))
        .collect()
}

fn place_group(cluster: &mut Cluster<'_>, group: &TaskGroup, strategy: Strategy) -> GroupResult {
    let mut result = GroupResult::default();
    if group.count == 0 {
        return result;
    }
    let plan = cluster.plan(group);
    let candidates: Vec<usize> = plan
        .universe
        .iter()
        .copied()
        .filter(|&i| cluster.passes_static(i, &plan))
        .collect();
    let levels: Vec<&[u32]> = plan
        .preference_columns
        .iter()
        .map(|&c| cluster.column(c))
        .collect();
    let mut tree = Tree::build(
        &candidates,
        &levels,
        |i| cluster.service_tasks(i, plan.service),
        |i| cluster.rank_key(i, &plan, strategy),
        |v| cluster.string(v),
    );
    for _ in 0..group.count {
        match tree.select(|i| cluster.passes_dynamic(i, &plan)) {
            Some(i) => {
                cluster.place(i, &plan);
                tree.placed(cluster.rank_key(i, &plan, strategy));
                result.nodes.push(i);
            }
            None => {
                result.reason = explain::reason(&cluster.failures(&plan), &plan.explanations);
                break;
            }
        }
    }
    result
}
