"""The embedding API of `swarmkit_py.raft`, with nodes in one event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swarmkit_py.raft import Entry, MembershipChangeError, NodeStoppedError, RaftConfig, RaftNode
from swarmkit_py.raft.local_cluster import free_ports


class Recorder:
    """A state machine that records every call, to check exactly-once delivery."""

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []
        self.restores: list[int] = []
        self.apply_calls = 0

    def apply(self, entries: list[Entry]) -> None:
        self.apply_calls += 1
        for e in entries:
            assert not self.items or e.index > self.items[-1][0], "entry applied twice"
            self.items.append((e.index, e.data))

    def snapshot(self) -> bytes:
        return repr(self.items).encode()

    def restore(self, data: bytes) -> None:
        self.items = eval(data.decode()) if data else []  # test data we wrote ourselves
        self.restores.append(len(self.items))


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
            wal_segment_bytes=4 << 20,
            election_ticks=10,
            **kw,
        )  # type: ignore[arg-type]
        for i, a in peers.items()
    ]


@pytest.fixture
async def group(tmp_path: Path) -> AsyncIterator[list[RaftNode]]:
    nodes = [RaftNode(c, Recorder()) for c in configs(tmp_path, 3)]
    for n in nodes:
        await n.start()
    try:
        yield nodes
    finally:
        for n in nodes:
            await n.stop()


def leader_of(nodes: list[RaftNode]) -> RaftNode:
    return next(n for n in nodes if n.is_leader)


async def test_propose_returns_the_index_once_applied_locally(group: list[RaftNode]) -> None:
    await group[0].wait_for_leader(10)
    leader = leader_of(group)
    index = await leader.propose(b"hello")
    sm = leader._sm
    assert isinstance(sm, Recorder)
    assert sm.items[-1] == (index, b"hello")
    assert leader.applied_index >= index


async def test_status_reports_term_members_and_progress(group: list[RaftNode]) -> None:
    await group[0].wait_for_leader(10)
    leader = leader_of(group)
    index = await leader.propose(b"x")
    st = leader.status()
    assert st.is_leader and st.leader_id == leader.node_id and st.term >= 1
    assert st.commit_index >= index and st.applied_index >= index
    assert {m.node_id for m in st.members} == {1, 2, 3}
    assert {p.node_id for p in st.progress} == {1, 2, 3}


async def test_read_index_waits_for_everything_committed_before_it(
    group: list[RaftNode],
) -> None:
    await group[0].wait_for_leader(10)
    leader = leader_of(group)
    index = await leader.propose(b"written")
    follower = next(n for n in group if n is not leader)
    read = await follower.read_index()
    assert read >= index
    assert follower.applied_index >= index


async def test_leadership_transfer_moves_the_leader(group: list[RaftNode]) -> None:
    await group[0].wait_for_leader(10)
    leader = leader_of(group)
    await leader.propose(b"x")
    target = next(n for n in group if n is not leader)
    await leader.transfer_leadership(target.node_id, timeout=10)
    await target.wait_for_leader(10, want=target.node_id)
    assert target.is_leader
    assert await target.propose(b"after transfer") > 0


async def test_restart_replays_snapshot_and_log_exactly_once(tmp_path: Path) -> None:
    (config,) = configs(tmp_path, 1, snapshot_interval=20, keep_entries_after_snapshot=5)
    first = Recorder()
    async with RaftNode(config, first) as node:
        await node.wait_for_leader(5)
        for i in range(50):
            await node.propose(f"v{i}".encode())
    again = Recorder()
    async with RaftNode(config, again) as node:
        await node.wait_applied(first.items[-1][0], timeout=5)
        assert again.restores and again.restores[-1] >= 20, "started from the snapshot"
        assert again.items == first.items


async def test_added_node_catches_up_and_removed_id_is_never_reused(
    tmp_path: Path, group: list[RaftNode]
) -> None:
    await group[0].wait_for_leader(10)
    leader = leader_of(group)
    for i in range(30):
        await leader.propose(f"e{i}".encode())
    (port,) = free_ports(1)
    newcomer = RaftNode(
        RaftConfig(
            node_id=9, listen_addr=f"127.0.0.1:{port}", data_dir=tmp_path / "n9", tick_interval=0.02
        ),
        Recorder(),
    )
    async with newcomer:
        await leader.add_learner(9, f"127.0.0.1:{port}")
        await leader.promote_learner(9)
        index = await leader.propose(b"last")
        await newcomer.wait_applied(index, timeout=10)
        sm = newcomer._sm
        assert isinstance(sm, Recorder)
        assert [d for _, d in sm.items][-1] == b"last" and len(sm.items) == 31
        await leader.remove_member(9)
        with pytest.raises(MembershipChangeError, match="never be used again"):
            await leader.add_voter(9, "127.0.0.1:1")


class Exploding(Recorder):
    def apply(self, entries: list[Entry]) -> None:
        if any(e.data == b"boom" for e in entries):
            raise ValueError("cannot apply boom")
        super().apply(entries)


async def test_a_failing_state_machine_stops_the_node_with_a_clear_error(
    tmp_path: Path,
) -> None:
    (config,) = configs(tmp_path, 1)
    node = RaftNode(config, Exploding())
    async with node:
        await node.wait_for_leader(5)
        await node.propose(b"fine")
        with pytest.raises(NodeStoppedError, match="state machine raised ValueError"):
            await node.propose(b"boom")
        with pytest.raises(NodeStoppedError):
            await node.propose(b"after")
