"""Bad input never crashes a node or loses data: malformed peer messages,
oversized proposals, a data directory of another format or already in use."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest

from swarmkit_py.raft import (
    NotLeaderError,
    ProposalTooLargeError,
    RaftConfig,
    RaftNode,
    StorageError,
)
from swarmkit_py.raft.frames import KIND_HELLO, KIND_RAFT, encode
from swarmkit_py.raft.local_cluster import LocalCluster, free_ports

from .conftest import Items, load_until_acked


def single_node(tmp_path: Path, **kw: object) -> RaftNode:
    (port,) = free_ports(1)
    addr = f"127.0.0.1:{port}"
    config = RaftConfig(
        node_id=1,
        listen_addr=addr,
        data_dir=tmp_path / "n1",
        peers={1: addr},
        tick_interval=0.02,
        wal_segment_bytes=4 << 20,
        **kw,
    )  # type: ignore[arg-type]
    return RaftNode(config, Items())


async def test_malformed_peer_messages_are_dropped_and_the_group_carries_on(
    cluster: LocalCluster,
) -> None:
    leader = await cluster.wait_leader()
    host, port = cluster.nodes[leader].raft_addr.rsplit(":", 1)
    garbage = [
        encode(KIND_RAFT, b"\xff\x00not protobuf at all"),
        encode(KIND_RAFT, b""),
        encode(KIND_HELLO, b"\x93not a map"),
        encode(99, b"unknown kind"),
        encode(KIND_RAFT, bytes(range(256)) * 10),
    ]
    for frame in garbage:
        _, w = await asyncio.open_connection(host, int(port))
        w.write(frame)
        await w.drain()
        w.close()
    # A frame that claims to be larger than the limit closes that connection only.
    r, w = await asyncio.open_connection(host, int(port))
    w.write(struct.pack(">IB", 0xFFFFFFF0, KIND_RAFT) + b"x" * 100)
    await w.drain()
    assert await asyncio.wait_for(r.read(), 5) == b""
    w.close()
    acked = await load_until_acked(cluster, 200, 8, "after-garbage")
    assert len(acked) == 200
    assert all(n.alive for n in cluster.nodes.values())


async def test_oversized_proposal_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    node = single_node(tmp_path)
    async with node:
        await node.wait_for_leader(5)
        with pytest.raises(ProposalTooLargeError, match="exceeds the limit of 1572864 bytes"):
            await node.propose(b"x" * (1536 * 1024 + 1))
        assert await node.propose(b"x" * (1536 * 1024)) > 0


async def test_data_dir_of_unknown_format_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "n1").mkdir()
    (tmp_path / "n1" / "VERSION").write_text("99\n")
    with pytest.raises(
        StorageError, match=r"format version \"99\", this build understands version 1"
    ):
        await single_node(tmp_path).start()
    assert (tmp_path / "n1" / "VERSION").read_text() == "99\n"


async def test_second_process_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = single_node(tmp_path)
    async with first:
        await first.wait_for_leader(5)
        with pytest.raises(StorageError, match="in use by another process"):
            await single_node(tmp_path).start()
        # The first node is unaffected.
        assert await first.propose(b"still here") > 0


async def test_follower_refuses_proposals_naming_the_leader(cluster: LocalCluster) -> None:
    leader = await cluster.wait_leader()
    follower = next(i for i in (1, 2, 3) if i != leader)
    r = await cluster.propose(follower, b"nope")
    assert r["kind"] == NotLeaderError.__name__
    assert r["leader"] == leader
    assert f"the leader is node {leader}" in r["error"]
