"""Throughput against concurrency, one line per system, as a PNG
(matplotlib with its Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from .render import title
from .results import Report

NOT_INSTALLED = "matplotlib is not installed: run ./scripts/setup.sh (or pip install matplotlib)"


class PlotUnavailable(RuntimeError):
    """matplotlib is missing (the message says how to install it)."""


def plot_report(report: Report, path: Path) -> None:
    """Writes `path`: per-system throughput by concurrency (log scales), with
    the machine's ceiling for one proposer when the floor was measured."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(NOT_INSTALLED) from None
    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=110)
    try:
        for system in report.systems():
            points = sorted(
                (p for p in report.points if p.system == system), key=lambda p: p.concurrency
            )
            axes.plot(
                [p.concurrency for p in points],
                [p.per_s for p in points],
                marker="o",
                label=report.label(system),
            )
        ceiling = report.facts.get("one_proposer_floor_commits_per_s")
        if ceiling:
            axes.plot(
                [1],
                [ceiling],
                marker="_",
                markersize=24,
                linestyle="none",
                color="grey",
                label="floor, one proposer: 1 / (fdatasync + loopback round trip)",
            )
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        levels = sorted({p.concurrency for p in report.points})
        axes.set_xticks(levels, [str(c) for c in levels])
        axes.set_xlabel("concurrent proposers / clients")
        axes.set_ylabel(f"{report.unit} per second")
        axes.set_title(title(report), fontsize=9, wrap=True)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(loc="best", fontsize=9)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
