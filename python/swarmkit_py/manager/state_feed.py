"""Feeds a storage backend's :class:`StateSink` with the cluster state as this
manager applies it: the objects (Engine API form) and, per node, what the
store does not hold -- leadership, reachability, running task count and the
last heartbeat the leader received."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from swarmkit_py.model import Node
from swarmkit_py.raft import RaftNode
from swarmkit_py.storage import NodeLive, StateChange, StateSink
from swarmkit_py.store import Change, ClusterStore

from .members import reachability

log = logging.getLogger(__name__)

_KINDS: dict[str, Any] = {"nodes": "node", "services": "service", "tasks": "task"}
#: How often leadership, reachability and heartbeats are looked at again.
REFRESH_SECONDS = 1.0
#: A newer heartbeat time is passed on only after this many seconds (a write
#: per heartbeat of every node would be needless load on the backend).
HEARTBEAT_RESOLUTION = 5.0


class StateFeed:
    """Keeps one :class:`StateSink` in step with the store of one manager."""

    def __init__(
        self,
        store: ClusterStore,
        sink: StateSink,
        raft: RaftNode,
        heartbeats: Callable[[], dict[str, float]],
    ) -> None:
        """`heartbeats()` gives the Unix time of each node's last heartbeat (on the leader)."""
        self._store = store
        self._sink = sink
        self._raft = raft
        self._heartbeats = heartbeats
        self._running_on: dict[str, str] = {}  # running task ID -> node ID
        self._counts: dict[str, int] = {}
        self._sent: dict[str, NodeLive] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reset()
        self._store.add_listener(self._on_changes)
        self._task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        self._store.remove_listener(self._on_changes)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.get_running_loop().run_in_executor(None, self._sink.close)

    # -- store changes -------------------------------------------------------

    def _reset(self) -> None:
        self._running_on.clear()
        self._counts.clear()
        objects: list[StateChange] = []
        for node in self._store.list_nodes():
            objects.append(StateChange("node", node.id, node.to_api()))
        for service in self._store.list_services():
            objects.append(StateChange("service", service["ID"], service))
        for task in self._store.list_tasks():
            objects.append(StateChange("task", task["ID"], task))
            self._count(task["ID"], task)
        self._sent = self._live(n.id for n in self._store.list_nodes())
        self._sink.reset(self._store.applied_index, objects, dict(self._sent))

    def _on_changes(self, changes: list[Change]) -> None:
        if any(c.table == "*" for c in changes):
            self._reset()
            return
        out: list[StateChange] = []
        touched: set[str] = set()
        for c in changes:
            kind = _KINDS.get(c.table)
            if kind is None:
                continue
            after = c.after
            if isinstance(after, Node):
                after = after.to_api()
                touched.add(c.id)
            elif kind == "node":
                touched.add(c.id)
                self._sent.pop(c.id, None)
            elif kind == "task":
                touched.update(self._count(c.id, after))
            out.append(StateChange(kind, c.id, after))
        live = self._changed_live(touched)
        if out or live:
            self._sink.apply(self._store.applied_index, out, live)

    def _count(self, task_id: str, task: dict[str, Any] | None) -> set[str]:
        """Follows which node each running task is on; returns the nodes whose count moved."""
        now = ""
        if task is not None and (task.get("Status") or {}).get("State") == "running":
            now = str(task.get("NodeID") or "")
        was = self._running_on.pop(task_id, "")
        if now:
            self._running_on[task_id] = now
        if was == now:
            return set()
        for node_id, step in ((was, -1), (now, 1)):
            if node_id:
                self._counts[node_id] = self._counts.get(node_id, 0) + step
        return {n for n in (was, now) if n}

    # -- live values ---------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                live = self._changed_live(n.id for n in self._store.iter_nodes())
                if live:
                    self._sink.apply(self._store.applied_index, [], live)
            except Exception:  # the feed must never take the manager down
                log.exception("refreshing the storage's node state failed")

    def _changed_live(self, node_ids: Iterable[str]) -> dict[str, NodeLive]:
        changed = {}
        for node_id, now in self._live(node_ids).items():
            before = self._sent.get(node_id)
            if before is None or _differs(before, now):
                changed[node_id] = now
                self._sent[node_id] = now
        return changed

    def _live(self, node_ids: Iterable[str]) -> dict[str, NodeLive]:
        raft = self._raft
        beats = self._heartbeats() if raft.is_leader else {}
        out = {}
        for node_id in node_ids:
            node = self._store.get_node(node_id)
            if node is None:
                continue
            state = ""
            if node.raft_id:
                state = str(reachability(raft, node.raft_id)["reachability"])
            out[node_id] = NodeLive(
                leader=bool(node.raft_id) and node.raft_id == raft.leader_id,
                reachability=state,
                running_tasks=self._counts.get(node_id, 0),
                last_heartbeat=beats.get(node_id),
            )
        return out


def _differs(before: NodeLive, now: NodeLive) -> bool:
    if before[:3] != now[:3]:
        return True
    if (before.last_heartbeat is None) != (now.last_heartbeat is None):
        return now.last_heartbeat is not None
    if before.last_heartbeat is None or now.last_heartbeat is None:
        return False
    return now.last_heartbeat - before.last_heartbeat >= HEARTBEAT_RESOLUTION
