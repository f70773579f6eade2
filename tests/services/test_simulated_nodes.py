"""A real manager (a swarmd process) with 20 simulated nodes in the test
process: each joins through the CA and keeps its own session, and services
spread over them as over real workers."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swarmkit_py.testing.local_swarm import LocalSwarm
from swarmkit_py.testing.sim_nodes import GIB, SimulatedNodes

from .conftest import api, sleeper, spread, wait_until

NODES = 20
#: Longer than LocalSwarm's 500 ms: a loaded machine must not make nodes miss
#: heartbeats (which would move tasks and spoil the spread).
HEARTBEAT = "2s"


@pytest.fixture
async def sim_swarm(tmp_path: Path) -> AsyncIterator[tuple[LocalSwarm, SimulatedNodes]]:
    """One drained manager and `NODES` simulated workers."""
    swarm = LocalSwarm(tmp_path / "swarm", managers=1, workers=0, dispatcher_heartbeat=HEARTBEAT)
    nodes: SimulatedNodes | None = None
    try:
        (tmp_path / "swarm").mkdir()
        await swarm.start()
        await swarm.swarmctl(1, "node", "update", "--availability", "drain", "node1")
        token = (await swarm.swarmctl(1, "swarm", "join-token", "-q", "worker")).stdout.strip()
        nodes = SimulatedNodes(
            tmp_path / "sim", swarm.nodes[1].addr, token, NODES, labels={"sim": "yes"}
        )
        await nodes.start(concurrency=8)
        yield swarm, nodes
    finally:
        if nodes is not None:
            await nodes.stop()
        await swarm.stop()


async def test_simulated_nodes_join_with_their_own_identity(
    sim_swarm: tuple[LocalSwarm, SimulatedNodes],
) -> None:
    swarm, nodes = sim_swarm
    async with api(swarm) as client:
        listed = await wait_until(
            lambda: client.nodes_list({"role": ["worker"]}),
            lambda ns: len(ns) == NODES and all(n["Status"]["State"] == "ready" for n in ns),
            what=f"{NODES} ready workers",
        )
    by_id = {n["ID"]: n for n in listed}
    assert set(by_id) == set(nodes.node_ids())  # one node object per certificate
    for node_id, hostname in nodes.node_ids().items():
        description = by_id[node_id]["Description"]
        assert description["Hostname"] == hostname
        assert description["Resources"] == {"NanoCPUs": 4_000_000_000, "MemoryBytes": 8 * GIB}
        assert description["Engine"]["Labels"] == {"sim": "yes"}
    assert sorted(nodes.node_ids().values()) == sorted(f"sim-{i}" for i in range(1, NODES + 1))


async def test_hundred_replicas_spread_five_per_simulated_node(
    sim_swarm: tuple[LocalSwarm, SimulatedNodes],
) -> None:
    swarm, nodes = sim_swarm
    async with api(swarm) as client:
        await client.service_create(sleeper("sim", 100))
        counts = await wait_until(
            lambda: spread(client, "sim"),
            lambda c: sum(c.values()) == 100,
            timeout=20,
            what="100 running tasks",
        )
        states = {
            n["Description"]["Hostname"]: n["Status"]["State"] for n in await client.nodes_list()
        }
        assert counts == Counter({f"sim-{i}": 5 for i in range(1, NODES + 1)}), states
        listed = await client.services_list({"name": ["sim"]}, status=True)
        assert listed[0]["ServiceStatus"]["RunningTasks"] == 100
        # What the store says is what the nodes run.
        assert nodes.running_tasks() == 100
        assert set(nodes.running_per_node().values()) == {5}
        task = (await client.tasks_list({"service": ["sim"]}))[0]
        assert task["Status"]["ContainerStatus"]["ContainerID"] == f"sim-{task['ID'][:12]}"

        await client.service_remove("sim")
        await wait_until(
            lambda: _running(nodes), lambda n: n == 0, timeout=15, what="tasks stopped"
        )


async def _running(nodes: SimulatedNodes) -> int:
    return nodes.running_tasks()
