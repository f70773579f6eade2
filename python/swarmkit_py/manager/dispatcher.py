"""The dispatcher: every node's session with the leader.

Nodes register their description and then heartbeat; the dispatcher keeps the
node objects' status in the store: `ready` while heartbeats arrive, `down`
after about three missed periods. After a leader change nothing is known of
the sessions, so nodes are `unknown` until they report again, with a double
grace period before `down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from swarmkit_py.errors import SwarmError
from swarmkit_py.model import Node, NodeDescription, NodeLoad, NodeSpec, NodeStatus, Role
from swarmkit_py.model.node import AVAILABILITIES
from swarmkit_py.model.task import TASK_STATES, state_rank
from swarmkit_py.pki import ANY_NODE, CallContext, Method, NodeRole
from swarmkit_py.pki.rpc import Params
from swarmkit_py.store import Change, ClusterStore, Txn
from swarmkit_py.tasks import cancel_and_wait

from .logbroker import LogBroker

log = logging.getLogger(__name__)

REGISTER = "Dispatcher.Register"
HEARTBEAT = "Dispatcher.Heartbeat"
ASSIGNMENTS = "Dispatcher.Assignments"
UPDATE_TASK_STATUS = "Dispatcher.UpdateTaskStatus"
#: Task status reports from all nodes are written together this often.
STATUS_BATCH_INTERVAL = 0.05
#: Status reports written per store transaction.
STATUS_BATCH_OPS = 500
#: Tasks per assignments answer (a task is about a kilobyte; frames stop at 1 MiB).
ASSIGNMENT_PAGE = 200
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
        self._flush_task: asyncio.Task[None] | None = None
        # Assignments: a version per node, bumped when what the node must run changes.
        self._epoch = secrets.token_hex(4)
        self._versions: dict[str, int] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._statuses: dict[str, dict[str, Any]] = {}
        self._statuses_ready = asyncio.Event()
        store.add_listener(self._on_change)
        self.logs = LogBroker(
            lambda node_id: node_id in self._sessions,
            self._bump,
            lambda context, params: self._session_of(context, params)[0],
        )

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
            ASSIGNMENTS: Method(self._assignments, ANY_NODE),
            UPDATE_TASK_STATUS: Method(self._update_task_status, ANY_NODE),
            **self.logs.methods(),
        }

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._watch())
        self._flush_task = loop.create_task(self._flush_statuses())
        self.logs.start()

    async def stop(self) -> None:
        self._store.remove_listener(self._on_change)
        await cancel_and_wait(self._task)
        await cancel_and_wait(self._flush_task)
        self._task = self._flush_task = None
        await self.logs.stop()

    # -- assignments ---------------------------------------------------------

    def _on_change(self, changes: list[Change]) -> None:
        for change in changes:
            if change.table == "*":
                for node_id in list(self._changed):
                    self._bump(node_id)
            elif change.table == "tasks" and _assignment_changed(change.before, change.after):
                for obj in (change.before, change.after):
                    if isinstance(obj, dict) and obj.get("NodeID"):
                        self._bump(str(obj["NodeID"]))

    def _bump(self, node_id: str) -> None:
        self._versions[node_id] = self._versions.get(node_id, 0) + 1
        event = self._changed.get(node_id)
        if event is not None:
            event.set()

    def _version(self, node_id: str) -> str:
        return f"{self._epoch}:{self._versions.get(node_id, 0)}"

    def assigned_tasks(self, node_id: str) -> list[dict[str, Any]]:
        """Every task of the node in the store, as swarmkit sends them: the node
        keeps what a task left behind (a container, its logs) until the task
        is deleted (service removal, scale-down, history trimmed by the reaper)."""
        return self._store.list_tasks(node_id=node_id)

    def _session_of(self, context: CallContext, params: Params) -> tuple[str, Session]:
        assert context.peer is not None
        node_id = context.peer.node_id
        session = self._sessions.get(node_id)
        if session is None or session.session_id != params.get("session_id"):
            raise _SessionInvalid()
        session.last_seen = time.monotonic()  # any call of the session is a sign of life
        return node_id, session

    async def _assignments(self, context: CallContext, params: Params) -> Params:
        """Long poll: answers at once if the node's tasks changed since `known`,
        else when they change or after `wait` seconds (at most a heartbeat period)."""
        redirect = self._redirect()
        if redirect is not None:
            return redirect
        node_id, session = self._session_of(context, params)
        page = params.get("page")
        if isinstance(page, int) and page > 0:
            return self._assignment_page(node_id, page)
        if params.get("known") == self._version(node_id):
            event = self._changed.setdefault(node_id, asyncio.Event())
            event.clear()
            wait = float(params.get("wait") or self.heartbeat_period)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, self.heartbeat_period)):
                    await event.wait()
            if not self._is_leader():
                return {"redirect": self._leader_address() or ""}
            session.last_seen = time.monotonic()
            if params.get("known") == self._version(node_id):
                return {"version": self._version(node_id), "unchanged": True}
        self._changed.setdefault(node_id, asyncio.Event())
        return self._assignment_page(node_id, 0)

    def _assignment_page(self, node_id: str, page: int) -> Params:
        """One page of the node's tasks: a node with thousands of tasks gets
        them in several answers, each well under the RPC frame limit."""
        tasks = sorted(self.assigned_tasks(node_id), key=lambda t: str(t["ID"]))
        pages = max(1, -(-len(tasks) // ASSIGNMENT_PAGE))
        start = page * ASSIGNMENT_PAGE
        return {
            "version": self._version(node_id),
            "tasks": tasks[start : start + ASSIGNMENT_PAGE],
            "page": page,
            "pages": pages,
            "logs": self.logs.for_node(node_id),
        }

    async def _update_task_status(self, context: CallContext, params: Params) -> Params:
        """Queues the node's task status reports; they are written in batches."""
        redirect = self._redirect()
        if redirect is not None:
            return redirect
        node_id, _ = self._session_of(context, params)
        updates = params.get("updates")
        if not isinstance(updates, list):
            raise SwarmError("updates must be a list")
        for update in updates:
            if not isinstance(update, dict):
                continue
            task_id, status = update.get("task_id"), update.get("status")
            if not isinstance(task_id, str) or not isinstance(status, dict):
                continue
            if status.get("State") not in TASK_STATES:
                continue
            task = self._store.get_task(task_id)
            if task is None or task.get("NodeID") != node_id:
                continue  # not this node's task (any more)
            queued = self._statuses.get(task_id)
            if queued is None or state_rank(str(status["State"])) >= state_rank(
                str(queued.get("State"))
            ):
                self._statuses[task_id] = status
        if self._statuses:
            self._statuses_ready.set()
        return {}

    async def _flush_statuses(self) -> None:
        while True:
            await self._statuses_ready.wait()
            await asyncio.sleep(STATUS_BATCH_INTERVAL)
            self._statuses_ready.clear()
            batch, self._statuses = self._statuses, {}
            items = list(batch.items())
            for start in range(0, len(items), STATUS_BATCH_OPS):
                txn = Txn()
                for task_id, status in items[start : start + STATUS_BATCH_OPS]:
                    txn.patch_task(task_id, status=status)
                try:
                    await self._propose(txn)
                except SwarmError as e:
                    # Agents send their full state again when their session restarts.
                    log.info("task status reports not written: %s", e)

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
            availability = params.get("availability")
            node = Node(
                id=node_id,
                spec=NodeSpec(
                    role=role,
                    availability=availability if availability in AVAILABILITIES else "active",
                ),
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

    def heartbeat_times(self) -> dict[str, float]:
        """Unix time of the last heartbeat (or session start) of each node with a
        session on this dispatcher (the leader's)."""
        now_unix, now = time.time(), time.monotonic()
        return {node_id: now_unix - (now - s.last_seen) for node_id, s in self._sessions.items()}

    async def _heartbeat(self, context: CallContext, params: Params) -> Params:
        redirect = self._redirect()
        if redirect is not None:
            return redirect
        node_id, _ = self._session_of(context, params)
        node = self._store.get_node(node_id)
        if node is not None:
            load = NodeLoad.from_api(params.get("load") or {})
            described = params.get("description")
            description = (
                NodeDescription.from_api(described) if isinstance(described, dict) else None
            )
            redescribed = description is not None and description != node.description
            changed = node.status.state != "ready" or _load_moved(node.load, load)
            if changed or redescribed:
                updated = node.copy()
                updated.status = NodeStatus(state="ready", addr=node.status.addr)
                updated.load = load
                if description is not None:
                    updated.description = description
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
                    self.logs.node_gone(node.id)
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


def _assignment_changed(before: object, after: object) -> bool:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return True
    return any(before.get(k) != after.get(k) for k in ("DesiredState", "Spec", "NodeID"))


class _SessionInvalid(SwarmError):
    def __init__(self) -> None:
        super().__init__("session invalid: register again")


def _load_moved(old: NodeLoad, new: NodeLoad) -> bool:
    if old.running_tasks != new.running_tasks:
        return True
    cpu = abs(old.nano_cpus_used - new.nano_cpus_used) > 50_000_000
    mem = abs(old.memory_bytes_used - new.memory_bytes_used) > 64 * 1024 * 1024
    return cpu or mem
