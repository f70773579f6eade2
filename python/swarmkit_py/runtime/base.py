"""What a task runtime provides to the worker, and the helpers both share.

A runtime turns a task's `Spec.ContainerSpec` into something running on this
node. The worker drives it: `start` a task, `stop` and `wait` for it through
its handle, `adopt` what a previous run of the daemon left behind, read its
`logs`, and `remove` what is kept for a task that is gone for good.

Everything a runtime keeps for a task lives in `task_dir(data_dir, task_id)`,
beside the worker's own state file, so that logs and leftovers can be found
again after a daemon restart.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from swarmkit_py.logs import LogLine, LogOptions

#: Docker's default stop grace period (ContainerSpec.StopGracePeriod), in seconds.
DEFAULT_STOP_GRACE = 10.0

_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class TaskError(Exception):
    """A task could not be started; `reason` goes to the task's `Status.Err`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RuntimeHandle(Protocol):
    """One started task."""

    async def wait(self) -> int:
        """Waits until the task has ended and its output is drained; the exit code
        (128 + N when signal N ended it, as Docker reports)."""
        ...

    async def stop(self, grace: float) -> None:
        """Asks the task to stop (its stop signal, SIGTERM by default), kills it
        after `grace` seconds, and returns once it has ended."""
        ...

    def status(self) -> dict[str, Any]:
        """`ContainerStatus`: `ContainerID`, `PID` (0 once ended), `ExitCode`."""
        ...

    def logs(self, options: LogOptions) -> AsyncIterator[LogLine]:
        """The task's output; with `options.follow`, until the task has ended."""
        ...


class Runtime(Protocol):
    """Runs tasks on this node (registered by name: `swarmd --runtime NAME`)."""

    name: str

    async def start(self, task: dict[str, Any]) -> RuntimeHandle:
        """Starts the task; raises `TaskError(reason)` when it cannot."""
        ...

    async def adopt(self, task: dict[str, Any]) -> RuntimeHandle | None:
        """After a daemon restart: a handle on the task if it still runs and can be
        supervised again; otherwise it stops whatever is left of it and answers None."""
        ...

    def logs(self, task_id: str, options: LogOptions) -> AsyncIterator[LogLine]:
        """A task's output, also after it ended or the daemon restarted (nothing
        for a task it has no output of); `follow` ends when the task has ended."""
        ...

    async def remove(self, task_id: str) -> None:
        """Forgets a task that has ended for good: deletes what is kept for it."""
        ...


def task_dir(data_dir: Path, task_id: str) -> Path:
    """`<data_dir>/tasks/<task_id>`, refusing IDs that are not a plain name."""
    if not _TASK_ID.match(task_id):
        raise ValueError(f"invalid task ID {task_id!r}")
    return data_dir / "tasks" / task_id


def container_spec(task: Mapping[str, Any]) -> Mapping[str, Any]:
    """The task's `Spec.ContainerSpec` (empty if it has none)."""
    spec = task.get("Spec")
    container = spec.get("ContainerSpec") if isinstance(spec, Mapping) else None
    return container if isinstance(container, Mapping) else {}


def stop_grace(task: Mapping[str, Any]) -> float:
    """`ContainerSpec.StopGracePeriod` (nanoseconds) in seconds; 10 s if unset."""
    period = container_spec(task).get("StopGracePeriod")
    if isinstance(period, int) and not isinstance(period, bool) and period >= 0:
        return period / 1e9
    return DEFAULT_STOP_GRACE


def write_json(path: Path, value: Any) -> None:
    """Replaces `path` atomically (write a temporary file, rename); no fsync: a
    crash loses at most the latest change, never the whole file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, separators=(",", ":")))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None if it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
