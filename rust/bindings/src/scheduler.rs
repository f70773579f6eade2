//! `_core.schedule`: tuples in, tuples out, over `swarmkit_core::scheduler::schedule`.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use swarmkit_core::scheduler::{
    self, Constraint, ConstraintOp, HostPort, NodeInfo, Platform, Strategy, TaskGroup,
};

/// (id, ready, nano_cpus, memory_bytes, total_nano_cpus, total_memory_bytes,
/// attributes, tasks, service_tasks, service_failures, host_ports)
type NodeTuple = (
    String,
    bool,
    i64,
    i64,
    i64,
    i64,
    HashMap<String, String>,
    u64,
    HashMap<String, u64>,
    HashMap<String, u64>,
    Vec<(String, u32)>,
);

/// (plugin_failures, plugin_explanations, scores)
type PluginTuple = (Vec<u32>, Vec<String>, Vec<i64>);

/// (service_id, count, nano_cpus, memory_bytes, constraints, platforms, host_ports,
/// max_replicas, preferences, node, plugins): nested, as PyO3 extracts tuples of up to
/// 12 items.
type GroupTuple = (
    String,
    u64,
    i64,
    i64,
    Vec<(String, String, String)>,
    Vec<(String, String)>,
    Vec<(String, u32)>,
    u64,
    Vec<String>,
    Option<String>,
    PluginTuple,
);

fn host_ports(ports: Vec<(String, u32)>) -> Vec<HostPort> {
    ports
        .into_iter()
        .map(|(protocol, port)| HostPort { protocol, port })
        .collect()
}

fn node(t: NodeTuple) -> NodeInfo {
    let (id, ready, nano_cpus, memory_bytes, total_nano_cpus, total_memory_bytes) =
        (t.0, t.1, t.2, t.3, t.4, t.5);
    NodeInfo {
        id,
        ready,
        nano_cpus,
        memory_bytes,
        total_nano_cpus,
        total_memory_bytes,
        attributes: t.6,
        tasks: t.7,
        service_tasks: t.8,
        service_failures: t.9,
        host_ports: host_ports(t.10),
    }
}

fn group(t: GroupTuple) -> PyResult<TaskGroup> {
    let constraints =
        t.4.into_iter()
            .map(|(key, op, value)| {
                let op = match op.as_str() {
                    "==" => ConstraintOp::Eq,
                    "!=" => ConstraintOp::Ne,
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "constraint {key}{other}{value}: the operator must be == or !="
                        )))
                    }
                };
                Ok(Constraint { key, op, value })
            })
            .collect::<PyResult<_>>()?;
    Ok(TaskGroup {
        service_id: t.0,
        count: t.1,
        nano_cpus: t.2,
        memory_bytes: t.3,
        constraints,
        platforms: t
            .5
            .into_iter()
            .map(|(os, architecture)| Platform { os, architecture })
            .collect(),
        host_ports: host_ports(t.6),
        max_replicas: t.7,
        preferences: t.8,
        node: t.9,
        plugin_failures: t.10 .0,
        plugin_explanations: t.10 .1,
        scores: t.10 .2,
    })
}

/// Places the groups; returns one `(node_ids, reason)` per group (see `_core.pyi`).
#[pyfunction]
pub(crate) fn schedule<'py>(
    py: Python<'py>,
    nodes: Vec<NodeTuple>,
    groups: Vec<GroupTuple>,
    strategy: &str,
) -> PyResult<Bound<'py, PyList>> {
    let strategy: Strategy = strategy.parse().map_err(PyValueError::new_err)?;
    let nodes: Vec<NodeInfo> = nodes.into_iter().map(node).collect();
    let groups: Vec<TaskGroup> = groups.into_iter().map(group).collect::<PyResult<_>>()?;
    let results = py.detach(|| scheduler::schedule(&nodes, &groups, strategy));
    // One str object per node, shared by all the tasks placed on it.
    let mut ids: Vec<Option<Bound<'py, PyString>>> = vec![None; nodes.len()];
    let out = PyList::empty(py);
    for result in results {
        let placed = PyList::new(
            py,
            result.nodes.iter().map(|&i| {
                ids[i]
                    .get_or_insert_with(|| PyString::new(py, &nodes[i].id))
                    .clone()
            }),
        )?;
        out.append(PyTuple::new(
            py,
            [
                placed.into_any(),
                PyString::new(py, &result.reason).into_any(),
            ],
        )?)?;
    }
    Ok(out)
}
