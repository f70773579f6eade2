"""A benchmark report for people: rich tables of throughput and latency per
system and load, the processes' CPU and memory, ratios, goals and notes."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .results import Point, Report

_FACT_NAMES = {
    # raft: the floor
    "fdatasync_p50_ms": ("write + fdatasync, p50", "ms"),
    "fdatasyncs_per_s": ("write + fdatasync loop", "/s"),
    "loopback_round_trip_p50_ms": ("loopback TCP round trip, p50", "ms"),
    "one_proposer_floor_commits_per_s": (
        "ceiling for one proposer: 1 / (fdatasync + round trip)",
        "commits/s",
    ),
    # e2e
    "setup_s": ("setup: managers started, nodes joined", "s"),
    "joins_per_s": ("nodes joined per second (setup)", "/s"),
    "create_call_s": ("the create call answered", "s"),
    "first_running_s": ("first replica running", "s"),
    "all_running_on_the_nodes_s": ("every replica running on the nodes", "s"),
    "max_bench_loop_stall_s": ("longest stall of the bench's event loop", "s"),
}


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _level(report: Report, point: Point) -> str:
    return point.load or f"{point.concurrency:,}"


def _level_name(report: Report) -> str:
    return "concurrency" if report.kind == "raft" else "load"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def title(report: Report) -> str:
    s = report.settings
    if report.kind == "raft":
        fsync = "fsync on" if s.get("fsync") else "fsync off"
        return (
            f"Raft commits: {_plural(s['managers'], 'manager')}, {s['entry_bytes']}-byte values, "
            f"{fsync}, "
            f"{s['backend']} storage; each point at most {s['count']:,} commits or "
            f"{s['duration_s']:g} s"
        )
    if report.kind == "scheduler":
        return (
            f"Scheduler placements: {s['strategy']}, at most {s['rounds']} rounds or "
            f"{s['duration_s']:g} s"
        )
    return (
        f"Services end to end: {_plural(s['managers'], 'manager')}, "
        f"{s['nodes']:,} simulated nodes, {s['replicas']:,} replicas, {s['runtime']} runtime"
    )


def results_table(report: Report) -> Table:
    table = Table(title=title(report), title_justify="left")
    table.add_column("system")
    table.add_column(_level_name(report), justify="right")
    table.add_column(f"{report.unit}/s", justify="right")
    for q in ("p50", "p90", "p99"):
        table.add_column(f"{q} ms", justify="right")
    table.add_column("CPU %", justify="right")
    table.add_column("peak MiB", justify="right")
    if any(p.load_generator is not None for p in report.points):
        table.add_column("load gen CPU %", justify="right")
    previous = ""
    for p in report.points:
        row = [
            report.label(p.system) if p.system != previous else "",
            _level(report, p),
            f"{p.per_s:,.0f}" + ("" if p.errors == 0 else f" ({p.errors} errors)"),
            _number(p.p50_ms),
            _number(p.p90_ms),
            _number(p.p99_ms),
            f"{p.cpu_percent:.0f}",
            f"{p.peak_rss_mib:.0f}",
        ]
        if len(table.columns) > len(row):
            row.append("" if p.load_generator is None else f"{p.load_generator.cpu_percent:.0f}")
        table.add_row(*row, end_section=False)
        previous = p.system
    table.caption = (
        "CPU %: the system's processes together over the measured window (100 = one core "
        "busy); peak MiB: the largest peak resident memory of one of its processes (VmHWM)."
    )
    table.caption_justify = "left"
    return table


def processes_table(report: Report) -> Table:
    """Each process of each system at that system's highest throughput."""
    table = Table(title="Processes at each system's best point", title_justify="left")
    for name, justify in (("system", "left"), ("process", "left"), (_level_name(report), "right"),
                          ("CPU %", "right"), ("peak MiB", "right")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for system in report.systems():
        best = report.best(system)
        if best is None:
            continue
        usages = list(best.processes)
        if best.load_generator is not None:
            usages.append(best.load_generator)
        for i, usage in enumerate(usages):
            table.add_row(
                report.label(system) if i == 0 else "",
                usage.name,
                _level(report, best) if i == 0 else "",
                f"{usage.cpu_percent:.0f}",
                f"{usage.peak_rss_mib:.0f}",
            )
    return table


def ratios_table(report: Report) -> Table:
    levels = sorted({c for row in report.ratios.values() for c in row})
    table = Table(title="Ratios (same run, same value size and concurrency)", title_justify="left")
    table.add_column("ours / theirs")
    for c in levels:
        table.add_column(f"{_level_name(report)} {c}", justify="right")
    for name, row in report.ratios.items():
        table.add_row(name, *(f"{row[c]:.2f}x" if c in row else "" for c in levels))
    return table


def goals_table(report: Report) -> Table:
    table = Table(title="Goals", title_justify="left")
    for name in ("goal", "target", "measured", "met"):
        table.add_column(name)
    for g in report.goals:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[g.met]
        table.add_row(g.name, g.target, g.measured, met)
    return table


def facts_table(report: Report) -> Table:
    name = "The machine's floor" if report.kind == "raft" else "Other figures"
    table = Table(title=name, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, value in report.facts.items():
        name, unit = _FACT_NAMES.get(key, (key.replace("_", " "), ""))
        table.add_row(name, _number(value), unit)
    ours = report.point("ours", 1)
    ceiling = report.facts.get("one_proposer_floor_commits_per_s")
    if ours is not None and ceiling:
        table.add_row(
            "swarmkit-py with one proposer, share of that ceiling",
            f"{ours.per_s / ceiling:.0%}",
            "",
        )
    return table


def print_report(report: Report, console: Console) -> None:
    console.print(results_table(report))
    console.print(processes_table(report))
    if report.facts:
        console.print(facts_table(report))
    if report.ratios:
        console.print(ratios_table(report))
    if report.goals:
        console.print(goals_table(report))
    for note in report.notes:
        console.print(f"• {note}", highlight=False)
