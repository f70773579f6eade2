"""The baselines start, give a positive figure and leave no process behind.
etcd and PySyncObj must be installed (scripts/setup.sh does it): a missing
one fails these tests, it does not skip them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swarmkit_py.bench.baselines.etcd import EtcdCluster
from swarmkit_py.bench.baselines.floor import measure_floor
from swarmkit_py.bench.baselines.pysyncobj import PySyncObjCluster
from swarmkit_py.bench.loadgen import LoadGenerator, build_request
from swarmkit_py.bench.processes import ProcessSet, UsageMeter

from .conftest import assert_no_process_left


def test_etcd_members_commit_through_the_load_generator(tmp_path: Path) -> None:
    async def run() -> tuple[dict[str, object], list[int]]:
        with ProcessSet() as processes:
            etcd = EtcdCluster(tmp_path / "etcd", processes, members=3)
            await etcd.start()
            leader = await etcd.leader_address()
            generator = LoadGenerator(processes, "etcd", leader, 256, tmp_path / "loadgen.log")
            await generator.prepare(concurrency=8, count=300, duration_s=10)
            meter = UsageMeter(etcd.pids())
            meter.start()
            result = await generator.go()
            usage = meter.stop()
            assert all(u.peak_rss_mib > 0 for u in usage)
            await generator.prepare(concurrency=2, count=10**9, duration_s=0.5)
            timed = await generator.go()
            assert timed["stopped_by_time"] and 0.4 < timed["elapsed_s"] < 3, timed
            return result, [*etcd.pids().values(), generator.process.pid]

    result, pids = asyncio.run(run())
    assert result["ops"] == 300 and result["errors"] == 0, result
    assert float(str(result["p50_ms"])) > 0
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert_no_process_left(str(tmp_path))


def test_pysyncobj_nodes_commit_in_the_leader(tmp_path: Path) -> None:
    async def run() -> dict[str, object]:
        with ProcessSet() as processes:
            group = PySyncObjCluster(tmp_path / "pysyncobj", processes, members=3,
                                     append_period=0.001, tick_period=0.0005)  # fmt: skip
            await group.start()
            assert sum("(leader)" in name for name in group.pids()) == 1
            return await group.load(concurrency=8, count=300, duration_s=10, value_bytes=256)

    result = asyncio.run(run())
    assert result["ops"] == 300 and result["errors"] == 0, result
    assert_no_process_left(str(tmp_path))


def test_the_floor_is_measured(tmp_path: Path) -> None:
    with ProcessSet() as processes:
        floor = measure_floor(tmp_path, processes, value_bytes=256, count=50, duration_s=2)
    assert floor.fdatasync_p50_ms > 0 and floor.round_trip_p50_ms > 0
    assert 0 < floor.one_proposer_commits_per_s < 1e6
    assert_no_process_left(str(tmp_path))


@pytest.mark.parametrize("value_bytes", [1, 256])
def test_load_generator_requests_carry_the_value_size(value_bytes: int) -> None:
    head, body = build_request("propose", "127.0.0.1", 1, 0, value_bytes).split(b"\r\n\r\n", 1)
    assert len(body) == value_bytes and f"Content-Length: {value_bytes}".encode() in head
    assert b"POST /v3/kv/put " in build_request("etcd", "127.0.0.1", 1, 0, value_bytes)
