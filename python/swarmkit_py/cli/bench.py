"""`swarmctl bench raft|scheduler|e2e`: starts what it measures on loopback
(the library side is `swarmkit_py.bench`), drives a load bounded in count
and time, and prints a table (or JSON with `--json`). It needs no running
swarm: `-H` and the TLS options are not used."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ..bench.baselines import BaselineUnavailable
from ..bench.e2e import E2EBenchConfig, run_e2e_bench
from ..bench.plot import PlotUnavailable, plot_report
from ..bench.processes import BenchProcessError, terminate_on_sigterm
from ..bench.progress import BenchProgress
from ..bench.raft import BASELINES, DEFAULT_BASELINES, RaftBenchConfig, run_raft_bench
from ..bench.render import print_report
from ..bench.results import Report
from ..bench.scheduler import SchedulerBenchConfig, run_scheduler_bench
from ..bench.workdir import work_directory

_JSON = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
_WORK_DIR = click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep data directories and logs here (default: a temporary directory, removed).",
)


def _managers(default: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option("--managers", type=click.Choice(["1", "3", "5"]), default=default,
                        show_default=True, help="Managers (Raft group size).")  # fmt: skip


_FAILURES = (BaselineUnavailable, BenchProcessError, PlotUnavailable, ValueError, RuntimeError,
             TimeoutError, OSError)  # fmt: skip


def _int_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected numbers separated by commas") from None
    if not levels or min(levels) < 1:
        raise click.BadParameter(f"{value!r}: expected one or more numbers >= 1")
    return tuple(sorted(set(levels)))


def _baselines(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if names == ("none",):
        return ()
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}: expected none or some of {', '.join(BASELINES)}"
        )
    return names


def _run(
    as_json: bool,
    work: Callable[[BenchProgress], Coroutine[Any, Any, Report]],
    progress: BenchProgress,
    plot: Path | None = None,
) -> None:
    """Runs a bench (every process it started is gone when this returns, on
    Ctrl-C and SIGTERM too) and prints its report."""
    try:
        with terminate_on_sigterm(), progress:
            report = asyncio.run(work(progress))
        if plot is not None:
            plot_report(report, plot)
    except KeyboardInterrupt:
        raise click.ClickException(
            "interrupted: every process the bench started was stopped"
        ) from None
    except _FAILURES as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    # Piped output keeps whole rows rather than wrapping them at 80 columns.
    print_report(report, Console(highlight=False, width=None if sys.stdout.isatty() else 160))
    if plot is not None:
        click.echo(f"plot: {plot}")


@click.group()
def bench() -> None:
    """Benchmarks that start what they measure on loopback: Raft commits beside
    etcd and PySyncObj, scheduler placements, services end to end."""


@bench.command("raft")
@_managers("3")
@click.option(
    "--entry-bytes",
    type=click.IntRange(1, 1 << 20),
    default=256,
    show_default=True,
    help="Size of each value.",
)
@click.option(
    "--concurrency",
    default="1,16,64,256",
    show_default=True,
    callback=_int_list,
    help="Concurrent proposers (clients), one point each: N[,N...].",
)
@click.option(
    "--duration",
    type=click.FloatRange(0.1, 600),
    default=5.0,
    show_default=True,
    help="Seconds per point at most.",
)
@click.option(
    "--count",
    type=click.IntRange(1),
    default=200_000,
    show_default=True,
    help="Commits per point at most.",
)
@click.option(
    "--fsync/--no-fsync",
    default=True,
    show_default=True,
    help="Our nodes fsync their log (--no-fsync: no durability; etcd always fsyncs).",
)
@click.option(
    "--backend",
    type=click.Choice(["file", "mysql"]),
    default="file",
    show_default=True,
    help="Our nodes' log storage (mysql: a private MariaDB).",
)
@click.option(
    "--baselines",
    default=",".join(DEFAULT_BASELINES),
    show_default=True,
    callback=_baselines,
    help=f"Measured in the same run: none, or some of {', '.join(BASELINES)}.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PNG of commits/s against concurrency.",
)
@_JSON
@_WORK_DIR
def bench_raft(
    managers: str,
    entry_bytes: int,
    concurrency: tuple[int, ...],
    duration: float,
    count: int,
    fsync: bool,
    backend: str,
    baselines: tuple[str, ...],
    plot: Path | None,
    as_json: bool,
    work_dir: Path | None,
) -> None:
    """Commits/s and commit latency of a Raft group of our node processes,
    with etcd and PySyncObj groups of the same size and the machine's floor
    (fdatasync, loopback round trip) measured in the same run."""
    config = RaftBenchConfig(
        managers=int(managers), entry_bytes=entry_bytes, concurrency=concurrency,
        duration_s=duration, count=count, fsync=fsync, backend=backend, baselines=baselines,
    )  # fmt: skip

    async def work(progress: BenchProgress) -> Report:
        with work_directory(work_dir, "swarmkit-bench-raft-") as path:
            return await run_raft_bench(config, path, progress)

    _run(as_json, work, BenchProgress(config.steps(), duration, enabled=not as_json), plot)


@bench.command("scheduler")
@click.option("--nodes", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--tasks", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--strategy", type=click.Choice(["spread", "binpack"]), default="spread",
              show_default=True)  # fmt: skip
@click.option(
    "--rounds",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="schedule calls at most (after one warm-up call).",
)
@click.option(
    "--duration",
    type=click.FloatRange(0.1),
    default=30.0,
    show_default=True,
    help="Seconds of rounds at most.",
)
@_JSON
def bench_scheduler(
    nodes: int, tasks: int, strategy: str, rounds: int, duration: float, as_json: bool
) -> None:
    """Placements/s of the Rust scheduler placing TASKS tasks on NODES nodes
    in one call (a synthetic cluster with constraints and reservations)."""
    config = SchedulerBenchConfig(
        nodes=nodes, tasks=tasks, strategy="binpack" if strategy == "binpack" else "spread",
        rounds=rounds, duration_s=duration,
    )  # fmt: skip

    async def work(progress: BenchProgress) -> Report:
        return await run_scheduler_bench(config, progress)

    _run(as_json, work, BenchProgress(1, duration, enabled=not as_json))


@bench.command("e2e")
@click.option(
    "--nodes",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="Simulated worker nodes.",
)
@click.option("--replicas", type=click.IntRange(1), default=1_000, show_default=True)
@_managers("1")
@click.option(
    "--runtime",
    type=click.Choice(["simulated"]),
    default="simulated",
    show_default=True,
    help="The workers' runtime.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=120.0,
    show_default=True,
    help="Seconds the replicas may take to be running.",
)
@_JSON
@_WORK_DIR
def bench_e2e(
    nodes: int,
    replicas: int,
    managers: str,
    runtime: str,
    timeout: float,
    as_json: bool,
    work_dir: Path | None,
) -> None:
    """Tasks/s from `service create` to every replica running, on drained
    swarmd managers and simulated worker nodes."""
    config = E2EBenchConfig(nodes=nodes, replicas=replicas, managers=int(managers),
                            runtime=runtime, timeout_s=timeout)  # fmt: skip

    async def work(progress: BenchProgress) -> Report:
        with work_directory(work_dir, "swarmkit-bench-e2e-") as path:
            return await run_e2e_bench(config, path, progress)

    _run(as_json, work, BenchProgress(1, timeout, enabled=not as_json))
