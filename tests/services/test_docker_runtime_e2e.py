"""Services on a loopback swarm whose nodes run tasks as real containers
(`swarmd --runtime docker`, the swarmkit-docker plugin) on this machine's
Docker engine. The three nodes share the engine, so containers are told
apart by their `com.docker.swarm.node.id` label. Needs the test images of
scripts/test-image.sh; fails without an engine unless SWARMKIT_SKIP_DOCKER=1."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import DockerException
from swarmkit_docker.container import DATA_DIR_LABEL, NODE_ID_LABEL, SERVICE_ID_LABEL, TASK_ID_LABEL
from swarmkit_docker.testing import TEST_IMAGE, TEST_IMAGE_V2, docker_client

from swarmkit_py.logs import LogOptions
from swarmkit_py.testing.local_swarm import LocalSwarm

from .conftest import api, wait_until

Json = dict[str, Any]
#: Says hello, then ends at once, with status 0, on SIGTERM (a plain `sleep`
#: as PID 1 would ignore it).
STOPPABLE = ["sh", "-c", "echo hello from $(hostname); trap 'exit 0' TERM; sleep 3600 & wait"]


@pytest.fixture
def engine() -> Iterator[docker.DockerClient]:
    client = docker_client()
    yield client
    client.close()


@pytest.fixture
async def docker_swarm(tmp_path: Path, engine: docker.DockerClient) -> AsyncIterator[LocalSwarm]:
    """Three managers running tasks with the docker runtime; their containers
    are removed afterwards, whatever the test left."""
    # A 2 s heartbeat: a node whose swarmd restarts is not declared down meanwhile.
    swarm = LocalSwarm(tmp_path, managers=3, workers=0, runtime="docker", dispatcher_heartbeat="2s")
    try:
        await swarm.start()
        yield swarm
    finally:
        await swarm.stop()
        for i in range(1, 4):
            data_dir = (tmp_path / f"node{i}").resolve()
            rows = engine.api.containers(
                all=True, filters={"label": f"{DATA_DIR_LABEL}={data_dir}"}
            )
            for row in rows:
                with contextlib.suppress(DockerException):
                    engine.api.remove_container(row["Id"], force=True, v=True)


def service_spec(name: str, replicas: int, image: str = TEST_IMAGE) -> Json:
    return {
        "Name": name,
        "Mode": {"Replicated": {"Replicas": replicas}},
        "TaskTemplate": {
            "ContainerSpec": {"Image": image, "Command": STOPPABLE, "StopGracePeriod": 5 * 10**9},
            "RestartPolicy": {"Condition": "any", "Delay": 100_000_000},
        },
        "UpdateConfig": {"Parallelism": 1, "Delay": 0, "Monitor": 500_000_000},
    }


async def containers(
    engine: docker.DockerClient, service_id: str, *, running: bool = True
) -> list[Json]:
    """The engine's summaries of the service's containers (`Id`, `State`, `Image`, `Labels`)."""
    rows: list[Json] = await asyncio.to_thread(
        engine.api.containers,
        all=not running,
        filters={"label": f"{SERVICE_ID_LABEL}={service_id}"},
    )
    return rows


def per_node(rows: list[Json]) -> Counter[str]:
    return Counter(row["Labels"][NODE_ID_LABEL] for row in rows)


async def test_services_run_as_containers_through_scale_drain_kill_update_and_rm(
    docker_swarm: LocalSwarm, engine: docker.DockerClient
) -> None:
    async with api(docker_swarm) as client:

        async def running(n: int, what: str, also: Any = lambda rows: True) -> list[Json]:
            return await wait_until(
                lambda: containers(engine, service_id),
                lambda rows: len(rows) == n and also(rows),
                what=what,
            )

        async def update(change: Any) -> None:
            svc = await client.service_inspect("web")
            change(svc["Spec"])
            await client.service_update("web", svc["Version"]["Index"], svc["Spec"])

        service_id = (await client.service_create(service_spec("web", 3)))["ID"]
        ghost_spec = service_spec("ghost", 1, image="swarmkit-test/nosuch:latest")
        ghost_spec["TaskTemplate"]["RestartPolicy"] = {"Condition": "none"}
        await client.service_create(ghost_spec)

        # Three containers, one per node, each the container of a running task.
        rows = await running(3, "three containers", lambda rs: len(per_node(rs)) == 3)
        tasks = await wait_until(
            lambda: client.tasks_list({"service": ["web"], "desired-state": ["running"]}),
            lambda ts: len(ts) == 3 and all(t["Status"]["State"] == "running" for t in ts),
            what="three running tasks",
        )
        by_task = {row["Labels"][TASK_ID_LABEL]: row for row in rows}
        for task in tasks:
            row = by_task[task["ID"]]
            assert row["Id"] == task["Status"]["ContainerStatus"]["ContainerID"]
            assert row["Labels"][NODE_ID_LABEL] == task["NodeID"]
            assert row["Image"] == TEST_IMAGE

        # Their output, through the nodes' runtimes.
        lines = [m.line.data async for m in client.service_logs("web", LogOptions())]
        assert sorted(lines) == sorted(f"hello from {row['Id'][:12]}\n".encode() for row in rows)

        # A restarted swarmd adopts its running container instead of restarting it.
        node3 = await docker_swarm.inspect(1, "node3")
        (mine,) = [row for row in rows if row["Labels"][NODE_ID_LABEL] == node3["ID"]]
        docker_swarm.kill(3)
        await docker_swarm.restart(3)
        await docker_swarm.wait_nodes_ready(3)
        await asyncio.sleep(1)  # a heartbeat or two after the new session
        again = await containers(engine, service_id)
        assert sorted(row["Id"] for row in again) == sorted(row["Id"] for row in rows)
        still = await client.task_inspect(mine["Labels"][TASK_ID_LABEL])
        assert still["Status"]["State"] == "running" and still["DesiredState"] == "running"

        # A missing image rejects the task, with the engine's reason.
        (ghost,) = await wait_until(
            lambda: client.tasks_list({"service": ["ghost"]}),
            lambda ts: len(ts) == 1 and ts[0]["Status"]["State"] == "rejected",
            what="the ghost task to be rejected",
        )
        assert ghost["Status"]["Err"] == "No such image: swarmkit-test/nosuch:latest"

        # Scaling up starts containers; scaling down removes them.
        await update(lambda spec: spec["Mode"]["Replicated"].update(Replicas=5))
        await running(5, "five containers")
        await update(lambda spec: spec["Mode"]["Replicated"].update(Replicas=2))
        await running(2, "two containers")
        await wait_until(
            lambda: containers(engine, service_id, running=False),
            lambda rows: len(rows) == 2,
            what="the scaled-down containers to be removed",
        )

        # Draining a node stops its container; a replacement starts elsewhere.
        drained = next(iter(per_node(await containers(engine, service_id))))
        await docker_swarm.swarmctl(1, "node", "update", "--availability", "drain", drained)
        rows = await running(2, "replacements", lambda rs: drained not in per_node(rs))

        # A container killed behind swarmd's back: its task fails, the slot restarts.
        victim = rows[0]
        await asyncio.to_thread(engine.api.kill, victim["Id"])
        rows = await running(
            2, "the restarted task", lambda rs: victim["Id"] not in {r["Id"] for r in rs}
        )
        failed = await client.task_inspect(victim["Labels"][TASK_ID_LABEL])
        assert failed["Status"]["State"] == "failed"
        assert failed["Status"]["ContainerStatus"]["ExitCode"] == 137
        assert "non-zero exit (137)" in failed["Status"]["Err"]
        slots = [(await client.task_inspect(r["Labels"][TASK_ID_LABEL]))["Slot"] for r in rows]
        assert failed["Slot"] in slots

        # A rolling update to another image replaces every container.
        def to_v2(spec: Json) -> None:
            spec["TaskTemplate"]["ContainerSpec"]["Image"] = TEST_IMAGE_V2

        await update(to_v2)
        await running(2, "the update", lambda rs: all(r["Image"] == TEST_IMAGE_V2 for r in rs))
        await wait_until(
            lambda: client.service_inspect("web"),
            lambda s: s.get("UpdateStatus", {}).get("State") == "completed",
            what="the update to complete",
        )

        # Removing the service leaves no container, running or stopped, on any node.
        await client.service_remove("web")
        try:
            await wait_until(
                lambda: containers(engine, service_id, running=False),
                lambda rows: rows == [],
                timeout=15,
                what="every container of the service to be removed",
            )
        except TimeoutError:
            left = await containers(engine, service_id, running=False)
            pytest.fail(
                "containers left after service rm: "
                + ", ".join(f"{row['Names'][0].lstrip('/')} ({row['State']})" for row in left),
                pytrace=False,
            )
