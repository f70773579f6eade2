"""Helpers shared by the runtime and worker tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from swarmkit_py.logs import LogLine


def make_task(
    task_id: str,
    *argv: str,
    desired: str = "running",
    state: str = "assigned",
    grace: float | None = None,
    **container: Any,
) -> dict[str, Any]:
    """A task as the dispatcher hands it over: argv is the service's command."""
    spec: dict[str, Any] = {"Command": list(argv), **container}
    if grace is not None:
        spec["StopGracePeriod"] = int(grace * 1e9)
    return {
        "ID": task_id,
        "ServiceID": "svc1",
        "Slot": 1,
        "NodeID": "node1",
        "Spec": {"ContainerSpec": spec},
        "DesiredState": desired,
        "Status": {"State": state, "Message": state},
    }


def alive(pid: int) -> bool:
    """The process runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return False
    return text[text.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


async def eventually(check: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Waits until `check()` holds; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


async def collect(lines: AsyncIterator[LogLine]) -> list[LogLine]:
    return [line async for line in lines]
