"""A Raft log kept by a Python `LogBackend` (the storage plugin protocol):
a group commits and recovers on it, a stuck backend blocks neither `status()`
nor the event loop and `stop()` interrupts it, and backend failures surface
as clear errors instead of hangs."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from swarmkit_py import _core
from swarmkit_py.raft import NodeStoppedError, RaftConfig, RaftNode, StorageError
from swarmkit_py.raft.local_cluster import free_ports
from swarmkit_py.storage.types import (
    HardState,
    LogRecord,
    RecoveredLog,
    SnapshotRecord,
    StorageUnavailable,
)

from .test_node_api import Recorder


class Shelf:
    """What the database holds for one node; outlives the backends on it."""

    def __init__(self) -> None:
        self.hard_state: HardState | None = None
        self.snapshot: SnapshotRecord | None = None
        self.entries: dict[int, LogRecord] = {}


class DictLogBackend:
    """A `LogBackend` on a `Shelf`, checking that it is called as the protocol says."""

    def __init__(self, shelf: Shelf) -> None:
        self.shelf = shelf
        self.interrupted = threading.Event()
        self.closed = False

    def recover(self) -> RecoveredLog:
        entries = [self.shelf.entries[i] for i in sorted(self.shelf.entries)]
        return RecoveredLog(self.shelf.hard_state, self.shelf.snapshot, entries)

    def append(self, entries: list[LogRecord], hard_state: HardState | None) -> None:
        assert not self.closed
        assert all(type(e) is LogRecord and type(e.data) is bytes for e in entries)
        assert hard_state is None or type(hard_state) is HardState
        if entries:
            first = entries[0].index
            assert [e.index for e in entries] == list(range(first, first + len(entries)))
            for index in [i for i in self.shelf.entries if i >= first]:
                del self.shelf.entries[index]
            self.shelf.entries.update((e.index, e) for e in entries)
        if hard_state is not None:
            self.shelf.hard_state = hard_state

    def save_snapshot(self, snapshot: SnapshotRecord, discard_log: bool) -> None:
        assert type(snapshot) is SnapshotRecord and type(snapshot.data) is bytes
        if discard_log:
            self.shelf.entries.clear()
        self.shelf.snapshot = snapshot

    def compact(self, first_index: int) -> None:
        for index in [i for i in self.shelf.entries if i < first_index]:
            del self.shelf.entries[index]

    def interrupt(self) -> None:
        self.interrupted.set()

    def close(self) -> None:
        self.closed = True


class StuckBackend(DictLogBackend):
    """Once `stuck` is set, appends wait for a database that never comes back,
    until interrupted."""

    def __init__(self, shelf: Shelf) -> None:
        super().__init__(shelf)
        self.stuck = False
        self.waiting = threading.Event()

    def append(self, entries: list[LogRecord], hard_state: HardState | None) -> None:
        if self.stuck:
            self.waiting.set()
            self.interrupted.wait()
            raise StorageUnavailable("gave up waiting for the database: interrupted")
        super().append(entries, hard_state)


class FailingBackend(DictLogBackend):
    def __init__(self, shelf: Shelf) -> None:
        super().__init__(shelf)
        self.failing = False

    def append(self, entries: list[LogRecord], hard_state: HardState | None) -> None:
        if self.failing:
            raise StorageUnavailable("the database refused the write: disk full")
        super().append(entries, hard_state)


def configs(tmp_path: Path, n: int, **kw: object) -> list[RaftConfig]:
    ports = free_ports(n)
    peers = {i + 1: f"127.0.0.1:{p}" for i, p in enumerate(ports)}
    return [
        RaftConfig(
            node_id=i,
            listen_addr=a,
            data_dir=tmp_path / f"n{i}",
            peers=peers,
            tick_interval=0.02,
            election_ticks=10,
            **kw,
        )  # type: ignore[arg-type]
        for i, a in peers.items()
    ]


async def started_single_node(tmp_path: Path, backend: DictLogBackend) -> RaftNode:
    (config,) = configs(tmp_path, 1)
    node = RaftNode(config, Recorder(), log_backend=backend)
    await node.start()
    await node.wait_for_leader(5)
    return node


async def wait_until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_a_group_on_a_python_backend_commits_and_recovers_after_a_full_restart(
    tmp_path: Path,
) -> None:
    cfgs = configs(tmp_path, 3, snapshot_interval=10, keep_entries_after_snapshot=2)
    shelves = {c.node_id: Shelf() for c in cfgs}
    backends = {c.node_id: DictLogBackend(shelves[c.node_id]) for c in cfgs}
    nodes = [RaftNode(c, Recorder(), log_backend=backends[c.node_id]) for c in cfgs]
    for n in nodes:
        await n.start()
    try:
        leader_id = await nodes[0].wait_for_leader(10)
        leader = next(n for n in nodes if n.node_id == leader_id)
        for i in range(30):
            last = await leader.propose(f"v{i}".encode())
        for n in nodes:
            await n.wait_applied(last, timeout=10)
    finally:
        for n in nodes:
            await n.stop()
    written = [d for _, d in leader._sm.items]  # type: ignore[attr-defined]
    assert written == [f"v{i}".encode() for i in range(30)]
    for node_id, shelf in shelves.items():
        assert backends[node_id].interrupted.is_set() and backends[node_id].closed
        assert shelf.snapshot is not None and shelf.snapshot.index >= 10, node_id
        assert min(shelf.entries) > 2, f"node {node_id}: the log was not compacted"
        # The commit index is stored along with entries, never on its own.
        assert shelf.hard_state is not None and shelf.hard_state.term >= 1
        assert max(shelf.entries) == last
    assert not any((tmp_path / f"n{i}").exists() for i in shelves), "nothing raft on disk"

    again = [RaftNode(c, Recorder(), log_backend=DictLogBackend(shelves[c.node_id])) for c in cfgs]
    for n in again:
        await n.start()
    try:
        for n in again:
            await n.wait_applied(last, timeout=10)
            sm = n._sm
            assert isinstance(sm, Recorder)
            assert sm.restores, f"node {n.node_id} did not start from its snapshot"
            assert [d for _, d in sm.items][:30] == written
        leader_id = await again[0].wait_for_leader(10)
        leader = next(n for n in again if n.node_id == leader_id)
        assert await leader.propose(b"after the restart") > last
    finally:
        for n in again:
            await n.stop()


async def test_a_stuck_append_blocks_neither_status_nor_the_loop_and_stop_interrupts_it(
    tmp_path: Path,
) -> None:
    backend = StuckBackend(Shelf())
    node = await started_single_node(tmp_path, backend)
    index = await node.propose(b"before")
    backend.stuck = True
    pending = asyncio.create_task(node.propose(b"never stored"))
    await wait_until(backend.waiting.is_set)

    loop = asyncio.get_running_loop()
    started = loop.time()
    status = node.status()
    assert loop.time() - started < 0.5
    assert status.is_leader and status.commit_index >= index
    started = loop.time()
    await asyncio.sleep(0.05)
    assert loop.time() - started < 0.5, "the event loop was blocked"
    assert not pending.done()

    await asyncio.wait_for(node.stop(), 5)
    assert backend.interrupted.is_set() and backend.closed
    with pytest.raises(NodeStoppedError):
        await asyncio.wait_for(pending, 5)


async def test_a_backend_whose_recover_raises_gives_a_storage_error(tmp_path: Path) -> None:
    class Unreachable(DictLogBackend):
        def recover(self) -> RecoveredLog:
            raise StorageUnavailable("MySQL at db.example:3306 is unreachable")

    backend = Unreachable(Shelf())
    (config,) = configs(tmp_path, 1)
    node = RaftNode(config, Recorder(), log_backend=backend)
    with pytest.raises(StorageError, match=r"StorageUnavailable: MySQL at db\.example:3306"):
        await node.start()
    assert backend.closed


async def test_a_backend_returning_a_damaged_log_gives_a_storage_error(tmp_path: Path) -> None:
    shelf = Shelf()
    shelf.entries = {1: LogRecord(1, 1, b"\xff\xff\xff")}
    (config,) = configs(tmp_path, 1)
    node = RaftNode(config, Recorder(), log_backend=DictLogBackend(shelf))
    with pytest.raises(StorageError, match="entry record 1 does not decode"):
        await node.start()


async def test_a_backend_whose_append_raises_fails_the_node_and_its_proposals(
    tmp_path: Path,
) -> None:
    backend = FailingBackend(Shelf())
    node = await started_single_node(tmp_path, backend)
    await node.propose(b"fine")
    backend.failing = True
    proposals = [node.propose(f"lost {i}".encode()) for i in range(5)]
    outcomes = await asyncio.wait_for(asyncio.gather(*proposals, return_exceptions=True), 5)
    for outcome in outcomes:
        assert isinstance(outcome, NodeStoppedError), outcome
        assert "StorageUnavailable: the database refused the write: disk full" in str(outcome)
    await wait_until(lambda: backend.closed)
    with pytest.raises(NodeStoppedError, match="disk full"):
        node.status()
    await node.stop()


def test_the_core_takes_a_data_dir_or_a_log_backend_not_both(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        _core.RaftCore(1, tmp_path, None, log_backend=DictLogBackend(Shelf()))
