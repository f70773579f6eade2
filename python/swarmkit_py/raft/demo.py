"""The swarmkit-py Raft demo: three node processes on loopback elect a leader,
replicate entries, lose the leader to `kill -9`, and carry on.

    python -m swarmkit_py.raft.demo
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .local_cluster import LocalCluster

console = Console()


async def cluster_table(c: LocalCluster, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("node", "pid", "role", "term", "commit", "applied", "state digest"):
        table.add_column(col)
    for node_id, n in c.nodes.items():
        if not n.alive:
            table.add_row(str(node_id), "-", "[red]killed (kill -9)[/]", "", "", "", "")
            continue
        st = await c.status(node_id)
        digest = (await c.entries(node_id))["digest"][:16]
        role = st["role"]
        style = {"leader": "bold green", "follower": "cyan"}.get(role, "yellow")
        table.add_row(
            str(node_id),
            str(st["pid"]),
            f"[{style}]{role}[/]",
            str(st["term"]),
            str(st["commit_index"]),
            str(st["applied_index"]),
            digest,
        )
    return table


async def replicate(c: LocalCluster, count: int, label: str) -> dict[str, Any]:
    """Proposes `count` entries through the leader in chunks, with a progress bar."""
    chunk, done, latencies = 250, 0, []
    started = time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=count)
        while done < count:
            leader = await c.wait_leader()
            r = await c.load(
                leader,
                min(chunk, count - done),
                concurrency=32,
                size=128,
                tag=f"{label}-{done}",
                return_acked=False,
            )
            done += int(r["acked"])
            latencies.append(r["p50_ms"])
            progress.update(task, completed=done)
    elapsed = time.perf_counter() - started
    return {"entries": count, "seconds": elapsed, "per_s": count / elapsed}


async def run(base: Path, entries: int) -> None:
    console.print(
        Panel.fit(
            "[bold]swarmkit-py[/]: a Raft group of 3 processes on loopback\n"
            "Rust core (raft-rs + a fsync'd write-ahead log), Python asyncio transport",
            border_style="blue",
        )
    )
    c = LocalCluster(base, size=3, tick_interval=0.1, election_ticks=10)
    try:
        with console.status("starting 3 node processes..."):
            await c.start()
            t0 = time.perf_counter()
            leader = await c.wait_leader()
        console.print(
            f"[green]✔[/] node {leader} was elected leader in {time.perf_counter() - t0:.2f}s"
        )
        r = await replicate(c, entries, "replicating")
        console.print(
            f"[green]✔[/] {r['entries']} entries committed on a quorum "
            f"({r['per_s']:,.0f}/s, fsync on every node)"
        )
        console.print(await cluster_table(c, "The group"))

        process = c.nodes[leader].process
        pid = process.pid if process is not None else "?"
        console.print(f"\n[bold red]kill -9[/] leader node {leader} (pid {pid})")
        t0 = time.perf_counter()
        c.kill(leader)
        new_leader = await c.wait_leader(exclude=leader)
        console.print(f"[green]✔[/] node {new_leader} took over in {time.perf_counter() - t0:.2f}s")
        r = await replicate(c, entries // 2, "carrying on")
        console.print(f"[green]✔[/] {r['entries']} more entries committed by the survivors")
        console.print(await cluster_table(c, "Two survivors"))

        console.print(f"\nrestarting node {leader} on its data directory")
        await c.restart(leader)
        target = (await c.status(new_leader))["commit_index"]
        await c.wait_applied(leader, target)
        table = await cluster_table(c, "Back to three: the restarted node caught up")
        console.print(table)
        digests = {(await c.entries(i))["digest"] for i in c.nodes}
        if len(digests) == 1:
            console.print("[bold green]✔ every node applied the same entries in the same order[/]")
        else:
            console.print("[bold red]✘ nodes disagree[/]")
            raise SystemExit(1)
    finally:
        await c.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Raft demo: elect, replicate, kill -9, carry on.")
    p.add_argument("--entries", type=int, default=5000)
    p.add_argument("--data-dir", type=Path, default=None, help="default: a temporary directory")
    args = p.parse_args(argv)
    if args.data_dir is not None:
        asyncio.run(run(args.data_dir, args.entries))
        return
    with tempfile.TemporaryDirectory(prefix="swarmkit-demo-") as tmp:
        asyncio.run(run(Path(tmp), args.entries))


if __name__ == "__main__":
    main()
