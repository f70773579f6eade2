from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swarmkit_py.testing.local_swarm import LocalSwarm


@pytest.fixture
async def swarm(tmp_path: Path) -> AsyncIterator[LocalSwarm]:
    """3 managers and 2 workers: real swarmd processes on loopback, formed with swarmctl."""
    s = LocalSwarm(tmp_path, managers=3, workers=2)
    try:
        await s.start()
        yield s
    finally:
        await s.stop()


def by_host(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["Hostname"]): r for r in rows}
