"""A manager: the replicated cluster store on Raft, the CA, the dispatcher and
the control layer, behind one mutual-TLS listener (RPC and Raft share it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from swarmkit_py.errors import LeadershipMoved, NoLeader
from swarmkit_py.logs import LogMessage, LogOptions
from swarmkit_py.model import Cluster, Node
from swarmkit_py.pki import (
    MANAGERS_ONLY,
    ManagerServer,
    NodeCredentials,
    NodeRole,
    RpcClient,
    SwarmCA,
    authorize_peer,
    client_context,
    utc_now,
)
from swarmkit_py.pki.ca_client import connect
from swarmkit_py.plugins import Plugins
from swarmkit_py.raft import RaftConfig, RaftNode
from swarmkit_py.storage import LogBackend, StateSink
from swarmkit_py.store import Change, ClusterStore, StoreStateMachine, Txn

from . import logbroker
from .ca_store import ReplicatedCAStore
from .control import Control
from .dispatcher import Dispatcher
from .members import JOIN, LEAVE, RaftMembers, leader_address, manager_addresses
from .orchestration import Orchestrator
from .orchestration.scheduling import PlacementPlugins
from .proposer import Proposer, error_from_wire
from .rpc_pool import RpcPool
from .services import ServiceControl
from .state_feed import StateFeed

log = logging.getLogger(__name__)


@dataclass
class ManagerConfig:
    data_dir: Path
    listen_addr: str
    advertise_addr: str
    raft_id: int
    #: Create a new one-manager group (swarm init); else wait to be added.
    bootstrap: bool = False
    tick_interval: float = 1.0
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    #: The scheduler and the rest of the installed plugins (None: the built-ins).
    plugins: Plugins | None = None
    scheduler: str = "spread"
    #: The Raft log from the storage backend (None: the file WAL in data_dir/raft).
    log_backend: LogBackend | None = None
    #: Where the storage backend mirrors the applied state, if anywhere.
    state_sink: StateSink | None = None


class Manager:
    def __init__(self, config: ManagerConfig, credentials: NodeCredentials) -> None:
        self.config = config
        self.credentials = credentials
        self.identity = credentials.identity
        self.store = ClusterStore()
        self.state_machine = StoreStateMachine(self.store)
        peers = {config.raft_id: config.advertise_addr} if config.bootstrap else None
        raft_config = RaftConfig(
            node_id=config.raft_id,
            listen_addr=config.advertise_addr,
            data_dir=config.data_dir / "raft",
            peers=peers,
            tick_interval=config.tick_interval,
            election_ticks=config.election_ticks,
            heartbeat_ticks=config.heartbeat_ticks,
        )
        self.raft = RaftNode(
            raft_config,
            self.state_machine,
            client_ssl=client_context(credentials.root_bundle_pem, credentials),
            tls_server_name=str(NodeRole.MANAGER),
            listen=False,
            log_backend=config.log_backend,
        )
        self.pool = RpcPool(lambda: self.credentials)
        self.proposer = Proposer(
            self.raft, self.state_machine, lambda: leader_address(self.raft), self.pool
        )
        self.ca_store = ReplicatedCAStore(
            cluster_id=self._cluster_id,
            read=lambda key: self.store.get_meta(key),
            write=self._write_meta,
            is_removed=self.store.is_removed,
            list_meta=self._list_meta,
            fallback_root_pem=credentials.root_bundle_pem,
        )
        self.ca = SwarmCA(self.ca_store, check_signing_key=False)
        self.store.add_listener(self._on_store_change)
        self.members = RaftMembers(self.raft, self.store, lambda: self._running)
        self.dispatcher = Dispatcher(
            self.store,
            self.propose,
            lambda: self.raft.is_leader,
            lambda: leader_address(self.raft),
            lambda: manager_addresses(self.raft),
            self._raft_id_for,
        )
        self.state_feed = (
            StateFeed(self.store, config.state_sink, self.raft, self.dispatcher.heartbeat_times)
            if config.state_sink is not None
            else None
        )
        self.control = Control(self)
        self.services = ServiceControl(self)
        self.plugins = config.plugins or Plugins(load_entry_points=False)
        scheduler = self.plugins.choose("scheduler", config.scheduler)
        self.orchestrator = Orchestrator(
            self.store,
            self.propose,
            lambda: self.raft.is_leader,
            schedule=scheduler.schedule,
            placement=PlacementPlugins.from_plugins(self.plugins),
        )
        # Only with observers: node objects would be converted for each change,
        # heartbeat load writes included.
        self._observe_tasks = self.plugins.observes("task_changed")
        self._observe_nodes = self.plugins.observes("node_changed")
        if self._observe_tasks or self._observe_nodes:
            self.store.add_listener(self._notify_plugins)
        methods = {}
        methods.update(self.proposer.methods())
        methods.update(self.dispatcher.methods())
        methods.update(self.members.methods())
        self.server = ManagerServer(
            self.ca, credentials, extra_methods=methods, raw_stream=self._raft_stream
        )
        self._running = False

    def _on_store_change(self, changes: list[Change]) -> None:
        """The CA follows the cluster's certificate policy (`--cert-expiry`)."""
        if any(c.table in ("clusters", "*") for c in changes):
            cluster = self.store.cluster()
            if cluster is not None:
                expiry = cluster.spec.ca_config.node_cert_expiry
                self.ca.node_cert_validity = timedelta(microseconds=expiry // 1000)

    def _notify_plugins(self, changes: list[Change]) -> None:
        """Task and node observers (on the leader, which decides what happens)."""
        if not self.raft.is_leader:
            return
        for change in changes:
            if change.table == "tasks" and self._observe_tasks and isinstance(change.after, dict):
                previous = change.before if isinstance(change.before, dict) else None
                self.plugins.notify("task_changed", task=change.after, previous=previous)
            elif change.table == "nodes" and self._observe_nodes and isinstance(change.after, Node):
                before = change.before.to_api() if isinstance(change.before, Node) else None
                self.plugins.notify("node_changed", node=change.after.to_api(), previous=before)

    def _raft_id_for(self, address: str) -> int:
        for member in self.raft.members.values():
            if member.address == address:
                return member.node_id
        return 0

    def _cluster_id(self) -> str:
        cluster = self.store.cluster()
        return cluster.id if cluster is not None else self.identity.cluster_id

    def _list_meta(self, prefix: str) -> list[Any]:
        return [self.store.get_meta(k) for k in self.store.meta_keys() if k.startswith(prefix)]

    async def _write_meta(self, values: dict[str, Any], removed: str | None) -> None:
        txn = Txn()
        for key, value in values.items():
            if value is None:
                txn.delete_meta(key)
            else:
                txn.put_meta(key, value)
        if removed:
            txn.mark_removed(removed)
        await self.propose(txn)

    async def _raft_stream(
        self,
        initial: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        certificate: x509.Certificate | None,
    ) -> None:
        try:
            # Our own certificate names the cluster: this works before the
            # replicated state has arrived (a manager that is joining).
            authorize_peer(
                certificate,
                MANAGERS_ONLY,
                cluster_id=self.identity.cluster_id,
                is_removed=self.store.is_removed,
                now=utc_now(),
            )
        except Exception as e:
            log.warning("refused a raft connection: %s", e)
            writer.transport.abort()
            return
        await self.raft.serve_raft_stream(initial, reader, writer)

    async def start(self) -> None:
        host, _, port = self.config.listen_addr.rpartition(":")
        await self.raft.start()
        await self.server.start(host.strip("[]"), int(port))
        self._running = True
        if self.state_feed is not None:
            self.state_feed.start()
        self.dispatcher.start()
        self.members.start()
        self.orchestrator.start()

    async def stop(self) -> None:
        self._running = False
        await self.orchestrator.stop()
        if self.state_feed is not None:
            await self.state_feed.stop()
        await self.dispatcher.stop()
        await self.members.stop()
        await self.server.close()
        await self.pool.close()
        await self.raft.stop()

    async def propose(self, txn: Txn) -> int:
        return await self.proposer.propose(txn)

    async def initialize(self, cluster: Cluster, ca_meta: dict[str, Any], node: Node) -> None:
        """`swarm init`: the first entries of a new swarm."""
        await self.raft.wait_for_leader(timeout=30)
        txn = Txn().create("clusters", cluster).create("nodes", node)
        for key, value in ca_meta.items():
            if value is not None:
                txn.put_meta(key, value)
        await self.propose(txn)

    async def remove_raft_member(self, raft_id: int, force: bool = False) -> None:
        """Removes a manager from Raft through the leader (quorum rules apply).
        A leader that removes itself hands leadership over first."""
        for _ in range(3):
            if self.raft.is_leader:
                try:
                    await self.members.remove(raft_id, force)
                    return
                except (NoLeader, LeadershipMoved):
                    await self._wait_new_leader(previous=self.config.advertise_addr)
                    continue
            leader = self.leader_address()
            if leader is None:
                raise NoLeader()
            answer = await self.pool.call(leader, LEAVE, {"raft_id": raft_id, "force": force})
            error = error_from_wire(answer)
            if error is None:
                return
            if not isinstance(error, NoLeader | LeadershipMoved):
                raise error
            await self._wait_new_leader(previous=leader)
        raise NoLeader()

    async def _wait_new_leader(self, previous: str | None = None, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            current = self.leader_address()
            if current is not None and current != previous:
                return
            await asyncio.sleep(0.1)

    def set_credentials(self, credentials: NodeCredentials) -> None:
        """New credentials (renewal, root rotation) for new connections."""
        self.credentials = credentials
        self.server.set_credentials(credentials)
        self.raft.set_client_ssl(client_context(credentials.root_bundle_pem, credentials))

    def leader_address(self) -> str | None:
        return leader_address(self.raft)

    def logs(self, tasks: dict[str, list[str]], options: LogOptions) -> AsyncIterator[LogMessage]:
        """The logs of `tasks` (node ID -> task IDs), through the leader's broker
        (on a connection of their own when the leader is another manager)."""
        broker = self.dispatcher.logs
        remote: list[RpcClient] = []

        async def subscribe() -> str:
            if self.raft.is_leader:
                return broker.subscribe(tasks, options)
            leader = self.leader_address()
            if leader is None:
                raise NoLeader()
            host, _, port = leader.rpartition(":")
            remote.append(await connect((host, int(port)), self.credentials))
            answer = await remote[0].call(
                logbroker.SUBSCRIBE, {"tasks": tasks, "options": options.to_wire()}
            )
            return str(answer["id"])

        async def read(sub_id: str, wait: float) -> tuple[list[list[Any]], bool]:
            if not remote:
                return await broker.read(sub_id, wait)
            answer = await remote[0].call(logbroker.READ, {"id": sub_id, "wait": wait})
            return list(answer.get("messages") or []), bool(answer.get("done"))

        async def close(sub_id: str) -> None:
            if not remote:
                broker.close(sub_id)
                return
            try:
                await remote[0].call(logbroker.CLOSE, {"id": sub_id})
            finally:
                await remote[0].close()

        return logbroker.stream(subscribe, read, close)

    def manager_addresses(self) -> list[str]:
        return manager_addresses(self.raft)


async def join_raft(pool: RpcPool, remote: str, advertise_addr: str) -> int:
    """Asks the leader (found through the manager at `remote`) to add a manager
    at `advertise_addr` to Raft as a learner; returns its new Raft ID."""
    address = remote
    for _ in range(20):
        answer = await pool.call(address, JOIN, {"addr": advertise_addr})
        if "raft_id" in answer:
            return int(answer["raft_id"])
        address = str(answer.get("redirect") or remote)
        await asyncio.sleep(0.25)
    raise NoLeader("could not reach the leader to join raft")
