"""The scheduler's inputs and outputs (docs/design/services.md, "Scheduler interface")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

Strategy = Literal["spread", "binpack"]
"""`spread`: fewest tasks of the service, then fewest tasks; `binpack`: fullest node first."""

STRATEGIES: tuple[str, ...] = get_args(Strategy)
OPERATORS = ("==", "!=")
FAULTY_FAILURES = 5
"""Failures of a service on a node in the last 5 minutes from which the node ranks last."""
DEFAULT_PLUGIN_EXPLANATION = "refused by a placement plugin on {count} {nodes}"
"""How a plugin filter's refusals read when the group gives no explanation for it."""


@dataclass
class SchedNode:
    """A node as the scheduler sees it. Integers must fit in 64 bits; counts are >= 0."""

    id: str
    ready: bool
    """Status ready and availability active."""
    nano_cpus: int
    """Available: total minus the reservations of its active tasks."""
    memory_bytes: int
    total_nano_cpus: int
    total_memory_bytes: int
    attributes: dict[str, str] = field(default_factory=dict)
    """Constraint keys (`node.labels.zone`, `node.ip`, ...) to lowercased values."""
    tasks: int = 0
    """Active tasks on the node, all services."""
    service_tasks: dict[str, int] = field(default_factory=dict)
    """Active tasks per service ID."""
    service_failures: dict[str, int] = field(default_factory=dict)
    """Failures per service ID in the last 5 minutes."""
    host_ports: set[tuple[str, int]] = field(default_factory=set)
    """(protocol, published port) in host mode in use."""


@dataclass
class SchedGroup:
    """Tasks of one service version, identical but for their IDs."""

    service_id: str
    count: int
    nano_cpus: int = 0
    """Reservation per task."""
    memory_bytes: int = 0
    constraints: list[tuple[str, str, str]] = field(default_factory=list)
    """(key, "==" | "!=", value), lowercased; `node.ip` takes an address or a CIDR."""
    platforms: list[tuple[str, str]] = field(default_factory=list)
    """(os, architecture); an empty field matches anything, an empty list any platform."""
    host_ports: list[tuple[str, int]] = field(default_factory=list)
    max_replicas: int = 0
    """Tasks of the service per node; 0 = unlimited."""
    preferences: list[str] = field(default_factory=list)
    """Attribute keys to spread over, level by level."""
    node: str | None = None
    """Preassigned node ID (global services): only that node is considered."""
    plugin_failures: list[int] = field(default_factory=list)
    """Per node position in the `nodes` list: 0 if every placement plugin filter allows
    the node, else the first (1-based) that refuses it. Empty: no plugin filters; a
    single value applies to every node. Values are >= 0 and at most the number of
    explanations (a larger one reads as `DEFAULT_PLUGIN_EXPLANATION`)."""
    plugin_explanations: list[str] = field(default_factory=list)
    """One per plugin filter: how its refusals read, `{count}` and `{nodes}`
    ("node"/"nodes") filled in, e.g. "load too high on {count} {nodes}"."""
    scores: list[int] = field(default_factory=list)
    """Per node position: the placement plugins' score (64-bit), lower preferred.
    Empty: all 0; a single value applies to every node."""


@dataclass
class GroupResult:
    """Where the tasks of one group went."""

    node_ids: list[str]
    """One per placed task, in task order."""
    reason: str
    """"" if all were placed, else `no suitable node (...)`."""


def per_node(values: Sequence[int], position: int) -> int:
    """A `plugin_failures` or `scores` entry: none means 0, a single one applies to all."""
    if not values:
        return 0
    return values[0] if len(values) == 1 else values[position]


def check_request(groups: Sequence[SchedGroup], strategy: str, node_count: int) -> None:
    """Raises ValueError for an unknown strategy, a negative count, an unknown operator,
    or plugin lists of the wrong length (none, one for all nodes, or one per node)."""
    if strategy not in STRATEGIES:
        raise ValueError(
            f"unknown scheduling strategy {strategy!r}: use one of {', '.join(STRATEGIES)}"
        )
    for group in groups:
        if group.count < 0 or group.max_replicas < 0:
            raise ValueError(
                f"service {group.service_id}: count and max_replicas must be >= 0, "
                f"not {group.count} and {group.max_replicas}"
            )
        for key, op, value in group.constraints:
            if op not in OPERATORS:
                raise ValueError(
                    f"service {group.service_id}: constraint {key}{op}{value}: "
                    "the operator must be == or !="
                )
        per_node_lists = {"plugin_failures": group.plugin_failures, "scores": group.scores}
        for name, values in per_node_lists.items():
            if len(values) not in (0, 1, node_count):
                raise ValueError(
                    f"service {group.service_id}: {name} has {len(values)} entries: "
                    f"give none, one for all nodes, or one per node ({node_count})"
                )
