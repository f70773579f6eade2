"""An in-memory swarm for orchestration tests: a real ClusterStore, the real
reconcile/update/reaper passes, and a stand-in for scheduler and agents that
the test drives by hand."""

from __future__ import annotations

import itertools
from typing import Any

from swarmkit_py.manager.orchestration.plan import Plan
from swarmkit_py.manager.orchestration.reaper import reap
from swarmkit_py.manager.orchestration.reconcile import ServiceReconciler
from swarmkit_py.manager.orchestration.update import UpdateTimers, update_service
from swarmkit_py.model import Node, NodeDescription, NodeSpec, NodeStatus, Resources
from swarmkit_py.model.service import parse_service_spec
from swarmkit_py.model.task import task_status
from swarmkit_py.model.times import format_time
from swarmkit_py.store import ClusterStore, Txn

SECOND = 1_000_000_000
Json = dict[str, Any]


class Sim:
    def __init__(self, nodes: int = 3) -> None:
        self.store = ClusterStore()
        self.now = 1_700_000_000 * SECOND
        self.timers = UpdateTimers()
        self._index = itertools.count(1)
        txn = Txn()
        for i in range(1, nodes + 1):
            txn.create(
                "nodes",
                Node(
                    id=f"n{i}",
                    spec=NodeSpec(role="worker"),
                    description=NodeDescription(
                        hostname=f"node{i}", resources=Resources(4_000_000_000, 1 << 33)
                    ),
                    status=NodeStatus(state="ready", addr=f"10.0.0.{i}"),
                ),
            )
        self.apply(txn)

    def apply(self, txn: Txn) -> None:
        txn.time = format_time(self.now)  # the proposer's clock is the simulated one
        self.store.apply(next(self._index), txn)

    async def propose(self, txn: Txn) -> int:
        """What a real Orchestrator is given: applies at once, stamped with the
        proposer's own wall clock, as on a leader."""
        index = next(self._index)
        self.store.apply(index, txn)
        return index

    def create_service(self, spec: Json, service_id: str = "s1") -> None:
        self.apply(Txn().create("services", {"ID": service_id, "Spec": parse_service_spec(spec)}))

    def service(self, service_id: str = "s1") -> Json:
        found = self.store.get_service(service_id)
        assert found is not None
        return found

    def update_spec(self, spec: Json, service_id: str = "s1", state: str = "updating") -> None:
        current = self.service(service_id)
        new = dict(current)
        new["PreviousSpec"], new["Spec"] = current["Spec"], parse_service_spec(spec)
        new["UpdateStatus"] = {"State": state, "StartedAt": format_time(self.now)}
        self.apply(Txn().update("services", new, current["Version"]["Index"]))

    def tasks(self, service_id: str = "s1") -> list[Json]:
        return self.store.list_tasks(service_id=service_id)

    def orchestrate(self, history_limit: int = 5) -> Plan:
        """One pass over every service, applied to the store."""
        plan = Plan()
        nodes = {n.id: n for n in self.store.list_nodes()}
        for service in self.store.list_services():
            tasks = self.store.list_tasks(service_id=service["ID"])
            rec = ServiceReconciler(service, tasks, nodes, self.now, plan)
            rec.run()
            update_service(rec, self.timers)
            reap(service, tasks, nodes, history_limit, plan)
        for txn in plan.task_txns():
            self.apply(txn)
        for service, version in plan.services:
            self.apply(Txn().update("services", service, version))
        return plan

    def schedule_round_robin(self) -> None:
        """Assigns unassigned tasks to the ready, active node with the fewest tasks."""
        nodes = [
            n
            for n in self.store.list_nodes()
            if n.status.state == "ready" and n.spec.availability == "active"
        ]
        txn = Txn()
        load = {n.id: 0 for n in nodes}
        for task in self.store.list_tasks():
            if task.get("NodeID") in load and task["DesiredState"] in ("running", "ready"):
                load[task["NodeID"]] += 1
        for task in sorted(self.store.list_tasks(), key=lambda t: t["CreatedAt"]):
            if task["DesiredState"] not in ("running", "ready"):
                continue
            if task["Status"]["State"] not in ("new", "pending"):
                continue
            node = task.get("NodeID") or min(load, key=lambda n: (load[n], n))
            load[node] += 1
            txn.patch_task(
                task["ID"], node_id=node, status=task_status("assigned", "", time=self.stamp)
            )
        if txn.ops:
            self.apply(txn)

    @property
    def stamp(self) -> str:
        return format_time(self.now)

    def agents(self, fail_command: str | None = None) -> None:
        """Every agent runs what it is asked to, at once: desired running -> running,
        desired shutdown/remove -> shutdown. A task whose command is `fail_command`
        fails instead of running."""
        txn = Txn()
        for task in self.store.list_tasks():
            node = self.store.get_node(task.get("NodeID") or "")
            if node is None or node.status.state == "down":
                continue
            state = task["Status"]["State"]
            desired = task["DesiredState"]
            command = task["Spec"]["ContainerSpec"].get("Command") or []
            if desired == "running" and state in ("assigned", "accepted"):
                if fail_command is not None and command[:1] == [fail_command]:
                    status = task_status("failed", "", "task: non-zero exit (1)", time=self.stamp)
                else:
                    status = task_status("running", "started", time=self.stamp)
                txn.patch_task(task["ID"], status=status)
            elif desired in ("shutdown", "remove") and state in ("assigned", "running"):
                txn.patch_task(task["ID"], status=task_status("shutdown", "", time=self.stamp))
        if txn.ops:
            self.apply(txn)

    def converge(self, rounds: int = 10, fail_command: str | None = None) -> None:
        for _ in range(rounds):
            self.orchestrate()
            self.schedule_round_robin()
            self.agents(fail_command)
            self.now += SECOND

    def running(self, service_id: str = "s1") -> list[Json]:
        return [
            t
            for t in self.tasks(service_id)
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
        ]

    def set_node(
        self, node_id: str, *, state: str | None = None, availability: str | None = None
    ) -> None:
        node = self.store.get_node(node_id)
        assert node is not None
        updated = node.copy()
        if state is not None:
            updated.status = NodeStatus(state=state, addr=node.status.addr)  # type: ignore[arg-type]
        if availability is not None:
            updated.spec = NodeSpec(role=node.spec.role, availability=availability)  # type: ignore[arg-type]
        self.apply(Txn().update("nodes", updated, node.version.index))

    def kill(self, task: Json, code: int = 137) -> None:
        self.apply(
            Txn().patch_task(
                task["ID"],
                status=task_status(
                    "failed", "", f"task: non-zero exit ({code})", time=self.stamp, exit_code=code
                ),
            )
        )


def spec(replicas: int | None = 3, command: str = "sleep", **extra: Any) -> Json:
    mode: Json = {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}}
    task: Json = {
        "ContainerSpec": {"Image": "busybox", "Command": [command, "1000"]},
        "RestartPolicy": {"Condition": "any", "Delay": 0},
    }
    task.update(extra.pop("TaskTemplate", {}))
    return {"Name": "web", "Mode": mode, "TaskTemplate": task, **extra}
