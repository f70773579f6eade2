"""The leader's orchestration loop.

While this manager leads, it watches the store: a change to a service, a
task or a node marks the services it touches; after a short debounce (so a
burst of changes is handled together, as Docker's scheduler does) one pass
reconciles the marked services (orchestrators, restart supervisor, rolling
updates, reaper) and then schedules every task waiting for a node. A full
pass also runs every few seconds and whenever a timer (restart delay, update
delay or monitor) is due.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from swarmkit_py.errors import SwarmError
from swarmkit_py.model import Node
from swarmkit_py.plugins.builtins import BuiltinScheduler
from swarmkit_py.store import Change, ClusterStore, Txn
from swarmkit_py.tasks import cancel_and_wait

from .plan import Plan
from .reaper import reap
from .reconcile import ServiceReconciler
from .scheduling import PlacementPlugins, ScheduleFn, schedule_pending, wants_scheduling
from .update import UpdateTimers, update_service

log = logging.getLogger(__name__)
Json = dict[str, Any]

DEBOUNCE = 0.05
FULL_PASS_EVERY = 5.0


class Orchestrator:
    def __init__(
        self,
        store: ClusterStore,
        propose: Callable[[Txn], Awaitable[int]],
        is_leader: Callable[[], bool],
        schedule: ScheduleFn | None = None,
        placement: PlacementPlugins | None = None,
    ) -> None:
        self._store = store
        self._propose = propose
        self._is_leader = is_leader
        self.schedule_fn: ScheduleFn = schedule or BuiltinScheduler("spread").schedule
        self.placement = placement or PlacementPlugins()
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timers = UpdateTimers()
        self._next_timer_ns = 0
        self.passes = 0
        self._last_pass_seconds = 0.0
        store.add_listener(self._on_change)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._store.remove_listener(self._on_change)
        await cancel_and_wait(self._task)
        self._task = None

    def kick(self) -> None:
        """Asks for a full pass soon."""
        self._all_dirty = True
        self._wake.set()

    def _on_change(self, changes: list[Change]) -> None:
        for change in changes:
            if change.table == "services":
                self._dirty.add(change.id)
            elif change.table == "tasks":
                if not _matters(change.before, change.after):
                    continue
                for obj in (change.before, change.after):
                    if isinstance(obj, dict) and obj.get("ServiceID"):
                        self._dirty.add(str(obj["ServiceID"]))
            elif change.table in ("nodes", "clusters", "*"):
                if change.table != "nodes" or _node_matters(change.before, change.after):
                    self._all_dirty = True
            else:
                continue
            self._wake.set()

    async def _run(self) -> None:
        was_leader = False
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
                # cancellation stop() sends (CPython gh-86296).
                async with asyncio.timeout(self._sleep_time()):
                    await self._wake.wait()
            except TimeoutError:
                self._all_dirty = True
            self._wake.clear()
            if not self._is_leader():
                was_leader = False
                self._timers = UpdateTimers()
                continue
            if not was_leader:
                was_leader, self._all_dirty = True, True
            # At least the debounce, and as long as the last pass took: under a
            # flood of changes the loop never takes more than half the CPU.
            await asyncio.sleep(max(DEBOUNCE, self._last_pass_seconds))
            started = time.monotonic()
            try:
                await self.run_pass()
            except SwarmError as e:
                log.info("orchestration pass did not complete: %s", e)
                self._all_dirty = True
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("orchestration pass failed")
                self._all_dirty = True
                await asyncio.sleep(1.0)
            self._last_pass_seconds = min(1.0, time.monotonic() - started)

    def _sleep_time(self) -> float:
        if self._next_timer_ns:
            return max(0.01, min(FULL_PASS_EVERY, (self._next_timer_ns - time.time_ns()) / 1e9))
        return FULL_PASS_EVERY

    async def run_pass(self) -> None:
        """One reconciliation of the marked (or all) services, then scheduling."""
        store = self._store
        full = self._all_dirty
        if full:
            service_ids = {str(sv["ID"]) for sv in store.list_services()}
            service_ids.update(str(t.get("ServiceID")) for t in store.list_tasks())
        else:
            service_ids = set(self._dirty)
        self._dirty.clear()
        self._all_dirty = False
        self.passes += 1
        now = time.time_ns()
        nodes = {n.id: n for n in store.list_nodes()}
        cluster = store.cluster()
        limit = (
            cluster.spec.orchestration.task_history_retention_limit if cluster is not None else 5
        )
        plan = Plan()
        for service_id in sorted(service_ids):
            service = store.get_service(service_id)
            tasks = store.list_tasks(service_id=service_id)
            if service is None:
                reap(None, tasks, nodes, limit, plan)
                continue
            rec = ServiceReconciler(service, tasks, nodes, now, plan)
            rec.run()
            update_service(rec, self._timers)
            reap(service, tasks, nodes, limit, plan)
        # A partial pass keeps the timers of the services it did not look at
        # (an extra full pass when one fires is harmless).
        pending = self._next_timer_ns if not full and self._next_timer_ns > now else 0
        self._next_timer_ns = min((t for t in (pending, plan.wake_ns) if t), default=0)
        for txn in plan.task_txns():
            await self._propose(txn)
        for service, version in plan.services:
            try:
                await self._propose(Txn().update("services", service, version))
            except SwarmError as e:  # a user's update won: look again
                log.debug("service %s status not written: %s", service.get("ID"), e)
                self._dirty.add(str(service.get("ID")))
        await self.schedule()

    async def schedule(self) -> None:
        store = self._store
        tasks = store.list_tasks()
        if not any(wants_scheduling(t) for t in tasks):
            return
        services = {str(sv["ID"]): sv for sv in store.list_services()}
        for txn in schedule_pending(
            tasks, store.list_nodes(), services, time.time_ns(), self.schedule_fn, self.placement
        ):
            await self._propose(txn)


#: Task states whose arrival can change a decision: running (updates, start-first,
#: held-back tasks) and every stopped state (restarts, reaping).
_DECISIVE_STATES = frozenset(
    {"running", "complete", "shutdown", "failed", "rejected", "remove", "orphaned"}
)


def _matters(before: object, after: object) -> bool:
    """Whether a task change can change what the orchestrators decide (a
    report of `starting` cannot; its `running` can)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return True
    if any(before.get(k) != after.get(k) for k in ("DesiredState", "NodeID", "Spec")):
        return True
    state = (after.get("Status") or {}).get("State")
    return state != (before.get("Status") or {}).get("State") and state in _DECISIVE_STATES


def _node_matters(before: object, after: object) -> bool:
    """Node changes that matter: new, gone, status, availability, labels, role."""
    if not isinstance(before, Node) or not isinstance(after, Node):
        return True
    return (
        before.status.state != after.status.state
        or before.spec != after.spec
        or (before.description != after.description)
    )
