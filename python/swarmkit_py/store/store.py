"""The cluster state every manager holds, applied only from committed Raft entries.

Objects read from the store are the stored objects themselves, shared with
every reader: treat them as read-only and ``copy()`` (or ``deep_copy``) one
before changing it for an update.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import msgpack

from ..errors import FailedPrecondition, InvalidArgument, NameConflict, NotFound, OutOfSequence
from ..model import Cluster, Node, Version, deep_copy
from ..model.task import state_rank
from . import query
from .snapshot import decode_snapshot, encode_snapshot
from .txn import (
    TABLES,
    Create,
    Delete,
    DeleteMeta,
    MarkRemoved,
    Op,
    PatchTask,
    PutMeta,
    StoredObject,
    Table,
    Txn,
    Update,
    object_id,
)

log = logging.getLogger(__name__)

ChangeKind = Literal["created", "updated", "deleted", "reset"]
_SINGULAR = {"nodes": "node", "clusters": "cluster", "services": "service", "tasks": "task"}
_ABSENT: Any = object()


@dataclass(frozen=True)
class Change:
    """One effect of an applied transaction.

    ``table`` is a table name, ``"meta"`` (``id`` is the key, before/after the
    values), ``"removed"`` (``id`` is the node ID) or ``"*"`` for a ``reset``
    (the whole state was replaced by a snapshot).
    """

    table: str
    kind: ChangeKind
    id: str = ""
    before: Any = None
    after: Any = None


Listener = Callable[[list[Change]], None]


def object_version(obj: StoredObject) -> int:
    if isinstance(obj, Node | Cluster):
        return obj.version.index
    version = obj.get("Version")
    index = version.get("Index") if isinstance(version, Mapping) else None
    return index if isinstance(index, int) else 0


def _created_at(obj: StoredObject) -> str:
    if isinstance(obj, Node | Cluster):
        return obj.created_at
    value = obj.get("CreatedAt")
    return value if isinstance(value, str) else ""


def _stamp(obj: StoredObject, index: int, created_at: str, updated_at: str) -> None:
    if isinstance(obj, Node | Cluster):
        obj.version = Version(index)
        obj.created_at, obj.updated_at = created_at, updated_at
    else:
        obj["Version"] = {"Index": index}
        obj["CreatedAt"], obj["UpdatedAt"] = created_at, updated_at


def _spec_name(obj: StoredObject | None) -> str:
    if not isinstance(obj, dict):
        return ""
    spec = obj.get("Spec")
    name = spec.get("Name") if isinstance(spec, Mapping) else None
    return name if isinstance(name, str) else ""


def _ref(obj: StoredObject | None, key: str) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def normalize_meta_value(value: Any) -> Any:
    """``value`` as every manager will see it after msgpack (tuples become lists)."""
    try:
        return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgument(f"a meta value must be msgpack-able: {exc}") from None


class _Staging:
    """The effects of a transaction being validated, over the unchanged store."""

    def __init__(self, store: ClusterStore) -> None:
        self.store = store
        self.objects: dict[tuple[Table, str], StoredObject | None] = {}
        self.service_names: dict[str, str | None] = {}
        self.meta: dict[str, Any] = {}
        self.removed: set[str] = set()

    def get(self, table: Table, obj_id: str) -> StoredObject | None:
        key = (table, obj_id)
        if key in self.objects:
            return self.objects[key]
        return self.store._tables[table].get(obj_id)

    def service_name_owner(self, name: str) -> str | None:
        if name in self.service_names:
            return self.service_names[name]
        return self.store._service_names.get(name)

    def meta_value(self, key: str) -> Any:
        if key in self.meta:
            return self.meta[key]
        return self.store._meta.get(key, _ABSENT)

    def is_removed(self, node_id: str) -> bool:
        return node_id in self.removed or node_id in self.store._removed


class ClusterStore:
    """Tables of nodes, clusters, services and tasks, a ``meta`` key/value table
    and the set of removed node IDs; changed only by :meth:`apply`."""

    def __init__(self) -> None:
        self._tables: dict[Table, dict[str, Any]] = {t: {} for t in TABLES}
        self._meta: dict[str, Any] = {}
        self._removed: set[str] = set()
        self._listeners: list[Listener] = []
        self._applied_index = 0
        self._rebuild_indexes()

    # -- applying -------------------------------------------------------------

    @property
    def applied_index(self) -> int:
        """The Raft index of the last entry applied (or skipped)."""
        return self._applied_index

    def note_applied(self, index: int) -> None:
        """Records that entry ``index`` was consumed without changing anything."""
        self._applied_index = max(self._applied_index, index)

    def apply(self, index: int, txn: Txn, *, owned: bool = False) -> list[Change]:
        """Applies ``txn`` as the entry at Raft ``index``: all of it or nothing.

        Every written object gets ``Version.Index = index``, ``UpdatedAt =
        txn.time`` (and ``CreatedAt`` on create). Raises the first op's error
        (NameConflict, NotFound, OutOfSequence, FailedPrecondition,
        InvalidArgument) with the store unchanged. ``owned=True`` lets the store
        keep the txn's objects instead of copying them (the caller drops them).
        """
        if index <= self._applied_index:
            raise ValueError(f"entry {index} is not after the last applied entry")
        stage = _Staging(self)
        changes: list[Change] = []
        for op in txn.ops:
            self._stage(op, index, txn.time, stage, changes, owned)
        self._commit(stage)
        self._applied_index = index
        self._notify(changes)
        return changes

    def _stage(
        self, op: Op, index: int, time: str, stage: _Staging, changes: list[Change], owned: bool
    ) -> None:
        if isinstance(op, Create | Update):
            table, obj = op.table, op.obj if owned else deep_copy(op.obj)
            obj_id = object_id(obj)
            current = stage.get(table, obj_id)
            what = _SINGULAR[table]
            if isinstance(op, Create):
                if current is not None:
                    raise NameConflict(f"{what} {obj_id} already exists")
                if table == "nodes" and stage.is_removed(obj_id):
                    raise FailedPrecondition(
                        f"node {obj_id} was removed from the swarm and cannot rejoin with "
                        "this ID; join it again to get a new one"
                    )
                created_at = time
            else:
                if current is None:
                    raise NotFound(f"{what} {obj_id} not found")
                if object_version(current) != op.expected_version:
                    raise OutOfSequence()
                created_at = _created_at(current) or time
            if table == "services":
                self._stage_service_name(obj_id, current, obj, stage)
            if isinstance(obj, Node):
                spec_changed = not isinstance(current, Node) or current.spec != obj.spec
                obj.spec_index = index if spec_changed else current.spec_index  # type: ignore[union-attr]
            _stamp(obj, index, created_at, time)
            stage.objects[(table, obj_id)] = obj
            kind: ChangeKind = "created" if current is None else "updated"
            changes.append(Change(table, kind, obj_id, current, obj))
        elif isinstance(op, Delete):
            current = stage.get(op.table, op.id)
            if current is None:
                raise NotFound(f"{_SINGULAR[op.table]} {op.id} not found")
            if op.expected_version is not None and object_version(current) != op.expected_version:
                raise OutOfSequence()
            if op.table == "services":
                self._stage_service_name(op.id, current, None, stage)
            stage.objects[(op.table, op.id)] = None
            changes.append(Change(op.table, "deleted", op.id, current, None))
        elif isinstance(op, PutMeta):
            value = normalize_meta_value(op.value)
            before = stage.meta_value(op.key)
            stage.meta[op.key] = value
            if before is _ABSENT:
                changes.append(Change("meta", "created", op.key, None, value))
            else:
                changes.append(Change("meta", "updated", op.key, before, value))
        elif isinstance(op, DeleteMeta):
            before = stage.meta_value(op.key)
            if before is not _ABSENT:
                stage.meta[op.key] = _ABSENT
                changes.append(Change("meta", "deleted", op.key, before, None))
        elif isinstance(op, PatchTask):
            current = stage.get("tasks", op.id)
            patched = _patched(current, op) if isinstance(current, dict) else None
            if patched is not None:
                _stamp(patched, index, _created_at(patched) or time, time)
                stage.objects[("tasks", op.id)] = patched
                changes.append(Change("tasks", "updated", op.id, current, patched))
        elif isinstance(op, MarkRemoved):
            if not stage.is_removed(op.node_id):
                stage.removed.add(op.node_id)
                changes.append(Change("removed", "created", op.node_id, None, op.node_id))
        else:  # pragma: no cover - the Op union is closed
            raise InvalidArgument(f"unknown store operation {op!r}")

    @staticmethod
    def _stage_service_name(
        service_id: str, current: StoredObject | None, new: StoredObject | None, stage: _Staging
    ) -> None:
        old_name, new_name = _spec_name(current), _spec_name(new)
        if new_name and new_name != old_name:
            owner = stage.service_name_owner(new_name)
            if owner is not None and owner != service_id:
                raise NameConflict(f"service {new_name} already exists")
        if old_name and old_name != new_name:
            stage.service_names[old_name] = None
        if new_name:
            stage.service_names[new_name] = service_id

    def _commit(self, stage: _Staging) -> None:
        for (table, obj_id), new in stage.objects.items():
            rows = self._tables[table]
            old = rows.get(obj_id)
            if old is not None:
                self._unindex(table, obj_id, old)
            if new is None:
                rows.pop(obj_id, None)
            else:
                rows[obj_id] = new
                self._index(table, obj_id, new)
        for key, value in stage.meta.items():
            if value is _ABSENT:
                self._meta.pop(key, None)
            else:
                self._meta[key] = value
        self._removed |= stage.removed

    def _replace(
        self,
        index: int,
        tables: Mapping[Table, dict[str, Any]],
        meta: dict[str, Any],
        removed: set[str],
    ) -> None:
        """Swaps in a whole new state (snapshot restore)."""
        self._tables = {t: tables.get(t, {}) for t in TABLES}
        self._meta, self._removed, self._applied_index = meta, removed, index
        self._rebuild_indexes()

    def snapshot(self) -> bytes:
        """The whole state as bytes (see :mod:`swarmkit_py.store.snapshot`)."""
        return encode_snapshot(self)

    def restore(self, data: bytes) -> None:
        """Replaces the whole state with ``snapshot()`` bytes (``b""``: empty); listeners
        get a ``reset``. CorruptSnapshot (store unchanged) if unreadable."""
        if data:
            index, tables, meta, removed = decode_snapshot(data)
        else:
            index, tables, meta, removed = 0, {}, {}, set()
        self._replace(index, tables, meta, removed)
        self._notify([Change("*", "reset")])

    # -- secondary indexes ----------------------------------------------------

    def _rebuild_indexes(self) -> None:
        self._node_names: dict[str, set[str]] = {}
        self._service_names: dict[str, str] = {}
        self._tasks_by_service: dict[str, set[str]] = {}
        self._tasks_by_node: dict[str, set[str]] = {}
        for table in TABLES:
            for obj_id, obj in self._tables[table].items():
                self._index(table, obj_id, obj)

    def _index(self, table: Table, obj_id: str, obj: StoredObject) -> None:
        if table == "nodes":
            for name in cast(Node, obj).names:
                self._node_names.setdefault(name, set()).add(obj_id)
        elif table == "services":
            name = _spec_name(obj)
            if name:
                self._service_names[name] = obj_id
        elif table == "tasks":
            for key, index in (
                ("ServiceID", self._tasks_by_service),
                ("NodeID", self._tasks_by_node),
            ):
                ref = _ref(obj, key)
                if ref:
                    index.setdefault(ref, set()).add(obj_id)

    def _unindex(self, table: Table, obj_id: str, obj: StoredObject) -> None:
        if table == "nodes":
            for name in cast(Node, obj).names:
                _discard(self._node_names, name, obj_id)
        elif table == "services":
            name = _spec_name(obj)
            if name and self._service_names.get(name) == obj_id:
                del self._service_names[name]
        elif table == "tasks":
            _discard(self._tasks_by_service, _ref(obj, "ServiceID"), obj_id)
            _discard(self._tasks_by_node, _ref(obj, "NodeID"), obj_id)

    # -- listeners ------------------------------------------------------------

    def add_listener(self, callback: Listener) -> None:
        """Calls ``callback(changes)`` after every applied transaction that changed
        something, and with ``[Change("*", "reset")]`` after a snapshot restore.
        A listener that raises is logged and does not affect the store."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _notify(self, changes: list[Change]) -> None:
        if not changes:
            return
        for callback in list(self._listeners):
            try:
                callback(changes)
            except Exception:
                log.exception("store listener %r failed; the store is unaffected", callback)

    # -- reads ----------------------------------------------------------------

    def get(self, table: Table, obj_id: str) -> StoredObject | None:
        return cast(StoredObject | None, self._tables[table].get(obj_id))

    def list_objects(self, table: Table) -> list[StoredObject]:
        return list(self._tables[table].values())

    def count(self, table: Table) -> int:
        return len(self._tables[table])

    def get_node(self, node_id: str) -> Node | None:
        return cast(Node | None, self._tables["nodes"].get(node_id))

    def list_nodes(self) -> list[Node]:
        return list(self._tables["nodes"].values())

    def iter_nodes(self) -> Iterator[Node]:
        return iter(self._tables["nodes"].values())

    def resolve_node(self, ref: str) -> Node:
        """By ID, then name (hostname or spec name), then unique ID prefix (Docker's order).

        NotFound ``node <ref> not found``; InvalidArgument if ambiguous.
        """
        return query.resolve(
            "node", ref, self.get_node, self._nodes_named, self._tables["nodes"].keys()
        )

    def _nodes_named(self, name: str) -> list[Node]:
        return [self._tables["nodes"][i] for i in sorted(self._node_names.get(name, ()))]

    def find_nodes(self, filters: Mapping[str, list[str]] | None = None) -> list[Node]:
        """The nodes matching Docker's node filters (see :func:`query.node_filter`)."""
        if not filters:
            return self.list_nodes()
        matches = query.node_filter(filters)
        return [n for n in self._tables["nodes"].values() if matches(n)]

    def get_cluster(self, cluster_id: str) -> Cluster | None:
        return cast(Cluster | None, self._tables["clusters"].get(cluster_id))

    def list_clusters(self) -> list[Cluster]:
        return list(self._tables["clusters"].values())

    def cluster(self) -> Cluster | None:
        """The swarm's cluster object (the first one; there is normally exactly one)."""
        return next(iter(self._tables["clusters"].values()), None)

    def get_service(self, service_id: str) -> dict[str, Any] | None:
        return cast(dict[str, Any] | None, self._tables["services"].get(service_id))

    def list_services(self) -> list[dict[str, Any]]:
        return list(self._tables["services"].values())

    def service_by_name(self, name: str) -> dict[str, Any] | None:
        service_id = self._service_names.get(name)
        return None if service_id is None else self.get_service(service_id)

    def resolve_service(self, ref: str) -> dict[str, Any]:
        """By ID, then name, then unique ID prefix (Docker's order)."""

        def named(name: str) -> list[dict[str, Any]]:
            found = self.service_by_name(name)
            return [] if found is None else [found]

        return query.resolve(
            "service", ref, self.get_service, named, self._tables["services"].keys()
        )

    def get_task(self, task_id: str) -> dict[str, Any] | None:
        return cast(dict[str, Any] | None, self._tables["tasks"].get(task_id))

    def list_tasks(
        self, service_id: str | None = None, node_id: str | None = None
    ) -> list[dict[str, Any]]:
        """All tasks, or those of a service and/or on a node (indexed lookups)."""
        tasks = self._tables["tasks"]
        ids: set[str] | None = None
        if service_id is not None:
            ids = self._tasks_by_service.get(service_id, set())
        if node_id is not None:
            on_node = self._tasks_by_node.get(node_id, set())
            ids = on_node if ids is None else ids & on_node
        if ids is None:
            return list(tasks.values())
        return [tasks[i] for i in sorted(ids)]

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    def meta_keys(self) -> list[str]:
        return sorted(self._meta)

    def is_removed(self, node_id: str) -> bool:
        return node_id in self._removed

    def removed_nodes(self) -> frozenset[str]:
        return frozenset(self._removed)


def _patched(task: dict[str, Any], op: PatchTask) -> dict[str, Any] | None:
    """``task`` with ``op``'s forward moves applied (a shallow copy), or None if
    nothing moves."""
    raw = task.get("Status")
    status: dict[str, Any] = raw if isinstance(raw, dict) else {}
    state = str(status.get("State", "new"))
    if op.node_id is not None:
        node = task.get("NodeID") or ""
        if (node and node != op.node_id) or state_rank(state) > state_rank("pending"):
            return None
    out = dict(task)
    changed = False
    if op.node_id is not None and task.get("NodeID") != op.node_id:
        out["NodeID"] = op.node_id
        changed = True
    if op.status is not None:
        new_state = str(op.status.get("State", ""))
        rank, current = state_rank(new_state), state_rank(state)
        if rank > current or (rank == current and op.status != status):
            out["Status"] = op.status
            changed = True
    if op.desired is not None:
        if state_rank(op.desired) > state_rank(str(task.get("DesiredState", "new"))):
            out["DesiredState"] = op.desired
            changed = True
    return out if changed else None


def _discard(index: dict[str, set[str]], key: str, obj_id: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(obj_id)
        if not members:
            del index[key]
