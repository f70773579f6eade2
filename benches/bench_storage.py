"""(f) The storage backends side by side, in the same run: three managers
keeping their Raft logs in the `file` WAL, then in MariaDB (`mysql`, a private
mariadbd on loopback with InnoDB flushing its log at every commit).

- raft: three standalone Raft processes (the RaftNode and storage code the
  managers run), 256-byte entries, 64 concurrent proposers in the leader's
  process: commits/s and p50/p99 commit latency.
- swarm: three swarmd managers; 32 concurrent Engine API clients create
  services on the leader (each create is one Raft write, acknowledged once
  committed on a quorum and applied): writes/s and p50/p99.

`mysql_vs_file` in the summary is the mysql figure over the file one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.api.client import APIClient
from swarmkit_py.bench.results import percentile
from swarmkit_py.raft.local_cluster import LocalCluster
from swarmkit_py.testing.local_swarm import LocalSwarm
from swarmkit_py.testing.mariadb import MariaDB, running_mariadb

BACKENDS = ["file", "mysql"]
RAFT_PROPOSALS = 20_000
RAFT_PROPOSERS = 64
ENTRY_BYTES = 256
SWARM_WRITES = 1_000
SWARM_CLIENTS = 32
ROUNDS = 3
FIGURES: dict[tuple[str, str], float] = {}


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    yield from running_mariadb(tmp_path_factory.mktemp("mariadb"))


def storage_args(db: MariaDB, backend: str, database: str) -> tuple[str, ...]:
    if backend == "file":
        return ()
    return ("--storage", "mysql", "--storage-opt", f"dsn={db.dsn(database)}")


def note_ratio(suite: str, backend: str, value: float, record: Callable[..., None]) -> None:
    FIGURES[(suite, backend)] = value
    if backend == "mysql" and (suite, "file") in FIGURES:
        record(suite=f"storage-{suite}-ratio",
               mysql_vs_file=round(value / FIGURES[(suite, "file")], 3))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_raft_commits(
    benchmark: Any, tmp_path: Path, mariadb: MariaDB, backend: str, record: Callable[..., None]
) -> None:
    loop = asyncio.new_event_loop()
    node_args = {i: storage_args(mariadb, backend, f"raft{i}") for i in (1, 2, 3)}
    c = LocalCluster(tmp_path, size=3, tick_interval=0.1, election_ticks=20,
                     state_machine="digest", node_args=node_args)  # fmt: skip
    loop.run_until_complete(c.start())
    results: list[dict[str, Any]] = []
    try:
        leader = loop.run_until_complete(c.wait_leader())
        loop.run_until_complete(c.load(leader, 500, RAFT_PROPOSERS, ENTRY_BYTES))

        def run() -> None:
            r = loop.run_until_complete(
                c.load(leader, RAFT_PROPOSALS, RAFT_PROPOSERS, ENTRY_BYTES, tag="bench",
                       return_acked=False)
            )  # fmt: skip
            assert r["error_count"] == 0, r["errors"]
            results.append(r)

        benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    finally:
        loop.run_until_complete(c.stop())
        loop.close()
    median = sorted(results, key=lambda r: r["commits_per_s"])[len(results) // 2]
    benchmark.extra_info.update(commits_per_s=median["commits_per_s"])
    record(suite="storage-raft", backend=backend, proposers=RAFT_PROPOSERS,
           commits_per_s=median["commits_per_s"], p50_ms=median["p50_ms"],
           p99_ms=median["p99_ms"])  # fmt: skip
    note_ratio("raft", backend, median["commits_per_s"], record)


async def create_services(host: str, prefix: str, count: int, clients: int) -> list[float]:
    """`count` service creates from `clients` concurrent clients; their latencies."""
    latencies: list[float] = []
    next_name = iter(range(count))

    async def client(api: APIClient) -> None:
        for k in next_name:
            started = time.perf_counter()
            await api.service_create(
                {"Name": f"{prefix}-{k}", "Mode": {"Replicated": {"Replicas": 0}},
                 "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
            )  # fmt: skip
            latencies.append(time.perf_counter() - started)

    async with APIClient.from_host(host, timeout=120) as api:
        await asyncio.gather(*(client(api) for _ in range(clients)))
    return latencies


@pytest.mark.parametrize("backend", BACKENDS)
def test_swarm_writes(
    benchmark: Any, tmp_path: Path, mariadb: MariaDB, backend: str, record: Callable[..., None]
) -> None:
    loop = asyncio.new_event_loop()
    node_args = {i: storage_args(mariadb, backend, f"swarm{i}") for i in (1, 2, 3)}
    swarm = LocalSwarm(tmp_path, managers=3, workers=0, node_args=node_args,
                       raft_tick=0.1, election_ticks=20)  # fmt: skip
    rounds: list[tuple[float, list[float]]] = []
    try:
        loop.run_until_complete(swarm.start())
        host = swarm.nodes[1].host  # node 1 initialized the swarm: the leader
        loop.run_until_complete(create_services(host, "warm", 100, SWARM_CLIENTS))

        def run() -> None:
            started = time.perf_counter()
            latencies = loop.run_until_complete(
                create_services(host, f"r{len(rounds)}", SWARM_WRITES, SWARM_CLIENTS)
            )
            rounds.append((SWARM_WRITES / (time.perf_counter() - started), latencies))

        benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    finally:
        loop.run_until_complete(swarm.stop())
        loop.close()
    rate, latencies = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
    benchmark.extra_info.update(writes_per_s=rate)
    record(suite="storage-swarm", backend=backend, clients=SWARM_CLIENTS,
           writes_per_s=round(rate), p50_ms=percentile(sorted(latencies), 50) * 1000,
           p99_ms=percentile(sorted(latencies), 99) * 1000)  # fmt: skip
    note_ratio("swarm", backend, rate, record)
