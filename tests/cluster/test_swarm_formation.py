"""A swarm of real swarmd processes formed and inspected with swarmctl."""

from __future__ import annotations

import asyncio
import json
import time

from cryptography import x509

from swarmkit_py.api.client import APIClient
from swarmkit_py.errors import SwarmError
from swarmkit_py.testing.local_swarm import LocalSwarm

from .conftest import by_host


async def test_three_managers_and_two_workers_form_a_swarm(swarm: LocalSwarm) -> None:
    table = (await swarm.swarmctl(1, "node", "ls")).stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY"]
    assert "MANAGER STATUS" in table[0] and "TASKS" in table[0] and "MEMORY" in table[0]
    assert len(table) == 6
    rows = by_host(await swarm.node_ls(2))
    assert sorted(rows) == ["node1", "node2", "node3", "node4", "node5"]
    assert all(r["Status"] == "Ready" and r["Availability"] == "Active" for r in rows.values())
    statuses = [rows[h]["ManagerStatus"] for h in ("node1", "node2", "node3")]
    assert statuses.count("Leader") == 1 and statuses.count("Reachable") == 2
    assert rows["node4"]["ManagerStatus"] == "" and rows["node5"]["ManagerStatus"] == ""
    # The node you talk to is marked.
    assert [r["Hostname"] for r in rows.values() if r["Self"]] == ["node2"]
    # Workers cannot manage the cluster.
    r = await swarm.swarmctl(4, "node", "ls", check=False)
    assert r.returncode == 1 and "Worker nodes can't be used" in r.stderr


async def test_leader_killed_a_new_leader_takes_over_and_the_old_one_rejoins(
    swarm: LocalSwarm,
) -> None:
    await swarm.swarmctl(1, "node", "update", "--label-add", "zone=a", "node4")
    node1_id = (await swarm.inspect(1, "node1"))["ID"]
    swarm.kill(1)
    start = time.monotonic()
    # Poll the API directly (a swarmctl process per poll would add its own start-up time).
    async with APIClient.from_host(swarm.nodes[2].host) as api:
        while True:
            try:
                nodes = await api.nodes_list({})
            except SwarmError:
                nodes = []
            leaders = [n for n in nodes if (n.get("ManagerStatus") or {}).get("Leader")]
            if leaders and leaders[0]["Description"]["Hostname"] in ("node2", "node3"):
                break
            assert time.monotonic() - start < 10, "no new leader"
            await asyncio.sleep(0.05)
    took = time.monotonic() - start
    assert took < 3.0, f"a new leader took {took:.1f}s (test ticks: 50 ms, 20 per election)"
    rows = await swarm.node_ls(2)
    assert len(rows) == 5
    assert (await swarm.inspect(3, "node4"))["Spec"]["Labels"] == {"zone": "a"}
    # The dead manager shows as such, then comes back with the same identity.
    await swarm.wait_for(
        lambda rows: by_host(rows)["node1"]["Status"] in ("Down", "Unknown"), via=3, timeout=15
    )
    await swarm.restart(1)
    rows = await swarm.wait_for(
        lambda rows: (
            by_host(rows)["node1"]["Status"] == "Ready"
            and by_host(rows)["node1"]["ManagerStatus"] in ("Reachable", "Leader")
        ),
        via=2,
        timeout=20,
        what="node1 back",
    )
    assert by_host(rows)["node1"]["ID"] == node1_id
    assert len(rows) == 5
    assert (await swarm.inspect(1, "node4"))["Spec"]["Labels"] == {"zone": "a"}


async def test_init_and_join_on_a_node_already_in_a_swarm_are_refused(swarm: LocalSwarm) -> None:
    n = swarm.nodes[4]
    r = await swarm.swarmctl(
        4, "swarm", "init", "--advertise-addr", n.addr, "--listen-addr", n.addr, check=False
    )
    assert r.returncode == 1 and "already part of a swarm" in r.stderr
    token = (await swarm.swarmctl(1, "swarm", "join-token", "-q", "worker")).stdout.strip()
    r = await swarm.swarmctl(4, "swarm", "join", "--token", token, swarm.nodes[1].addr, check=False)
    assert r.returncode == 1 and "already part of a swarm" in r.stderr


async def test_bad_join_tokens_and_addresses_change_nothing(swarm: LocalSwarm) -> None:
    extra = LocalSwarm(swarm.base_dir / "extra", managers=1, workers=0)
    await extra.start(form=False)
    try:
        n = extra.nodes[1]
        bad = "SWMTKN-1-" + "0" * 50 + "-" + "0" * 25
        r = await extra.swarmctl(
            1, "swarm", "join", "--token", bad, "--advertise-addr", n.addr,
            "--listen-addr", n.addr, swarm.nodes[1].addr, check=False,
        )  # fmt: skip
        assert r.returncode == 1 and "remote CA does not match fingerprint" in r.stderr
        r = await extra.swarmctl(
            1, "swarm", "join", "--token", "SWMTKN-2-garbage", "--advertise-addr", n.addr,
            swarm.nodes[1].addr, check=False,
        )  # fmt: skip
        assert r.returncode == 1
        r = await extra.swarmctl(
            1, "swarm", "init", "--advertise-addr", "not-an-address", check=False
        )
        assert r.returncode != 0
        assert len(await swarm.node_ls(1)) == 5
    finally:
        await extra.stop()


async def test_a_silent_node_goes_down_and_a_removed_worker_cannot_reconnect(
    swarm: LocalSwarm,
) -> None:
    node5_id = (await swarm.inspect(1, "node5"))["ID"]
    swarm.kill(5)
    await swarm.wait_for(
        lambda rows: by_host(rows)["node5"]["Status"] == "Down", via=1, timeout=15, what="down"
    )
    r = await swarm.swarmctl(1, "node", "rm", "node4", check=False)
    assert r.returncode == 1 and "is not down and can't be removed" in r.stderr
    await swarm.swarmctl(1, "node", "rm", "node5")
    assert "node5" not in by_host(await swarm.node_ls(1))
    await swarm.restart(5)
    # The removed node's certificate is refused: it never shows up again.
    await asyncio.sleep(3)
    assert node5_id not in [r["ID"] for r in await swarm.node_ls(1)]
    r = await swarm.swarmctl(1, "node", "inspect", node5_id, check=False)
    assert r.returncode == 1


def swarm_object(output: str) -> dict[str, object]:
    data = json.loads(output)
    return data[0] if isinstance(data, list) else data


async def test_root_ca_rotation_moves_every_node_to_the_new_root(swarm: LocalSwarm) -> None:
    old = swarm_object((await swarm.swarmctl(1, "swarm", "inspect")).stdout)
    old_root = old["TLSInfo"]["TrustRoot"]  # type: ignore[index]
    old_token = (await swarm.swarmctl(1, "swarm", "join-token", "-q", "worker")).stdout.strip()
    r = await swarm.swarmctl(2, "swarm", "ca", "--rotate")
    new = swarm_object((await swarm.swarmctl(1, "swarm", "inspect")).stdout)
    new_root = new["TLSInfo"]["TrustRoot"]  # type: ignore[index]
    assert new["RootRotationInProgress"] is False
    assert new_root != old_root and new_root.strip() in r.stdout
    root = x509.load_pem_x509_certificate(new_root.encode())
    for n in swarm.nodes.values():
        cert = x509.load_pem_x509_certificate(
            (n.data_dir / "certificates" / "swarm-node.crt").read_bytes()
        )
        assert cert.issuer == root.subject, f"node {n.index} still has an old-root certificate"
        cert.verify_directly_issued_by(root)
    # Every node kept (or re-established) its session, and the tokens changed.
    await swarm.wait_nodes_ready(5, via=3)
    new_token = (await swarm.swarmctl(1, "swarm", "join-token", "-q", "worker")).stdout.strip()
    assert new_token != old_token
