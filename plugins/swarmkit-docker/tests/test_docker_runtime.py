"""The docker runtime against the real engine: containers, exit codes, stops,
logs, missing images, adoption after a restart, removal and the sweep."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import NotFound
from swarmkit_docker import DockerRuntime, Engine, EngineUnavailable
from swarmkit_docker.testing import TEST_IMAGE

from swarmkit_py.logs import LogLine, LogOptions
from swarmkit_py.plugins import Plugins
from swarmkit_py.runtime import TaskError, task_dir

_ids = itertools.count(1)
#: A shell that ends at once, with status 0, on SIGTERM.
STOPPABLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]


def make_task(
    command: list[str] | None = None, image: str = TEST_IMAGE, **container: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {"Image": image, **container}
    if command is not None:
        spec["Command"] = command
    task_id = f"task{next(_ids)}x{time.time_ns() % 10**9}"
    return {
        "ID": task_id,
        "ServiceID": "svcdockertest",
        "Slot": 1,
        "NodeID": "nodedockertest",
        "Spec": {"ContainerSpec": spec},
    }


def prepared(runtime: DockerRuntime, task: dict[str, Any]) -> dict[str, Any]:
    """The task, with the directory the worker keeps for every task it knows."""
    task_dir(runtime.data_dir, task["ID"]).mkdir(parents=True, exist_ok=True)
    return task


async def collect(lines: Any) -> list[LogLine]:
    return [line async for line in lines]


async def test_a_task_runs_as_a_container_with_its_spec(
    runtime: DockerRuntime, client: docker.DockerClient
) -> None:
    task = make_task(
        ["sh", "-c"],
        Args=['echo "$GREETING from $(pwd) as $(id -u) on $(hostname)"; exit 3'],
        Env=["GREETING=hello"],
        Dir="/tmp",
        User="nobody",
        Hostname="web-1",
        Labels={"team": "blue"},
    )
    task["Spec"]["Resources"] = {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20}}
    handle = await runtime.start(prepared(runtime, task))
    assert await asyncio.wait_for(handle.wait(), 20) == 3
    status = handle.status()
    assert status["ExitCode"] == 3 and status["PID"] == 0
    container = client.containers.get(status["ContainerID"])
    assert container.name == f"svcdockertest.1.{task['ID']}"
    assert container.labels["team"] == "blue"
    assert container.labels["com.docker.swarm.task.id"] == task["ID"]
    assert container.labels["com.docker.swarm.service.id"] == "svcdockertest"
    assert container.labels["com.docker.swarm.node.id"] == "nodedockertest"
    assert container.labels["com.swarmkit-py.managed"] == "true"
    host_config = container.attrs["HostConfig"]
    assert host_config["NanoCpus"] == 500_000_000 and host_config["Memory"] == 64 << 20
    lines = await collect(handle.logs(LogOptions()))
    assert [line.data for line in lines] == [b"hello from /tmp as 65534 on web-1\n"]


async def test_stop_asks_with_sigterm_and_kills_after_the_grace_period(
    runtime: DockerRuntime,
) -> None:
    polite = await runtime.start(prepared(runtime, make_task(STOPPABLE)))
    # `sleep` as PID 1 ignores SIGTERM: only the SIGKILL after the grace ends it.
    stubborn = await runtime.start(prepared(runtime, make_task(["sleep", "600"])))
    assert polite.status()["PID"] > 0 and stubborn.status()["PID"] > 0
    started = time.monotonic()
    await polite.stop(10)
    assert time.monotonic() - started < 5
    assert await polite.wait() == 0
    started = time.monotonic()
    await stubborn.stop(1)
    assert 0.9 < time.monotonic() - started < 8
    assert await stubborn.wait() == 137
    assert stubborn.status() == {
        "ContainerID": stubborn.container_id,
        "PID": 0,
        "ExitCode": 137,
    }


async def test_a_killed_container_ends_with_137(
    runtime: DockerRuntime, client: docker.DockerClient
) -> None:
    handle = await runtime.start(prepared(runtime, make_task(["sleep", "600"])))
    client.containers.get(handle.container_id).kill()
    assert await asyncio.wait_for(handle.wait(), 20) == 137


async def test_logs_keep_streams_times_and_filters_after_the_container_ended(
    runtime: DockerRuntime,
) -> None:
    # The engine stamps each stream as it reads it: lines in quick succession on
    # both streams may swap places, so they are a little apart here.
    script = "for i in 1 2 3; do echo out$i; sleep .1; echo err$i >&2; sleep .1; done; printf tail"
    task = make_task(["sh", "-c", script])
    before = time.time_ns()
    handle = await runtime.start(prepared(runtime, task))
    assert await asyncio.wait_for(handle.wait(), 20) == 0
    after = time.time_ns()
    lines = await collect(runtime.logs(task["ID"], LogOptions()))
    assert [(line.stream, line.data) for line in lines] == [
        ("stdout", b"out1\n"),
        ("stderr", b"err1\n"),
        ("stdout", b"out2\n"),
        ("stderr", b"err2\n"),
        ("stdout", b"out3\n"),
        ("stderr", b"err3\n"),
        ("stdout", b"tail"),  # no newline: none was written
    ]
    times = [line.time_ns for line in lines]
    assert times == sorted(times) and before < times[0] and times[-1] < after
    stdout = await collect(runtime.logs(task["ID"], LogOptions(stderr=False)))
    assert [line.data for line in stdout] == [b"out1\n", b"out2\n", b"out3\n", b"tail"]
    last = await collect(runtime.logs(task["ID"], LogOptions(tail=2)))
    assert [line.data for line in last] == [b"err3\n", b"tail"]
    window = LogOptions(since_ns=lines[2].time_ns, until_ns=lines[4].time_ns)
    middle = await collect(runtime.logs(task["ID"], window))
    assert [line.data for line in middle] == [b"out2\n", b"err2\n"]
    assert await collect(runtime.logs("no-such-task", LogOptions())) == []


async def test_followed_logs_end_when_the_container_ends(runtime: DockerRuntime) -> None:
    script = "echo first; sleep 1; echo second >&2; sleep 0.5; echo third"
    handle = await runtime.start(prepared(runtime, make_task(["sh", "-c", script])))
    await asyncio.sleep(0.5)
    followed = await asyncio.wait_for(collect(handle.logs(LogOptions(follow=True))), 20)
    assert [(line.stream, line.data) for line in followed] == [
        ("stdout", b"first\n"),
        ("stderr", b"second\n"),
        ("stdout", b"third\n"),
    ]
    assert await handle.wait() == 0


async def test_a_reader_that_stops_early_leaves_no_stream_behind(runtime: DockerRuntime) -> None:
    script = "while :; do echo tick; sleep 0.05; done"
    handle = await runtime.start(prepared(runtime, make_task(["sh", "-c", script])))
    stream = handle.logs(LogOptions(follow=True))
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == 5:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(50):  # closing the response ends its reading thread
        readers = [t for t in threading.enumerate() if t.name == "swarmkit-docker stream"]
        if not readers:
            break
        await asyncio.sleep(0.05)
    assert readers == []
    await handle.stop(0)
    assert await handle.wait() == 137


async def test_a_missing_image_rejects_the_task_without_pulling(
    runtime: DockerRuntime, client: docker.DockerClient
) -> None:
    task = make_task(["true"], image="swarmkit-test/nosuch")
    with pytest.raises(TaskError) as raised:
        await runtime.start(prepared(runtime, task))
    assert raised.value.reason == "No such image: swarmkit-test/nosuch:latest"
    label = f"com.docker.swarm.task.id={task['ID']}"
    assert client.api.containers(all=True, filters={"label": label}) == []


async def test_a_missing_executable_rejects_the_task_and_leaves_no_container(
    runtime: DockerRuntime, client: docker.DockerClient
) -> None:
    task = make_task(["no-such-command-xyz"])
    with pytest.raises(TaskError, match=r"starting container failed: .*no-such-command-xyz"):
        await runtime.start(prepared(runtime, task))
    label = f"com.docker.swarm.task.id={task['ID']}"
    assert client.api.containers(all=True, filters={"label": label}) == []


async def test_an_unreachable_engine_rejects_the_task_with_the_reason(data_dir: Path) -> None:
    def unreachable() -> docker.DockerClient:
        raise EngineUnavailable("cannot reach the Docker engine at unix:///nowhere: refused")

    runtime = DockerRuntime(data_dir, Engine(unreachable))
    with pytest.raises(TaskError, match="cannot reach the Docker engine at unix:///nowhere"):
        await runtime.start(prepared(runtime, make_task(["true"])))


async def test_a_restarted_runtime_adopts_running_containers_only(data_dir: Path) -> None:
    first = DockerRuntime(data_dir)
    running = prepared(first, make_task(STOPPABLE))
    ended = prepared(first, make_task(["echo", "done"]))
    handle = await first.start(running)
    assert await (await first.start(ended)).wait() == 0

    second = DockerRuntime(data_dir)  # swarmd restarted
    adopted = await second.adopt(running)
    assert adopted is not None
    assert adopted.status()["ContainerID"] == handle.container_id
    assert adopted.status()["PID"] == handle.status()["PID"] > 0
    assert await second.adopt(ended) is None
    assert await second.adopt(make_task(["true"])) is None
    await adopted.stop(10)
    assert await adopted.wait() == 0
    # The ended task's output is still there until it is removed.
    lines = await collect(second.logs(ended["ID"], LogOptions()))
    assert [line.data for line in lines] == [b"done\n"]
    assert await handle.wait() == 0


async def test_remove_deletes_the_container_running_or_not(
    runtime: DockerRuntime, client: docker.DockerClient
) -> None:
    running = await runtime.start(prepared(runtime, make_task(["sleep", "600"])))
    done = await runtime.start(prepared(runtime, make_task(["sh", "-c", "echo bye"])))
    assert await done.wait() == 0
    for handle in (running, done):
        await runtime.remove(handle.task_id)
        with pytest.raises(NotFound):
            client.containers.get(handle.container_id)
    assert await running.wait() == 137
    assert await collect(runtime.logs(done.task_id, LogOptions())) == []
    await runtime.remove("never-started")  # nothing to do


async def test_the_sweep_removes_containers_of_tasks_the_worker_forgot(
    data_dir: Path, tmp_path: Path, client: docker.DockerClient
) -> None:
    first = DockerRuntime(data_dir)
    kept = await first.start(prepared(first, make_task(STOPPABLE)))
    forgotten = await first.start(prepared(first, make_task(STOPPABLE)))
    neighbour_dir = (tmp_path / "neighbour").resolve()
    neighbour = DockerRuntime(neighbour_dir)  # another node on the same engine
    other = await neighbour.start(prepared(neighbour, make_task(STOPPABLE)))
    try:
        shutil.rmtree(task_dir(data_dir, forgotten.task_id))

        second = DockerRuntime(data_dir)  # swarmd restarted
        assert await second.sweep() == 1
        assert await second.sweep() == 0  # once per runtime
        assert await asyncio.wait_for(forgotten.wait(), 20) == 137
        assert client.containers.get(kept.container_id).status == "running"
        assert client.containers.get(other.container_id).status == "running"
    finally:
        await neighbour.remove(other.task_id)
    await kept.stop(10)


async def test_the_plugin_registers_the_docker_runtime(data_dir: Path) -> None:
    plugins = Plugins()
    factory = plugins.choose("runtime", "docker")
    runtime = factory(data_dir)
    assert isinstance(runtime, DockerRuntime) and runtime.name == "docker"
    assert "runtime:docker" in plugins.info["docker"].provides
