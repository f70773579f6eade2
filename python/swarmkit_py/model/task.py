"""Tasks: the Engine API ``Task`` dicts the orchestrators create and agents report on.

A task's state only moves forward through :data:`TASK_STATES`; managers write up to
``assigned``, agents ``accepted`` and later. See ``docs/design/services.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from ..errors import InvalidArgument
from .common import deep_copy
from .service import is_global

TaskState = Literal[
    "new",
    "pending",
    "assigned",
    "accepted",
    "preparing",
    "ready",
    "starting",
    "running",
    "complete",
    "shutdown",
    "failed",
    "rejected",
    "remove",
    "orphaned",
]

#: Every task state, in the only order a task moves through them.
TASK_STATES: tuple[TaskState, ...] = get_args(TaskState)

_RANK: dict[str, int] = {state: rank for rank, state in enumerate(TASK_STATES)}
_COMPLETE = _RANK["complete"]


def state_rank(state: str) -> int:
    """The state's position in :data:`TASK_STATES` (a later state has a higher rank)."""
    try:
        return _RANK[state]
    except KeyError:
        names = ", ".join(TASK_STATES)
        raise InvalidArgument(f'unknown task state "{state}" (must be one of {names})') from None


def has_stopped(state: str) -> bool:
    """Whether a task in ``state`` is finished for good (``complete`` or later)."""
    return state_rank(state) >= _COMPLETE


#: The same test under the name Docker's documentation uses ("terminal states").
is_terminal = has_stopped


def make_task(
    service: Mapping[str, Any],
    *,
    task_id: str,
    slot: int | None,
    node_id: str = "",
    time: str,
    restarts: list[str] | None = None,
    desired_state: str = "running",
) -> dict[str, Any]:
    """A new task (state ``new``) running ``service``'s current ``TaskTemplate``.

    ``slot`` is required for replicated services and ignored for global ones, whose
    tasks are known by ``node_id`` instead. ``time`` (RFC 3339) stamps the task and
    its status; the store overwrites ``Version``, ``CreatedAt`` and ``UpdatedAt``.
    """
    spec = service["Spec"]
    state_rank(desired_state)
    task: dict[str, Any] = {
        "ID": task_id,
        "Version": {"Index": 0},
        "CreatedAt": time,
        "UpdatedAt": time,
        "Labels": {},
        "Spec": deep_copy(spec.get("TaskTemplate", {})),
        "ServiceID": service["ID"],
    }
    if not is_global(spec):
        if slot is None:
            raise ValueError("a task of a replicated service needs a slot")
        task["Slot"] = slot
    task["NodeID"] = node_id
    task["Status"] = task_status("new", "created", time=time)
    task["DesiredState"] = desired_state
    task["ServiceVersion"] = service.get("Version", {}).get("Index", 0)
    task["Restarts"] = list(restarts or [])
    return task


def task_status(
    state: str,
    message: str,
    err: str = "",
    *,
    time: str,
    exit_code: int | None = None,
    pid: int | None = None,
    container_id: str | None = None,
) -> dict[str, Any]:
    """A ``TaskStatus``; ``Err`` only when set, ``ContainerStatus`` when any part is given."""
    state_rank(state)
    status: dict[str, Any] = {"Timestamp": time, "State": state, "Message": message}
    if err:
        status["Err"] = err
    if exit_code is not None or pid is not None or container_id is not None:
        status["ContainerStatus"] = {
            "ContainerID": container_id or "",
            "PID": pid or 0,
            "ExitCode": exit_code or 0,
        }
    return status


def advance_status(task: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, Any] | None:
    """A copy of ``task`` with ``status``, or ``None`` if that would move it backwards.

    As swarmkit's dispatcher: a later state is taken, and so is a changed status in
    the same state (a new message or container status); an earlier state or an
    identical status is ignored.
    """
    current = task.get("Status", {})
    new_rank, old_rank = state_rank(status["State"]), state_rank(current.get("State", "new"))
    if new_rank < old_rank or (new_rank == old_rank and dict(status) == current):
        return None
    updated = deep_copy(dict(task))
    updated["Status"] = deep_copy(dict(status))
    return updated


def task_name(service_name: str, task: Mapping[str, Any]) -> str:
    """Docker's task name: ``web.3.<id>`` (replicated), ``web.<node id>.<id>`` (global)."""
    slot = task.get("Slot") or task.get("NodeID", "")
    return f"{service_name}.{slot}.{task['ID']}"


def is_up_to_date(task: Mapping[str, Any], service: Mapping[str, Any]) -> bool:
    """Whether the task runs the service's current ``TaskTemplate`` (the ``_up-to-date`` filter)."""
    return bool(task.get("Spec", {}) == service.get("Spec", {}).get("TaskTemplate", {}))
