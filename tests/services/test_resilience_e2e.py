"""Global services following nodes, and tasks that outlive their managers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from swarmkit_py.testing.local_swarm import LocalSwarm

from ..runtime import alive
from .conftest import api, running_tasks, sleeper, spread, wait_spread, wait_until


async def test_global_service_follows_nodes_that_join_and_drain(tmp_path: Path) -> None:
    swarm = LocalSwarm(tmp_path, managers=1, workers=1)
    try:
        await swarm.start()
        async with api(swarm) as client:
            await client.service_create(sleeper("agent", None))
            assert await wait_spread(client, "agent", lambda c: sum(c.values()) == 2) == {
                "node1": 1,
                "node2": 1,
            }
            await swarm.add_node("worker")
            assert await wait_spread(client, "agent", lambda c: sum(c.values()) == 3) == {
                "node1": 1,
                "node2": 1,
                "node3": 1,
            }
            await swarm.swarmctl(1, "node", "update", "--availability", "drain", "node2")
            assert await wait_spread(client, "agent", lambda c: "node2" not in c) == {
                "node1": 1,
                "node3": 1,
            }
            listed = await client.services_list({"mode": ["global"]}, status=True)
            assert listed[0]["ServiceStatus"]["DesiredTasks"] == 2
    finally:
        await swarm.stop()


async def test_tasks_on_workers_outlive_every_manager(tmp_path: Path) -> None:
    """With every manager down the workers' tasks keep running; when the managers
    come back the agents reconcile without restarting healthy tasks."""
    swarm = LocalSwarm(tmp_path, managers=3, workers=2)
    try:
        await swarm.start()
        async with api(swarm) as client:
            await client.service_create(
                sleeper(
                    "durable", 4, TaskTemplate={"Placement": {"Constraints": ["node.role==worker"]}}
                )
            )
            assert await wait_spread(client, "durable", lambda c: sum(c.values()) == 4) == {
                "node4": 2,
                "node5": 2,
            }
            before = {
                t["ID"]: t["Status"]["ContainerStatus"]["PID"]
                for t in await running_tasks(client, "durable")
            }
        for i in (1, 2, 3):
            swarm.kill(i)
        await asyncio.sleep(3)
        assert all(alive(pid) for pid in before.values())
        await asyncio.gather(*(swarm.restart(i) for i in (1, 2, 3)))
        async with api(swarm, 2) as client:
            await wait_until(
                lambda: swarm.node_ls(2),
                lambda rows: sum(r["Status"] == "Ready" for r in rows) == 5,
                timeout=60,
                what="all nodes ready again",
            )
            # Several heartbeats later nothing was replaced.
            await asyncio.sleep(3)
            after = {
                t["ID"]: t["Status"]["ContainerStatus"]["PID"]
                for t in await running_tasks(client, "durable")
            }
            assert after == before
            assert all(alive(pid) for pid in before.values())
            assert await spread(client, "durable") == {"node4": 2, "node5": 2}
    finally:
        await swarm.stop()
