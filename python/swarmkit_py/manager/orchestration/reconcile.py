"""Keeping one service's desired state: the replicated and global
orchestrators and the restart supervisor, as one pure function of the store's
contents and the time.

Everything it decides from lives in the store (restart history and delays
included), so a new leader carries on exactly where the old one stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from swarmkit_py.model import Node
from swarmkit_py.model.constraints import Constraint, matches, node_attributes, platform_matches
from swarmkit_py.model.service import host_ports, placement, replicas, restart_policy
from swarmkit_py.model.task import is_up_to_date, make_task
from swarmkit_py.model.times import format_time, parse_time
from swarmkit_py.pki import generate_id

from . import slots as s
from .plan import Plan

Json = dict[str, Any]
#: Restart times kept on a task (enough for any sensible max-attempts).
MAX_RESTART_HISTORY = 64


def node_usable(node: Node | None) -> bool:
    """Tasks on it keep running: it exists, is not down and not drained."""
    return node is not None and node.status.state != "down" and node.spec.availability != "drain"


def global_eligible(
    node: Node, constraints: Sequence[Constraint], platforms: Sequence[tuple[str, str]] = ()
) -> bool:
    """A global service wants a task here."""
    if node.status.state != "ready" or node.spec.availability != "active":
        return False
    attributes = node_attributes(node)
    return matches(constraints, attributes) and platform_matches(platforms, attributes)


class ServiceReconciler:
    """One pass over one service (see :func:`reconcile`)."""

    def __init__(
        self, service: Json, tasks: list[Json], nodes: Mapping[str, Node], now_ns: int, plan: Plan
    ) -> None:
        self.service = service
        self.spec: Json = service["Spec"]
        self.tasks = tasks
        self.nodes = nodes
        self.now_ns = now_ns
        self.plan = plan
        self.replicas = replicas(self.spec)
        self.slots = s.by_slot(tasks)

    # -- helpers -----------------------------------------------------------

    def new_task(
        self,
        slot: str,
        *,
        restarts: list[str] | None = None,
        desired: str = "running",
        restart_at_ns: int = 0,
        replaces: str = "",
    ) -> Json:
        is_global = self.replicas is None
        task = make_task(
            self.service,
            task_id=generate_id(),
            slot=None if is_global else int(slot),
            node_id=slot if is_global else "",
            time=format_time(self.now_ns),
            restarts=restarts,
            desired_state=desired,
        )
        ports = host_ports(self.spec)
        if ports:
            task["HostPorts"] = [[proto, port] for proto, port in ports]
        if restart_at_ns:
            task["RestartAt"] = format_time(restart_at_ns)
        if replaces:
            task["Replaces"] = replaces
        self.plan.creates.append(task)
        self.slots.setdefault(slot, []).append(task)
        return task

    def desired(self, task: Json) -> str:
        return self.plan.desired.get(str(task["ID"]), s.desired(task))

    def active(self, slot: str) -> list[Json]:
        return [t for t in self.slots.get(slot, []) if s.wants_run(self.desired(t))]

    def occupied(self, slot: str) -> bool:
        return any(self.occupied_by(t) for t in self.slots.get(slot, []))

    # -- the pass ----------------------------------------------------------

    def steady(self, slot: str) -> bool:
        """The common case, skipped cheaply: one task, wanted running, not
        stopped, on a node that keeps it (or not yet placed)."""
        tasks = self.slots[slot]
        if len(tasks) != 1:
            return False
        task = tasks[0]
        if task.get("DesiredState") != "running" or s.has_stopped(task):
            return False
        node_id = task.get("NodeID")
        return not node_id or node_usable(self.nodes.get(str(node_id)))

    def run(self) -> None:
        for slot in list(self.slots):
            if self.steady(slot):
                continue
            self.replace_lost(slot)
            self.restart_stopped(slot)
            self.retire_replaced(slot)
            self.promote_ready(slot)
        if self.replicas is None:
            self.reconcile_global()
        else:
            self.reconcile_replicated(self.replicas)

    def replace_lost(self, slot: str) -> None:
        """Tasks on a down, drained or removed node are replaced at once."""
        for task in self.active(slot):
            node_id = str(task.get("NodeID") or "")
            if not node_id or node_usable(self.nodes.get(node_id)):
                continue
            gone = node_id not in self.nodes
            self.plan.set_desired(task, "remove" if gone else "shutdown")
            if self.replicas is not None and not task.get("Replaces"):
                if not self.active(slot):
                    self.new_task(slot, restarts=list(task.get("Restarts") or []))

    def restart_stopped(self, slot: str) -> None:
        """The restart policy, for tasks that stopped while wanted running."""
        for task in self.active(slot):
            if not s.has_stopped(task):
                continue
            if task.get("Replaces"):  # a rebalancing move that failed: the old task runs on
                self.plan.set_desired(task, "shutdown")
                continue
            decision, delay_ns, history = self.restart_decision(task)
            if decision == "decline":
                self.plan.set_desired(task, s.FINISHED)
                continue
            self.plan.set_desired(task, "shutdown")
            if self.active(slot):
                continue  # another task (start-first update) already holds the slot
            if self.replicas is None and not global_eligible_id(self, slot):
                continue
            self.new_task(
                slot,
                restarts=history,
                desired="ready" if delay_ns else "running",
                restart_at_ns=self.now_ns + delay_ns if delay_ns else 0,
            )

    def restart_decision(self, task: Json) -> tuple[str, int, list[str]]:
        policy = restart_policy(self.spec)
        history = [str(t) for t in task.get("Restarts") or []]
        if policy.condition == "none":
            return "decline", 0, history
        if policy.condition == "on-failure" and s.state(task) == "complete":
            return "decline", 0, history
        if policy.max_attempts:
            recent = [
                t for t in history if not policy.window or self.now_ns - _ns(t) <= policy.window
            ]
            if len(recent) >= policy.max_attempts:
                return "decline", 0, history
        history = [*history, format_time(self.now_ns)][-MAX_RESTART_HISTORY:]
        return "restart", policy.delay, history

    def retire_replaced(self, slot: str) -> None:
        """A start-first update or a rebalancing move: once the new task runs,
        the old one stops."""
        tasks = self.active(slot)
        running_new = [
            t
            for t in tasks
            if s.is_running(t) and (is_up_to_date(t, self.service) or t.get("Replaces"))
        ]
        if not running_new:
            return
        keep = running_new[-1]
        replaced = {str(t.get("Replaces")) for t in running_new if t.get("Replaces")}
        for task in tasks:
            if task is keep:
                continue
            stale = not is_up_to_date(task, self.service)
            if stale or str(task["ID"]) in replaced:
                self.plan.set_desired(task, "shutdown")

    def promote_ready(self, slot: str) -> None:
        """A task held back (`ready`) runs once its restart delay is over and,
        for stop-first updates, the task it replaces has stopped."""
        for task in self.active(slot):
            if self.desired(task) != "ready":
                continue
            restart_at = _ns(str(task.get("RestartAt") or ""))
            if restart_at > self.now_ns:
                self.plan.wake(restart_at)
                continue
            others = [
                t
                for t in self.slots.get(slot, [])
                if t is not task
                and not s.has_stopped(t)
                and t.get("NodeID")
                and node_usable(self.nodes.get(str(t.get("NodeID"))))
                and s.state(t) != "new"
            ]
            if not others:
                self.plan.set_desired(task, "running")

    def reconcile_replicated(self, want: int) -> None:
        held = sorted((k for k in self.slots if self.occupied(k)), key=int)
        if len(held) < want:
            taken = set(held)
            number = 1
            for _ in range(want - len(held)):
                while str(number) in taken:
                    number += 1
                taken.add(str(number))
                self.new_task(str(number))
        elif len(held) > want:
            for slot in self.scale_down_victims(held, len(held) - want):
                for task in self.slots[slot]:
                    if self.occupied_by(task):
                        self.plan.set_desired(task, "remove")

    def occupied_by(self, task: Json) -> bool:
        """The task holds its slot, counting this pass's decisions."""
        return s.holds_slot(self.desired(task))

    def scale_down_victims(self, held: list[str], count: int) -> list[str]:
        """Docker's order: slots without a running task first, then those on the
        nodes with the most tasks of the service, the highest slots first."""
        per_node: dict[str, int] = {}
        for slot in held:
            for task in self.active(slot):
                node = str(task.get("NodeID") or "")
                per_node[node] = per_node.get(node, 0) + 1

        def node_of(slot: str) -> str:
            tasks = self.active(slot)
            return str(tasks[-1].get("NodeID") or "") if tasks else ""

        def key(slot: str) -> tuple[int, int, int]:
            running = any(s.is_running(t) for t in self.active(slot))
            return (1 if running else 0, -per_node.get(node_of(slot), 0), -int(slot))

        # One at a time: each removal lowers its node's count for the next pick.
        remaining, victims = list(held), []
        for _ in range(count):
            victim = min(remaining, key=key)
            remaining.remove(victim)
            victims.append(victim)
            node = node_of(victim)
            per_node[node] = per_node.get(node, 0) - 1
        return victims

    def reconcile_global(self) -> None:
        place = placement(self.spec)
        constraints = place.constraints
        for node_id, node in self.nodes.items():
            if global_eligible(node, constraints, place.platforms) and not self.occupied(node_id):
                self.new_task(node_id)
        for slot in list(self.slots):
            on = self.nodes.get(slot)
            if on is None:
                for task in self.slots[slot]:
                    if self.occupied_by(task):
                        self.plan.set_desired(task, "remove")
            elif not matches(constraints, node_attributes(on)):
                for task in self.active(slot):
                    self.plan.set_desired(task, "shutdown")


def global_eligible_id(reconciler: ServiceReconciler, node_id: str) -> bool:
    node = reconciler.nodes.get(node_id)
    place = placement(reconciler.spec)
    return node is not None and global_eligible(node, place.constraints, place.platforms)


def _ns(text: str) -> int:
    try:
        return parse_time(text) if text else 0
    except Exception:
        return 0


def reconcile(
    service: Json, tasks: list[Json], nodes: Mapping[str, Node], now_ns: int, plan: Plan
) -> None:
    """Adds to `plan` what keeps `service` as declared."""
    ServiceReconciler(service, tasks, nodes, now_ns, plan).run()
