"""A swarm of real `swarmd` processes on loopback, driven through `swarmctl`.

swarm = LocalSwarm(base_dir, managers=3, workers=2)
await swarm.start()          # spawns the daemons, swarm init, joins
swarm.swarmctl(1, "node", "ls")
swarm.kill(1); await swarm.restart(1)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmkit_py.raft.local_cluster import free_ports


def _ping(path: Path) -> bool:
    """True if the Engine API on the unix socket answers `/_ping`."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(path))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: swarmd\r\n\r\n")
            return s.recv(64).split(b" ")[1:2] == [b"200"]
    except OSError:
        return False


@dataclass
class SwarmNode:
    index: int
    data_dir: Path
    addr: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.data_dir / "swarmd.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class LocalSwarm:
    base_dir: Path
    managers: int = 3
    workers: int = 2
    raft_tick: float = 0.05
    election_ticks: int = 20
    dispatcher_heartbeat: str = "500ms"
    #: `swarmd --runtime` for every node (a runtime plugin's name).
    runtime: str = "process"
    #: Extra `swarmd` arguments for every node.
    extra_args: tuple[str, ...] = ()
    #: Extra environment variables for every `swarmd` (e.g. PYTHONPATH for plugins).
    env: dict[str, str] = field(default_factory=dict)
    #: Extra `swarmd` arguments of one node (by index), after `extra_args`.
    node_args: dict[int, tuple[str, ...]] = field(default_factory=dict)
    nodes: dict[int, SwarmNode] = field(default_factory=dict)

    async def start(self, form: bool = True) -> None:
        """Spawns the daemons and, with `form`, makes node 1 init and the
        others join (the first `managers` as managers)."""
        total = self.managers + self.workers
        ports = free_ports(total)
        for i in range(1, total + 1):
            self.nodes[i] = SwarmNode(i, self.base_dir / f"node{i}", f"127.0.0.1:{ports[i - 1]}")
            self.spawn(i)
        await asyncio.gather(*(self.wait_api(i) for i in self.nodes))
        if form:
            await self.form()

    async def add_node(self, role: str = "worker", via: int = 1, join: bool = True) -> int:
        """Starts one more daemon and, with `join`, joins it; returns its index."""
        i = max(self.nodes) + 1
        (port,) = free_ports(1)
        self.nodes[i] = SwarmNode(i, self.base_dir / f"node{i}", f"127.0.0.1:{port}")
        self.spawn(i)
        await self.wait_api(i)
        if join:
            await self.join(i, role, via)
        return i

    def spawn(self, i: int) -> None:
        n = self.nodes[i]
        n.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable, "-m", "swarmkit_py.daemon",
            "--data-dir", str(n.data_dir),
            "--hostname", f"node{i}",
            "--raft-tick", str(self.raft_tick),
            "--election-ticks", str(self.election_ticks),
            "--log-level", "INFO",
            "--runtime", self.runtime,
            *self.extra_args,
            *self.node_args.get(i, ()),
        ]  # fmt: skip
        with open(self.base_dir / f"node{i}.log", "ab") as out:
            env = {**os.environ, **self.env} if self.env else None
            n.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)

    async def wait_api(self, i: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            n = self.nodes[i]
            if not n.alive:
                raise RuntimeError(f"swarmd {i} exited:\n{self.log_tail(i)}")
            if n.socket.exists() and _ping(n.socket):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"swarmd {i} did not start")
            await asyncio.sleep(0.1)

    def log_tail(self, i: int, lines: int = 40) -> str:
        path = self.base_dir / f"node{i}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def run(self, i: int, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`swarmctl -H <node i> args...`."""
        cmd = [sys.executable, "-m", "swarmkit_py.cli.swarmctl", "-H", self.nodes[i].host, *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(
                f"swarmctl {' '.join(args)} on node {i} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    async def swarmctl(
        self, i: int, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(self.run, i, *args, check=check)

    async def form(self) -> None:
        first = self.nodes[1]
        await self.swarmctl(
            1, "swarm", "init", "--advertise-addr", first.addr, "--listen-addr", first.addr,
            "--dispatcher-heartbeat", self.dispatcher_heartbeat,
        )  # fmt: skip
        for i in range(2, len(self.nodes) + 1):
            role = "manager" if i <= self.managers else "worker"
            await self.join(i, role)
        await self.wait_nodes_ready(len(self.nodes))

    async def join(self, i: int, role: str, via: int = 1) -> None:
        token = (await self.swarmctl(via, "swarm", "join-token", "-q", role)).stdout.strip()
        n = self.nodes[i]
        await self.swarmctl(
            i, "swarm", "join", "--token", token, "--advertise-addr", n.addr,
            "--listen-addr", n.addr, self.nodes[via].addr,
        )  # fmt: skip

    async def node_ls(self, i: int) -> list[dict[str, Any]]:
        """`node ls --format json` rows (docker's: ID, Hostname, Status, ...)."""
        out = (await self.swarmctl(i, "node", "ls", "--format", "json")).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    async def inspect(self, i: int, ref: str) -> dict[str, Any]:
        out = (await self.swarmctl(i, "node", "inspect", ref)).stdout
        found: list[dict[str, Any]] = json.loads(out)
        return found[0]

    async def wait_nodes_ready(self, count: int, via: int = 1, timeout: float = 30.0) -> None:
        await self.wait_for(
            lambda nodes: len(nodes) == count and all(n["Status"] == "Ready" for n in nodes),
            via,
            timeout,
            f"{count} ready nodes",
        )

    async def wait_for(
        self, cond: Any, via: int, timeout: float = 30.0, what: str = "condition"
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            r = await self.swarmctl(via, "node", "ls", "--format", "json", check=False)
            if r.returncode == 0:
                last = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
                if cond(last):
                    return list(last)
            else:
                last = r.stderr
            await asyncio.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}; last: {last}")

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        n = self.nodes[i]
        if n.process is not None and n.alive:
            os.kill(n.process.pid, sig)
            n.process.wait()

    async def restart(self, i: int) -> None:
        self.spawn(i)
        await self.wait_api(i)

    async def stop(self) -> None:
        for n in self.nodes.values():
            if n.alive:
                assert n.process is not None
                n.process.terminate()
        for n in self.nodes.values():
            if n.process is not None:
                try:
                    n.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    n.process.kill()
                    n.process.wait()
