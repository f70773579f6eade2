"""`swarmctl bench raft`: commits/s and commit latency of a 1-, 3- or
5-manager Raft group of standalone node processes on loopback
(`swarmkit_py.raft.standalone`, the RaftNode and storage the managers run),
beside etcd and PySyncObj measured in the same run with the same value size
and concurrency, and the physical floor of the machine.

Systems (each started, measured at every concurrency, then stopped, one at
a time):

- `ours`: the proposers run in the leader's process (`await node.propose`,
  the embedding case); compared with PySyncObj, whose driver runs in its
  leader's process too.
- `ours-http`: the same group driven through the leader's HTTP control API
  by `swarmkit_py.bench.loadgen`, the load generator that drives etcd's
  gateway; compared with etcd (run when etcd is one of the baselines).
- `etcd`, `pysyncobj` (tuned: see `PYSYNCOBJ_TUNED`), `pysyncobj-defaults`.

Every load stops at `count` commits or after `duration_s`, whichever comes
first; every process is killed at the end, however the run ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..raft.local_cluster import LocalCluster
from .baselines.etcd import EtcdCluster, etcd_version
from .baselines.floor import measure_floor
from .baselines.pysyncobj import DURABILITY, PySyncObjCluster, pysyncobj_version
from .loadgen import LoadGenerator
from .processes import ProcessSet, ProcessUsage, UsageMeter
from .progress import BenchProgress
from .results import Goal, Point, Report

BASELINES = ("floor", "etcd", "pysyncobj", "pysyncobj-defaults")
DEFAULT_BASELINES = BASELINES
LABELS = {
    "ours": "swarmkit-py in process",
    "ours-http": "swarmkit-py via HTTP",
    "etcd": "etcd",
    "pysyncobj": "PySyncObj (tuned)",
    "pysyncobj-defaults": "PySyncObj (defaults)",
}
#: PySyncObj's settings for its best throughput here (its defaults batch
#: appends every 100 ms and tick every 50 ms: about 10 commits/s with one
#: proposer). Found by trying periods from 0.5 ms to 100 ms on this machine.
PYSYNCOBJ_TUNED = {"append_period": 0.001, "tick_period": 0.0005}
PYSYNCOBJ_DEFAULTS = {"append_period": 0.1, "tick_period": 0.05}
#: The floor's loops are short: they measure a latency, not a throughput.
FLOOR_COUNT, FLOOR_SECONDS = 2_000, 2.0
#: The warm-up load before a system's first point.
WARMUP_COUNT, WARMUP_SECONDS = 2_000, 1.0
#: A load generator busier than this may have held the figure back.
LOADGEN_BUSY_PERCENT = 80.0


@dataclass
class RaftBenchConfig:
    managers: int = 3
    entry_bytes: int = 256
    concurrency: tuple[int, ...] = (1, 16, 64, 256)
    duration_s: float = 5.0
    count: int = 200_000
    fsync: bool = True
    backend: str = "file"
    baselines: tuple[str, ...] = DEFAULT_BASELINES

    def systems(self) -> list[str]:
        systems = ["ours"]
        if "etcd" in self.baselines:
            systems += ["ours-http", "etcd"]
        systems += [b for b in ("pysyncobj", "pysyncobj-defaults") if b in self.baselines]
        return systems

    def steps(self) -> int:
        return len(self.systems()) * len(self.concurrency) + ("floor" in self.baselines)


#: Runs one load at a concurrency, with the meter started once the load is
#: ready to go: (result, the load generator's usage if there is one).
RunLoad = Callable[
    [int, int, float, UsageMeter], Awaitable[tuple[dict[str, Any], ProcessUsage | None]]
]


async def run_raft_bench(
    config: RaftBenchConfig, work_dir: Path, progress: BenchProgress
) -> Report:
    """Runs the systems the config names and returns the report."""
    unknown = set(config.baselines) - set(BASELINES)
    if unknown:
        raise ValueError(
            f"unknown baseline {', '.join(sorted(unknown))}: expected {', '.join(BASELINES)}"
        )
    labels = {key: LABELS[key] for key in config.systems()}
    report = Report(kind="raft", unit="commits", settings=_settings(config), labels=labels)
    with ProcessSet() as processes:
        run = _RaftRun(config, work_dir, processes, progress, report)
        if "floor" in config.baselines:
            await run.floor()
        await run.ours()
        if "etcd" in config.baselines:
            await run.etcd()
        if "pysyncobj" in config.baselines:
            await run.pysyncobj("pysyncobj", **PYSYNCOBJ_TUNED)
        if "pysyncobj-defaults" in config.baselines:
            await run.pysyncobj("pysyncobj-defaults", **PYSYNCOBJ_DEFAULTS)
    report.add_ratio("swarmkit-py via HTTP / etcd", "ours-http", "etcd")
    report.add_ratio("swarmkit-py / PySyncObj (tuned)", "ours", "pysyncobj")
    report.add_ratio("swarmkit-py / PySyncObj (defaults)", "ours", "pysyncobj-defaults")
    report.goals = raft_goals(report, config)
    report.notes += _notes(report, config)
    return report


def _settings(config: RaftBenchConfig) -> dict[str, Any]:
    settings: dict[str, Any] = asdict(config)
    settings["concurrency"] = list(config.concurrency)
    settings["baselines"] = list(config.baselines)
    if "etcd" in config.baselines:
        settings["etcd_version"] = etcd_version()
    if {"pysyncobj", "pysyncobj-defaults"} & set(config.baselines):
        settings["pysyncobj_version"] = pysyncobj_version()
        settings["pysyncobj_tuned"] = PYSYNCOBJ_TUNED
    return settings


@dataclass
class _RaftRun:
    """One run: each system in turn is started, measured and stopped."""

    config: RaftBenchConfig
    work_dir: Path
    processes: ProcessSet
    progress: BenchProgress
    report: Report

    async def floor(self) -> None:
        c = self.config
        async with self.progress.step("floor: fdatasync loop, loopback round trip"):
            floor = await asyncio.get_running_loop().run_in_executor(
                None, measure_floor, self.work_dir, self.processes, c.entry_bytes,
                min(c.count, FLOOR_COUNT), min(c.duration_s, FLOOR_SECONDS),
            )  # fmt: skip
        self.report.facts.update(floor.facts())

    async def measure(self, key: str, pids: dict[str, int], run_load: RunLoad) -> None:
        """Warms the system up, then one point per concurrency."""
        c, label = self.config, LABELS[key]
        self.progress.status(f"{label}: warming up")
        await run_load(max(c.concurrency), min(c.count, WARMUP_COUNT), WARMUP_SECONDS,
                       UsageMeter({}))  # fmt: skip
        for concurrency in c.concurrency:
            async with self.progress.step(f"{label}, concurrency {concurrency}"):
                meter = UsageMeter(pids)
                result, generator = await run_load(concurrency, c.count, c.duration_s, meter)
                usage = meter.stop()
            point = Point(
                system=key,
                concurrency=concurrency,
                ops=int(result["ops"]),
                elapsed_s=float(result["elapsed_s"]),
                p50_ms=float(result["p50_ms"]),
                p90_ms=float(result["p90_ms"]),
                p99_ms=float(result["p99_ms"]),
                errors=int(result["errors"]),
                processes=usage,
                load_generator=generator,
                stopped_by_time=bool(result["stopped_by_time"]),
            )
            self.report.points.append(point)
            if point.errors:
                sample = "; ".join(result.get("error_sample", [])[:1])
                self.report.notes.append(
                    f"{label} at concurrency {concurrency}: {point.errors} failed ({sample})"
                )

    async def ours(self) -> None:
        """Our group: proposers in the leader, then (with etcd) through HTTP."""
        c = self.config
        self.progress.status(f"starting {c.managers} swarmkit-py Raft nodes ({c.backend})")
        mariadb: Any = None
        node_args: dict[int, tuple[str, ...]] = {}
        if c.backend == "mysql":
            mariadb, node_args = await _mysql_storage(self.work_dir, c.managers)
        elif c.backend != "file":
            raise ValueError(f"unknown backend {c.backend!r}: expected file or mysql")
        cluster = LocalCluster(
            self.work_dir / "swarmkit", size=c.managers, tick_interval=0.1, election_ticks=20,
            fsync=c.fsync, state_machine="digest", node_args=node_args,
        )  # fmt: skip
        try:
            await cluster.start()
            for node in cluster.nodes.values():
                self.processes.adopt(node.process)
            leader = await cluster.wait_leader()
            pids = {
                f"node-{i}" + (" (leader)" if i == leader else ""): n.process.pid
                for i, n in cluster.nodes.items()
                if n.process is not None
            }

            async def in_leader(
                concurrency: int, count: int, duration: float, meter: UsageMeter
            ) -> tuple[dict[str, Any], ProcessUsage | None]:
                meter.start()
                r = await cluster.load(leader, count, concurrency, c.entry_bytes, tag="bench",
                                       return_acked=False, duration=duration)  # fmt: skip
                return {**r, "ops": r["acked"], "errors": r["error_count"],
                        "error_sample": r["errors"], "elapsed_s": r["elapsed"]}, None  # fmt: skip

            await self.measure("ours", pids, in_leader)
            if "etcd" in c.baselines:
                generator = LoadGenerator(
                    self.processes, "propose", cluster.nodes[leader].control_addr,
                    c.entry_bytes, self.work_dir / "loadgen-swarmkit.log",
                )  # fmt: skip
                await self.measure("ours-http", pids, _through(generator))
        finally:
            await cluster.stop()
            if mariadb is not None:
                await asyncio.get_running_loop().run_in_executor(None, mariadb.close)

    async def etcd(self) -> None:
        c = self.config
        self.progress.status(f"starting {c.managers} etcd members")
        etcd = EtcdCluster(self.work_dir / "etcd", self.processes, members=c.managers)
        try:
            await etcd.start()
            address = await etcd.leader_address()
            pids = {
                m.name + (" (leader)" if m.client_address == address else ""): m.process.pid
                for m in etcd.nodes
                if m.process is not None
            }
            generator = LoadGenerator(self.processes, "etcd", address, c.entry_bytes,
                                      self.work_dir / "loadgen-etcd.log")  # fmt: skip
            await self.measure("etcd", pids, _through(generator))
        finally:
            etcd.stop()

    async def pysyncobj(self, key: str, append_period: float, tick_period: float) -> None:
        c = self.config
        self.progress.status(f"starting {c.managers} PySyncObj nodes")
        group = PySyncObjCluster(self.work_dir / key, self.processes, members=c.managers,
                                 append_period=append_period, tick_period=tick_period)  # fmt: skip
        try:
            await group.start()

            async def in_leader(
                concurrency: int, count: int, duration: float, meter: UsageMeter
            ) -> tuple[dict[str, Any], ProcessUsage | None]:
                meter.start()
                return await group.load(concurrency, count, duration, c.entry_bytes), None

            await self.measure(key, group.pids(), in_leader)
        finally:
            group.stop()


async def _mysql_storage(work_dir: Path, managers: int) -> tuple[Any, dict[int, tuple[str, ...]]]:
    """A private MariaDB and each node's `--storage mysql` arguments."""
    from ..testing.mariadb import MariaDB

    server = MariaDB(work_dir / "mariadb")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, server.start)
    args: dict[int, tuple[str, ...]] = {}
    for i in range(1, managers + 1):
        dsn = await loop.run_in_executor(None, server.dsn, f"raft{i}")
        args[i] = ("--storage", "mysql", "--storage-opt", f"dsn={dsn}")
    return server, args


def _through(generator: LoadGenerator) -> RunLoad:
    """A load run through the external load generator."""

    async def run(
        concurrency: int, count: int, duration: float, meter: UsageMeter
    ) -> tuple[dict[str, Any], ProcessUsage | None]:
        await generator.prepare(concurrency, count, duration)
        meter.start()
        result = await generator.go()
        return result, generator.usage(result)

    return run


def _ratio_text(row: dict[int, float]) -> str:
    return ", ".join(f"{r:.2f}x at {c}" for c, r in sorted(row.items()))


#: (ratio name, minimum at every concurrency) for the issue's goals.
GOALS = (
    ("swarmkit-py via HTTP / etcd", 1.0),
    ("swarmkit-py / PySyncObj (tuned)", 10.0),
    ("swarmkit-py / PySyncObj (defaults)", 10.0),
)


def raft_goals(report: Report, config: RaftBenchConfig) -> list[Goal]:
    """The issue's goals for 3 durable managers, judged at every concurrency
    both sides measured (the worst ratio decides)."""
    goals = []
    for ratio, minimum in GOALS:
        theirs = ratio.split(" / ", 1)[1]
        name = f"3-manager durable commits/s vs {theirs}"
        target = f"at least {minimum:g}x at every concurrency"
        row = report.ratios.get(ratio)
        if not row:
            continue
        if config.managers == 3 and config.fsync:
            goals.append(Goal(name, target, _ratio_text(row), min(row.values()) >= minimum))
        else:
            goals.append(Goal(name, target, "not judged: needs --managers 3 with fsync on", None))
    return goals


def _notes(report: Report, config: RaftBenchConfig) -> list[str]:
    notes = []
    if {"pysyncobj", "pysyncobj-defaults"} & set(config.baselines):
        notes.append(DURABILITY + ".")
    if "etcd" in config.baselines and not config.fsync:
        notes.append("etcd 3.4 cannot turn fsync off: with --no-fsync the etcd ratio compares "
                     "unlike durability.")  # fmt: skip
    if "etcd" in config.baselines:
        notes.append(
            "swarmkit-py via HTTP and etcd are driven by the same load generator process "
            "(one keep-alive HTTP/1.1 connection per concurrent client); its CPU use is shown."
        )
        for p in report.points:
            if p.load_generator is not None and p.load_generator.cpu_percent > LOADGEN_BUSY_PERCENT:
                notes.append(
                    f"the load generator used {p.load_generator.cpu_percent:.0f}% of a core for "
                    f"{LABELS[p.system]} at concurrency {p.concurrency}: it may have held that "
                    "figure back."
                )
    return notes
