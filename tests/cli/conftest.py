from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from swarmkit_py.api.server import ApiServer, serve
from swarmkit_py.cli.swarmctl import cli

from ..api.fake_backend import FakeBackend


@dataclass
class Daemon:
    """The real API server on a unix socket, its event loop in a thread (so
    swarmctl, which runs its own loop, can talk to it from the test)."""

    backend: FakeBackend
    socket_path: str
    loop: asyncio.AbstractEventLoop

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def swarmctl(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["-H", self.host, *args], catch_exceptions=False)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    backend = FakeBackend(hostname="node-1")
    path = str(tmp_path / "api.sock")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server: ApiServer = asyncio.run_coroutine_threadsafe(serve(backend, path), loop).result(10)
    try:
        yield Daemon(backend, path, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def swarm(daemon: Daemon) -> Daemon:
    """A swarm initialized on the node, with a loaded worker, a down worker
    and an unreachable manager."""
    asyncio.run_coroutine_threadsafe(
        daemon.backend.swarm_init({"AdvertiseAddr": "10.0.0.1"}), daemon.loop
    ).result(10)
    daemon.backend.add_node(
        "node-10",
        load={"RunningTasks": 3, "NanoCPUsUsed": 1_500_000_000, "MemoryBytesUsed": 512 * 1024**2},
        labels={"zone": "a"},
    )
    daemon.backend.add_node("node-2", state="down")
    daemon.backend.add_node("node-3", role="manager", reachability="unreachable")
    return daemon
