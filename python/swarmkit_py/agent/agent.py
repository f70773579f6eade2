"""The agent: a node's session with the dispatcher on the leader.

Every node (managers too) registers its description, then heartbeats at the
period the dispatcher asks for, reporting its load. When its manager goes
away it tries the others it was told about; a follower redirects it to the
leader. A node that was removed from the swarm is refused and stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import socket
from collections.abc import Callable
from typing import Any

from swarmkit_py import __version__
from swarmkit_py.pki import NodeCredentials, PermissionDeniedError, PKIError, RpcClient
from swarmkit_py.pki.ca_client import connect
from swarmkit_py.tasks import cancel_and_wait

log = logging.getLogger(__name__)

REGISTER = "Dispatcher.Register"
HEARTBEAT = "Dispatcher.Heartbeat"


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


def current_load() -> dict[str, int]:
    """What the node uses now: running tasks, CPU (from the load average) and memory."""
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = 0.0
    info = _meminfo()
    used = info.get("MemTotal", 0) - info.get("MemAvailable", 0)
    return {"RunningTasks": 0, "NanoCPUsUsed": int(load1 * 1e9), "MemoryBytesUsed": used}


class _Redirect(Exception):
    def __init__(self, address: str) -> None:
        super().__init__(f"redirected to the leader at {address}")
        self.address = address


class Agent:
    """Keeps the session; `on_update` gets each answer (desired role, managers)."""

    def __init__(
        self,
        credentials: Callable[[], NodeCredentials],
        managers: list[str],
        advertise_addr: str,
        description: dict[str, Any],
        *,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        on_removed: Callable[[str], None] | None = None,
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
            answer = await client.call(
                REGISTER, {"description": self._description, "addr": self._addr}
            )
            if "redirect" in answer:
                # A follower: go to the leader.
                raise _Redirect(str(answer["redirect"] or ""))
            self.connected_to = address
            self._absorb(answer)
            session = answer["session_id"]
            while True:
                await asyncio.sleep(self.heartbeat_period)
                answer = await asyncio.wait_for(
                    client.call(HEARTBEAT, {"session_id": session, "load": current_load()}),
                    timeout=max(5.0, 3 * self.heartbeat_period),
                )
                if "redirect" in answer:
                    raise _Redirect(str(answer["redirect"] or ""))
                self._absorb(answer)
        finally:
            await client.close()

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
