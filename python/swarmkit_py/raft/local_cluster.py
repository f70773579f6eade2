"""Runs a Raft group of standalone node processes on loopback, for the demo,
the multi-process tests and the benchmarks. Nodes can be killed (`kill -9`)
and restarted on their data directories."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """Ports that were free a moment ago (held together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class ProcessNode:
    node_id: int
    raft_addr: str
    control_addr: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class LocalCluster:
    base_dir: Path
    size: int = 3
    tick_interval: float = 0.05
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    snapshot_interval: int = 10_000
    keep_entries: int = 500
    fsync: bool = True
    state_machine: str = "log"
    wal_segment_mib: int = 64
    host: str = "127.0.0.1"
    #: Extra arguments of one node (by ID), e.g. its `--storage-opt`.
    node_args: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: Extra environment variables of every node.
    env: dict[str, str] = field(default_factory=dict)
    nodes: dict[int, ProcessNode] = field(default_factory=dict)
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        ports = free_ports(2 * self.size, self.host)
        for i in range(1, self.size + 1):
            raft_port, control_port = ports[2 * i - 2], ports[2 * i - 1]
            self.nodes[i] = ProcessNode(
                node_id=i,
                raft_addr=f"{self.host}:{raft_port}",
                control_addr=f"{self.host}:{control_port}",
                data_dir=self.base_dir / f"node-{i}",
            )
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        for node_id in self.nodes:
            self._spawn(node_id)
        await asyncio.gather(*(self._wait_ready(i) for i in self.nodes))

    @property
    def peers(self) -> dict[int, str]:
        return {i: n.raft_addr for i, n in self.nodes.items()}

    def command(self, node_id: int, bootstrap: bool = True) -> list[str]:
        """The command line that runs node `node_id`."""
        n = self.nodes[node_id]
        args = [
            sys.executable,
            "-m",
            "swarmkit_py.raft.standalone",
            "--id",
            str(node_id),
            "--listen",
            n.raft_addr,
            "--control",
            n.control_addr,
            "--data-dir",
            str(n.data_dir),
            "--tick-interval",
            str(self.tick_interval),
            "--election-ticks",
            str(self.election_ticks),
            "--heartbeat-ticks",
            str(self.heartbeat_ticks),
            "--snapshot-interval",
            str(self.snapshot_interval),
            "--keep-entries",
            str(self.keep_entries),
            "--state-machine",
            self.state_machine,
            "--wal-segment-mib",
            str(self.wal_segment_mib),
        ]
        if bootstrap:
            args += ["--peers", ",".join(f"{i}={a}" for i, a in sorted(self.peers.items()))]
        if not self.fsync:
            args.append("--no-fsync")
        return args + list(self.node_args.get(node_id, ()))

    def _spawn(self, node_id: int, bootstrap: bool = True) -> None:
        n = self.nodes[node_id]
        n.data_dir.mkdir(parents=True, exist_ok=True)
        n.log_path = self.base_dir / f"node-{node_id}.log"
        args = self.command(node_id, bootstrap)
        with open(n.log_path, "ab") as out:
            env = {**os.environ, **self.env} if self.env else None
            n.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)

    async def _wait_ready(self, node_id: int, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        n = self.nodes[node_id]
        while True:
            if not n.alive:
                raise RuntimeError(f"node {node_id} exited at start:\n{self.log_tail(node_id)}")
            try:
                await self.status(node_id)
                return
            except (aiohttp.ClientError, OSError):
                if loop.time() > deadline:
                    raise TimeoutError(f"node {node_id} did not start") from None
                await asyncio.sleep(0.05)

    def log_tail(self, node_id: int, lines: int = 30) -> str:
        path = self.nodes[node_id].log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def _get(self, node_id: int, path: str, **params: str) -> Any:
        assert self._session is not None
        url = f"http://{self.nodes[node_id].control_addr}{path}"
        async with self._session.get(url, params=params) as r:
            return await r.json()

    async def _post(self, node_id: int, path: str, **kw: Any) -> Any:
        assert self._session is not None
        url = f"http://{self.nodes[node_id].control_addr}{path}"
        async with self._session.post(url, **kw) as r:
            return await r.json()

    async def status(self, node_id: int) -> dict[str, Any]:
        st: dict[str, Any] = await self._get(node_id, "/status")
        return st

    def alive_ids(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.alive]

    async def wait_leader(self, timeout: float = 30.0, exclude: int | None = None) -> int:
        """Waits until every live node agrees on one leader, and returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                sts = await asyncio.gather(*(self.status(i) for i in self.alive_ids()))
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.05)
                continue
            leaders = {s["leader_id"] for s in sts}
            if len(leaders) == 1 and 0 not in leaders and exclude not in leaders:
                leader = leaders.pop()
                if any(s["node_id"] == leader and s["role"] == "leader" for s in sts):
                    return int(leader)
            await asyncio.sleep(0.05)
        raise TimeoutError("the group did not agree on a leader")

    async def propose(self, node_id: int, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = await self._post(node_id, "/propose", data=data)
        return result

    async def load(
        self,
        node_id: int,
        count: int,
        concurrency: int = 1,
        size: int = 64,
        tag: str = "load",
        return_acked: bool = True,
        duration: float | None = None,
    ) -> dict[str, Any]:
        """`count` proposals of `size` bytes from `concurrency` proposers in
        node `node_id`'s process (fewer if `duration` seconds run out first):
        commits_per_s, p50_ms/p90_ms/p99_ms, errors, stopped_by_time."""
        spec: dict[str, Any] = {
            "count": count,
            "concurrency": concurrency,
            "size": size,
            "tag": tag,
            "return_acked": return_acked,
        }
        kw: dict[str, Any] = {}
        if duration is not None:
            spec["duration"] = duration
            # The session's 120 s limit would cut a long load short.
            kw["timeout"] = aiohttp.ClientTimeout(total=duration + 120)
        result: dict[str, Any] = await self._post(node_id, "/load", json=spec, **kw)
        return result

    async def entries(self, node_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._get(node_id, "/entries")
        return result

    async def change_members(self, node_id: int, op: str, member: int, address: str = "") -> Any:
        return await self._post(
            node_id, "/members", json={"op": op, "id": member, "address": address}
        )

    async def force_new_cluster(self, node_id: int) -> Any:
        return await self._post(node_id, "/force-new-cluster")

    async def wait_applied(self, node_id: int, index: int, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (await self.status(node_id))["applied_index"] < index:
            if loop.time() > deadline:
                raise TimeoutError(f"node {node_id} did not apply index {index}")
            await asyncio.sleep(0.05)

    def kill(self, node_id: int, sig: int = signal.SIGKILL) -> None:
        """Kills a node's process (default `kill -9`) and reaps it."""
        n = self.nodes[node_id]
        if n.process is not None and n.alive:
            os.kill(n.process.pid, sig)
            n.process.wait()

    async def restart(self, node_id: int) -> None:
        """Starts a killed node again on its data directory."""
        self._spawn(node_id, bootstrap=False)
        await self._wait_ready(node_id)

    async def add_node(self) -> int:
        """Starts a new, empty node process (not yet a member) and returns its ID."""
        node_id = max(self.nodes) + 1
        raft_port, control_port = free_ports(2, self.host)
        self.nodes[node_id] = ProcessNode(
            node_id=node_id,
            raft_addr=f"{self.host}:{raft_port}",
            control_addr=f"{self.host}:{control_port}",
            data_dir=self.base_dir / f"node-{node_id}",
        )
        self._spawn(node_id, bootstrap=False)
        await self._wait_ready(node_id)
        return node_id

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
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> LocalCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
