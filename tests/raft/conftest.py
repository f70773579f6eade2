from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swarmkit_py.raft import Entry
from swarmkit_py.raft.local_cluster import LocalCluster


class Items:
    """A state machine that keeps every applied entry's data."""

    def __init__(self) -> None:
        self.items: list[bytes] = []

    def apply(self, entries: list[Entry]) -> None:
        self.items.extend(e.data for e in entries)

    def snapshot(self) -> bytes:
        return b"\0".join(self.items)

    def restore(self, data: bytes) -> None:
        self.items = data.split(b"\0") if data else []


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    """Three real node processes on loopback, fsync on, fast ticks."""
    c = LocalCluster(tmp_path, size=3, tick_interval=0.05, election_ticks=20, wal_segment_mib=4)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def load_until_acked(
    c: LocalCluster, count: int, concurrency: int, tag: str
) -> dict[int, str]:
    """Proposes `count` values through whoever leads, retrying on leader
    changes; returns {index: value_hex} of every acknowledged proposal."""
    acked: dict[int, str] = {}
    remaining = count
    attempt = 0
    while remaining > 0:
        leader = await c.wait_leader()
        r = await c.load(leader, remaining, concurrency, 64, tag=f"{tag}-{attempt}")
        for index, value in r["acked"]:
            acked[index] = value
        remaining -= len(r["acked"])
        attempt += 1
        assert attempt < 20, f"could not commit: {r['errors']}"
    return acked
