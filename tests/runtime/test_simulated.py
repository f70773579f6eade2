"""The simulated runtime: tasks that run nothing, started and stopped at once."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.agent.worker import Worker
from swarmkit_py.logs import LogOptions
from swarmkit_py.runtime import Runtime, SimulatedRuntime

from . import collect, eventually, make_task


def task(task_id: str) -> dict[str, Any]:
    return make_task(task_id, "ignored", "by", "the", "simulated", "runtime")


async def test_task_runs_until_stopped() -> None:
    runtime = SimulatedRuntime()
    handle = await runtime.start(task("abcdef0123456789xyz"))
    assert handle.status() == {"ContainerID": "sim-abcdef012345", "PID": 0, "ExitCode": 0}
    waiting = asyncio.ensure_future(handle.wait())
    await asyncio.sleep(0.1)
    assert not waiting.done()  # a simulated task never ends by itself
    await handle.stop(10.0)
    assert await asyncio.wait_for(waiting, 1.0) == 0
    assert handle.status()["ExitCode"] == 0
    assert runtime.running_count() == 0


async def test_task_exits_zero_after_run_for() -> None:
    runtime = SimulatedRuntime(run_for=0.1)
    started = time.monotonic()
    handle = await runtime.start(task("t1"))
    assert await asyncio.wait_for(handle.wait(), 2.0) == 0
    assert time.monotonic() - started >= 0.09


async def test_task_exits_one_after_fail_after() -> None:
    runtime = SimulatedRuntime(run_for=5.0, fail_after=0.05)
    handle = await runtime.start(task("t1"))
    assert await asyncio.wait_for(handle.wait(), 2.0) == 1
    assert handle.status() == {"ContainerID": "sim-t1", "PID": 0, "ExitCode": 1}


async def test_start_waits_out_the_start_delay() -> None:
    runtime = SimulatedRuntime(start_delay=0.2)
    started = time.monotonic()
    await runtime.start(task("t1"))
    assert time.monotonic() - started >= 0.19


async def test_starting_a_running_task_again_is_refused() -> None:
    runtime = SimulatedRuntime()
    await runtime.start(task("t1"))
    with pytest.raises(Exception, match="already running"):
        await runtime.start(task("t1"))


async def test_logs_are_one_line_that_names_the_task() -> None:
    runtime = SimulatedRuntime()
    handle = await runtime.start(task("t1"))
    lines = await collect(runtime.logs("t1", LogOptions()))
    assert [(line.stream, line.data) for line in lines] == [
        ("stdout", b"simulated task t1 started\n")
    ]
    assert lines == await collect(handle.logs(LogOptions()))
    assert await collect(runtime.logs("t1", LogOptions(stdout=False))) == []
    assert await collect(runtime.logs("t1", LogOptions(tail=0))) == []
    assert await collect(runtime.logs("other", LogOptions())) == []


async def test_following_logs_ends_when_the_task_ends() -> None:
    runtime = SimulatedRuntime()
    handle = await runtime.start(task("t1"))
    follow = asyncio.ensure_future(collect(runtime.logs("t1", LogOptions(follow=True))))
    await asyncio.sleep(0.1)
    assert not follow.done()
    await handle.stop(0)
    assert len(await asyncio.wait_for(follow, 1.0)) == 1


async def test_nothing_is_adopted_and_remove_forgets_the_task() -> None:
    runtime = SimulatedRuntime()
    assert await runtime.adopt(task("t1")) is None
    handle = await runtime.start(task("t1"))
    await runtime.remove("t1")
    assert await asyncio.wait_for(handle.wait(), 1.0) == 0
    assert await collect(runtime.logs("t1", LogOptions())) == []
    await runtime.remove("never-started")


async def test_worker_runs_and_stops_simulated_tasks(tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    runtime: Runtime = SimulatedRuntime()
    worker = Worker(runtime, tmp_path, "node1", reports.extend)
    await worker.start()
    try:
        await worker.apply([task("t1"), task("t2")])
        await eventually(lambda: worker.running_count() == 2, what="two running tasks")

        def last(task_id: str) -> dict[str, Any]:
            statuses: list[dict[str, Any]] = [
                r["status"] for r in reports if r["task_id"] == task_id
            ]
            return statuses[-1] if statuses else {}

        await eventually(lambda: last("t1").get("State") == "running", what="t1 reported running")
        assert last("t1")["ContainerStatus"] == {"ContainerID": "sim-t1", "PID": 0, "ExitCode": 0}
        await worker.apply([task("t2")])  # t1 is no longer assigned: stopped
        await eventually(lambda: last("t1").get("State") == "shutdown", what="t1 shut down")
        assert worker.running_count() == 1
    finally:
        await worker.stop()


async def test_ten_thousand_tasks_are_cheap() -> None:
    runtime = SimulatedRuntime()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        handles = [await runtime.start(task(f"task{i:05d}")) for i in range(10_000)]
        elapsed = time.perf_counter() - started
        memory, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert runtime.running_count() == 10_000
    # Measured about 3 MB and 0.1 s (with tracing on); generous bounds against regressions.
    assert memory < 20 * 1024**2, f"{memory / 1024**2:.1f} MiB for 10,000 simulated tasks"
    assert elapsed < 5.0, f"{elapsed:.2f} s to start 10,000 simulated tasks"
    for handle in handles:
        await handle.stop(0)
    assert runtime.running_count() == 0
