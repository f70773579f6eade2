"""(g) Our 3-node Raft group beside etcd and PySyncObj, in the same run, with
the same value size (256 bytes) and concurrency, and the machine's floor: the
pytest-benchmark form of `swarmctl bench raft --managers 3` (the drivers are
in `swarmkit_py.bench`: `raft`, `loadgen` and `baselines/`).

- ours: proposers in the leader's process, and through the leader's HTTP
  control API from the load generator that also drives etcd's gateway;
- etcd (Debian's etcd-server, 3 members, fsync on as always);
- PySyncObj, tuned (1 ms append batching, 0.5 ms tick) and with its defaults,
  its journal in a memory-mapped file that it never fsyncs.

The summary shows each point and the ratios ours / theirs at each
concurrency. Every load stops at COUNT commits or after DURATION_S.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.bench.progress import BenchProgress
from swarmkit_py.bench.raft import BASELINES, RaftBenchConfig, run_raft_bench
from swarmkit_py.bench.results import Report

CONCURRENCY = (1, 64, 256)
COUNT = 100_000
DURATION_S = 5.0


@pytest.mark.timeout(900)
def test_raft_beside_etcd_and_pysyncobj(
    benchmark: Any, tmp_path: Path, record: Callable[..., None]
) -> None:
    config = RaftBenchConfig(
        managers=3, concurrency=CONCURRENCY, count=COUNT, duration_s=DURATION_S,
        baselines=BASELINES,
    )  # fmt: skip
    reports: list[Report] = []

    def run() -> None:
        progress = BenchProgress(config.steps(), DURATION_S, enabled=False)
        reports.append(asyncio.run(run_raft_bench(config, tmp_path, progress)))

    benchmark.pedantic(run, rounds=1, iterations=1)
    report = reports[0]
    benchmark.extra_info.update(report=report.to_json())
    for p in report.points:
        assert p.ops > 0 and p.errors == 0, p.to_json()
        record(
            suite="raft-baselines",
            system=report.label(p.system),
            concurrency=p.concurrency,
            commits_per_s=p.per_s,
            p50_ms=p.p50_ms,
            p99_ms=p.p99_ms,
            cpu_percent=p.cpu_percent,
            load_generator_cpu_percent=p.load_generator.cpu_percent if p.load_generator else None,
        )
    for name, row in report.ratios.items():
        record(suite="raft-baselines-ratios", ratio=name,
               **{f"at_{c}": round(r, 2) for c, r in row.items()})  # fmt: skip
    for key, value in report.facts.items():
        record(suite="raft-baselines-floor", what=key, value=value)
    for goal in report.goals:
        record(suite="raft-baselines-goals", goal=goal.name, measured=goal.measured, met=goal.met)
