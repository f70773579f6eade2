from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from swarmkit_py.api.client import APIClient
from swarmkit_py.testing.local_swarm import LocalSwarm

T = TypeVar("T")
Json = dict[str, Any]


@pytest.fixture
async def swarm3(tmp_path: Path) -> AsyncIterator[LocalSwarm]:
    """Three managers (which run tasks too): real swarmd processes on loopback."""
    s = LocalSwarm(tmp_path, managers=3, workers=0)
    try:
        await s.start()
        yield s
    finally:
        await s.stop()


def api(swarm: LocalSwarm, i: int = 1) -> APIClient:
    return APIClient.from_host(swarm.nodes[i].host, timeout=30)


def sleeper(name: str, replicas: int | None = 3, **extra: Any) -> Json:
    """A service whose tasks run `sleep` (the process runtime runs the command)."""
    mode: Json = {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}}
    template: Json = {
        "ContainerSpec": {"Image": "busybox", "Command": ["sleep", "3600"]},
        "RestartPolicy": {"Condition": "any", "Delay": 100_000_000},
    }
    template.update(extra.pop("TaskTemplate", {}))
    return {"Name": name, "Mode": mode, "TaskTemplate": template, **extra}


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    timeout: float = 30.0,
    what: str = "condition",
) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
            if ok(last):
                return last
        except Exception as e:  # a manager restarting, an election: try again
            last = e
        await asyncio.sleep(0.25)
    raise TimeoutError(f"timed out waiting for {what}; last: {last!r}")


async def hostnames(client: APIClient) -> dict[str, str]:
    return {n["ID"]: n["Description"]["Hostname"] for n in await client.nodes_list({})}


async def running_tasks(client: APIClient, service: str) -> list[Json]:
    tasks = await client.tasks_list({"service": [service], "desired-state": ["running"]})
    return [t for t in tasks if t["Status"]["State"] == "running"]


async def spread(client: APIClient, service: str) -> Counter[str]:
    """Running tasks of the service per node hostname."""
    names = await hostnames(client)
    return Counter(names.get(t["NodeID"], "?") for t in await running_tasks(client, service))


async def wait_spread(
    client: APIClient, service: str, ok: Callable[[Counter[str]], bool], timeout: float = 30.0
) -> Counter[str]:
    return await wait_until(lambda: spread(client, service), ok, timeout, f"{service} spread")
