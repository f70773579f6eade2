"""The `simulated` runtime: tasks that run nothing, for scale tests and benchmarks.

A simulated task is "running" from the moment `start` returns (after an
optional `start_delay`) until it is stopped, or until `run_for` seconds have
passed (it then exits with 0) or `fail_after` seconds (it exits with 1),
whichever comes first. `stop` ends it at once with exit code 0, as a program
that handles its stop signal would. Its only output is one line,
`simulated task <id> started`, at its start.

Nothing touches the disk and no task or timer runs per simulated task (a
future, plus a timer handle only when it ends by itself), so a process can
hold tens of thousands of them. What is remembered of a task (its start time,
for its log line) is forgotten by `remove`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from swarmkit_py.logs import LogLine, LogOptions

from .base import TaskError

#: Characters of the task ID in a simulated task's `ContainerID` (`sim-<prefix>`).
CONTAINER_ID_PREFIX = 12
#: Exit codes of a simulated task.
EXIT_OK, EXIT_FAILED = 0, 1


def _log_line(task_id: str, started_ns: int) -> LogLine:
    return LogLine(started_ns, "stdout", f"simulated task {task_id} started\n".encode())


async def _read_log(
    line: LogLine, options: LogOptions, ended: asyncio.Future[int] | None
) -> AsyncIterator[LogLine]:
    """The task's one line if `options` wants it; with `follow`, then waits until
    the task has ended (`ended` done or None) or `until` has come."""
    if options.tail != 0 and options.wants(line):
        yield line
    if not options.follow or ended is None or ended.done():
        return
    timeout = None
    if options.until_ns:
        timeout = max(0.0, (options.until_ns - time.time_ns()) / 1e9)
    try:
        await asyncio.wait_for(asyncio.shield(ended), timeout)
    except TimeoutError:
        return


class SimulatedHandle:
    """One simulated task: a future that gets its exit code."""

    __slots__ = ("_ended", "_timer", "exit_code", "started_ns", "task_id")

    def __init__(self, task_id: str, run_for: float | None, fail_after: float | None) -> None:
        self.task_id = task_id
        self.started_ns = time.time_ns()
        self.exit_code: int | None = None
        loop = asyncio.get_running_loop()
        self._ended: asyncio.Future[int] = loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        ends = [(d, EXIT_OK) for d in (run_for,) if d is not None]
        ends += [(d, EXIT_FAILED) for d in (fail_after,) if d is not None]
        if ends:
            delay, code = min(ends, key=lambda end: end[0])
            self._timer = loop.call_later(max(delay, 0.0), self._end, code)

    def _end(self, code: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._ended.done():
            self.exit_code = code
            self._ended.set_result(code)

    @property
    def running(self) -> bool:
        return self.exit_code is None

    async def wait(self) -> int:
        return await asyncio.shield(self._ended)

    async def stop(self, grace: float) -> None:
        self._end(EXIT_OK)

    def status(self) -> dict[str, Any]:
        return {
            "ContainerID": f"sim-{self.task_id[:CONTAINER_ID_PREFIX]}",
            "PID": 0,
            "ExitCode": self.exit_code or 0,
        }

    def logs(self, options: LogOptions) -> AsyncIterator[LogLine]:
        return _read_log(_log_line(self.task_id, self.started_ns), options, self._ended)


class SimulatedRuntime:
    """Runs nothing; see the module docstring. The delays are in seconds and
    apply to every task this runtime starts."""

    name = "simulated"

    def __init__(
        self,
        *,
        start_delay: float = 0.0,
        run_for: float | None = None,
        fail_after: float | None = None,
    ) -> None:
        self.start_delay = start_delay
        self.run_for = run_for
        self.fail_after = fail_after
        #: Every task started and not yet removed; ended ones stay for their logs.
        self._tasks: dict[str, SimulatedHandle] = {}

    async def start(self, task: dict[str, Any]) -> SimulatedHandle:
        task_id = str(task.get("ID") or "")
        known = self._tasks.get(task_id)
        if known is not None and known.running:
            raise TaskError(f"starting container failed: task {task_id} is already running")
        if self.start_delay > 0:
            await asyncio.sleep(self.start_delay)
        handle = SimulatedHandle(task_id, self.run_for, self.fail_after)
        self._tasks[task_id] = handle
        return handle

    async def adopt(self, task: dict[str, Any]) -> SimulatedHandle | None:
        """Nothing of a simulated task outlives the process that ran it."""
        return None

    def running_count(self) -> int:
        """Simulated tasks that have not ended."""
        return sum(1 for handle in self._tasks.values() if handle.running)

    def logs(self, task_id: str, options: LogOptions) -> AsyncIterator[LogLine]:
        handle = self._tasks.get(task_id)
        if handle is None:
            return _no_lines()
        return handle.logs(options)

    async def remove(self, task_id: str) -> None:
        """Nothing is kept on disk; only the task's start time is forgotten."""
        handle = self._tasks.pop(task_id, None)
        if handle is not None:
            handle._end(EXIT_OK)


async def _no_lines() -> AsyncIterator[LogLine]:
    return
    yield
