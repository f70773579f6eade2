"""Many real worker nodes in one process, running simulated tasks.

nodes = SimulatedNodes(base_dir, "127.0.0.1:4242", worker_token, count=500)
await nodes.start(concurrency=32)   # joins them all, waits for their sessions
nodes.running_tasks()               # simulated tasks running, all nodes
await nodes.stop()

Each node is what `swarmd` makes of a worker, minus the Engine API: it joins
with the token through the swarm's CA (its own key, certificate and node ID),
then keeps its own session with the dispatcher over mutual TLS (an `Agent`)
and runs what it is assigned (a `Worker` on the `simulated` runtime, with its
state under `<base_dir>/sim-N`). Its description says hostname `sim-N` and the
resources and labels given, not this machine's. The credentials stay in
memory: nothing restarts these nodes, and their certificates outlive any test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmkit_py.agent import Agent, describe_host
from swarmkit_py.agent.worker import Worker
from swarmkit_py.pki import NodeCredentials, PKIError
from swarmkit_py.pki import join as pki_join
from swarmkit_py.raft.config import parse_addr
from swarmkit_py.runtime.simulated import SimulatedRuntime

GIB = 1024**3
NANO_CPUS = 1_000_000_000
#: How long one node may take to join (fetch the root CA, get its certificate).
JOIN_TIMEOUT = 60.0


@dataclass(eq=False)
class SimulatedNode:
    """One node: its identity, its worker and its session."""

    index: int
    hostname: str
    data_dir: Path
    credentials: NodeCredentials
    runtime: SimulatedRuntime
    worker: Worker
    agent: Agent

    @property
    def node_id(self) -> str:
        return self.credentials.identity.node_id

    @property
    def connected(self) -> bool:
        """The node has a session with a manager now."""
        return self.agent.connected_to is not None


@dataclass
class SimulatedNodes:
    """`count` nodes named `sim-<first_index>`..., joined to the swarm whose
    manager listens on `manager_addr` (see the module docstring)."""

    base_dir: Path
    manager_addr: str
    join_token: str
    count: int
    cpus: float = 4
    memory_bytes: int = 8 * GIB
    labels: dict[str, str] = field(default_factory=dict)
    first_index: int = 1
    #: Makes each node's runtime (the delays of its simulated tasks).
    runtime_factory: Callable[[], SimulatedRuntime] = SimulatedRuntime
    #: The IP each node advertises (the dispatcher records it as the node's address).
    advertise_host: str = "127.0.0.1"
    nodes: list[SimulatedNode] = field(default_factory=list)

    def description(self, hostname: str) -> dict[str, Any]:
        """The NodeDescription a node registers with: this machine's platform,
        the configured resources and labels."""
        description = describe_host(hostname, self.labels)
        description["Resources"] = {
            "NanoCPUs": int(self.cpus * NANO_CPUS),
            "MemoryBytes": self.memory_bytes,
        }
        return description

    async def start(self, concurrency: int = 32, timeout: float = 120.0) -> None:
        """Joins the nodes, at most `concurrency` at a time, starts their
        sessions, and returns once every node has registered with a manager.
        On failure the nodes started so far are stopped again."""
        try:
            parse_addr(self.manager_addr)
        except ValueError as e:
            raise ValueError(f"invalid manager address {self.manager_addr!r}: {e}") from None
        gate = asyncio.Semaphore(max(1, concurrency))
        indexes = range(self.first_index, self.first_index + self.count)
        joins = [asyncio.ensure_future(self._join(index, gate)) for index in indexes]
        try:
            await asyncio.gather(*joins)
            self.nodes.sort(key=lambda n: n.index)
            await self.wait_connected(timeout)
        except BaseException:
            for join in joins:
                join.cancel()
            await asyncio.gather(*joins, return_exceptions=True)
            await self.stop()
            raise

    async def _join(self, index: int, gate: asyncio.Semaphore) -> None:
        hostname = f"sim-{index}"
        host, port = parse_addr(self.manager_addr)
        async with gate:
            try:
                async with asyncio.timeout(JOIN_TIMEOUT):
                    credentials = await pki_join((host, port), self.join_token)
            except (PKIError, OSError, TimeoutError) as e:
                raise RuntimeError(
                    f"node {hostname} could not join through {self.manager_addr}: {e}"
                ) from e
        data_dir = self.base_dir / hostname
        data_dir.mkdir(parents=True, exist_ok=True)
        runtime = self.runtime_factory()
        agents: list[Agent] = []  # the worker reports through the agent made next

        def report(updates: list[dict[str, Any]]) -> None:
            if agents:
                agents[0].queue_reports(updates)

        worker = Worker(runtime, data_dir, credentials.identity.node_id, report)
        await worker.start()
        agent = Agent(
            lambda: credentials,
            [self.manager_addr],
            f"{self.advertise_host}:0",
            self.description(hostname),
            worker=worker,
            load=_simulated_load,
        )
        agents.append(agent)
        node = SimulatedNode(index, hostname, data_dir, credentials, runtime, worker, agent)
        self.nodes.append(node)
        agent.start()

    async def wait_connected(self, timeout: float = 60.0) -> None:
        """Waits until every node has a session with a manager."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = [n.hostname for n in self.nodes if not n.connected]
            if not waiting:
                return
            if time.monotonic() > deadline:
                shown = ", ".join(waiting[:5]) + (" ..." if len(waiting) > 5 else "")
                raise TimeoutError(
                    f"{len(waiting)} of {len(self.nodes)} simulated nodes have no session "
                    f"with the manager at {self.manager_addr} after {timeout:.0f} s: {shown}"
                )
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Ends every node's session, then stops its simulated tasks."""
        nodes, self.nodes = self.nodes, []
        await asyncio.gather(*(_stop_agent(n) for n in nodes), return_exceptions=True)
        await asyncio.gather(*(n.worker.stop() for n in nodes), return_exceptions=True)

    def running_tasks(self) -> int:
        """Simulated tasks running now, on all nodes."""
        return sum(n.worker.running_count() for n in self.nodes)

    def running_per_node(self) -> dict[str, int]:
        """Simulated tasks running now, per node hostname."""
        return {n.hostname: n.worker.running_count() for n in self.nodes}

    def node_ids(self) -> dict[str, str]:
        """Node ID -> hostname."""
        return {n.node_id: n.hostname for n in self.nodes}


async def _stop_agent(node: SimulatedNode, attempts: int = 10) -> None:
    """`agent.stop()`, asked again each second while it has not ended: on
    Python 3.11 an `asyncio.wait_for` in the agent's loops swallows a
    cancellation that arrives as its call is answered (fixed in 3.12), and
    that loop goes on."""
    stops = [asyncio.ensure_future(node.agent.stop())]
    for _ in range(attempts):
        done, _ = await asyncio.wait(stops, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        if done:
            await asyncio.gather(*stops, return_exceptions=True)
            return
        stops.append(asyncio.ensure_future(node.agent.stop()))
    raise TimeoutError(f"the session of {node.hostname} did not end")


def _simulated_load(running_tasks: int) -> dict[str, int]:
    """A simulated node uses nothing but its task count (not the host's load,
    which every simulated node would report alike)."""
    return {"RunningTasks": running_tasks, "NanoCPUsUsed": 0, "MemoryBytesUsed": 0}
