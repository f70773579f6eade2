"""`swarmctl bench e2e`: a service from create to every replica running, end
to end, on a swarm of `swarmd` managers (drained, so they run nothing) and
simulated worker nodes in the bench process (`SimulatedNodes`: each joins
through the CA with its own certificate and keeps its own mutual-TLS session
with the dispatcher). `benches/bench_services_e2e.py` measures the same.

Measured: from `POST /services/create` until `GET /services?status=true`
shows every replica running, so tasks/s covers the orchestrator, the
scheduler, Raft (fsync on), the dispatcher's assignments, the agents, their
batched status reports and the store. The percentiles are the times at which
50, 90 and 99% of the replicas were running (to the poll interval).

The simulated nodes keep their state on tmpfs (/dev/shm) unless
SWARMKIT_BENCH_SIM_ON_DISK=1: a thousand nodes' task files in one process
would make the bench process, not the manager, the bottleneck.
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

from ..api.client import APIClient
from ..testing.local_swarm import LocalSwarm
from ..testing.sim_nodes import SimulatedNodes
from .processes import ProcessSet, UsageMeter
from .progress import BenchProgress
from .results import Point, Report

#: Docker's default: 500 nodes then heartbeat 100 times a second.
DISPATCHER_HEARTBEAT = "5s"
TMPFS = Path("/dev/shm")
SERVICE_NAME = "bench"


@contextlib.contextmanager
def sim_state_dir(fallback: Path) -> Iterator[tuple[Path, str]]:
    """Where the simulated nodes keep their state, and what it is on."""
    on_disk = os.environ.get("SWARMKIT_BENCH_SIM_ON_DISK") == "1"
    if on_disk or not (TMPFS.is_dir() and os.access(TMPFS, os.W_OK)):
        yield fallback, "disk"
        return
    path = Path(tempfile.mkdtemp(prefix="swarmkit-bench-", dir=TMPFS))
    try:
        yield path, "tmpfs"
    finally:
        shutil.rmtree(path, ignore_errors=True)


def service_spec(name: str, replicas: int) -> dict[str, Any]:
    """A replicated service (the image and command are ignored by the
    simulated runtime)."""
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
    """What one create measured; times in seconds from the create call."""

    replicas: int
    create_call_s: float = 0.0
    first_running_s: float | None = None
    half_running_s: float | None = None
    all_running_s: float | None = None
    on_nodes_s: float | None = None
    max_loop_stall_s: float = 0.0
    #: (seconds, RunningTasks per the service status, tasks running on the nodes)
    timeline: list[tuple[float, int, int]] = field(default_factory=list)

    def running_at(self, share: float) -> float | None:
        """When at least `share` of the replicas were running (per the store)."""
        return next(
            (t for t, running, _ in self.timeline if running >= share * self.replicas), None
        )

    def progress_text(self) -> str:
        """About ten samples of the timeline, for a run that did not finish."""
        step = max(1, len(self.timeline) // 10)
        return ", ".join(
            f"{t:.1f}s: {store} running in the store / {agents} on the nodes"
            for t, store, agents in self.timeline[::step]
        )


async def _watch_loop(run: Run, interval: float = 0.05) -> None:
    """Records the longest time the event loop was too busy to wake us."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(interval)
        run.max_loop_stall_s = max(run.max_loop_stall_s, time.perf_counter() - before - interval)


async def create_and_wait(
    host: str,
    nodes: SimulatedNodes,
    replicas: int,
    limit_s: float,
    poll_s: float,
    on_poll: Callable[[Run], None] | None = None,
) -> Run:
    """Creates the service on the manager at `host` and polls its status
    until every replica runs or `limit_s` passes."""
    run = Run(replicas)
    watcher = asyncio.ensure_future(_watch_loop(run))
    try:
        async with APIClient.from_host(host, timeout=120) as client:
            started = time.perf_counter()
            await client.service_create(service_spec(SERVICE_NAME, replicas))
            run.create_call_s = time.perf_counter() - started
            while True:
                services = await client.services_list({"name": [SERVICE_NAME]}, status=True)
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
                if on_poll is not None:
                    on_poll(run)
                if running >= replicas:
                    run.all_running_s = elapsed
                    return run
                if elapsed > limit_s:
                    return run
                await asyncio.sleep(poll_s)
    finally:
        watcher.cancel()


@dataclass
class E2EBenchConfig:
    nodes: int = 100
    replicas: int = 1_000
    managers: int = 1
    runtime: str = "simulated"
    #: How long the replicas may take to be running before the run gives up.
    timeout_s: float = 120.0
    dispatcher_heartbeat: str = DISPATCHER_HEARTBEAT

    @property
    def poll_s(self) -> float:
        return 0.1 if self.replicas <= 5_000 else 0.5


async def run_e2e_bench(config: E2EBenchConfig, work_dir: Path, progress: BenchProgress) -> Report:
    if config.runtime != "simulated":
        raise ValueError(f"unknown runtime {config.runtime!r}: the e2e bench runs 'simulated'")
    report = Report(
        kind="e2e",
        unit="tasks",
        settings={
            "nodes": config.nodes,
            "replicas": config.replicas,
            "managers": config.managers,
            "runtime": config.runtime,
            "timeout_s": config.timeout_s,
            "dispatcher_heartbeat": config.dispatcher_heartbeat,
        },
        labels={"ours": "swarmkit-py, create to all running"},
    )
    swarm = LocalSwarm(work_dir / "swarm", managers=config.managers, workers=0,
                       dispatcher_heartbeat=config.dispatcher_heartbeat)  # fmt: skip
    nodes: SimulatedNodes | None = None
    with ProcessSet() as processes, sim_state_dir(work_dir / "sim") as (state_dir, state_on):
        try:
            (work_dir / "swarm").mkdir(parents=True, exist_ok=True)
            progress.status(f"starting {config.managers} manager(s)")
            setup_started = time.perf_counter()
            await swarm.start()
            for node in swarm.nodes.values():
                processes.adopt(node.process)
            for i in swarm.nodes:
                await swarm.swarmctl(1, "node", "update", "--availability", "drain", f"node{i}")
            token = (await swarm.swarmctl(1, "swarm", "join-token", "-q", "worker")).stdout.strip()
            progress.status(f"joining {config.nodes:,} simulated nodes")
            nodes = SimulatedNodes(state_dir, swarm.nodes[1].addr, token, config.nodes)
            joins_started = time.perf_counter()
            await nodes.start(concurrency=32, timeout=max(60.0, config.nodes / 5))
            join_s = time.perf_counter() - joins_started
            setup_s = time.perf_counter() - setup_started
            pids = {f"swarmd node{i}" + (" (leader)" if i == 1 else ""): n.process.pid
                    for i, n in swarm.nodes.items() if n.process is not None}  # fmt: skip
            pids["bench process (simulated nodes)"] = os.getpid()
            meter = UsageMeter(pids)
            label = f"{config.replicas:,} replicas on {config.nodes:,} nodes"

            def show(run: Run) -> None:
                progress.count("replicas running", run.timeline[-1][1], config.replicas)

            async with progress.step(label, timed=False):
                meter.start()
                run = await create_and_wait(swarm.nodes[1].host, nodes, config.replicas,
                                            config.timeout_s, config.poll_s, show)  # fmt: skip
                usage = meter.stop()
        finally:
            # Before the state directory goes: stopping writes the tasks' last state.
            if nodes is not None:
                await nodes.stop()
            await swarm.stop()
    elapsed = run.all_running_s or run.timeline[-1][0]
    running = run.timeline[-1][1]
    report.points.append(
        Point(
            system="ours",
            concurrency=config.replicas,
            ops=running,
            elapsed_s=elapsed,
            p50_ms=(run.running_at(0.5) or elapsed) * 1e3,
            p90_ms=(run.running_at(0.9) or elapsed) * 1e3,
            p99_ms=(run.running_at(0.99) or elapsed) * 1e3,
            processes=usage,
            load=label,
            stopped_by_time=run.all_running_s is None,
        )
    )
    report.facts.update(
        {
            "setup_s": setup_s,
            "joins_per_s": config.nodes / join_s if join_s else 0.0,
            "create_call_s": run.create_call_s,
            "first_running_s": run.first_running_s or 0.0,
            "all_running_on_the_nodes_s": run.on_nodes_s or 0.0,
            "max_bench_loop_stall_s": run.max_loop_stall_s,
        }
    )
    report.notes.append(
        f"p50/p90/p99: when 50/90/99% of the replicas were running, from the create call "
        f"(polled every {config.poll_s:g} s). Simulated nodes' state on {state_on}."
    )
    if run.all_running_s is None:
        report.notes.append(
            f"not every replica was running after {config.timeout_s:g} s; progress: "
            f"{run.progress_text()}"
        )
    return report
