"""etcd as a baseline: a group of `etcd` members (Debian's etcd-server) on
loopback, each with its data directory under the bench's work directory, in
etcd's default durable mode (its WAL fsyncs every batch; etcd 3.4 has no
switch to turn that off). The load reaches the leader through etcd's gRPC
gateway (`POST /v3/kv/put`) from `swarmkit_py.bench.loadgen`.

    etcd = EtcdCluster(work_dir / "etcd", processes, members=3)
    await etcd.start()
    address = await etcd.leader_address()   # host:port of the leader's client URL
    etcd.pids()                             # {"etcd-1": pid, ...}
    etcd.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ...raft.local_cluster import free_ports
from ..processes import ProcessSet, kill_and_reap
from . import BaselineUnavailable

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
NOT_INSTALLED = (
    "etcd is not installed: run ./scripts/setup.sh (on Debian: apt-get install etcd-server), "
    "or leave etcd out with --baselines"
)


def etcd_program() -> str:
    """The `etcd` binary, or BaselineUnavailable saying how to install it."""
    found = shutil.which("etcd") or shutil.which("etcd", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise BaselineUnavailable(NOT_INSTALLED)
    return found


def etcd_version() -> str:
    out = subprocess.run([etcd_program(), "--version"], capture_output=True, text=True, timeout=10)
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return first.removeprefix("etcd Version:").strip() or "unknown"


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_address(self) -> str:
        return f"{HOST}:{self.client_port}"


@dataclass
class EtcdCluster:
    base_dir: Path
    processes: ProcessSet
    members: int = 3
    nodes: list[EtcdMember] = field(default_factory=list)

    async def start(self) -> None:
        """Starts the members and waits until every one reports healthy."""
        program = etcd_program()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(2 * self.members, HOST)
        self.nodes = [
            EtcdMember(
                f"etcd-{i + 1}", ports[2 * i], ports[2 * i + 1], self.base_dir / f"etcd-{i + 1}"
            )
            for i in range(self.members)
        ]
        cluster = ",".join(f"{m.name}=http://{HOST}:{m.peer_port}" for m in self.nodes)
        for m in self.nodes:
            m.process = self.processes.spawn(
                [
                    program,
                    "--name", m.name,
                    "--data-dir", str(m.data_dir),
                    "--listen-client-urls", f"http://{m.client_address}",
                    "--advertise-client-urls", f"http://{m.client_address}",
                    "--listen-peer-urls", f"http://{HOST}:{m.peer_port}",
                    "--initial-advertise-peer-urls", f"http://{HOST}:{m.peer_port}",
                    "--initial-cluster", cluster,
                    "--initial-cluster-state", "new",
                    "--initial-cluster-token", f"swarmkit-bench-{ports[0]}",
                    "--logger", "zap",
                    "--log-level", "error",
                ],
                log=self.base_dir / f"{m.name}.log",
            )  # fmt: skip
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            await asyncio.gather(*(self._wait_healthy(session, m) for m in self.nodes))

    async def _wait_healthy(self, session: aiohttp.ClientSession, member: EtcdMember) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            assert member.process is not None
            if member.process.poll() is not None:
                raise BaselineUnavailable(
                    f"{member.name} exited at start:\n{self.log_tail(member)}"
                )
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(f"http://{member.client_address}/health") as r:
                    if (await r.json(content_type=None)).get("health") == "true":
                        return
            if loop.time() > deadline:
                raise BaselineUnavailable(
                    f"{member.name} was not healthy after {START_TIMEOUT:.0f} s:\n"
                    f"{self.log_tail(member)}"
                )
            await asyncio.sleep(0.1)

    def log_tail(self, member: EtcdMember, lines: int = 20) -> str:
        path = self.base_dir / f"{member.name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def _status(self, session: aiohttp.ClientSession, member: EtcdMember) -> dict[str, Any]:
        url = f"http://{member.client_address}/v3/maintenance/status"
        async with session.post(url, json={}) as r:
            status: dict[str, Any] = await r.json(content_type=None)
            return status

    async def leader_address(self, timeout: float = START_TIMEOUT) -> str:
        """The client address of the member every member names as leader."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while loop.time() < deadline:
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, KeyError):
                    statuses = [await self._status(session, m) for m in self.nodes]
                    leaders = {s["leader"] for s in statuses}
                    if len(leaders) == 1 and "0" not in leaders:
                        leader = leaders.pop()
                        for m, s in zip(self.nodes, statuses, strict=True):
                            if s["header"]["member_id"] == leader:
                                return m.client_address
                await asyncio.sleep(0.1)
        raise BaselineUnavailable(f"the etcd members did not agree on a leader in {timeout:.0f} s")

    def pids(self) -> dict[str, int]:
        return {m.name: m.process.pid for m in self.nodes if m.process is not None}

    def stop(self) -> None:
        """Kills the members (their data is thrown away with the work directory)."""
        kill_and_reap(m.process for m in self.nodes)
