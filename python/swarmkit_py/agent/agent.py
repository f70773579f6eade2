"""The agent: a node's session with the dispatcher on the leader.

Every node (managers too) registers its description, then heartbeats at the
period the dispatcher asks for, reporting its load. When its manager goes
away it tries the others it was told about; a follower redirects it to the
leader. A node that was removed from the swarm is refused and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import random
import socket
from collections.abc import Callable
from typing import Any

from swarmkit_py import __version__
from swarmkit_py.logs import LogMessage, LogOptions
from swarmkit_py.pki import NodeCredentials, PermissionDeniedError, PKIError, RpcClient
from swarmkit_py.pki.ca_client import connect
from swarmkit_py.tasks import cancel_and_wait

from .worker import Worker

log = logging.getLogger(__name__)

REGISTER = "Dispatcher.Register"
HEARTBEAT = "Dispatcher.Heartbeat"
ASSIGNMENTS = "Dispatcher.Assignments"
UPDATE_TASK_STATUS = "Dispatcher.UpdateTaskStatus"
PUBLISH_LOGS = "Dispatcher.PublishLogs"
#: Log lines sent per call, and their bytes (a line is at most 16 KiB; RPC
#: frames stop at 1 MiB).
LOG_BATCH = 500
LOG_BATCH_BYTES = 256 * 1024
#: Status reports sent per call.
STATUS_BATCH = 500


def _meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes (empty where there is none)."""
    info: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                fields = rest.split()
                if fields and fields[0].isdigit():
                    info[key] = int(fields[0]) * 1024
    except OSError:
        pass
    return info


def describe_host(
    hostname: str | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """This node's description in the Engine API's shape (NodeDescription)."""
    arch = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(platform.machine(), platform.machine())
    return {
        "Hostname": hostname or socket.gethostname(),
        "Platform": {"Architecture": arch, "OS": platform.system().lower()},
        "Resources": {
            "NanoCPUs": (os.cpu_count() or 1) * 1_000_000_000,
            "MemoryBytes": _meminfo().get("MemTotal", 0),
        },
        "Engine": {
            "EngineVersion": f"swarmkit-py {__version__}",
            "Labels": dict(labels or {}),
            "Plugins": [],
        },
    }


def current_load(running_tasks: int = 0) -> dict[str, int]:
    """What the node uses now: running tasks, CPU (from the load average) and memory."""
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = 0.0
    info = _meminfo()
    used = info.get("MemTotal", 0) - info.get("MemAvailable", 0)
    return {
        "RunningTasks": running_tasks,
        "NanoCPUsUsed": int(load1 * 1e9),
        "MemoryBytesUsed": used,
    }


async def _first_failure(coroutines: list[Any]) -> None:
    """Runs the coroutines until one ends; cancels the others and re-raises."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Redirect(Exception):
    def __init__(self, address: str) -> None:
        super().__init__(f"redirected to the leader at {address}")
        self.address = address


class Agent:
    """Keeps the session; `on_update` gets each answer (desired role, managers).

    With a `worker`, it also runs the node's tasks: the assignments the
    dispatcher sends go to `worker.apply`, and the worker's status reports go
    back in batches. Without a manager, tasks keep running as they are; on a
    new session the agent first reports the state of every task it knows.
    """

    def __init__(
        self,
        credentials: Callable[[], NodeCredentials],
        managers: list[str],
        advertise_addr: str,
        description: dict[str, Any],
        *,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        on_removed: Callable[[str], None] | None = None,
        worker: Worker | None = None,
        load: Callable[[int], dict[str, int]] = current_load,
        availability: str = "",
    ) -> None:
        self._credentials = credentials
        self.managers = list(managers)
        self._addr = advertise_addr
        self._description = description
        self._on_update = on_update
        self._on_removed = on_removed
        self._task: asyncio.Task[None] | None = None
        self.connected_to: str | None = None
        self.heartbeat_period = 5.0
        self.stopped_reason: str | None = None
        self.worker = worker
        #: What the node reports using, given its running task count.
        self._load = load
        #: `swarm join --availability`: the node's availability when the
        #: dispatcher first registers it (ignored for a node it knows).
        self._availability = availability
        self._outbox: dict[str, dict[str, Any]] = {}
        self._outbox_ready = asyncio.Event()
        #: A description the dispatcher has not seen since registration.
        self._description_changed = False

    def set_description(self, description: dict[str, Any]) -> None:
        """A new description (its TLS info changes when the certificate is
        renewed); the next heartbeat carries it."""
        if description != self._description:
            self._description = description
            self._description_changed = True

    def queue_reports(self, updates: list[dict[str, Any]]) -> None:
        """Task status reports from the worker, sent as soon as a session allows."""
        for update in updates:
            self._outbox[str(update["task_id"])] = update["status"]
        if self._outbox:
            self._outbox_ready.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        backoff = 0.1
        index = 0
        redirect: str | None = None
        while True:
            if not self.managers:
                await asyncio.sleep(1.0)
                continue
            address = redirect or self.managers[index % len(self.managers)]
            redirect = None
            try:
                await self._session(address)
                backoff = 0.1
            except _Redirect as r:
                self.connected_to = None
                if r.address and r.address != address:
                    redirect = r.address
                else:  # the manager knows no leader yet: try another after a pause
                    index += 1
                    await asyncio.sleep(backoff)
            except PermissionDeniedError as e:
                self.stopped_reason = str(e)
                log.error("the swarm refused this node: %s", e)
                if self._on_removed is not None:
                    self._on_removed(str(e))
                return
            except (OSError, PKIError, ConnectionError, TimeoutError) as e:
                log.info("session with manager %s ended: %s", address, e)
                self.connected_to = None
                index += 1
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 2.0)

    async def _session(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        client: RpcClient = await connect((host, int(port)), self._credentials())
        try:
            params = {"description": self._description, "addr": self._addr}
            if self._availability:
                params["availability"] = self._availability
            answer = await client.call(REGISTER, params)
            if "redirect" in answer:
                # A follower: go to the leader.
                raise _Redirect(str(answer["redirect"] or ""))
            self.connected_to = address
            self._absorb(answer)
            session = str(answer["session_id"])
            loops = [self._heartbeats(client, session)]
            if self.worker is not None:
                for status in self.worker.statuses():
                    self._outbox.setdefault(str(status["task_id"]), status["status"])
                self._outbox_ready.set()
                loops.append(self._send_reports(client, session))
                loops.append(self._follow_assignments(address, session, client))
            await _first_failure(loops)
        finally:
            await client.close()

    async def _call(self, client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
        # cancellation that lands with the answer, leaving a session half alive
        # and stop() hanging (CPython gh-86296).
        async with asyncio.timeout(max(5.0, 3 * self.heartbeat_period)):
            return await client.call(method, params)

    async def _heartbeats(self, client: RpcClient, session: str) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_period)
            running = self.worker.running_count() if self.worker is not None else 0
            params: dict[str, Any] = {"session_id": session, "load": self._load(running)}
            changed = self._description_changed
            if changed:
                # Only after a change (`docker swarm ca --rotate` waits for every
                # node's new TLS info); registration sends it otherwise.
                params["description"] = self._description
            answer = await self._call(client, HEARTBEAT, params)
            if changed and params["description"] is self._description:
                self._description_changed = False
            if "redirect" in answer:
                raise _Redirect(str(answer["redirect"] or ""))
            self._absorb(answer)

    async def _send_reports(self, client: RpcClient, session: str) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                items = list(self._outbox.items())[:STATUS_BATCH]
                updates = [{"task_id": k, "status": v} for k, v in items]
                answer = await self._call(
                    client, UPDATE_TASK_STATUS, {"session_id": session, "updates": updates}
                )
                if "redirect" in answer:
                    raise _Redirect(str(answer["redirect"] or ""))
                for key, value in items:
                    if self._outbox.get(key) is value:
                        del self._outbox[key]

    async def _follow_assignments(self, address: str, session: str, main: RpcClient) -> None:
        """Long-polls the node's assignments on a connection of its own."""
        assert self.worker is not None
        host, _, port = address.rpartition(":")
        client = await connect((host, int(port)), self._credentials())
        known = ""
        publishers: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                answer = await self._call(
                    client,
                    ASSIGNMENTS,
                    {"session_id": session, "known": known, "wait": self.heartbeat_period},
                )
                if "redirect" in answer:
                    raise _Redirect(str(answer["redirect"] or ""))
                tasks = answer.get("tasks")
                if isinstance(tasks, list) and int(answer.get("pages") or 1) > 1:
                    tasks = await self._remaining_pages(client, session, answer)
                    if tasks is None:
                        known = ""  # the set changed while paging: start over
                        continue
                known = str(answer.get("version") or "")
                if isinstance(tasks, list):
                    await self.worker.apply([t for t in tasks if isinstance(t, dict)])
                    subs = {str(sub.get("id")): sub for sub in answer.get("logs") or []}
                    for sub_id in list(publishers):
                        if sub_id not in subs:
                            publishers.pop(sub_id).cancel()
                    for sub_id, sub in subs.items():
                        if sub_id not in publishers:
                            publishers[sub_id] = asyncio.ensure_future(
                                self._publish_logs(main, session, sub)
                            )
        finally:
            for publisher in publishers.values():
                publisher.cancel()
            await client.close()

    async def _remaining_pages(
        self, client: RpcClient, session: str, first: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        """All the tasks of a paged assignments answer; None if the set changed
        meanwhile (the pages would not fit together)."""
        tasks = [t for t in first.get("tasks") or [] if isinstance(t, dict)]
        for page in range(1, int(first.get("pages") or 1)):
            answer = await self._call(client, ASSIGNMENTS, {"session_id": session, "page": page})
            if "redirect" in answer:
                raise _Redirect(str(answer["redirect"] or ""))
            if answer.get("version") != first.get("version"):
                return None
            tasks.extend(t for t in answer.get("tasks") or [] if isinstance(t, dict))
        return tasks

    async def _publish_logs(self, client: RpcClient, session: str, sub: dict[str, Any]) -> None:
        """Sends the logs a subscription asks for, then says done (unless following)."""
        assert self.worker is not None
        worker = self.worker
        options = LogOptions.from_wire(sub.get("options") or {})
        queue: asyncio.Queue[list[Any]] = asyncio.Queue(maxsize=4 * LOG_BATCH)

        async def read(task_id: str) -> None:
            try:
                async for line in worker.logs(task_id, options):
                    await queue.put(LogMessage(line, "", "", task_id).to_wire())
            except Exception as e:  # a task without logs here: nothing to send
                log.debug("logs of task %s: %s", task_id, e)

        readers = [asyncio.ensure_future(read(str(t))) for t in sub.get("tasks") or []]
        try:
            while True:
                batch: list[list[Any]] = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        batch.append(await queue.get())
                size = sum(len(m[2]) for m in batch)
                while not queue.empty() and len(batch) < LOG_BATCH and size < LOG_BATCH_BYTES:
                    batch.append(queue.get_nowait())
                    size += len(batch[-1][2])
                finished = all(r.done() for r in readers) and queue.empty()
                if not batch and not finished:
                    continue
                answer = await client.call(
                    PUBLISH_LOGS,
                    {
                        "session_id": session,
                        "id": sub.get("id"),
                        "messages": batch,
                        "done": finished,
                    },
                )
                if answer.get("closed") or finished:
                    return
        finally:
            for reader in readers:
                reader.cancel()

    def _absorb(self, answer: dict[str, Any]) -> None:
        period = answer.get("heartbeat_period")
        if isinstance(period, int | float) and period > 0:
            self.heartbeat_period = float(period)
        managers = answer.get("managers")
        if isinstance(managers, list) and managers:
            current = self.connected_to
            self.managers = [m for m in managers if isinstance(m, str)]
            if current in self.managers:
                self.managers.remove(current)
                self.managers.insert(0, current)
        if self._on_update is not None:
            self._on_update(answer)
