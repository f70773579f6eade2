"""What a benchmark measured, in a shape that prints as a table, dumps as
JSON and plots: one `Point` per system and load level, with the processes
that did the work, and a `Report` around them with ratios and goals."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any

from .processes import ProcessUsage


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of already sorted values, nearest rank."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, round(q / 100 * (len(sorted_values) - 1)))
    return sorted_values[rank]


def latency_summary(latencies_s: list[float]) -> dict[str, float]:
    """p50/p90/p99 in milliseconds of latencies in seconds."""
    ordered = sorted(latencies_s)
    return {f"p{q}_ms": percentile(ordered, q) * 1e3 for q in (50, 90, 99)}


@dataclass
class Point:
    """One system under one load: `ops` operations in `elapsed_s` seconds."""

    system: str
    concurrency: int
    ops: int
    elapsed_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int = 0
    #: The system's own processes (nodes, members) over the measured window.
    processes: list[ProcessUsage] = field(default_factory=list)
    #: The load generator's process, when it runs apart from the system.
    load_generator: ProcessUsage | None = None
    #: Whether the run stopped at the time limit rather than at the count.
    stopped_by_time: bool = False
    #: The load level in words, where it is not a concurrency ("100,000 tasks on 10,000 nodes").
    load: str = ""

    @property
    def per_s(self) -> float:
        return self.ops / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cpu_percent(self) -> float:
        """The system's processes together, in percent of one core."""
        return sum(p.cpu_percent for p in self.processes)

    @property
    def peak_rss_mib(self) -> float:
        """The largest peak resident memory among the system's processes."""
        return max((p.peak_rss_mib for p in self.processes), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "concurrency": self.concurrency,
            "load": self.load or None,
            "ops": self.ops,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed_s, 4),
            "per_s": round(self.per_s, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p90_ms": round(self.p90_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "stopped_by_time": self.stopped_by_time,
            "processes": [p.to_json() for p in self.processes],
            "load_generator": None
            if self.load_generator is None
            else self.load_generator.to_json(),
        }


@dataclass
class Goal:
    """A target from the issue, reported whether met or not."""

    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "measured": self.measured,
            "met": self.met,
        }


@dataclass
class Report:
    """A whole benchmark run: what ran with which settings, and its results."""

    kind: str  # raft, scheduler, e2e
    unit: str  # what `per_s` counts: commits, placements, tasks
    settings: dict[str, Any]
    #: Display names of the systems (by `Point.system`).
    labels: dict[str, str] = field(default_factory=dict)
    points: list[Point] = field(default_factory=list)
    #: Measurements that are not a throughput (the physical floor, setup times).
    facts: dict[str, float] = field(default_factory=dict)
    #: name -> {concurrency: ours / theirs}
    ratios: dict[str, dict[int, float]] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def label(self, system: str) -> str:
        return self.labels.get(system, system)

    def systems(self) -> list[str]:
        return list(dict.fromkeys(p.system for p in self.points))

    def point(self, system: str, concurrency: int) -> Point | None:
        return next(
            (p for p in self.points if p.system == system and p.concurrency == concurrency), None
        )

    def best(self, system: str) -> Point | None:
        """The point of `system` with the highest throughput."""
        return max(
            (p for p in self.points if p.system == system), key=lambda p: p.per_s, default=None
        )

    def add_ratio(self, name: str, ours: str, theirs: str) -> None:
        """ours / theirs at every concurrency both measured."""
        row: dict[int, float] = {}
        for p in self.points:
            if p.system != ours:
                continue
            other = self.point(theirs, p.concurrency)
            if other is not None and other.per_s > 0:
                row[p.concurrency] = p.per_s / other.per_s
        if row:
            self.ratios[name] = row

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "unit": self.unit,
            "settings": self.settings,
            "labels": self.labels,
            "machine": machine(),
            "points": [p.to_json() for p in self.points],
            "facts": {k: round(v, 4) for k, v in self.facts.items()},
            "ratios": {
                name: {str(c): round(r, 3) for c, r in row.items()}
                for name, row in self.ratios.items()
            },
            "goals": [g.to_json() for g in self.goals],
            "notes": self.notes,
        }


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    memory_gib = 0.0
    try:
        with open("/proc/meminfo") as f:
            memory_gib = int(f.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
