"""Shared builders for the scheduler tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from swarmkit_py import scheduler
from swarmkit_py.scheduler import GroupResult, SchedGroup, SchedNode, reference

CPU = 10**9
GB = 2**30

Schedule = Callable[[Sequence[SchedNode], Sequence[SchedGroup], str], list[GroupResult]]
IMPLEMENTATIONS: dict[str, Schedule] = {
    "rust": scheduler.schedule,
    "reference": reference.schedule,
}


def node(node_id: str, **attributes: str) -> SchedNode:
    """A ready node with 4 CPUs and 8 GiB free; keyword `zone="a"` sets `node.labels.zone`."""
    attrs = {(k if k.startswith("node.") else f"node.labels.{k}"): v for k, v in attributes.items()}
    return SchedNode(
        id=node_id,
        ready=True,
        nano_cpus=4 * CPU,
        memory_bytes=8 * GB,
        total_nano_cpus=4 * CPU,
        total_memory_bytes=8 * GB,
        attributes=attrs,
    )
