"""The plot: matplotlib draws with its Agg backend (no display) into a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from swarmkit_py.bench.plot import plot_report
from swarmkit_py.bench.results import Point, Report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _point(system: str, concurrency: int, per_s: float) -> Point:
    return Point(system, concurrency, ops=int(per_s), elapsed_s=1.0,
                 p50_ms=1.0, p90_ms=2.0, p99_ms=3.0)  # fmt: skip


def test_plot_draws_every_system_with_agg(tmp_path: Path) -> None:
    settings = {"managers": 3, "entry_bytes": 256, "fsync": True, "backend": "file",
                "count": 1000, "duration_s": 1.0}  # fmt: skip
    report = Report("raft", "commits", settings, labels={"ours": "swarmkit-py", "etcd": "etcd"})
    report.points = [_point(s, c, r * c) for s, r in (("ours", 1000), ("etcd", 500))
                     for c in (1, 16, 64)]  # fmt: skip
    report.facts["one_proposer_floor_commits_per_s"] = 4000.0
    path = tmp_path / "sub" / "plot.png"
    plot_report(report, path)
    assert matplotlib.get_backend().lower() == "agg"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
