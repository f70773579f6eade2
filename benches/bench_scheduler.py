"""(c) Scheduler: 100,000 tasks (100 services x 1,000 replicas) on 10,000 nodes, with
label constraints, platforms, reservations that fit, host ports and max replicas.

The Rust `schedule` (conversion from the dataclasses included) runs the full problem;
target under 1 s. The plain-Python reference costs O(tasks x nodes), so it runs a
problem with 1/10 of the nodes and 1/100 of the tasks (1,000 tasks on 1,000 nodes),
and the Rust scheduler runs that one too: the speed-up compares tasks/s on the same
problem in the same run. Cases: spread, spread with two preference levels, binpack,
and spread with placement plugins (every group has a score per node and a plugin
filter that refuses 1% of the nodes, as the leader passes them when plugins are
installed). The synthetic cluster is `swarmkit_py.bench.scheduler`'s, which
`swarmctl bench scheduler` runs too.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from swarmkit_py.bench.scheduler import make_groups, make_nodes
from swarmkit_py.scheduler import SchedNode, Strategy, reference, schedule

FULL = (10_000, 100, 1_000)  # nodes, services, replicas per service
SMALL = (1_000, 10, 100)
CASES: dict[str, tuple[Strategy, list[str], bool]] = {
    "spread": ("spread", [], False),
    "spread+preferences": ("spread", ["node.labels.zone", "node.labels.rack"], False),
    "binpack": ("binpack", [], False),
    "spread+plugins": ("spread", [], True),
}


@pytest.fixture(scope="module")
def full_nodes() -> list[SchedNode]:
    return make_nodes(FULL[0])


def _median_time(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.parametrize("case", list(CASES))
def test_schedule_100k_tasks_on_10k_nodes(
    benchmark: Any, full_nodes: list[SchedNode], case: str, record: Callable[..., None]
) -> None:
    strategy, preferences, plugins = CASES[case]
    groups = make_groups(FULL[1], FULL[2], preferences, FULL[0] if plugins else 0)
    tasks = FULL[1] * FULL[2]
    results = benchmark.pedantic(
        schedule, args=(full_nodes, groups, strategy), rounds=5, iterations=1, warmup_rounds=1
    )
    assert sum(len(r.node_ids) for r in results) == tasks, [r.reason for r in results]
    rust_full = benchmark.stats.stats.median

    small_nodes = make_nodes(SMALL[0])
    small_groups = make_groups(SMALL[1], SMALL[2], preferences, SMALL[0] if plugins else 0)
    small_tasks = SMALL[1] * SMALL[2]
    expected = reference.schedule(small_nodes, small_groups, strategy)
    assert schedule(small_nodes, small_groups, strategy) == expected
    reference_small = _median_time(
        lambda: reference.schedule(small_nodes, small_groups, strategy), 1
    )
    rust_small = _median_time(lambda: schedule(small_nodes, small_groups, strategy), 20)
    benchmark.extra_info.update(
        tasks_per_s=tasks / rust_full,
        reference_small_s=reference_small,
        rust_small_ms=rust_small * 1e3,
        speedup=reference_small / rust_small,
    )
    record(
        suite="scheduler",
        case=case,
        rust_100k_on_10k_ms=rust_full * 1e3,
        rust_tasks_per_s=tasks / rust_full,
        small_problem=f"{small_tasks:,} on {SMALL[0]:,}",
        reference_s=reference_small,
        reference_tasks_per_s=small_tasks / reference_small,
        rust_small_ms=rust_small * 1e3,
        speedup=reference_small / rust_small,
    )
