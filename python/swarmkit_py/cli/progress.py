"""Waiting for a service to converge, as `docker service create/update/
rollback/scale` do when not detached: every 200 ms read the service, its
up-to-date tasks and the nodes; show `overall progress: N out of M tasks` and
one line per slot (per node for global services); once every task runs, wait
the monitor period (`UpdateConfig.Monitor`, 5 s unless set) to be sure they
stay up, then print `verify: Service <id> converged`.

On a terminal the lines are rewritten in place (with docker's progress bars
when the terminal is wider than 110 columns); elsewhere a line is printed
each time what it says changes."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from typing import Any, Protocol

import click

from ..api.client import APIClient
from .common import CommandError
from .output import truncate_id

Json = dict[str, Any]

POLL_SECONDS = 0.2
SECOND = 1_000_000_000
DEFAULT_MONITOR_NS = 5 * SECOND
# Docker's order of task states; later than running means the task is over.
STATE_NUMBERS = {
    "new": 1,
    "allocated": 2,
    "pending": 3,
    "assigned": 4,
    "accepted": 5,
    "preparing": 6,
    "ready": 7,
    "starting": 8,
    "running": 9,
    "complete": 10,
    "shutdown": 11,
    "failed": 12,
    "rejected": 13,
}
RUNNING = STATE_NUMBERS["running"]
LONGEST_STATE = max(len(s) for s, n in STATE_NUMBERS.items() if n <= STATE_NUMBERS["complete"])
MAX_PROGRESS_BARS = 20
BAR_MIN_TERMINAL_WIDTH = 111
MAX_ERROR_WIDTH = 75


def _number(state: Any) -> int:
    return STATE_NUMBERS.get(str(state), 0)


def _terminal(state: Any) -> bool:
    return _number(state) > RUNNING


class ProgressOutput:
    """Docker's progress display: a line per ID, rewritten in place on a
    terminal, printed anew when it changes elsewhere."""

    def __init__(
        self, quiet: bool = False, terminal: bool | None = None, width: int | None = None
    ) -> None:
        self.quiet = quiet
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        if width is None:
            width = shutil.get_terminal_size().columns if self.terminal else 0
        self.width = width
        self._lines: list[str] = []
        self._shown: dict[str, str] = {}

    def write(self, line_id: str, action: str, current: int = 0, total: int = 0) -> None:
        if self.quiet:
            return
        if not self.terminal:
            text = f"{line_id}: {action.strip()}"
            if action.strip() and self._shown.get(line_id) != text:
                self._shown[line_id] = text
                click.echo(text)
            return
        bar = ""
        if total > 0 and self.width >= BAR_MIN_TERMINAL_WIDTH:
            done = min(50, int(current / total * 100) // 2)
            bar = f" [{'=' * done}>{' ' * (50 - done)}]"
        text = f"{line_id}: {action}{bar}".rstrip()
        if line_id not in self._lines:
            self._lines.append(line_id)
            click.echo(text)
            return
        up = len(self._lines) - self._lines.index(line_id)
        # color=True: click would otherwise strip the cursor moves as colours.
        click.echo(f"\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B", nl=False, color=True)

    def message(self, text: str) -> None:
        """A line outside the progress display."""
        if not self.quiet:
            self._lines.clear()
            click.echo(text)


def _short_error(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_ERROR_WIDTH else text[: MAX_ERROR_WIDTH - 1] + "…"


def _overall(out: ProgressOutput, running: int, total: int, rollback: bool) -> None:
    if rollback:
        out.write("overall progress", f"rolling back update: {running} out of {total} tasks")
    else:
        out.write("overall progress", f"{running} out of {total} tasks")


def _task_line(out: ProgressOutput, line_id: str, task: Json) -> None:
    status = task.get("Status", {})
    if status.get("Err"):
        out.write(line_id, _short_error(str(status["Err"])))
    elif not _terminal(task.get("DesiredState")) and not _terminal(status.get("State")):
        state = str(status.get("State", ""))
        out.write(line_id, f"{state:<{LONGEST_STATE}}", _number(state), RUNNING)


def _lowest(tasks: list[Json], key: str, active_nodes: set[str] | None) -> dict[Any, Json]:
    """Per slot (or node), the task with the lowest desired state, then the
    lowest observed state (restarts and start-first updates leave two)."""
    chosen: dict[Any, Json] = {}
    for task in tasks:
        desired, observed = _number(task.get("DesiredState")), _number(task["Status"].get("State"))
        if not desired or not observed:
            continue
        existing = chosen.get(task.get(key))
        if existing is not None:
            existing_desired = _number(existing.get("DesiredState"))
            if existing_desired < desired or (
                existing_desired == desired and _number(existing["Status"].get("State")) <= observed
            ):
                continue
        node_id = task.get("NodeID")
        if active_nodes is not None and node_id and node_id not in active_nodes:
            continue
        chosen[task.get(key)] = task
    return chosen


class Updater(Protocol):
    def update(
        self, service: Json, tasks: list[Json], active_nodes: set[str], rollback: bool
    ) -> bool: ...


class ReplicatedProgress:
    """One line per slot, numbered 1..N in the order slots are first seen."""

    def __init__(self, out: ProgressOutput) -> None:
        self.out = out
        self.slots: dict[Any, int] = {}
        self.initialized = False
        self.done = False

    def update(
        self, service: Json, tasks: list[Json], active_nodes: set[str], rollback: bool
    ) -> bool:
        replicas = int(service["Spec"]["Mode"]["Replicated"].get("Replicas", 1))
        if not self.initialized:
            _overall(self.out, 0, replicas, rollback)
            if replicas <= MAX_PROGRESS_BARS:
                for slot in range(1, replicas + 1):
                    self.out.write(f"{slot}/{replicas}", " ")
            self.initialized = True
        by_slot = _lowest(tasks, "Slot", active_nodes)
        if self.done and any(t["Status"].get("State") != "running" for t in by_slot.values()):
            self.done = False
        running = 0
        for slot, task in by_slot.items():
            mapped = self.slots.setdefault(slot, len(self.slots) + 1)
            if not _terminal(task.get("DesiredState")) and task["Status"].get("State") == "running":
                running += 1
            if not self.done and replicas <= MAX_PROGRESS_BARS and mapped <= replicas:
                _task_line(self.out, f"{mapped}/{replicas}", task)
        if not self.done:
            _overall(self.out, running, replicas, rollback)
            self.done = running == replicas
        return running == replicas


class GlobalProgress:
    """One line per node the up-to-date tasks are on."""

    def __init__(self, out: ProgressOutput) -> None:
        self.out = out
        self.initialized = False
        self.done = False

    def update(
        self, service: Json, tasks: list[Json], active_nodes: set[str], rollback: bool
    ) -> bool:
        by_node = _lowest(tasks, "NodeID", None)
        count = len(by_node)
        if not self.initialized:
            if count == 0:
                self.out.write("overall progress", "waiting for new tasks")
                return False
            _overall(self.out, 0, count, rollback)
            self.initialized = True
        if self.done and any(t["Status"].get("State") != "running" for t in by_node.values()):
            self.done = False
        running = 0
        for node_id, task in by_node.items():
            if node_id not in active_nodes:
                continue
            if not _terminal(task.get("DesiredState")) and task["Status"].get("State") == "running":
                running += 1
            if not self.done and count <= MAX_PROGRESS_BARS:
                _task_line(self.out, truncate_id(str(node_id)), task)
        if not self.done:
            _overall(self.out, running, count, rollback)
            self.done = running == count
        return running == count


def _updater(service: Json, out: ProgressOutput) -> Updater:
    mode = service.get("Spec", {}).get("Mode", {})
    if "Replicated" in mode:
        return ReplicatedProgress(out)
    if "Global" in mode:
        return GlobalProgress(out)
    raise CommandError("unrecognized service mode")


async def wait_on_service(api: APIClient, service_ref: str, quiet: bool = False) -> None:
    """Show the service's progress until it has converged and stayed so for
    its monitor period. A paused update or rollback is a `CommandError`
    (docker's "service update paused: <reason>")."""
    out = ProgressOutput(quiet)
    updater: Updater | None = None
    converged = False
    converged_at: float | None = None
    monitor = DEFAULT_MONITOR_NS
    rollback = False
    final_message: tuple[str, str] | None = None
    while True:
        service = await api.service_inspect(service_ref)
        configured = (service.get("Spec", {}).get("UpdateConfig") or {}).get("Monitor") or 0
        if configured:
            monitor = int(configured)
        if updater is None:
            updater = _updater(service, out)
        status = service.get("UpdateStatus") or {}
        state, message = status.get("State", ""), str(status.get("Message", ""))
        if state == "updating":
            rollback = False
        elif state == "completed" and not converged:
            return
        elif state == "paused":
            raise CommandError(f"service update paused: {message}")
        elif state == "rollback_started":
            if not rollback and message:
                out.write("rollback", message)
            rollback = True
        elif state == "rollback_paused":
            raise CommandError(f"service rollback paused: {message}")
        elif state == "rollback_completed":
            if not converged:
                final_message = ("rollback", message)
            rollback = True
        if converged and converged_at is not None:
            if (time.monotonic() - converged_at) * SECOND >= monitor:
                out.write("verify", f"Service {service_ref} converged")
                if final_message is not None:
                    out.write(*final_message)
                return
        tasks = await api.tasks_list({"service": [service["ID"]], "_up-to-date": ["true"]})
        active_nodes = {
            str(n.get("ID"))
            for n in await api.nodes_list()
            if n.get("Status", {}).get("State") != "down"
        }
        converged = updater.update(service, tasks, active_nodes, rollback)
        if converged:
            if converged_at is None:
                converged_at = time.monotonic()
            wait = monitor - int((time.monotonic() - converged_at) * SECOND)
            if wait >= 0:
                out.write(
                    "verify",
                    f"Waiting {wait // SECOND + 1} seconds to verify that tasks are stable...",
                )
        else:
            if converged_at is not None:
                out.write("verify", "Detected task failure")
            converged_at = None
        await asyncio.sleep(POLL_SECONDS)
