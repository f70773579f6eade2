"""The scheduler written plainly: every filter on every node for every task.

The oracle that the Rust scheduler is tested against; it follows
docs/design/services.md ("Scheduler interface") line by line and favours being
obviously right over speed (each task costs O(nodes x preference levels)).
"""

from __future__ import annotations

import ipaddress
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .types import (
    DEFAULT_PLUGIN_EXPLANATION,
    FAULTY_FAILURES,
    GroupResult,
    SchedGroup,
    SchedNode,
    check_request,
    per_node,
)

FILTERS = (
    "ready",
    "resources",
    "plugins",
    "constraints",
    "platform",
    "host_ports",
    "max_replicas",
)
STATIC_FILTERS = ("ready", "plugins", "constraints", "platform")
REASONS = {
    "ready": "{} not available for new tasks",
    "resources": "insufficient resources on {}",
    "constraints": "scheduling constraints not satisfied on {}",
    "platform": "unsupported platform on {}",
    "host_ports": "host-mode port already in use on {}",
    "max_replicas": "max replicas per node limit exceed on {}",
}
ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


#: A refusal: (index in FILTERS, plugin filter number or 0); sorts in pipeline order.
Failure = tuple[int, int]


@dataclass
class _State:
    """What placements change on a node (a copy: the input is left alone)."""

    nano_cpus: int
    memory_bytes: int
    tasks: int
    service_tasks: dict[str, int]
    host_ports: set[tuple[str, int]]


def schedule(
    nodes: Sequence[SchedNode], groups: Sequence[SchedGroup], strategy: str = "spread"
) -> list[GroupResult]:
    """Places the groups in order, one task at a time; same contract as `scheduler.schedule`."""
    check_request(groups, strategy, len(nodes))
    states = [
        _State(n.nano_cpus, n.memory_bytes, n.tasks, dict(n.service_tasks), set(n.host_ports))
        for n in nodes
    ]
    return [_place_group(nodes, states, group, strategy) for group in groups]


def _place_group(
    nodes: Sequence[SchedNode], states: list[_State], group: SchedGroup, strategy: str
) -> GroupResult:
    universe = [i for i, n in enumerate(nodes) if group.node is None or n.id == group.node]
    placed: list[str] = []
    for _ in range(group.count):
        failures = {i: _first_failure(i, nodes[i], states[i], group) for i in universe}
        passing = [i for i in universe if failures[i] is None]
        if not passing:
            refusals = [f for f in failures.values() if f is not None]
            return GroupResult(placed, _reason(refusals, group))
        counts = _preference_counts(nodes, states, group, universe)
        keys = {i: _rank_key(i, nodes[i], states[i], group, strategy, counts) for i in passing}
        best = min(passing, key=keys.__getitem__)
        _place(states[best], group)
        placed.append(nodes[best].id)
    return GroupResult(placed, "")


def _first_failure(i: int, node: SchedNode, state: _State, group: SchedGroup) -> Failure | None:
    for index, name in enumerate(FILTERS):
        if not _passes(name, i, node, state, group):
            plugin = per_node(group.plugin_failures, i) if name == "plugins" else 0
            return index, plugin
    return None


def _passes(name: str, i: int, node: SchedNode, state: _State, group: SchedGroup) -> bool:
    if name == "ready":
        return node.ready
    if name == "resources":
        return group.nano_cpus <= state.nano_cpus and group.memory_bytes <= state.memory_bytes
    if name == "plugins":
        return per_node(group.plugin_failures, i) == 0
    if name == "constraints":
        return all(_constraint_holds(node, c) for c in group.constraints)
    if name == "platform":
        return not group.platforms or any(_platform_matches(node, p) for p in group.platforms)
    if name == "host_ports":
        return not any(port in state.host_ports for port in group.host_ports)
    if name == "max_replicas":
        tasks = state.service_tasks.get(group.service_id, 0)
        return group.max_replicas == 0 or tasks < group.max_replicas
    raise AssertionError(name)


def _constraint_holds(node: SchedNode, constraint: tuple[str, str, str]) -> bool:
    key, op, value = constraint
    actual = node.attributes.get(key, "")
    equal = _ip_equal(actual, value) if key == "node.ip" else actual == value
    return equal if op == "==" else not equal


def _ip_equal(node_ip: str, value: str) -> bool:
    """The node's address is `value`, or lies inside it when it is a network; plain text
    comparison when either side does not parse."""
    network = _parse_network(value)
    address = _parse_address(node_ip)
    if network is None or address is None:
        return node_ip == value
    return address in network


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "%" in text:  # scoped IPv6 addresses are not node addresses
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    address_text, slash, prefix_text = text.partition("/")
    address = _parse_address(address_text)
    if address is None:
        return None
    prefix: int = address.max_prefixlen
    if slash:
        if not (prefix_text.isascii() and prefix_text.isdigit()):
            return None
        prefix = int(prefix_text)
        if prefix > address.max_prefixlen:
            return None
    return ipaddress.ip_network((address, prefix), strict=False)


def _platform_matches(node: SchedNode, platform: tuple[str, str]) -> bool:
    want_os, want_arch = platform
    os = node.attributes.get("node.platform.os", "")
    arch = node.attributes.get("node.platform.arch", "")
    return (not want_os or _lower(want_os) == _lower(os)) and (
        not want_arch or _arch(want_arch) == _arch(arch)
    )


def _lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _arch(arch: str) -> str:
    arch = _lower(arch)
    return ARCH_ALIASES.get(arch, arch)


def _preference_counts(
    nodes: Sequence[SchedNode], states: list[_State], group: SchedGroup, universe: list[int]
) -> Counter[tuple[str, ...]]:
    """Tasks of the service per preference path prefix, over the nodes of the universe
    that pass the static filters."""
    counts: Counter[tuple[str, ...]] = Counter()
    for j in universe:
        if all(_passes(name, j, nodes[j], states[j], group) for name in STATIC_FILTERS):
            path = _path(nodes[j], group)
            for level in range(1, len(path) + 1):
                counts[path[:level]] += states[j].service_tasks.get(group.service_id, 0)
    return counts


def _path(node: SchedNode, group: SchedGroup) -> tuple[str, ...]:
    return tuple(node.attributes.get(key, "") for key in group.preferences)


def _rank_key(
    i: int,
    node: SchedNode,
    state: _State,
    group: SchedGroup,
    strategy: str,
    counts: Counter[tuple[str, ...]],
) -> tuple[object, ...]:
    """`(c1, v1, c2, v2, ..., faulty, score, service_tasks, tasks, position)`; binpack
    uses `free, -tasks` for `service_tasks, tasks`."""
    path = _path(node, group)
    levels: list[object] = []
    for level in range(1, len(path) + 1):
        levels += [counts[path[:level]], path[level - 1]]
    faulty = node.service_failures.get(group.service_id, 0) >= FAULTY_FAILURES
    if strategy == "spread":
        tail = (state.service_tasks.get(group.service_id, 0), state.tasks)
    else:
        free = _share(state.nano_cpus, node.total_nano_cpus) + _share(
            state.memory_bytes, node.total_memory_bytes
        )
        tail = (free, -state.tasks)
    return (*levels, faulty, per_node(group.scores, i), *tail, i)


def _share(available: int, total: int) -> int:
    return 0 if total == 0 else available * 10**6 // total


def _place(state: _State, group: SchedGroup) -> None:
    state.nano_cpus -= group.nano_cpus
    state.memory_bytes -= group.memory_bytes
    state.tasks += 1
    state.service_tasks[group.service_id] = state.service_tasks.get(group.service_id, 0) + 1
    state.host_ports.update(group.host_ports)


def _reason(failures: list[Failure], group: SchedGroup) -> str:
    """`no suitable node (...)`: filters by the nodes they refused, most first, ties in
    pipeline order (each plugin filter is a step of its own, in its order)."""
    counts = Counter(failures)
    if not counts:
        return "no suitable node"
    ordered = sorted(counts, key=lambda failure: (-counts[failure], failure))
    parts = [_describe(failure, counts[failure], group) for failure in ordered]
    return f"no suitable node ({'; '.join(parts)})"


def _describe(failure: Failure, n: int, group: SchedGroup) -> str:
    index, plugin = failure
    if plugin:
        texts = group.plugin_explanations
        template = texts[plugin - 1] if plugin <= len(texts) else DEFAULT_PLUGIN_EXPLANATION
        return template.replace("{count}", str(n)).replace("{nodes}", _word(n))
    return REASONS[FILTERS[index]].format(f"{n} {_word(n)}")


def _word(n: int) -> str:
    return "node" if n == 1 else "nodes"
