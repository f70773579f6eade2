"""The dispatcher: every node's session with the leader.

Nodes register their description and then heartbeat; the dispatcher keeps the
node objects' status in the store: `ready` while heartbeats arrive, `down`
after about three missed periods. After a leader change nothing is known of
the sessions, so nodes are `unknown` until they report again, with a double
grace period before `down`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from swarmkit_py.errors import SwarmError
from swarmkit_py.model import Node, NodeDescription, NodeLoad, NodeSpec, NodeStatus, Role
from swarmkit_py.pki import ANY_NODE, CallContext, Method, NodeRole
from swarmkit_py.pki.rpc import Params
from swarmkit_py.store import ClusterStore, Txn
from swarmkit_py.tasks import cancel_and_wait

log = logging.getLogger(__name__)

REGISTER = "Dispatcher.Register"
HEARTBEAT = "Dispatcher.Heartbeat"
#: Missed periods before a node is down.
GRACE_PERIODS = 3


@dataclass
class Session:
    session_id: str
    last_seen: float


class Dispatcher:
    def __init__(
        self,
        store: ClusterStore,
        propose: Callable[[Txn], Any],
        is_leader: Callable[[], bool],
        leader_address: Callable[[], str | None],
        manager_addresses: Callable[[], list[str]],
        raft_id_for: Callable[[str], int],
    ) -> None:
        self._store = store
        self._propose = propose
        self._is_leader = is_leader
        self._leader_address = leader_address
        self._managers = manager_addresses
        self._raft_id_for = raft_id_for
        self._sessions: dict[str, Session] = {}
        self._leading_since: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def heartbeat_period(self) -> float:
        cluster = self._store.cluster()
        if cluster is None:
            return 5.0
        return cluster.spec.dispatcher.heartbeat_period / 1e9

    def methods(self) -> dict[str, Method]:
        return {
            REGISTER: Method(self._register, ANY_NODE),
            HEARTBEAT: Method(self._heartbeat, ANY_NODE),
        }

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def _answer(self, node_id: str) -> Params:
        node = self._store.get_node(node_id)
        return {
            "heartbeat_period": self.heartbeat_period,
            "managers": self._managers(),
            "role": node.spec.role if node else None,
        }

    def _redirect(self) -> Params | None:
        if self._is_leader():
            return None
        return {"redirect": self._leader_address() or ""}

    async def _register(self, context: CallContext, params: Params) -> Params:
        redirect = self._redirect()
        if redirect is not None:
            return redirect
        assert context.peer is not None
        node_id = context.peer.node_id
        description = NodeDescription.from_api(params.get("description") or {})
        addr = str(params.get("addr") or "")
        ip = addr.rpartition(":")[0] or (context.peer_address or ("",))[0]
        role: Role = "manager" if context.peer.role == NodeRole.MANAGER else "worker"
        node = self._store.get_node(node_id)
        if node is None:
            node = Node(
                id=node_id,
                spec=NodeSpec(role=role),
                description=description,
                status=NodeStatus(state="ready", addr=ip),
                raft_id=self._raft_id_for(addr) if role == "manager" else 0,
            )
            await self._propose(Txn().create("nodes", node))
        else:
            updated = node.copy()
            updated.description = description
            updated.status = NodeStatus(state="ready", addr=ip)
            if role == "manager" and not updated.raft_id:
                updated.raft_id = self._raft_id_for(addr)
            await self._write(updated, node.version.index)
        session = Session(secrets.token_hex(8), time.monotonic())
        self._sessions[node_id] = session
        answer = self._answer(node_id)
        answer["session_id"] = session.session_id
        return answer

    async def _heartbeat(self, context: CallContext, params: Params) -> Params:
        redirect = self._redirect()
        if redirect is not None:
            return redirect
        assert context.peer is not None
        node_id = context.peer.node_id
        session = self._sessions.get(node_id)
        if session is None or session.session_id != params.get("session_id"):
            raise _SessionInvalid()
        session.last_seen = time.monotonic()
        node = self._store.get_node(node_id)
        if node is not None:
            load = NodeLoad.from_api(params.get("load") or {})
            changed = node.status.state != "ready" or _load_moved(node.load, load)
            if changed:
                updated = node.copy()
                updated.status = NodeStatus(state="ready", addr=node.status.addr)
                updated.load = load
                await self._write(updated, node.version.index)
        return self._answer(node_id)

    async def _write(self, node: Node, version: int) -> None:
        try:
            await self._propose(Txn().update("nodes", node, version))
        except SwarmError as e:
            # A concurrent update won: the next heartbeat writes again.
            log.debug("node %s status not written: %s", node.id, e)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.heartbeat_period / 2))
            if not self._is_leader():
                self._leading_since = None
                self._sessions.clear()
                continue
            now = time.monotonic()
            if self._leading_since is None:
                self._leading_since = now
                await self._mark_all(
                    "ready", "unknown", "heartbeat not yet received by the new leader"
                )
            grace = GRACE_PERIODS * self.heartbeat_period
            for node in self._store.list_nodes():
                if node.status.state == "down":
                    continue
                session = self._sessions.get(node.id)
                if session is not None:
                    silent = now - session.last_seen > grace
                else:
                    silent = now - self._leading_since > 2 * grace
                if silent:
                    updated = node.copy()
                    updated.status = NodeStatus(
                        state="down", message="heartbeat failure", addr=node.status.addr
                    )
                    self._sessions.pop(node.id, None)
                    await self._write(updated, node.version.index)

    async def _mark_all(self, before: str, after: str, message: str) -> None:
        txn = Txn()
        for node in self._store.list_nodes():
            if node.status.state == before and node.id not in self._sessions:
                updated = node.copy()
                updated.status = NodeStatus(state=after, message=message, addr=node.status.addr)  # type: ignore[arg-type]
                txn.update("nodes", updated, node.version.index)
        if txn.ops:
            try:
                await self._propose(txn)
            except SwarmError as e:
                log.debug("marking nodes %s failed: %s", after, e)


class _SessionInvalid(SwarmError):
    def __init__(self) -> None:
        super().__init__("session invalid: register again")


def _load_moved(old: NodeLoad, new: NodeLoad) -> bool:
    if old.running_tasks != new.running_tasks:
        return True
    cpu = abs(old.nano_cpus_used - new.nano_cpus_used) > 50_000_000
    mem = abs(old.memory_bytes_used - new.memory_bytes_used) > 64 * 1024 * 1024
    return cpu or mem
