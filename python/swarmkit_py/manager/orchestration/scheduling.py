"""Feeding the scheduler: unassigned tasks and the nodes' current use in,
assignments and `no suitable node (...)` reasons out, as store patches. The
placement plugins are asked here, before the scheduler runs, and their answers
travel with each group (docs/design/services.md, "Scheduler interface")."""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from swarmkit_py.model import Node
from swarmkit_py.model.constraints import node_attributes
from swarmkit_py.model.service import host_ports, reservations
from swarmkit_py.model.service import placement as service_placement
from swarmkit_py.model.task import task_status
from swarmkit_py.model.times import format_time
from swarmkit_py.plugins import PlacementFilter, PlacementScorer, Plugins
from swarmkit_py.scheduler import GroupResult, SchedGroup, SchedNode
from swarmkit_py.store import Txn

from . import slots as s
from .plan import TxnBatches

#: ``schedule(nodes, groups)``: a scheduler plugin's method (spread, binpack, ...).
ScheduleFn = Callable[[list[SchedNode], list[SchedGroup]], list[GroupResult]]

Json = dict[str, Any]
#: Failures of a service on a node within this window make the node "faulty" for it.
FAILURE_WINDOW_NS = 5 * 60 * 1_000_000_000
SCORE_MIN, SCORE_MAX = -(2**63), 2**63 - 1

log = logging.getLogger(__name__)


def _log_error(plugin: object, where: str, error: Exception) -> None:
    log.error("placement plugin failed in %s: %s", where, error)


@dataclass
class PlacementPlugins:
    """The placement filters and scorers the leader asks about every group, and where
    their errors go: ``report(plugin, where, error)``, once per plugin per pass."""

    filters: list[PlacementFilter] = field(default_factory=list)
    scorers: list[PlacementScorer] = field(default_factory=list)
    report: Callable[[object, str, Exception], None] = _log_error

    @classmethod
    def from_plugins(cls, plugins: Plugins) -> PlacementPlugins:
        """The registered ones (a filter has ``allows``, a scorer ``score``); errors are
        listed under the registering plugin's name."""

        def report(plugin: object, where: str, error: Exception) -> None:
            plugins.report_error(plugins.owner(plugin), where, error)

        return cls(
            filters=[p for p in plugins.placement if callable(getattr(p, "allows", None))],
            scorers=[p for p in plugins.placement if callable(getattr(p, "score", None))],
            report=report,
        )


class _Consultation:
    """One pass's questions to the placement plugins. A call that raises (or answers a
    score that is no 64-bit integer) counts as allowing, or as 0, and each plugin that
    failed is reported once, at the end of the pass."""

    def __init__(self, placement: PlacementPlugins) -> None:
        self.placement = placement
        self.explanations = [_explanation(f) for f in placement.filters]
        self._errors: dict[int, tuple[object, str, Exception]] = {}

    def fill(self, group: SchedGroup, nodes: Sequence[Node], ready: Sequence[bool]) -> None:
        """Sets the group's `plugin_failures`, `plugin_explanations` and `scores` from
        the answers for `nodes` (the scheduler's node list, in its order)."""
        if not self.placement.filters and not self.placement.scorers:
            return
        if group.node is None:
            positions: Sequence[int] = range(len(nodes))
        else:  # only that node counts: one answer, which applies to every position
            positions = [k for k, n in enumerate(nodes) if n.id == group.node][:1]
        failures, scores = [], []
        for k in positions:
            # A node that is not ready is refused first: its answers would not matter.
            failures.append(self._first_refusal(group, nodes[k]) if ready[k] else 0)
            scores.append(self._score(group, nodes[k]) if ready[k] else 0)
        group.plugin_failures = _compact(failures)
        group.plugin_explanations = list(self.explanations)
        group.scores = _compact(scores)

    def report(self) -> None:
        for plugin, where, error in self._errors.values():
            self.placement.report(plugin, where, error)
        self._errors.clear()

    def _first_refusal(self, group: SchedGroup, node: Node) -> int:
        for number, plugin in enumerate(self.placement.filters, start=1):
            try:
                if not plugin.allows(group, node):
                    return number
            except Exception as e:
                self._errors.setdefault(id(plugin), (plugin, f"{_name(plugin)}.allows", e))
        return 0

    def _score(self, group: SchedGroup, node: Node) -> int:
        total = 0
        for plugin in self.placement.scorers:
            try:
                value = operator.index(plugin.score(group, node))
                if not SCORE_MIN <= value <= SCORE_MAX:
                    raise ValueError(f"score {value} does not fit in 64 bits")
            except Exception as e:
                self._errors.setdefault(id(plugin), (plugin, f"{_name(plugin)}.score", e))
                continue
            total += value
        return min(max(total, SCORE_MIN), SCORE_MAX)


def _name(plugin: object) -> str:
    return str(getattr(plugin, "name", type(plugin).__name__))


def _explanation(plugin: PlacementFilter) -> str:
    text = getattr(plugin, "explanation", "")
    return str(text) if text else f"refused by {_name(plugin)} on {{count}} {{nodes}}"


def _compact(values: list[int]) -> list[int]:
    """The same list, or none when all are 0, or one when all are equal."""
    if not values or any(v != values[0] for v in values):
        return values
    return [values[0]] if values[0] else []


def wants_scheduling(task: Json) -> bool:
    return s.is_active(task) and s.state(task) in ("new", "pending")


def _uses_node(task: Json) -> bool:
    """Counts against its node's resources and spread."""
    return bool(task.get("NodeID")) and s.is_active(task) and not s.has_stopped(task)


def _template_spec(task: Json, service: Json | None) -> Json:
    spec: Json = dict(service["Spec"]) if service else {}
    spec["TaskTemplate"] = task.get("Spec") or {}
    return spec


def build_nodes(nodes: Iterable[Node], tasks: Iterable[Json], now_ns: int) -> list[SchedNode]:
    by_id: dict[str, SchedNode] = {}
    for node in sorted(nodes, key=lambda n: n.id):
        res = node.description.resources
        by_id[node.id] = SchedNode(
            id=node.id,
            ready=node.status.state == "ready" and node.spec.availability == "active",
            nano_cpus=res.nano_cpus,
            memory_bytes=res.memory_bytes,
            total_nano_cpus=res.nano_cpus,
            total_memory_bytes=res.memory_bytes,
            attributes=node_attributes(node),
            tasks=0,
            service_tasks={},
            service_failures={},
            host_ports=set(),
        )
    for task in tasks:
        info = by_id.get(str(task.get("NodeID") or ""))
        if info is None:
            continue
        service_id = str(task.get("ServiceID") or "")
        if _uses_node(task):
            cpus, memory = reservations({"TaskTemplate": task.get("Spec") or {}})
            info.nano_cpus -= cpus
            info.memory_bytes -= memory
            info.tasks += 1
            info.service_tasks[service_id] = info.service_tasks.get(service_id, 0) + 1
            for port in task.get("HostPorts") or []:
                info.host_ports.add((str(port[0]), int(port[1])))
        elif s.state(task) in ("failed", "rejected") and now_ns - s.status_ns(task) <= (
            FAILURE_WINDOW_NS
        ):
            info.service_failures[service_id] = info.service_failures.get(service_id, 0) + 1
    return list(by_id.values())


def schedule_pending(
    tasks: list[Json],
    nodes: list[Node],
    services: Mapping[str, Json],
    now_ns: int,
    schedule: ScheduleFn,
    placement: PlacementPlugins | None = None,
) -> list[Txn]:
    """The store writes that assign (or explain) every task waiting for a node.
    `placement`'s filters and scorers are asked about every group first."""
    pending = [t for t in tasks if wants_scheduling(t)]
    if not pending:
        return []
    sched_nodes = build_nodes(nodes, tasks, now_ns)
    # The Node objects in the order (and with the dedup) of build_nodes.
    ordered = list({n.id: n for n in sorted(nodes, key=lambda n: n.id)}.values())
    ready = [n.ready for n in sched_nodes]
    consultation = _Consultation(placement or PlacementPlugins())
    groups: dict[tuple[str, str, str], list[Json]] = {}
    for task in sorted(pending, key=lambda t: (s.created_ns(t), str(t["ID"]))):
        key = (
            str(task.get("ServiceID")),
            str(task.get("ServiceVersion", "")),
            str(task.get("NodeID") or ""),
        )
        groups.setdefault(key, []).append(task)
    sched_groups = []
    for (service_id, _, node_id), members in groups.items():
        service = services.get(service_id)
        spec = _template_spec(members[0], service)
        place = service_placement(spec)
        cpus, memory = reservations(spec)
        group = SchedGroup(
            service_id=service_id,
            count=len(members),
            nano_cpus=cpus,
            memory_bytes=memory,
            constraints=[(c.key.lower(), c.op, c.value.lower()) for c in place.constraints],
            platforms=[(os_.lower(), arch.lower()) for os_, arch in place.platforms],
            host_ports=list(host_ports(spec)),
            max_replicas=place.max_replicas,
            preferences=list(place.preferences),
            node=node_id or None,
        )
        consultation.fill(group, ordered, ready)
        sched_groups.append(group)
    consultation.report()
    results = schedule(sched_nodes, sched_groups)
    stamp = format_time(now_ns)
    batches = TxnBatches()
    for members, result in zip(groups.values(), results, strict=True):
        for task, node_id in zip(members, result.node_ids, strict=False):
            batches.add().patch_task(
                str(task["ID"]),
                node_id=node_id,
                status=task_status("assigned", "scheduler assigned task to node", time=stamp),
            )
        for task in members[len(result.node_ids) :]:
            status = task.get("Status") or {}
            if status.get("State") == "pending" and status.get("Err") == result.reason:
                continue
            batches.add().patch_task(
                str(task["ID"]),
                status=task_status("pending", "pending task scheduling", result.reason, time=stamp),
            )
    return batches.txns()
