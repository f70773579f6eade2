"""(e) A service from create to all tasks running, end to end: one manager
(a swarmd process, drained) and hundreds of simulated nodes in the bench
process, each with its own certificate and session (`SimulatedNodes`).
`swarmctl bench e2e` runs the same measurement (`swarmkit_py.bench.e2e`).

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
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.bench.e2e import DISPATCHER_HEARTBEAT, Run, create_and_wait, sim_state_dir
from swarmkit_py.bench.processes import rss_mib
from swarmkit_py.testing.local_swarm import LocalSwarm
from swarmkit_py.testing.sim_nodes import SimulatedNodes

#: (nodes, replicas, time limit in s, status poll interval in s)
CASES = [
    (100, 1_000, 120.0, 0.1),
    (500, 10_000, 300.0, 0.5),
    (1_000, 10_000, 300.0, 0.5),
]


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
    with sim_state_dir(tmp_path / "sim") as (state_dir, state_on):
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
                measure = create_and_wait(swarm.nodes[1].host, nodes, replicas, limit, poll)
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
                "manager_rss_mib": rss_mib(manager.pid) if manager is not None else 0.0,
                "bench_rss_mib": rss_mib(os.getpid()),
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
                f"{limit:.0f} s; progress: {result.progress_text()}"
            )
        finally:
            # Before the state directory goes: stopping writes the tasks' last state.
            if nodes is not None:
                loop.run_until_complete(nodes.stop())
            loop.run_until_complete(swarm.stop())
            loop.close()
