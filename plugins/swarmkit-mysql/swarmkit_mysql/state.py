"""The applied cluster state as plain tables (``nodes``, ``services``,
``tasks``, ``state_info``), written behind the event loop's back.

``reset`` and ``apply`` only record what changed (the latest version of each
object, so a sink that cannot write keeps at most one entry per object). A
thread writes what is recorded in one transaction at a time, at most every
``interval`` seconds, and keeps trying while the server is away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from pymysql.cursors import Cursor

from swarmkit_py.storage import NodeLive, StateChange, StorageUnavailable

from .config import MySQLConfig
from .connection import WARNING_INTERVAL, Connection, Link
from .rows import (
    NODE_COLUMNS,
    SERVICE_COLUMNS,
    TASK_COLUMNS,
    live_row,
    node_row,
    service_name,
    service_row,
    task_row,
)
from .schema import Tables, ensure_schema

log = logging.getLogger("swarmkit_mysql")

FLUSH_INTERVAL = 0.1
CLOSE_TIMEOUT = 5.0
#: After an error that a new connection does not cure (a table dropped, a
#: permission revoked), how long to wait before trying again.
ERROR_RETRY_DELAY = 5.0
_DELETE_BATCH = 500
Key = tuple[str, str]


@dataclass
class _Batch:
    """What one transaction writes: everything recorded when it was taken."""

    seq: int
    index: int
    reset_generation: int | None
    changes: dict[Key, StateChange]
    live_updates: dict[str, NodeLive]
    live: dict[str, NodeLive] = field(default_factory=dict)
    service_names: dict[str, str] = field(default_factory=dict)


def _upsert(table: str, columns: tuple[str, ...], keep_if_null: Iterable[str] = ()) -> str:
    """``INSERT ... ON DUPLICATE KEY UPDATE`` of every column but the ID;
    ``keep_if_null`` columns keep their value when the new one is NULL."""
    updates = ", ".join(
        f"{c} = COALESCE(VALUES({c}), {c})" if c in keep_if_null else f"{c} = VALUES({c})"
        for c in columns[1:]
    )
    placeholders = ", ".join(["%s"] * len(columns))
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON DUPLICATE KEY UPDATE {updates}"
    )


class MySQLStateSink:
    """Mirrors the manager ``node_id``'s applied state into the tables of
    ``config``'s prefix (a ``StateSink``). ``reset``, ``apply`` and ``flush``
    are safe to call from the event loop; ``flush`` and ``close`` wait."""

    def __init__(
        self, config: MySQLConfig, node_id: str, *, interval: float = FLUSH_INTERVAL
    ) -> None:
        self.config = config
        self.node_id = node_id
        self.interval = interval
        self._tables = Tables.of(config.prefix)
        self._cond = threading.Condition()
        # Everything below is guarded by _cond.
        self._changes: dict[Key, StateChange] = {}
        self._live_updates: dict[str, NodeLive] = {}
        self._live: dict[str, NodeLive] = {}
        self._service_names: dict[str, str] = {}
        self._index = 0
        self._reset_generation = 0
        self._reset_pending = False
        self._queued = 0
        self._written = 0
        self._hurry = False
        self._closing = False
        self._stop = threading.Event()
        self._link = Link(config, f"cluster state of node {node_id}", on_connect=self._prepare)
        self._statements = {
            "node": _upsert(self._tables.nodes, NODE_COLUMNS, keep_if_null=["last_heartbeat"]),
            "service": _upsert(self._tables.services, SERVICE_COLUMNS),
            "task": _upsert(self._tables.tasks, TASK_COLUMNS),
        }
        self._thread = threading.Thread(
            target=self._run, name=f"swarmkit-mysql-state-{node_id}", daemon=True
        )
        self._thread.start()

    # -- StateSink -----------------------------------------------------------

    def reset(self, index: int, objects: list[StateChange], live: dict[str, NodeLive]) -> None:
        with self._cond:
            self._changes = {(c.kind, c.id): c for c in objects}
            self._service_names = {
                c.id: service_name(c.obj) for c in objects if c.kind == "service" and c.obj
            }
            self._live = dict(live)
            self._live_updates = {}
            self._reset_generation += 1
            self._reset_pending = True
            self._queued_up(index)

    def apply(self, index: int, changes: list[StateChange], live: dict[str, NodeLive]) -> None:
        with self._cond:
            for change in changes:
                self._changes[(change.kind, change.id)] = change
                if change.kind == "service":
                    if change.obj is None:
                        self._service_names.pop(change.id, None)
                    else:
                        self._service_names[change.id] = service_name(change.obj)
                elif change.kind == "node" and change.obj is None:
                    self._live.pop(change.id, None)
                    self._live_updates.pop(change.id, None)
            for node_id, value in live.items():
                known = self._live.get(node_id)
                if value.last_heartbeat is None and known is not None:
                    # A manager that is not the leader hears no heartbeats:
                    # the last one known stays (a reset starts afresh).
                    value = value._replace(last_heartbeat=known.last_heartbeat)
                self._live[node_id] = self._live_updates[node_id] = value
            self._queued_up(index)

    @property
    def backlog(self) -> int:
        """Objects and node live values recorded but not written yet."""
        with self._cond:
            return len(self._changes) + len(self._live_updates)

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until everything recorded so far is written; ``False`` if
        that took longer than ``timeout`` seconds."""
        with self._cond:
            target = self._queued
            self._hurry = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._written >= target, timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Writes what is recorded (waiting at most ``timeout`` seconds) and
        stops the writer thread."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        if not self.flush(timeout):
            log.warning(
                "cluster state of node %s: %s was not reachable for the last writes; "
                "the tables will catch up when this manager starts again",
                self.node_id,
                self.config.label,
            )
        self._stop.set()
        self._link.abort()
        self._thread.join(timeout=2.0)
        self._link.close()

    # -- the writer thread ---------------------------------------------------

    def _queued_up(self, index: int) -> None:
        self._index = index
        self._queued += 1
        self._cond.notify_all()

    def _run(self) -> None:
        last_error = 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queued > self._written or self._closing)
                if self._stop.is_set() or (self._closing and self._queued == self._written):
                    return
                self._hurry = False
            try:
                batch = self._link.call(self._write, "writing the cluster state", stop=self._stop)
            except Exception as e:  # the writer must outlive any one failure
                if self._stop.is_set():
                    return
                now = time.monotonic()
                if now - last_error >= WARNING_INTERVAL:
                    last_error = now
                    text = str(e) if isinstance(e, StorageUnavailable) else repr(e)
                    log.error("cluster state of node %s: %s", self.node_id, text)
                self._stop.wait(ERROR_RETRY_DELAY)
                continue
            with self._cond:
                self._written_up(batch)
                # Coalesce: what arrives meanwhile goes into the next transaction.
                self._cond.wait_for(lambda: self._closing or self._hurry, self.interval)

    def _take(self) -> _Batch:
        with self._cond:
            batch = _Batch(
                seq=self._queued,
                index=self._index,
                reset_generation=self._reset_generation if self._reset_pending else None,
                changes=dict(self._changes),
                live_updates=dict(self._live_updates),
            )
            for kind, object_id in batch.changes:
                if kind == "node" and object_id in self._live:
                    batch.live[object_id] = self._live[object_id]
            for change in batch.changes.values():
                if change.kind == "task" and change.obj is not None:
                    service_id = str(change.obj.get("ServiceID") or "")
                    if service_id in self._service_names:
                        batch.service_names[service_id] = self._service_names[service_id]
            return batch

    def _written_up(self, batch: _Batch) -> None:
        # Only what is unchanged since the batch was taken is done with.
        for key, change in batch.changes.items():
            if self._changes.get(key) is change:
                del self._changes[key]
        for node_id, live in batch.live_updates.items():
            if self._live_updates.get(node_id) is live:
                del self._live_updates[node_id]
        if batch.reset_generation == self._reset_generation:
            self._reset_pending = False
        self._written = max(self._written, batch.seq)
        self._cond.notify_all()

    def _prepare(self, conn: Connection) -> None:
        ensure_schema(conn, self.config)

    def _write(self, conn: Connection, attempt: int) -> _Batch:
        """One transaction with the latest of everything (taken afresh on
        every attempt, so a sink that was cut off catches up in one go)."""
        batch = self._take()
        t = self._tables
        tables = {"node": t.nodes, "service": t.services, "task": t.tasks}
        rows: dict[str, list[tuple[object, ...]]] = {"node": [], "service": [], "task": []}
        gone: dict[str, list[str]] = {"node": [], "service": [], "task": []}
        for (kind, object_id), change in batch.changes.items():
            if change.obj is None:
                gone[kind].append(object_id)
            elif kind == "node":
                rows[kind].append(node_row(change.obj, batch.live.get(object_id)))
            elif kind == "service":
                rows[kind].append(service_row(change.obj))
            else:
                rows[kind].append(task_row(change.obj, batch.service_names))
        with conn.cursor() as cur:
            if batch.reset_generation is not None:
                for table in tables.values():
                    cur.execute(f"DELETE FROM {table}")
            for kind, table in tables.items():
                _delete(cur, table, gone[kind])
            for kind in ("service", "node", "task"):
                if rows[kind]:
                    cur.executemany(self._statements[kind], rows[kind])
            live_only = [
                live_row(node_id, live)
                for node_id, live in batch.live_updates.items()
                if ("node", node_id) not in batch.changes
            ]
            if live_only:
                cur.executemany(
                    f"UPDATE {t.nodes} SET leader = %s, reachability = %s, running_tasks = %s, "
                    "last_heartbeat = COALESCE(%s, last_heartbeat) WHERE id = %s",
                    live_only,
                )
            cur.execute(
                f"INSERT INTO {t.state_info} (id, node_id, applied_index, updated_at) "
                "VALUES (1, %s, %s, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE "
                "node_id = VALUES(node_id), applied_index = VALUES(applied_index), "
                "updated_at = VALUES(updated_at)",
                (self.node_id, batch.index),
            )
        conn.commit()
        return batch


def _delete(cur: Cursor, table: str, ids: list[str]) -> None:
    for start in range(0, len(ids), _DELETE_BATCH):
        part = ids[start : start + _DELETE_BATCH]
        cur.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(part))})", part)
