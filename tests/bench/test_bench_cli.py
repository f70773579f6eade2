"""`swarmctl bench`: tiny, bounded runs of each bench give sane reports, write
a readable plot and leave no process behind, even when interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from .conftest import assert_no_process_left, bench_json, swarmctl_bench, wait_for_processes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_raft_json_reports_each_concurrency_and_the_floor(tmp_path: Path) -> None:
    work = tmp_path / "work"
    report = bench_json("raft", "--managers", "1", "--count", "200", "--baselines", "floor",
                        "--work-dir", str(work))  # fmt: skip
    assert report["kind"] == "raft" and report["unit"] == "commits"
    assert report["settings"]["managers"] == 1 and report["settings"]["fsync"] is True
    points = report["points"]
    assert [p["concurrency"] for p in points] == [1, 16, 64, 256]
    for p in points:
        assert p["system"] == "ours" and p["errors"] == 0
        assert p["ops"] == 200 and not p["stopped_by_time"]
        assert p["per_s"] > 0
        assert 0 < p["p50_ms"] <= p["p90_ms"] <= p["p99_ms"]
        (node,) = p["processes"]
        assert node["name"] == "node-1 (leader)" and node["pid"] > 0 and node["peak_rss_mib"] > 10
    facts = report["facts"]
    assert facts["fdatasync_p50_ms"] > 0 and facts["loopback_round_trip_p50_ms"] > 0
    assert facts["one_proposer_floor_commits_per_s"] > 0
    assert report["ratios"] == {} and report["goals"] == []
    assert_no_process_left(str(work))


def test_raft_points_stop_at_the_time_limit() -> None:
    report = bench_json("raft", "--managers", "1", "--concurrency", "2", "--count", "100000000",
                        "--duration", "0.5", "--baselines", "none")  # fmt: skip
    (point,) = report["points"]
    assert point["stopped_by_time"] and point["ops"] > 0
    assert 0.4 < point["elapsed_s"] < 3


def test_raft_plot_is_a_png(tmp_path: Path) -> None:
    plot = tmp_path / "raft.png"
    result = swarmctl_bench("raft", "--managers", "1", "--count", "100", "--concurrency", "1,4",
                            "--baselines", "none", "--plot", str(plot))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "swarmkit-py" in result.stdout and f"plot: {plot}" in result.stdout
    data = plot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_scheduler_reports_placements_per_second() -> None:
    report = bench_json("scheduler", "--nodes", "50", "--tasks", "500", "--rounds", "2")
    (point,) = report["points"]
    assert point["ops"] == 500 and point["per_s"] > 0
    assert point["load"] == "500 tasks on 50 nodes"
    (goal,) = report["goals"]
    assert goal["name"] == "scheduler placements/s" and goal["met"] in (True, False)


def test_e2e_reports_tasks_per_second_and_cleans_up(tmp_path: Path) -> None:
    work = tmp_path / "work"
    report = bench_json("e2e", "--nodes", "3", "--replicas", "6", "--work-dir", str(work))
    (point,) = report["points"]
    assert point["ops"] == 6 and point["per_s"] > 0 and not point["stopped_by_time"]
    names = [p["name"] for p in point["processes"]]
    assert names == ["swarmd node1 (leader)", "bench process (simulated nodes)"]
    assert report["facts"]["joins_per_s"] > 0
    assert_no_process_left(str(work))


def _interrupt(tmp_path: Path, sig: int, args: list[str], wait_for: str, count: int) -> str:
    """Starts a long bench, sends `sig` once `count` processes name
    `wait_for`, and returns its stderr after it exits."""
    work = tmp_path / "work"
    bench = subprocess.Popen(
        [sys.executable, "-m", "swarmkit_py.cli.swarmctl", "bench", "raft", *args,
         "--work-dir", str(work)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_processes(wait_for, count)
        bench.send_signal(sig)
        _, stderr = bench.communicate(timeout=30)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 1, stderr
    assert_no_process_left(str(work))
    return stderr


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    stderr = _interrupt(
        tmp_path,
        signal.SIGINT,
        ["--managers", "3", "--concurrency", "1", "--duration", "60", "--count", "10000000",
         "--baselines", "etcd"],
        wait_for=str(tmp_path / "work" / "swarmkit"),
        count=3,
    )  # fmt: skip
    assert "interrupted: every process the bench started was stopped" in stderr


def test_sigterm_stops_every_process(tmp_path: Path) -> None:
    stderr = _interrupt(
        tmp_path,
        signal.SIGTERM,
        ["--managers", "3", "--concurrency", "1", "--duration", "60", "--count", "300",
         "--baselines", "pysyncobj"],
        wait_for=str(tmp_path / "work" / "pysyncobj"),
        count=3,
    )  # fmt: skip
    assert "interrupted" in stderr
