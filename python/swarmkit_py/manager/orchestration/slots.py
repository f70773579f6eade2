"""Reading a service's tasks the way the orchestrators need them: by slot
(replicated: `Slot`; global: the node), active or stopped, up to date or not."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from swarmkit_py.model.task import state_rank
from swarmkit_py.model.times import parse_time

Json = dict[str, Any]

RUNNING = state_rank("running")
COMPLETE = state_rank("complete")
PENDING = state_rank("pending")
#: The desired state of a slot whose last task stopped and is not restarted
#: (restart condition `none`, `on-failure` after a clean exit, attempts used up).
FINISHED = "complete"


def state(task: Json) -> str:
    status = task.get("Status")
    return str(status.get("State", "new")) if isinstance(status, dict) else "new"


def desired(task: Json) -> str:
    return str(task.get("DesiredState") or "running")


def wants_run(desired_state: str) -> bool:
    """A desired state that asks for running (`ready` or `running`)."""
    return state_rank(desired_state) <= RUNNING


def holds_slot(desired_state: str) -> bool:
    """A desired state that keeps the slot taken: wanted running, or finished
    without a restart."""
    return wants_run(desired_state) or desired_state == FINISHED


def is_active(task: Json) -> bool:
    """The orchestrator wants it to run (desired `ready` or `running`)."""
    return wants_run(desired(task))


def has_stopped(task: Json) -> bool:
    return state_rank(state(task)) >= COMPLETE


def is_running(task: Json) -> bool:
    return state(task) == "running"


def slot_key(task: Json) -> str:
    """Replicated tasks by slot number, global ones by node."""
    slot = task.get("Slot")
    if isinstance(slot, int) and slot > 0:
        return str(slot)
    return str(task.get("NodeID") or "")


def created_ns(task: Json) -> int:
    try:
        return parse_time(str(task.get("CreatedAt") or ""))
    except Exception:
        return 0


def status_ns(task: Json) -> int:
    status = task.get("Status")
    try:
        return parse_time(str(status.get("Timestamp"))) if isinstance(status, dict) else 0
    except Exception:
        return 0


def by_slot(tasks: Iterable[Json]) -> dict[str, list[Json]]:
    """Tasks grouped by slot, oldest first in each."""
    slots: dict[str, list[Json]] = {}
    for task in tasks:
        slots.setdefault(slot_key(task), []).append(task)
    for group in slots.values():
        if len(group) > 1:
            # Stored times are fixed-width RFC 3339 in UTC: they sort as text.
            group.sort(key=lambda t: (str(t.get("CreatedAt") or ""), str(t.get("ID"))))
    return slots


def occupies(task: Json) -> bool:
    """The task holds its slot: wanted running, or finished without a restart."""
    return holds_slot(desired(task))
