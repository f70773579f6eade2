"""swarmkit-lowest-load: place tasks on the nodes that report the least load.

A placement plugin for swarmkit-py, written against its public plugin API only
(``swarmkit_py.plugins``). The leader asks it about every group of tasks to place
and every ready node, from the ``Load`` each node's agent reports with its
heartbeats:

- ``lowest-load`` scores a node by its running tasks, then by its CPU use (in
  tenths of its CPUs); lower is preferred. The score ranks after placement
  preferences and before the spread (or binpack) order, so a batch goes to the
  least loaded nodes and is spread among those that score the same.
- ``cpu-limit``, registered only when ``SWARMKIT_LOWEST_LOAD_MAX_CPU`` is set
  (a share of the node's CPUs, e.g. ``0.8``), refuses the nodes that use more.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from swarmkit_py.model import Node
from swarmkit_py.plugins import hookimpl
from swarmkit_py.scheduler import SchedGroup

__version__ = "0.1.0"

#: The share of a node's CPUs above which ``cpu-limit`` refuses it (unset: no filter).
MAX_CPU_ENV = "SWARMKIT_LOWEST_LOAD_MAX_CPU"
#: CPU use counts in tenths of the node's CPUs, below one running task (capped at 99).
CPU_STEPS = 100


def cpu_tenths(node: Node) -> int:
    """The node's reported CPU use in tenths of its CPUs (0 when it reports none)."""
    total = node.description.resources.nano_cpus
    if total <= 0:
        return 0
    return node.load.nano_cpus_used * 10 // total


@dataclass
class LowestLoad:
    """Prefers fewer running tasks, then lower CPU use."""

    name: str = "lowest-load"

    def score(self, group: SchedGroup, node: Node) -> int:
        return node.load.running_tasks * CPU_STEPS + min(cpu_tenths(node), CPU_STEPS - 1)


@dataclass
class CpuLimit:
    """Refuses the nodes that use more than `max_share` of their CPUs."""

    max_share: float
    name: str = "cpu-limit"
    #: How refusals read in `no suitable node (...)`: swarmkit-py replaces "{count}"
    #: and "{nodes}" ("node" or "nodes").
    explanation: str = ""

    def __post_init__(self) -> None:
        if not self.explanation:
            limit = f"{self.max_share:.0%}"
            self.explanation = "CPU use above " + limit + " on {count} {nodes}"

    def allows(self, group: SchedGroup, node: Node) -> bool:
        total = node.description.resources.nano_cpus
        return total <= 0 or node.load.nano_cpus_used <= self.max_share * total


def max_cpu_share(text: str) -> float:
    """Parses `SWARMKIT_LOWEST_LOAD_MAX_CPU`: a share of the node's CPUs above 0."""
    try:
        share = float(text)
    except ValueError:
        share = 0.0
    if not share > 0:
        raise ValueError(f"{MAX_CPU_ENV}={text!r}: give a share of the node's CPUs, e.g. 0.8")
    return share


@hookimpl
def register_placement_plugins(register: Any) -> None:
    """The scorer always; the CPU filter when its threshold is set (a bad value is
    reported by swarmkit-py as this plugin's error, and the scorer still works)."""
    register(LowestLoad())
    limit = os.environ.get(MAX_CPU_ENV)
    if limit:
        register(CpuLimit(max_cpu_share(limit)))
