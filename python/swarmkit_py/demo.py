"""The swarmkit-py demo: a local swarm of 3 managers and 2 workers, each a real
`swarmd` process on loopback, driven with `swarmctl` exactly as a user would.
It runs a service of 6 replicas (each task a real process), loses its leader
to `kill -9`, elects another, replaces the dead node's tasks, takes the dead
manager back with its identity intact, drains a worker and rolls out an update.

    python -m swarmkit_py.demo
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from swarmkit_py.testing.local_swarm import LocalSwarm

console = Console()


def show(command: str, output: str) -> None:
    console.print(f"[bold cyan]$ {command}[/]", soft_wrap=True)
    if output.strip():
        print(output.rstrip(), flush=True)  # as the user would see it, unwrapped


async def swarmctl(s: LocalSwarm, node: int, *args: str) -> str:
    out = (await s.swarmctl(node, *args)).stdout
    shown = " ".join(a if not a.startswith("SWMTKN-") else a[:20] + "..." for a in args)
    show(f"swarmctl -H node{node} {shown}", out)
    return out


def leader_of(rows: list[dict[str, object]]) -> str:
    return next(str(r["Hostname"]) for r in rows if r["ManagerStatus"] == "Leader")


async def run(base: Path) -> None:
    console.print(
        Panel.fit(
            "[bold]swarmkit-py[/]: Docker Swarm mode in Python with a Rust core\n"
            "5 swarmd processes on loopback: 3 managers (Raft, mutual TLS) and 2 workers",
            border_style="blue",
        )
    )
    s = LocalSwarm(base, managers=3, workers=2)
    try:
        with console.status("starting 5 swarmd processes..."):
            await s.start(form=False)
        n1 = s.nodes[1].addr
        await swarmctl(s, 1, "swarm", "init", "--advertise-addr", n1, "--listen-addr", n1,
                       "--dispatcher-heartbeat", s.dispatcher_heartbeat)  # fmt: skip
        for i in (2, 3, 4, 5):
            role = "manager" if i <= 3 else "worker"
            token = (await s.swarmctl(1, "swarm", "join-token", "-q", role)).stdout.strip()
            addr = s.nodes[i].addr
            await swarmctl(s, i, "swarm", "join", "--token", token, "--advertise-addr", addr,
                           "--listen-addr", addr, n1)  # fmt: skip
        with console.status("waiting for every node to report in..."):
            await s.wait_nodes_ready(5)
        await swarmctl(s, 2, "node", "ls")
        await swarmctl(s, 1, "service", "create", "--name", "web", "--replicas", "6",
                       "--update-monitor", "1s", "busybox", "sh", "-c",
                       "echo hello from task $SWARMKIT_TASK_ID; exec sleep 3600")  # fmt: skip
        await swarmctl(s, 2, "service", "ps", "web")

        rows = await s.node_ls(2)
        leader = leader_of(rows)
        index = int(leader.removeprefix("node"))
        process = s.nodes[index].process
        pid = process.pid if process is not None else "?"
        console.print(f"\n[bold red]kill -9[/] the leader, {leader} (pid {pid})")
        s.kill(index)
        start = time.monotonic()
        survivor = 2 if index != 2 else 3
        rows = await s.wait_for(
            lambda rows: (
                any(r["ManagerStatus"] == "Leader" for r in rows) and leader_of(rows) != leader
            ),
            via=survivor,
            timeout=20,
            what="a new leader",
        )
        console.print(
            f"[green]✔[/] {leader_of(rows)} took over as leader in {time.monotonic() - start:.2f}s"
        )
        await s.wait_for(
            lambda rows: any(r["Hostname"] == leader and r["Status"] != "Ready" for r in rows),
            via=survivor,
            timeout=20,
        )
        await swarmctl(s, survivor, "node", "ls")
        with console.status(f"replacing the tasks that ran on {leader}..."):
            await _wait_running(s, survivor, "web", 6, avoid=leader)
        await swarmctl(s, survivor, "service", "ls")
        await swarmctl(s, survivor, "service", "ps", "web", "--filter", "desired-state=running")

        console.print(f"\nrestarting {leader} on its data directory")
        await s.restart(index)
        await s.wait_for(
            lambda rows: (
                all(r["Status"] == "Ready" for r in rows)
                and sum(r["ManagerStatus"] in ("Leader", "Reachable") for r in rows) == 3
            ),
            via=survivor,
            timeout=30,
            what="the old leader to rejoin",
        )
        await swarmctl(s, index, "node", "update", "--availability", "drain", "node5")
        await swarmctl(s, index, "node", "ls")
        with console.status("moving node5's tasks elsewhere..."):
            await _wait_running(s, index, "web", 6, avoid="node5")
        await swarmctl(s, index, "service", "update", "--env-add", "COLOR=blue",
                       "--update-parallelism", "2", "web")  # fmt: skip
        await swarmctl(s, index, "service", "ps", "web", "--filter", "desired-state=running")
        logs = (await s.swarmctl(index, "service", "logs", "--tail", "1", "web")).stdout
        show(f"swarmctl -H node{index} service logs --tail 1 web", logs)
        console.print(
            "[bold green]✔ the swarm lost its leader, elected another, kept its service at 6 "
            "running tasks, took the old leader back with its identity intact, drained a node "
            "and rolled out an update[/]"
        )
    finally:
        await s.stop()


async def _wait_running(s: LocalSwarm, via: int, service: str, count: int, avoid: str) -> None:
    """Until `count` tasks of `service` run, none of them on node `avoid`."""
    import json

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = await s.swarmctl(
            via, "service", "ps", service, "--filter", "desired-state=running",
            "--format", "json", check=False,
        )  # fmt: skip
        if r.returncode == 0:
            rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
            running = [x for x in rows if str(x.get("CurrentState", "")).startswith("Running")]
            if len(running) == count and all(x.get("Node") != avoid for x in running):
                return
        await asyncio.sleep(0.3)
    raise TimeoutError(f"{service} did not get back to {count} running tasks")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="A local swarm: 3 managers, 2 workers, kill -9.")
    p.add_argument("--data-dir", type=Path, default=None, help="default: a temporary directory")
    args = p.parse_args(argv)
    if args.data_dir is not None:
        asyncio.run(run(args.data_dir))
        return
    with tempfile.TemporaryDirectory(prefix="swarmkit-demo-") as tmp:
        asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    main()
