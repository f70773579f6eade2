"""Shared helpers for the benchmark suites: a results table printed at the end.

Run all benchmarks with `scripts/bench.sh` (or `python -m pytest benches`).
"""

from __future__ import annotations

from typing import Any

import pytest

RESULTS: list[dict[str, Any]] = []


def report(**row: Any) -> None:
    """Records one row of the summary table printed after the run."""
    RESULTS.append(row)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("swarmkit-py benchmark summary")
    suites: dict[str, list[dict[str, Any]]] = {}
    for row in RESULTS:
        suites.setdefault(str(row.get("suite", "")), []).append(row)
    for suite, rows in suites.items():
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row if k not in keys and k != "suite"]
        widths = {k: max(len(k), *(len(_fmt(r.get(k))) for r in rows)) for k in keys}
        tr.write_line(f"[{suite}]")
        tr.write_line("  ".join(k.ljust(widths[k]) for k in keys))
        for row in rows:
            tr.write_line("  ".join(_fmt(row.get(k)).ljust(widths[k]) for k in keys))
        tr.write_line("")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if v < 100 else f"{v:,.0f}"
    return "" if v is None else str(v)


@pytest.fixture
def record() -> Any:
    return report
