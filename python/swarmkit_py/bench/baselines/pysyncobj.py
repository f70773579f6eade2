"""PySyncObj (pure-Python Raft, from PyPI) as a baseline: a group of node
processes on loopback (`pysyncobj_node`), the load driven from inside the
leader's process as our Raft bench drives ours.

    group = PySyncObjCluster(work_dir / "pysyncobj", processes, members=3)
    await group.start()                       # waits for a leader
    result = await group.load(concurrency=64, count=10_000, duration_s=5, value_bytes=256)
    group.pids()                              # {"pysyncobj-1": pid, ...}
    group.stop()
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...raft.local_cluster import free_ports
from ..processes import ProcessSet, ask, kill_and_reap
from . import BaselineUnavailable

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
#: How long a load may take past its duration before the bench gives up.
GRACE_S = 30.0
NOT_INSTALLED = (
    "PySyncObj is not installed: run ./scripts/setup.sh (or pip install pysyncobj), "
    "or leave pysyncobj out with --baselines"
)
DURABILITY = (
    "PySyncObj keeps its journal in a memory-mapped file and never fsyncs it: "
    "its commits survive a process crash, not a power loss"
)


def pysyncobj_version() -> str:
    """The installed version, or BaselineUnavailable saying how to install it."""
    if importlib.util.find_spec("pysyncobj") is None:
        raise BaselineUnavailable(NOT_INSTALLED)
    return importlib.metadata.version("pysyncobj")


@dataclass
class PySyncObjNode:
    name: str
    address: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class PySyncObjCluster:
    base_dir: Path
    processes: ProcessSet
    members: int = 3
    journal: bool = True
    #: PySyncObj's append batching period in seconds, or None to send each append at once.
    append_period: float | None = None
    #: PySyncObj's tick period (how long its loop waits for sockets) in seconds.
    tick_period: float = 0.05
    nodes: list[PySyncObjNode] = field(default_factory=list)
    leader: PySyncObjNode | None = None

    async def start(self) -> None:
        """Starts the nodes and waits until all of them follow one leader."""
        pysyncobj_version()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        addresses = [f"{HOST}:{port}" for port in free_ports(self.members, HOST)]
        for i, address in enumerate(addresses, 1):
            node = PySyncObjNode(
                f"pysyncobj-{i}",
                address,
                self.base_dir / f"node-{i}",
                self.base_dir / f"node-{i}.log",
            )
            args = [sys.executable, "-m", "swarmkit_py.bench.baselines.pysyncobj_node",
                    "--self", address, "--data-dir", str(node.data_dir)]  # fmt: skip
            for partner in addresses:
                if partner != address:
                    args += ["--partner", partner]
            if not self.journal:
                args.append("--no-journal")
            if self.append_period is not None:
                args += ["--append-period", str(self.append_period)]
            args += ["--tick-period", str(self.tick_period)]
            node.process = self.processes.spawn(args, log=node.log, pipes=True)
            self.nodes.append(node)
        self.leader = await self._wait_leader()

    async def _ask(self, node: PySyncObjNode, command: dict[str, Any], timeout: float) -> Any:
        assert node.process is not None
        return await ask(node.process, json.dumps(command), timeout, node.log)

    async def _wait_leader(self) -> PySyncObjNode:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while loop.time() < deadline:
            statuses = [await self._ask(n, {"cmd": "status"}, START_TIMEOUT) for n in self.nodes]
            leaders = {s["leader"] for s in statuses}
            if len(leaders) == 1 and None not in leaders and all(s["ready"] for s in statuses):
                leader = leaders.pop()
                return next(n for n in self.nodes if n.address == leader)
            await asyncio.sleep(0.1)
        raise BaselineUnavailable(
            f"the PySyncObj nodes did not agree on a leader in {START_TIMEOUT:.0f} s"
        )

    async def load(
        self, concurrency: int, count: int, duration_s: float, value_bytes: int
    ) -> dict[str, Any]:
        """Runs a load in the leader's process and returns what it measured
        (ops, errors, elapsed_s, p50_ms/p90_ms/p99_ms)."""
        assert self.leader is not None, "start() first"
        command = {"cmd": "load", "concurrency": concurrency, "count": count,
                   "duration": duration_s, "value_bytes": value_bytes}  # fmt: skip
        result: dict[str, Any] = await self._ask(self.leader, command, duration_s + GRACE_S)
        return result

    def pids(self) -> dict[str, int]:
        names = {n.name: n.process.pid for n in self.nodes if n.process is not None}
        if self.leader is not None:
            leader = self.leader.name
            return {
                (f"{name} (leader)" if name == leader else name): pid for name, pid in names.items()
            }
        return names

    def stop(self) -> None:
        """Kills the nodes (their journals are thrown away with the work directory)."""
        kill_and_reap(n.process for n in self.nodes)
