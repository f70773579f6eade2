"""Rolling updates and rollbacks of one service.

A service whose `UpdateStatus.State` is `updating` or `rollback_started` has
its out-of-date slots replaced `Parallelism` at a time (0: all at once), with
`Delay` between batches, `stop-first` or `start-first`. Updated tasks that fail
within `Monitor` of their creation count as failures; once failures exceed
`MaxFailureRatio` of the slots, `FailureAction` applies: `pause`, `continue`,
or `rollback` (back to `PreviousSpec` under `RollbackConfig`). The state needed
across passes lives in the store, except the batch delay timer (a new leader
starts the delay anew).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from swarmkit_py.model.service import update_config
from swarmkit_py.model.task import is_up_to_date
from swarmkit_py.model.times import format_time, parse_time

from . import slots as s
from .plan import Plan
from .reconcile import ServiceReconciler

Json = dict[str, Any]
ACTIVE_STATES = ("updating", "rollback_started")


@dataclass
class UpdateTimers:
    """In-memory: when each service's next batch may start."""

    next_batch_ns: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)


def _ns(text: object) -> int:
    try:
        return parse_time(str(text)) if text else 0
    except Exception:
        return 0


def update_service(rec: ServiceReconciler, timers: UpdateTimers) -> None:
    service, plan, now = rec.service, rec.plan, rec.now_ns
    status = service.get("UpdateStatus") or {}
    state = status.get("State")
    if state not in ACTIVE_STATES:
        return
    service_id = str(service["ID"])
    rollback = state == "rollback_started"
    config = update_config(rec.spec, rollback=rollback)
    started = _ns(status.get("StartedAt"))
    held = [k for k in rec.slots if rec.occupied(k)]

    def current(slot: str) -> list[Json]:
        return [t for t in rec.slots[slot] if rec.occupied_by(t)]

    dirty = sorted(
        (k for k in held if not any(is_up_to_date(t, service) for t in current(k))),
        key=_slot_order,
    )
    updated = [
        t
        for t in rec.tasks + plan.creates
        if str(t.get("ServiceID")) == service_id
        and is_up_to_date(t, service)
        and s.created_ns(t) >= started
    ]
    in_flight = [
        t for t in updated if rec.occupied_by(t) and not s.is_running(t) and not s.has_stopped(t)
    ]
    failures = [
        t
        for t in updated
        if s.state(t) in ("failed", "rejected")
        and s.status_ns(t) - s.created_ns(t) <= config.monitor
    ]
    total = max(1, len(held))
    if failures and len(failures) / total > config.max_failure_ratio:
        action = config.failure_action
        if action == "pause":
            _set_status(
                rec,
                plan,
                "rollback_paused" if rollback else "paused",
                f"update paused due to failure or early termination of task {failures[-1]['ID']}",
                started,
            )
            return
        if action == "rollback" and not rollback and service.get("PreviousSpec"):
            new = copy.deepcopy(service)
            new["Spec"], new["PreviousSpec"] = service["PreviousSpec"], service["Spec"]
            new["UpdateStatus"] = {
                "State": "rollback_started",
                "StartedAt": format_time(now),
                "Message": f"update rolled back due to failure or early termination of task "
                f"{failures[-1]['ID']}",
            }
            plan.services.append((new, int(service["Version"]["Index"])))
            return
    # Batches.
    previous_in_flight = timers.in_flight.get(service_id, 0)
    timers.in_flight[service_id] = len(in_flight)
    if previous_in_flight and not in_flight and config.delay:
        timers.next_batch_ns[service_id] = now + config.delay
    next_batch = timers.next_batch_ns.get(service_id, 0)
    if dirty:
        if next_batch > now:
            plan.wake(next_batch)
            return
        room = len(dirty) if config.parallelism == 0 else config.parallelism - len(in_flight)
        for slot in dirty[: max(0, room)]:
            _update_slot(rec, slot, current(slot), config.order)
        return
    if in_flight:
        return
    last = max((s.created_ns(t) for t in updated), default=started)
    if now - last < config.monitor:
        plan.wake(last + config.monitor)
        return
    _set_status(
        rec,
        plan,
        "rollback_completed" if rollback else "completed",
        "rollback completed" if rollback else "update completed",
        started,
        completed=True,
    )
    timers.next_batch_ns.pop(service_id, None)
    timers.in_flight.pop(service_id, None)


def _slot_order(slot: str) -> tuple[int, str]:
    return (int(slot), "") if slot.isdigit() else (0, slot)


def _update_slot(rec: ServiceReconciler, slot: str, tasks: list[Json], order: str) -> None:
    if order == "start-first":
        rec.new_task(slot)
        return
    for task in tasks:
        rec.plan.set_desired(task, "shutdown")
    running = [t for t in tasks if not s.has_stopped(t) and s.state(t) != "new"]
    rec.new_task(slot, desired="ready" if running else "running")


def _set_status(
    rec: ServiceReconciler,
    plan: Plan,
    state: str,
    message: str,
    started: int,
    completed: bool = False,
) -> None:
    new = copy.deepcopy(rec.service)
    status: Json = {"State": state, "StartedAt": format_time(started), "Message": message}
    if completed:
        status["CompletedAt"] = format_time(rec.now_ns)
    new["UpdateStatus"] = status
    plan.services.append((new, int(rec.service["Version"]["Index"])))
