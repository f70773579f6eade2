from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from swarmkit_py.api.server import ApiServer, serve

from .fake_backend import FakeBackend


@dataclass
class Running:
    backend: FakeBackend
    server: ApiServer
    socket_path: str

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The real API server on a unix socket, over a fresh fake backend."""
    backend = FakeBackend()
    path = str(tmp_path / "api.sock")
    server = await serve(backend, path)
    try:
        yield Running(backend, server, path)
    finally:
        await server.close()


@pytest.fixture
async def in_swarm(running: Running) -> Running:
    """The node has initialized a swarm; two workers and a manager joined."""
    await running.backend.swarm_init({"AdvertiseAddr": "10.0.0.1"})
    running.backend.add_node(
        "node-10",
        load={"RunningTasks": 3, "NanoCPUsUsed": 1_500_000_000, "MemoryBytesUsed": 512 * 1024**2},
    )
    running.backend.add_node("node-2", state="down")
    running.backend.add_node("node-3", role="manager", reachability="unreachable")
    return running


@pytest.fixture
async def http(running: Running) -> AsyncIterator[aiohttp.ClientSession]:
    """A raw HTTP session on the server's socket."""
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=running.socket_path), base_url="http://localhost"
    ) as session:
        yield session
