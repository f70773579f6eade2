"""Task placement: which node runs each task of a batch, or why none can.

`schedule` runs the Rust core (`rust/core/src/scheduler`) with the GIL released;
`reference.schedule` is the same algorithm in plain Python, the oracle of the tests.
The rules: docs/design/services.md, "Scheduler interface".
"""

from __future__ import annotations

from collections.abc import Sequence

from swarmkit_py import _core

from .types import GroupResult, SchedGroup, SchedNode, Strategy, check_request

__all__ = ["GroupResult", "SchedGroup", "SchedNode", "Strategy", "schedule"]


def schedule(
    nodes: Sequence[SchedNode], groups: Sequence[SchedGroup], strategy: str = "spread"
) -> list[GroupResult]:
    """Places the groups in input order, each task on the best node that passes every
    filter, and returns one result per group. `strategy` is "spread" or "binpack"
    (see `Strategy`). The inputs are not modified.

    Raises ValueError for an unknown strategy or constraint operator, a negative count,
    or plugin failures or scores that are not one per node (or none, or one for all);
    OverflowError for integers out of range (see `SchedNode`, `SchedGroup`).
    """
    check_request(groups, strategy, len(nodes))
    node_rows = [
        (
            n.id,
            n.ready,
            n.nano_cpus,
            n.memory_bytes,
            n.total_nano_cpus,
            n.total_memory_bytes,
            n.attributes,
            n.tasks,
            n.service_tasks,
            n.service_failures,
            list(n.host_ports),
        )
        for n in nodes
    ]
    group_rows = [
        (
            g.service_id,
            g.count,
            g.nano_cpus,
            g.memory_bytes,
            g.constraints,
            g.platforms,
            g.host_ports,
            g.max_replicas,
            g.preferences,
            g.node,
            (g.plugin_failures, g.plugin_explanations, g.scores),
        )
        for g in groups
    ]
    return [
        GroupResult(node_ids, reason)
        for node_ids, reason in _core.schedule(node_rows, group_rows, strategy)
    ]
