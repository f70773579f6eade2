"""Node lifecycle through swarmctl: availability, labels, promote, demote,
remove, and every refusal Docker makes."""

from __future__ import annotations

from pathlib import Path

from swarmkit_py.api.client import APIClient
from swarmkit_py.testing.local_swarm import LocalSwarm

from .conftest import by_host


async def test_drain_pause_and_labels(swarm: LocalSwarm) -> None:
    await swarm.swarmctl(2, "node", "update", "--availability", "drain", "node4")
    await swarm.swarmctl(1, "node", "update", "--availability", "pause", "node5")
    rows = by_host(await swarm.node_ls(3))
    assert rows["node4"]["Availability"] == "Drain" and rows["node5"]["Availability"] == "Pause"
    await swarm.swarmctl(1, "node", "update", "--availability", "active", "node4")
    await swarm.swarmctl(
        1, "node", "update", "--label-add", "zone=b", "--label-add", "ssd", "node4"
    )
    assert (await swarm.inspect(2, "node4"))["Spec"]["Labels"] == {"zone": "b", "ssd": ""}
    await swarm.swarmctl(1, "node", "update", "--label-rm", "ssd", "node4")
    assert (await swarm.inspect(3, "node4"))["Spec"]["Labels"] == {"zone": "b"}
    r = await swarm.swarmctl(
        1, "node", "update", "--availability", "sideways", "node4", check=False
    )
    assert r.returncode != 0 and "sideways" in r.stderr
    r = await swarm.swarmctl(1, "node", "update", "--availability", "drain", "nosuch", check=False)
    assert r.returncode == 1 and "nosuch" in r.stderr and "not found" in r.stderr
    assert by_host(await swarm.node_ls(1))["node4"]["Availability"] == "Active"


async def test_promote_and_demote_a_worker(swarm: LocalSwarm) -> None:
    r = await swarm.swarmctl(1, "node", "promote", "node4")
    assert "promoted to a manager" in r.stdout
    rows = await swarm.wait_for(
        lambda rows: by_host(rows)["node4"]["ManagerStatus"] == "Reachable",
        via=1,
        timeout=30,
        what="node4 to join raft",
    )
    assert sum(1 for r in rows if r["ManagerStatus"] in ("Leader", "Reachable")) == 4
    # The promoted node can now manage the cluster itself.
    assert len(await swarm.node_ls(4)) == 5
    r = await swarm.swarmctl(2, "node", "demote", "node4")
    assert "demoted in the swarm" in r.stdout
    await swarm.wait_for(
        lambda rows: by_host(rows)["node4"]["ManagerStatus"] == "", via=1, timeout=30
    )
    r = await swarm.swarmctl(4, "node", "ls", check=False)
    assert r.returncode == 1
    assert "Worker nodes can't be used" in r.stderr or "not a swarm manager" in r.stderr


async def test_demoting_the_leader_hands_leadership_over_first(swarm: LocalSwarm) -> None:
    rows = by_host(await swarm.node_ls(2))
    leader = next(h for h, r in rows.items() if r["ManagerStatus"] == "Leader")
    other = 2 if leader != "node2" else 3
    await swarm.swarmctl(other, "node", "demote", leader)
    rows = await swarm.wait_for(
        lambda rows: (
            by_host(rows)[leader]["ManagerStatus"] == ""
            and any(r["ManagerStatus"] == "Leader" for r in rows)
        ),
        via=other,
        timeout=30,
        what="the demoted leader to become a worker under a new leader",
    )
    assert len(rows) == 5
    await swarm.swarmctl(other, "node", "update", "--label-add", "still=writable", "node5")


async def test_manager_removal_and_leave_need_demotion_or_force(swarm: LocalSwarm) -> None:
    r = await swarm.swarmctl(1, "node", "rm", "--force", "node2", check=False)
    assert r.returncode == 1 and "must be demoted to worker before removal" in r.stderr
    r = await swarm.swarmctl(2, "swarm", "leave", check=False)
    assert r.returncode == 1 and "--force" in r.stderr
    assert len(await swarm.node_ls(1)) == 5


async def test_demotion_that_would_lose_quorum_is_refused(swarm: LocalSwarm) -> None:
    swarm.kill(3)
    await swarm.wait_for(
        lambda rows: by_host(rows)["node3"]["ManagerStatus"] == "Unreachable", via=1, timeout=20
    )
    r = await swarm.swarmctl(1, "node", "demote", "node2", check=False)
    assert r.returncode == 1 and "loss of quorum" in r.stderr
    assert by_host(await swarm.node_ls(1))["node2"]["ManagerStatus"] in ("Reachable", "Leader")


async def test_the_last_manager_cannot_be_demoted(tmp_path: Path) -> None:
    s = LocalSwarm(tmp_path, managers=1, workers=1)
    await s.start()
    try:
        r = await s.swarmctl(1, "node", "demote", "node1", check=False)
        assert r.returncode == 1 and "demote the last manager" in r.stderr
        assert by_host(await s.node_ls(1))["node1"]["ManagerStatus"] == "Leader"
        # Two managers tolerate no failure: the user is warned.
        r = await s.swarmctl(1, "node", "promote", "node2")
        assert "two-manager configuration" in r.stderr
        async with APIClient.from_host(s.nodes[1].host) as api:
            info = await api.info()
        assert any("two-manager configuration" in w for w in info["Warnings"])
    finally:
        await s.stop()
