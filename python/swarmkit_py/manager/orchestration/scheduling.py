"""Feeding the scheduler: unassigned tasks and the nodes' current use in,
assignments and `no suitable node (...)` reasons out, as store patches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from swarmkit_py.model import Node
from swarmkit_py.model.constraints import node_attributes
from swarmkit_py.model.service import host_ports, placement, reservations
from swarmkit_py.model.task import task_status
from swarmkit_py.model.times import format_time
from swarmkit_py.scheduler import GroupResult, SchedGroup, SchedNode
from swarmkit_py.store import Txn

from . import slots as s
from .plan import OPS_PER_TXN

#: ``schedule(nodes, groups)``: a scheduler plugin's method (spread, binpack, ...).
ScheduleFn = Callable[[list[SchedNode], list[SchedGroup]], list[GroupResult]]

Json = dict[str, Any]
#: Failures of a service on a node within this window make the node "faulty" for it.
FAILURE_WINDOW_NS = 5 * 60 * 1_000_000_000


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
) -> list[Txn]:
    """The store writes that assign (or explain) every task waiting for a node."""
    pending = [t for t in tasks if wants_scheduling(t)]
    if not pending:
        return []
    sched_nodes = build_nodes(nodes, tasks, now_ns)
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
        place = placement(spec)
        cpus, memory = reservations(spec)
        sched_groups.append(
            SchedGroup(
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
        )
    results = schedule(sched_nodes, sched_groups)
    stamp = format_time(now_ns)
    txns: list[Txn] = []
    txn = Txn()
    for members, result in zip(groups.values(), results, strict=True):
        for task, node_id in zip(members, result.node_ids, strict=False):
            txn.patch_task(
                str(task["ID"]),
                node_id=node_id,
                status=task_status("assigned", "scheduler assigned task to node", time=stamp),
            )
            if len(txn.ops) >= OPS_PER_TXN:
                txns.append(txn)
                txn = Txn()
        for task in members[len(result.node_ids) :]:
            status = task.get("Status") or {}
            if status.get("State") == "pending" and status.get("Err") == result.reason:
                continue
            txn.patch_task(
                str(task["ID"]),
                status=task_status("pending", "pending task scheduling", result.reason, time=stamp),
            )
            if len(txn.ops) >= OPS_PER_TXN:
                txns.append(txn)
                txn = Txn()
    if txn.ops:
        txns.append(txn)
    return txns
