"""A Raft group of real processes on loopback: elections, replication, kill -9,
catch-up from the log and from a snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from swarmkit_py.raft.local_cluster import LocalCluster

from .conftest import load_until_acked


async def entries_of(c: LocalCluster, node_id: int) -> dict[int, str]:
    return {i: v for i, v in (await c.entries(node_id))["entries"]}


async def wait_caught_up(c: LocalCluster, node_ids: list[int], index: int) -> None:
    await asyncio.gather(*(c.wait_applied(i, index) for i in node_ids))


async def test_three_nodes_elect_one_leader(cluster: LocalCluster) -> None:
    leader = await cluster.wait_leader()
    statuses = [await cluster.status(i) for i in (1, 2, 3)]
    assert [s["role"] for s in statuses].count("leader") == 1
    assert {s["leader_id"] for s in statuses} == {leader}
    assert len({s["term"] for s in statuses}) == 1


async def test_ten_thousand_proposals_commit_on_every_node(cluster: LocalCluster) -> None:
    acked = await load_until_acked(cluster, 10_000, 64, "bulk")
    assert len(acked) == 10_000
    top = max(acked)
    await wait_caught_up(cluster, [1, 2, 3], top)
    logs = [await entries_of(cluster, i) for i in (1, 2, 3)]
    for log in logs:
        for index, value in acked.items():
            assert log[index] == value
    digests = {(await cluster.entries(i))["digest"] for i in (1, 2, 3)}
    assert len(digests) == 1, "nodes applied different sequences"


async def test_leader_killed_new_leader_keeps_every_committed_entry(
    cluster: LocalCluster,
) -> None:
    acked = await load_until_acked(cluster, 2_000, 32, "before")
    old = await cluster.wait_leader()
    cluster.kill(old)
    new = await cluster.wait_leader(exclude=old)
    assert new != old
    more = await load_until_acked(cluster, 500, 16, "after")
    survivors = [i for i in (1, 2, 3) if i != old]
    await wait_caught_up(cluster, survivors, max(more))
    for i in survivors:
        log = await entries_of(cluster, i)
        for index, value in {**acked, **more}.items():
            assert log.get(index) == value, f"node {i} lost entry {index}"


async def test_killed_node_restarts_and_catches_up_from_the_log(cluster: LocalCluster) -> None:
    await load_until_acked(cluster, 500, 16, "a")
    leader = await cluster.wait_leader()
    victim = next(i for i in (1, 2, 3) if i != leader)
    cluster.kill(victim)
    acked = await load_until_acked(cluster, 1_000, 16, "b")
    await cluster.restart(victim)
    await cluster.wait_applied(victim, max(acked))
    st = await cluster.status(victim)
    assert st["snapshot_index"] <= 1, "caught up from the log, no snapshot needed"
    log = await entries_of(cluster, victim)
    assert all(log.get(i) == v for i, v in acked.items())


async def test_node_far_behind_catches_up_from_a_snapshot(tmp_path: Path) -> None:
    c = LocalCluster(
        tmp_path,
        size=3,
        tick_interval=0.05,
        election_ticks=20,
        snapshot_interval=300,
        keep_entries=50,
        wal_segment_mib=4,
    )
    async with c:
        leader = await c.wait_leader()
        victim = next(i for i in (1, 2, 3) if i != leader)
        c.kill(victim)
        acked = await load_until_acked(c, 2_000, 16, "far")
        leader = await c.wait_leader()
        lst = await c.status(leader)
        assert lst["first_index"] > 100, "the leader compacted its log"
        await c.restart(victim)
        await c.wait_applied(victim, max(acked))
        st = await c.status(victim)
        assert st["snapshot_index"] >= 300, "the lagging node installed a snapshot"
        log = await entries_of(c, victim)
        assert all(log.get(i) == v for i, v in acked.items())


async def test_kill_9_of_every_node_loses_no_acknowledged_proposal(
    cluster: LocalCluster,
) -> None:
    leader = await cluster.wait_leader()
    acked: dict[int, str] = {}
    stop = asyncio.Event()

    async def client(k: int) -> None:
        seq = 0
        while not stop.is_set():
            value = f"c{k}-{seq}".encode()
            seq += 1
            try:
                r = await cluster.propose(leader, value)
            except Exception:
                return  # the node died under us: this one was never acknowledged
            if "index" in r:
                acked[r["index"]] = value.hex()

    clients = [asyncio.create_task(client(k)) for k in range(16)]
    await asyncio.sleep(1.5)
    for i in (1, 2, 3):
        cluster.kill(i)  # kill -9, all at once, with proposals in flight
    stop.set()
    await asyncio.gather(*clients)
    assert len(acked) > 50, "the clients got acknowledgements before the crash"
    for i in (1, 2, 3):
        await cluster.restart(i)
    leader = await cluster.wait_leader()
    await cluster.wait_applied(leader, max(acked))
    for i in (1, 2, 3):
        await cluster.wait_applied(i, max(acked))
        log = await entries_of(cluster, i)
        lost = [index for index, v in acked.items() if log.get(index) != v]
        assert not lost, f"node {i} lost acknowledged entries {lost[:10]}"


async def test_membership_add_learner_promote_and_remove(cluster: LocalCluster) -> None:
    await load_until_acked(cluster, 300, 8, "m")
    leader = await cluster.wait_leader()
    new_id = await cluster.add_node()
    address = cluster.nodes[new_id].raft_addr
    r = await cluster.change_members(leader, "add_learner", new_id, address)
    assert "index" in r, r
    r = await cluster.change_members(leader, "promote_learner", new_id)
    assert "index" in r, r
    st = await cluster.status(leader)
    members = {m["node_id"]: m for m in st["members"]}
    assert members[new_id]["learner"] is False and members[new_id]["address"] == address
    acked = await load_until_acked(cluster, 200, 8, "n")
    await cluster.wait_applied(new_id, max(acked))
    # Remove a follower; its ID can never come back.
    victim = next(i for i in (1, 2, 3) if i != leader)
    r = await cluster.change_members(leader, "remove", victim)
    assert "index" in r, r
    r = await cluster.change_members(leader, "add_voter", victim, "127.0.0.1:1")
    assert "never be used again" in r["error"]


async def test_force_new_cluster_on_the_last_survivor_keeps_all_state(
    cluster: LocalCluster,
) -> None:
    acked = await load_until_acked(cluster, 300, 8, "before")
    leader = await cluster.wait_leader()
    survivor = next(i for i in (1, 2, 3) if i != leader)
    for i in (1, 2, 3):
        if i != survivor:
            cluster.kill(i)
    r = await cluster.propose(survivor, b"no quorum")
    assert r["kind"] == "NotLeaderError"
    r = await cluster.force_new_cluster(survivor)
    assert r.get("leader") == survivor, r
    st = await cluster.status(survivor)
    assert [m["node_id"] for m in st["members"]] == [survivor]
    assert sorted(st["removed"]) == sorted(i for i in (1, 2, 3) if i != survivor)
    log = await entries_of(cluster, survivor)
    assert all(log.get(i) == v for i, v in acked.items())
    r = await cluster.propose(survivor, b"after recovery")
    assert "index" in r, r
