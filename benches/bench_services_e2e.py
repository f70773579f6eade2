"""(e) A service from create to all tasks running, end to end: one manager
(a swarmd process, drained) and hundreds of simulated nodes in the bench
process, each with its own certificate and session (`SimulatedNodes`).

Measured: the time from `POST /services/create` until `GET /services?status=true`
shows every replica running (polled every 0.1 s; 0.5 s in the large case), so
tasks/s covers the orchestrator, the scheduler, raft, the dispatcher's
assignments, the agents starting simulated tasks, their status reports and the
store. Cases: 1,000 replicas on 100 nodes, 10,000 on 500 and 10,000 on 1,000;
each runs once on
a fresh swarm, and the setup (manager, joins) is timed apart.

Also shown: when the nodes themselves ran every task (`on_nodes_s`, sampled at
each poll) and the longest stall of the bench process's event loop, which
hosts all the nodes. Their workers write each task's state file at every
status change (4 per start), synchronously; the nodes' data directories are on
tmpfs (/dev/shm) so that 500 nodes sharing one disk and one event loop do not
dominate what is measured. `SWARMKIT_BENCH_SIM_ON_DISK=1` puts them under the
pytest temporary directory instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.api.client import APIClient
from swarmkit_py.testing.local_swarm import LocalSwarm
from swarmkit_py.testing.sim_nodes import SimulatedNodes

#: (nodes, replicas, time limit in s, status poll interval in s)
CASES = [
    (100, 1_000, 120.0, 0.1),
    (500, 10_000, 300.0, 0.5),
    (1_000, 10_000, 300.0, 0.5),
]
#: Docker's default: 500 nodes then heartbeat 100 times a second.
DISPATCHER_HEARTBEAT = "5s"
TMPFS = Path("/dev/shm")


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextlib.contextmanager
def _state_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Where the simulated nodes keep their state, and what it is on."""
    on_disk = os.environ.get("SWARMKIT_BENCH_SIM_ON_DISK") == "1"
    if on_disk or not (TMPFS.is_dir() and os.access(TMPFS, os.W_OK)):
        yield tmp_path / "sim", "disk"
        return
    path = Path(tempfile.mkdtemp(prefix="swarmkit-bench-", dir=TMPFS))
    try:
        yield path, "tmpfs"
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _service(name: str, replicas: int) -> dict[str, Any]:
    """The shape of tests/services/conftest.py `sleeper` (the image and command
    are ignored by the simulated runtime)."""
    return {
        "Name": name,
        "Mode": {"Replicated": {"Replicas": replicas}},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox", "Command": ["sleep", "3600"]},
            "RestartPolicy": {"Condition": "any", "Delay": 100_000_000},
        },
    }


@dataclass
class Run:
    """What one case measured; times in seconds from the create call."""

    replicas: int
    create_call_s: float = 0.0
    first_running_s: float | None = None
    half_running_s: float | None = None
    all_running_s: float | None = None
    on_nodes_s: float | None = None
    max_loop_stall_s: float = 0.0
    #: (seconds, RunningTasks per the service status, tasks running on the nodes)
    timeline: list[tuple[float, int, int]] = field(default_factory=list)


async def _watch_loop(run: Run, interval: float = 0.05) -> None:
    """Records the longest time the event loop was too busy to wake us."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(interval)
        run.max_loop_stall_s = max(run.max_loop_stall_s, time.perf_counter() - before - interval)


async def _create_and_wait(
    swarm: LocalSwarm, nodes: SimulatedNodes, replicas: int, limit: float, poll: float
) -> Run:
    run = Run(replicas)
    watcher = asyncio.ensure_future(_watch_loop(run))
    try:
        async with APIClient.from_host(swarm.nodes[1].host, timeout=120) as client:
            await _measure(client, nodes, run, limit, poll)
    finally:
        watcher.cancel()
    return run


async def _measure(
    client: APIClient, nodes: SimulatedNodes, run: Run, limit: float, poll: float
) -> None:
    replicas = run.replicas
    started = time.perf_counter()
    await client.service_create(_service("bench", replicas))
    run.create_call_s = time.perf_counter() - started
    while True:
        services = await client.services_list({"name": ["bench"]}, status=True)
        running = int(services[0]["ServiceStatus"]["RunningTasks"]) if services else 0
        on_nodes = nodes.running_tasks()
        elapsed = time.perf_counter() - started
        run.timeline.append((elapsed, running, on_nodes))
        if on_nodes >= replicas and run.on_nodes_s is None:
            run.on_nodes_s = elapsed
        if running and run.first_running_s is None:
            run.first_running_s = elapsed
        if running * 2 >= replicas and run.half_running_s is None:
            run.half_running_s = elapsed
        if running >= replicas:
            run.all_running_s = elapsed
            return
        if elapsed > limit:
            return
        await asyncio.sleep(poll)


def _progress(run: Run) -> str:
    """About ten samples of the timeline, for a run that did not finish."""
    step = max(1, len(run.timeline) // 10)
    return ", ".join(
        f"{t:.1f}s: {store} running in the store / {agents} on the nodes"
        for t, store, agents in run.timeline[::step]
    )


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("node_count", "replicas", "limit", "poll"),
    CASES,
    ids=["1k-on-100", "10k-on-500", "10k-on-1000"],
)
def test_service_create_to_all_running(
    benchmark: Any,
    tmp_path: Path,
    record: Callable[..., None],
    node_count: int,
    replicas: int,
    limit: float,
    poll: float,
) -> None:
    loop = asyncio.new_event_loop()
    swarm = LocalSwarm(
        tmp_path / "swarm", managers=1, workers=0, dispatcher_heartbeat=DISPATCHER_HEARTBEAT
    )
    nodes: SimulatedNodes | None = None
    with _state_dir(tmp_path) as (state_dir, state_on):
        try:
            (tmp_path / "swarm").mkdir()
            setup_started = time.perf_counter()
            loop.run_until_complete(swarm.start())
            drain = swarm.swarmctl(1, "node", "update", "--availability", "drain", "node1")
            loop.run_until_complete(drain)
            token = loop.run_until_complete(
                swarm.swarmctl(1, "swarm", "join-token", "-q", "worker")
            )
            nodes = SimulatedNodes(state_dir, swarm.nodes[1].addr, token.stdout.strip(), node_count)
            joins_started = time.perf_counter()
            loop.run_until_complete(nodes.start(concurrency=32, timeout=180))
            join_s = time.perf_counter() - joins_started
            setup_s = time.perf_counter() - setup_started
            runs: list[Run] = []

            def run() -> None:
                assert nodes is not None
                measure = _create_and_wait(swarm, nodes, replicas, limit, poll)
                runs.append(loop.run_until_complete(measure))

            benchmark.pedantic(run, rounds=1, iterations=1)
            result = runs[0]
            manager = swarm.nodes[1].process
            figures: dict[str, Any] = {
                "all_running_s": result.all_running_s,
                "tasks_per_s": replicas / result.all_running_s if result.all_running_s else 0.0,
                "first_running_s": result.first_running_s,
                "half_running_s": result.half_running_s,
                "on_nodes_s": result.on_nodes_s,
                "create_call_s": result.create_call_s,
                "max_loop_stall_s": result.max_loop_stall_s,
                "joins_per_s": node_count / join_s,
                "setup_s": setup_s,
                "manager_rss_mib": _rss_mib(manager.pid) if manager is not None else 0.0,
                "bench_rss_mib": _rss_mib(os.getpid()),
                "sim_state": state_on,
            }
            benchmark.extra_info.update(nodes=node_count, replicas=replicas, **figures)
            record(
                suite="services e2e",
                what=f"{replicas:,} replicas on {node_count} simulated nodes",
                **figures,
            )
            assert result.all_running_s is not None, (
                f"{replicas} replicas on {node_count} nodes were not all running after "
                f"{limit:.0f} s; progress: {_progress(result)}"
            )
        finally:
            # Before the state directory goes: stopping writes the tasks' last state.
            if nodes is not None:
                loop.run_until_complete(nodes.stop())
            loop.run_until_complete(swarm.stop())
            loop.close()
