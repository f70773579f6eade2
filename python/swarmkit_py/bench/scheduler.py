"""`swarmctl bench scheduler`: placements per second of the Rust scheduler on
a synthetic cluster (the problem `benches/bench_scheduler.py` also uses).

Nodes: 16 CPUs and 64 GiB each, some already partly used, a quarter arm64,
one in 50 not ready, zone/rack/tier/disk labels. Services (100, or one per
task for fewer tasks): a third constrained to `tier == web`, some to workers
or SSD nodes or one platform, some with a host port or at most 2 replicas
per node, all with CPU and memory reservations that fit. One round is one
`schedule` call for every task, the conversion from the dataclasses included.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass

from ..scheduler import SchedGroup, SchedNode, Strategy, schedule
from .processes import UsageMeter
from .progress import BenchProgress
from .results import Goal, Point, Report, latency_summary

CPU = 10**9
GB = 2**30
SERVICES = 100
GOAL_PLACEMENTS_PER_S = 100_000


def make_nodes(count: int, seed: int = 1) -> list[SchedNode]:
    """`count` nodes of the synthetic cluster (deterministic for a seed)."""
    rng = random.Random(seed)
    nodes = []
    for i in range(count):
        total_cpus, total_memory = 16 * CPU, 64 * GB
        used = rng.randrange(0, 8)
        arch = "amd64" if i % 4 else "arm64"
        nodes.append(
            SchedNode(
                id=f"node{i:05d}",
                ready=i % 50 != 7,
                nano_cpus=total_cpus - used * CPU // 2,
                memory_bytes=total_memory - used * GB,
                total_nano_cpus=total_cpus,
                total_memory_bytes=total_memory,
                attributes={
                    "node.id": f"node{i:05d}",
                    "node.hostname": f"host-{i}",
                    "node.role": "manager" if i < 3 else "worker",
                    "node.platform.os": "linux",
                    "node.platform.arch": arch,
                    "node.labels.zone": f"z{i % 10}",
                    "node.labels.rack": f"r{i % 97}",
                    "node.labels.tier": ("web", "db", "cache")[i % 3],
                    "engine.labels.disk": "ssd" if i % 2 else "hdd",
                },
                tasks=used,
                service_tasks={f"old{used}": used} if used else {},
                service_failures={"svc3": 6} if i % 200 == 1 else {},
            )
        )
    return nodes


def make_groups(
    services: int, replicas: int, preferences: list[str], plugins_for: int = 0
) -> list[SchedGroup]:
    """`services` groups of `replicas` tasks. With `plugins_for` nodes, each
    group carries per-node plugin scores and verdicts, one list each per
    group (as the leader builds them)."""
    groups = []
    for s in range(services):
        constraints: list[tuple[str, str, str]] = []
        if s % 3 == 0:
            constraints.append(("node.labels.tier", "==", "web"))
        if s % 7 == 0:
            constraints.append(("node.role", "!=", "manager"))
        if s % 11 == 0:
            constraints.append(("engine.labels.disk", "==", "ssd"))
        groups.append(
            SchedGroup(
                service_id=f"svc{s}",
                count=replicas,
                nano_cpus=CPU // 10,
                memory_bytes=64 * 2**20,
                constraints=constraints,
                platforms=[("linux", "x86_64")] if s % 5 == 0 else [],
                host_ports=[("tcp", 8000 + s)] if s % 10 == 9 else [],
                max_replicas=2 if s % 13 == 0 else 0,
                preferences=preferences,
                plugin_failures=[int(i % 100 == 3) for i in range(plugins_for)],
                plugin_explanations=["load too high on {count} {nodes}"] if plugins_for else [],
                scores=[(i * 7 + s) % 4 for i in range(plugins_for)],
            )
        )
    return groups


def groups_for_tasks(tasks: int, preferences: list[str] | None = None) -> list[SchedGroup]:
    """`tasks` tasks over up to 100 services (the first takes the remainder)."""
    services = max(1, min(SERVICES, tasks))
    groups = make_groups(services, tasks // services, preferences or [])
    groups[0].count += tasks - services * (tasks // services)
    return groups


@dataclass
class SchedulerBenchConfig:
    nodes: int = 10_000
    tasks: int = 100_000
    strategy: Strategy = "spread"
    rounds: int = 5
    duration_s: float = 30.0


async def run_scheduler_bench(config: SchedulerBenchConfig, progress: BenchProgress) -> Report:
    """Up to `rounds` schedule calls (fewer if `duration_s` runs out), after
    one untimed warm-up call; placements/s from the median call."""
    report = Report(
        kind="scheduler",
        unit="placements",
        settings={
            "nodes": config.nodes,
            "tasks": config.tasks,
            "strategy": config.strategy,
            "rounds": config.rounds,
            "duration_s": config.duration_s,
        },
        labels={"ours": f"swarmkit-py scheduler ({config.strategy})"},
    )
    progress.status(f"building {config.nodes:,} nodes and {config.tasks:,} tasks")
    nodes = make_nodes(config.nodes)
    groups = groups_for_tasks(config.tasks)
    schedule(nodes, groups, config.strategy)  # warm-up: caches, allocator
    meter = UsageMeter({"bench process": os.getpid()})
    times: list[float] = []
    placed = 0
    async with progress.step("scheduling", timed=False):
        meter.start()
        deadline = time.perf_counter() + config.duration_s
        while len(times) < config.rounds and (not times or time.perf_counter() < deadline):
            started = time.perf_counter()
            results = schedule(nodes, groups, config.strategy)
            times.append(time.perf_counter() - started)
            placed = sum(len(r.node_ids) for r in results)
            progress.count("scheduling, round", len(times), config.rounds)
        usage = meter.stop()
    ordered = sorted(times)
    median = ordered[len(ordered) // 2]
    load = f"{config.tasks:,} tasks on {config.nodes:,} nodes"
    summary = latency_summary(times)
    report.points.append(
        Point(
            system="ours",
            concurrency=1,
            ops=placed,
            elapsed_s=median,
            processes=usage,
            load=load,
            stopped_by_time=len(times) < config.rounds,
            p50_ms=summary["p50_ms"],
            p90_ms=summary["p90_ms"],
            p99_ms=summary["p99_ms"],
        )
    )
    if placed < config.tasks:
        report.notes.append(f"{config.tasks - placed:,} of {config.tasks:,} tasks found no node.")
    report.notes.append(
        f"{len(times)} rounds; placements/s from the median round; p50/p90/p99: the time of "
        "one schedule call that places every task."
    )
    report.goals.append(
        Goal(
            "scheduler placements/s",
            f"≥ {GOAL_PLACEMENTS_PER_S:,}/s",
            f"{placed / median:,.0f}/s ({load})",
            placed / median >= GOAL_PLACEMENTS_PER_S,
        )
    )
    return report
