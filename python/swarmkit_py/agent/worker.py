"""The worker: runs the tasks a manager assigned to this node.

The agent hands it the node's full set of assigned tasks (`apply`); the worker
starts what should run, stops what should not, and reports each task's status
(`accepted` and later) through `report`, batching the updates of one event loop
iteration. It never restarts a task itself: a task that ended or was lost is
reported, and the orchestrator replaces it.

While no manager answers (`apply` is not called) everything keeps running
untouched. Each task's last status lives in `<data_dir>/tasks/<id>/state.json`
beside the runtime's files (its log), so a restarted worker can clean up what
the previous daemon left running, report such tasks as failed, and still serve
their logs. The manager sends every task of the node that the store still
holds, history included; a task's directory (and its runtime leftovers, such
as a stopped container) goes when the task leaves that set, that is when the
store deleted it (service removal, scale-down, history trimmed by the reaper).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmkit_py.logs import LogLine, LogOptions
from swarmkit_py.model.task import TASK_STATES
from swarmkit_py.model.times import format_time
from swarmkit_py.runtime.base import (
    Runtime,
    RuntimeHandle,
    TaskError,
    read_json,
    stop_grace,
    task_dir,
    write_json,
)

log = logging.getLogger(__name__)

_ORDER: dict[str, int] = {state: index for index, state in enumerate(TASK_STATES)}
_ACCEPTED, _RUNNING, _COMPLETE = _ORDER["accepted"], _ORDER["running"], _ORDER["complete"]

STATE_FILE = "state.json"
LOST = "task was not running when swarmd restarted"
#: A status the store still lacks this long after it was reported is sent again.
RESEND_AFTER = 30.0

ReportFn = Callable[[list[dict[str, Any]]], None]


def _order(state: object) -> int:
    return _ORDER.get(state, -1) if isinstance(state, str) else -1


def _store_state(task: dict[str, Any]) -> int:
    status = task.get("Status")
    return _order(status.get("State") if isinstance(status, dict) else None)


def _status(
    state: str,
    message: str,
    *,
    err: str = "",
    container: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `Task.Status` dict as the Engine API shows it."""
    status: dict[str, Any] = {
        "Timestamp": format_time(time.time_ns()),
        "State": state,
        "Message": message,
    }
    if err:
        status["Err"] = err
    if container is not None:
        status["ContainerStatus"] = container
    return status


@dataclass(eq=False)
class _Entry:
    """What the worker knows about one task."""

    task: dict[str, Any]
    #: The latest status this node gave it; None if it never touched the task.
    status: dict[str, Any] | None = None
    handle: RuntimeHandle | None = None
    runner: asyncio.Task[None] | None = None
    stopping: bool = False
    #: In the latest assigned set (or not yet told otherwise after a restart).
    assigned: bool = True
    #: (state, time.monotonic()) of the latest report.
    reported: tuple[str, float] | None = None

    @property
    def id(self) -> str:
        return str(self.task["ID"])

    @property
    def active(self) -> bool:
        return self.runner is not None and not self.runner.done()


#: States a restarted worker can do without: before `starting` nothing ran yet.
_UNSAVED_STATES = frozenset({"accepted", "preparing", "ready"})


class Worker:
    """Runs this node's assigned tasks with a `Runtime` (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        data_dir: Path,
        node_id: str,
        report: ReportFn,
    ) -> None:
        self.runtime = runtime
        self.data_dir = Path(data_dir)
        self.node_id = node_id
        self._report = report
        self._entries: dict[str, _Entry] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._flush_scheduled = False
        self._lock = asyncio.Lock()
        self._closed = False
        self._chores: set[asyncio.Task[None]] = set()

    # --- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Loads what an earlier run left in `data_dir`: tasks that were running
        are adopted by the runtime if they still run, else whatever is left of
        them is stopped and they count as failed (reported at the next `apply`)."""
        root = self.data_dir / "tasks"
        directories = sorted(root.iterdir()) if root.is_dir() else []
        for directory in directories:
            record = read_json(directory / STATE_FILE)
            task = record.get("task") if isinstance(record, dict) else None
            if not isinstance(task, dict) or task.get("ID") != directory.name:
                continue
            status = record.get("status")
            entry = _Entry(task, status if isinstance(status, dict) else None)
            self._entries[entry.id] = entry
            if entry.status is not None and _order(entry.status.get("State")) >= _COMPLETE:
                continue
            handle: RuntimeHandle | None = None
            try:
                handle = await self.runtime.adopt(task)
            except Exception:
                log.exception("could not adopt task %s", entry.id)
            if handle is not None:
                entry.handle = handle
                entry.runner = self._spawn(self._supervise(entry, handle), f"task {entry.id}")
            else:
                previous = (entry.status or {}).get("ContainerStatus")
                container = {**previous, "PID": 0} if isinstance(previous, dict) else None
                self._set_status(
                    entry,
                    _status("failed", "swarmd restarted", err=LOST, container=container),
                    report=False,
                )

    async def stop(self, stop_tasks: bool = True) -> None:
        """Daemon shutdown: stops the running tasks, each with its grace period
        (or, with `stop_tasks=False`, leaves them to the runtime) and sends the
        last reports."""
        async with self._lock:
            self._closed = True
            runners = [e.runner for e in self._entries.values() if e.active and e.runner]
            if stop_tasks:
                for entry in self._entries.values():
                    if entry.active:
                        self._stop(entry)
                await asyncio.gather(*runners, return_exceptions=True)
            for task in [*runners, *self._chores]:
                task.cancel()
            await asyncio.gather(*runners, *self._chores, return_exceptions=True)
            self._flush()

    # --- the assigned set ---------------------------------------------------

    async def apply(self, tasks: list[dict[str, Any]]) -> None:
        """Reconciles with the full set of tasks assigned to this node now
        (ignored once the worker is stopped)."""
        async with self._lock:
            if self._closed:
                return
            assigned: dict[str, dict[str, Any]] = {}
            for task in tasks:
                task_id = task.get("ID") if isinstance(task, dict) else None
                if not isinstance(task_id, str) or not task_id:
                    continue
                if task.get("NodeID") not in (None, "", self.node_id):
                    log.warning("ignoring task %s assigned to node %s", task_id, task["NodeID"])
                    continue
                try:
                    task_dir(self.data_dir, task_id)
                except ValueError:
                    log.warning("ignoring task with invalid ID %r", task_id)
                    continue
                assigned[task_id] = task
            for task_id, task in assigned.items():
                entry = self._entries.get(task_id)
                if entry is None:
                    entry = self._entries[task_id] = _Entry(task)
                entry.task = task
                entry.assigned = True
                self._reconcile(entry)
            for entry in self._entries.values():
                if entry.id not in assigned:
                    entry.assigned = False
                    if entry.active:
                        self._stop(entry)  # removed from the store
            await self._prune()

    def _reconcile(self, entry: _Entry) -> None:
        desired = _order(entry.task.get("DesiredState"))
        store = _store_state(entry.task)
        if entry.active:
            if desired > _RUNNING:
                self._stop(entry)
        elif entry.status is None:  # never started here
            if desired == _RUNNING and store < _ACCEPTED:
                entry.runner = self._spawn(self._run(entry), f"task {entry.id}")
                return
            if desired == _RUNNING and store <= _RUNNING:
                self._set_status(entry, _status("failed", "swarmd restarted", err=LOST))
            elif desired > _RUNNING and store < _COMPLETE:
                self._set_status(entry, _status("shutdown", "shutdown"))
            return
        # Send again what the store still lacks (after a restart, or if lost).
        if entry.status is None:
            return
        state = str(entry.status.get("State"))
        if _order(state) > store and (
            entry.reported is None
            or entry.reported[0] != state
            or time.monotonic() - entry.reported[1] > RESEND_AFTER
        ):
            self._queue(entry, entry.status)

    async def _prune(self) -> None:
        """Forgets finished tasks that left the assigned set: the store deleted them."""
        doomed = [e for e in self._entries.values() if not (e.assigned or e.active)]
        for entry in doomed:
            del self._entries[entry.id]
            try:
                await self.runtime.remove(entry.id)
            except Exception:
                log.exception("could not remove task %s", entry.id)
            shutil.rmtree(task_dir(self.data_dir, entry.id), ignore_errors=True)

    # --- one task -----------------------------------------------------------

    async def _run(self, entry: _Entry) -> None:
        for state in ("accepted", "preparing", "starting"):
            self._set_status(entry, _status(state, state))
        if entry.stopping:
            self._set_status(entry, _status("shutdown", "shutdown"))
            return
        try:
            handle = await self.runtime.start(entry.task)
        except TaskError as e:
            self._set_status(entry, _status("rejected", "starting failed", err=e.reason))
            return
        except Exception as e:
            log.exception("runtime %s failed to start task %s", self.runtime.name, entry.id)
            self._set_status(entry, _status("rejected", "starting failed", err=f"{e}"))
            return
        entry.handle = handle
        self._set_status(entry, _status("running", "started", container=handle.status()))
        if entry.stopping:
            self._spawn(self._stop_handle(entry, handle), f"stop {entry.id}")
        await self._supervise(entry, handle)

    async def _supervise(self, entry: _Entry, handle: RuntimeHandle) -> None:
        try:
            code = await handle.wait()
        except Exception as e:
            log.exception("lost track of task %s", entry.id)
            entry.handle = None
            self._set_status(entry, _status("failed", "started", err=f"task: {e}"))
            return
        container = handle.status()
        if entry.stopping:
            status = _status("shutdown", "shutdown", container=container)
        elif code == 0:
            status = _status("complete", "finished", container=container)
        else:
            err = f"task: non-zero exit ({code})"
            status = _status("failed", "started", err=err, container=container)
        entry.handle = None
        self._set_status(entry, status)
        if not entry.assigned:
            self._spawn(self._prune_later(), "prune")

    async def _prune_later(self) -> None:
        await asyncio.sleep(0)  # let the runner finish first
        async with self._lock:
            await self._prune()

    def _stop(self, entry: _Entry) -> None:
        if entry.stopping:
            return
        entry.stopping = True
        if entry.handle is not None:  # else the runner stops it once started
            self._spawn(self._stop_handle(entry, entry.handle), f"stop {entry.id}")

    async def _stop_handle(self, entry: _Entry, handle: RuntimeHandle) -> None:
        try:
            await handle.stop(stop_grace(entry.task))
        except Exception:
            log.exception("could not stop task %s", entry.id)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)
        return task

    # --- statuses -----------------------------------------------------------

    def _set_status(self, entry: _Entry, status: dict[str, Any], *, report: bool = True) -> None:
        entry.status = status
        # Saved only where a restarted worker needs it (a task it may have left
        # running, or one that ended): one write per task start instead of four
        # keeps hundreds of nodes in one process off the disk's critical path.
        if status.get("State") not in _UNSAVED_STATES:
            directory = task_dir(self.data_dir, entry.id)
            try:
                directory.mkdir(parents=True, exist_ok=True)
                write_json(directory / STATE_FILE, {"task": entry.task, "status": status})
            except OSError as e:
                log.warning("could not save the state of task %s: %s", entry.id, e)
        if report:
            self._queue(entry, status)

    def _queue(self, entry: _Entry, status: dict[str, Any]) -> None:
        entry.reported = (str(status.get("State")), time.monotonic())
        # A later update of the same task in this batch replaces the earlier one.
        self._pending[entry.id] = {"task_id": entry.id, "status": status}
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch = list(self._pending.values())
        self._pending.clear()
        if batch:
            try:
                self._report(batch)
            except Exception:
                log.exception("could not report %d task status updates", len(batch))

    # --- queries ------------------------------------------------------------

    def statuses(self) -> list[dict[str, Any]]:
        """`[{task_id, status}]`: the latest status of every assigned or running
        task this node gave one (to send again after a reconnect)."""
        return [
            {"task_id": e.id, "status": e.status}
            for e in self._entries.values()
            if e.status is not None and (e.assigned or e.active)
        ]

    def running_count(self) -> int:
        """Tasks whose process (container) runs now."""
        return sum(1 for e in self._entries.values() if e.handle is not None)

    def known_tasks(self) -> list[dict[str, Any]]:
        """Every task this node keeps (assigned ones and kept history), with the
        latest status it knows."""
        return [
            {**e.task, "Status": e.status} if e.status is not None else dict(e.task)
            for e in self._entries.values()
        ]

    def logs(self, task_id: str, options: LogOptions) -> AsyncIterator[LogLine]:
        """A task's output (see `Runtime.logs`)."""
        return self.runtime.logs(task_id, options)
