"""The control layer for services and tasks: what `/services` and `/tasks` do
on a manager. Validates, checks versions, and writes through the proposer;
the orchestrators on the leader do the rest."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from swarmkit_py.errors import (
    FailedPrecondition,
    InvalidArgument,
    NameConflict,
    NotFound,
    OutOfSequence,
)
from swarmkit_py.model.constraints import matches, node_attributes
from swarmkit_py.model.service import (
    check_spec_change,
    insert_defaults,
    is_global,
    parse_service_spec,
    placement,
    replicas,
    reservations,
)
from swarmkit_py.model.task import TASK_STATES, is_up_to_date, make_task, task_name
from swarmkit_py.model.times import format_time, now
from swarmkit_py.pki import generate_id
from swarmkit_py.store import SERVICE_FILTERS, TASK_FILTERS, ClusterStore, Txn
from swarmkit_py.store.query import check_filters

from .orchestration import slots as s

if TYPE_CHECKING:
    from .manager import Manager

Json = dict[str, Any]
#: Docker's desired-state filter values, and the states we use behind each.
_DESIRED = {
    "running": {"running", "ready"},
    "shutdown": {"shutdown", "complete", "remove", "orphaned"},
    "accepted": {"accepted"},
}
#: Tasks patched per transaction when a service is removed.
_BATCH = 200


def _desired_states(values: list[str]) -> set[str]:
    """The states a `desired-state` filter selects (none: any). Like dockerd,
    values are task states in any case and "" is ignored; any other value is
    refused, as a client mistake (dockerd answers 500 with the same message)."""
    wanted: set[str] = set()
    for value in values:
        if value.lower() in TASK_STATES:
            wanted |= _DESIRED.get(value.lower(), {value.lower()})
        elif value:
            raise InvalidArgument(f"Invalid desired-state filter: '{value}'")
    return wanted


def _labels_match(labels: Json, terms: list[str]) -> bool:
    for term in terms:
        key, sep, value = term.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


class ServiceControl:
    def __init__(self, manager: Manager) -> None:
        self.m = manager

    @property
    def store(self) -> ClusterStore:
        return self.m.store

    # -- reads -------------------------------------------------------------

    def service_status(self, service: Json) -> Json:
        tasks = self.store.list_tasks(service_id=service["ID"])
        running = sum(1 for t in tasks if s.is_running(t) and s.is_active(t))
        want = replicas(service["Spec"])
        if want is None:
            want = sum(1 for t in tasks if s.is_active(t))
        return {"RunningTasks": running, "DesiredTasks": want, "CompletedTasks": 0}

    def services_list(self, filters: dict[str, list[str]], status: bool) -> list[Json]:
        check_filters(filters, SERVICE_FILTERS)
        out = []
        for service in self.store.list_services():
            spec = service["Spec"]
            if "id" in filters and not any(service["ID"].startswith(v) for v in filters["id"]):
                continue
            if "name" in filters and not any(
                str(spec.get("Name", "")).startswith(v) for v in filters["name"]
            ):
                continue
            if "mode" in filters:
                mode = "global" if is_global(spec) else "replicated"
                if mode not in filters["mode"]:
                    continue
            if "label" in filters and not _labels_match(spec.get("Labels") or {}, filters["label"]):
                continue
            shown = copy.deepcopy(service)
            if status:
                shown["ServiceStatus"] = self.service_status(service)
            out.append(shown)
        return sorted(out, key=lambda sv: str(sv["Spec"].get("Name", "")))

    def service_inspect(self, ref: str, insert: bool) -> Json:
        shown = copy.deepcopy(self.store.resolve_service(ref))
        if insert:
            shown["Spec"] = insert_defaults(shown["Spec"])
        return shown

    def tasks_list(self, filters: dict[str, list[str]]) -> list[Json]:
        check_filters(filters, TASK_FILTERS)
        desired_states = _desired_states(filters.get("desired-state", []))
        store = self.store
        tasks: list[Json]
        if "service" in filters:
            tasks = []
            for ref in filters["service"]:
                try:
                    service = store.resolve_service(ref)
                except NotFound:
                    continue
                tasks.extend(store.list_tasks(service_id=service["ID"]))
        elif "node" in filters:
            tasks = []
            for ref in filters["node"]:
                try:
                    node = store.resolve_node(ref)
                except NotFound:
                    continue
                tasks.extend(store.list_tasks(node_id=node.id))
        else:
            tasks = store.list_tasks()
        if "node" in filters and "service" in filters:
            node_ids = set()
            for ref in filters["node"]:
                try:
                    node_ids.add(store.resolve_node(ref).id)
                except NotFound:
                    pass
            tasks = [t for t in tasks if t.get("NodeID") in node_ids]
        services = {sv["ID"]: sv for sv in store.list_services()}
        out = []
        for task in tasks:
            if "id" in filters and not any(str(task["ID"]).startswith(v) for v in filters["id"]):
                continue
            if desired_states and s.desired(task) not in desired_states:
                continue
            if "label" in filters and not _labels_match(task.get("Labels") or {}, filters["label"]):
                continue
            owner = services.get(str(task.get("ServiceID")))
            if "_up-to-date" in filters and (owner is None or not is_up_to_date(task, owner)):
                continue
            if "name" in filters:
                name = task_name(str(owner["Spec"].get("Name", "")) if owner else "", task)
                if not any(name.startswith(v) for v in filters["name"]):
                    continue
            out.append(task)
        return out

    def task_inspect(self, task_id: str) -> Json:
        task = self.store.get_task(task_id)
        if task is None:
            matches_ = [t for t in self.store.list_tasks() if str(t["ID"]).startswith(task_id)]
            if len(matches_) == 1 and task_id:
                return copy.deepcopy(matches_[0])
            if len(matches_) > 1:
                raise InvalidArgument(
                    f"task {task_id} is ambiguous ({len(matches_)} matches found)"
                )
            raise NotFound(f"task {task_id} not found")
        return copy.deepcopy(task)

    # -- writes ------------------------------------------------------------

    def _check_satisfiable(self, spec: Json) -> None:
        """Reservations larger than every node can ever offer are refused."""
        cpus, memory = reservations(spec)
        nodes = self.store.list_nodes()
        if not nodes or (cpus == 0 and memory == 0):
            return
        fits = [
            n
            for n in nodes
            if n.description.resources.nano_cpus >= cpus
            and n.description.resources.memory_bytes >= memory
        ]
        if not fits:
            raise InvalidArgument(
                f"no suitable node: the reservations (NanoCPUs {cpus}, MemoryBytes {memory}) "
                "are larger than the resources of every node in the swarm"
            )

    async def service_create(self, body: Json) -> Json:
        spec = parse_service_spec(body)
        self._check_satisfiable(spec)
        service_id = generate_id()
        if not spec.get("Name"):
            spec["Name"] = f"service-{service_id[:8]}"
        service: Json = {
            "ID": service_id,
            "Spec": spec,
            "Endpoint": _endpoint(spec),
        }
        if self.store.service_by_name(spec["Name"]) is not None:
            raise NameConflict(
                "rpc error: code = AlreadyExists desc = name conflicts with an existing "
                f"object: service {spec['Name']} already exists"
            )
        await self.m.propose(Txn().create("services", service))
        return {"ID": service_id, "Warnings": None}

    async def service_update(
        self, ref: str, version: int, body: Json, *, rollback: bool, rebalance: bool
    ) -> Json:
        current = self.store.resolve_service(ref)
        if version != current["Version"]["Index"]:
            raise OutOfSequence()
        new = copy.deepcopy(current)
        stamp = now()
        if rollback:
            previous = current.get("PreviousSpec")
            if not previous:
                raise FailedPrecondition(
                    "rpc error: code = FailedPrecondition desc = service "
                    f"{current['ID']} does not have a previous spec"
                )
            new["Spec"], new["PreviousSpec"] = copy.deepcopy(previous), current["Spec"]
            new["UpdateStatus"] = {
                "State": "rollback_started",
                "StartedAt": stamp,
                "Message": "manually requested rollback",
            }
        else:
            spec = parse_service_spec(body)
            if not spec.get("Name"):
                spec["Name"] = current["Spec"].get("Name")
            check_spec_change(current["Spec"], spec)
            self._check_satisfiable(spec)
            new["Spec"], new["PreviousSpec"] = spec, current["Spec"]
            changed = spec.get("TaskTemplate") != current["Spec"].get("TaskTemplate")
            if changed:
                new["UpdateStatus"] = {
                    "State": "updating",
                    "StartedAt": stamp,
                    "Message": "update in progress",
                }
            else:
                new.pop("UpdateStatus", None)
        new["Endpoint"] = _endpoint(new["Spec"])
        txn = Txn().update("services", new, version)
        if rebalance:
            for task in self.rebalance_moves(new):
                txn.create("tasks", task)
        await self.m.propose(txn)
        return {"Warnings": None}

    def rebalance_moves(self, service: Json) -> list[Json]:
        """New tasks that move running tasks off the most loaded nodes, toward an
        even spread over the nodes the service may use. Each replaces one task
        and starts before it stops, so the running count never drops."""
        if is_global(service["Spec"]):
            return []
        constraints = placement(service["Spec"]).constraints
        eligible = [
            n.id
            for n in self.store.list_nodes()
            if n.status.state == "ready"
            and n.spec.availability == "active"
            and matches(constraints, node_attributes(n))
        ]
        if not eligible:
            return []
        per_node: dict[str, list[Json]] = {n: [] for n in eligible}
        for task in self.store.list_tasks(service_id=service["ID"]):
            if s.is_active(task) and s.is_running(task) and task.get("NodeID") in per_node:
                per_node[str(task["NodeID"])].append(task)
        # Move one task at a time from the fullest node toward the emptiest
        # until no two nodes differ by more than one.
        counts = {node: len(tasks) for node, tasks in per_node.items()}
        leaving: dict[str, int] = {}
        while True:
            fullest = max(counts, key=lambda n: (counts[n], n))
            emptiest = min(counts, key=lambda n: (counts[n], n))
            if counts[fullest] - counts[emptiest] <= 1:
                break
            counts[fullest] -= 1
            counts[emptiest] += 1
            leaving[fullest] = leaving.get(fullest, 0) + 1
        moves = []
        stamp = format_time(time.time_ns())
        for node, count in leaving.items():
            tasks = sorted(per_node[node], key=lambda t: -int(t.get("Slot") or 0))
            for task in tasks[:count]:
                new = make_task(
                    service,
                    task_id=generate_id(),
                    slot=int(task.get("Slot") or 0) or None,
                    time=stamp,
                    restarts=list(task.get("Restarts") or []),
                )
                new["Replaces"] = task["ID"]
                moves.append(new)
        return moves

    async def service_remove(self, ref: str) -> None:
        service = self.store.resolve_service(ref)
        await self.m.propose(Txn().delete("services", service["ID"]))
        tasks = [t for t in self.store.list_tasks(service_id=service["ID"]) if s.is_active(t)]
        for start in range(0, len(tasks), _BATCH):
            txn = Txn()
            for task in tasks[start : start + _BATCH]:
                txn.patch_task(str(task["ID"]), desired="remove")
            await self.m.propose(txn)


def _endpoint(spec: Json) -> Json:
    endpoint = spec.get("EndpointSpec") or {}
    ports = []
    for port in endpoint.get("Ports") or []:
        shown = dict(port)
        shown.setdefault("Protocol", "tcp")
        shown.setdefault("PublishMode", "ingress")
        ports.append(shown)
    out: Json = {"Spec": copy.deepcopy(endpoint)}
    if ports:
        out["Ports"] = ports
    return out
