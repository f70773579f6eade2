"""Store transactions: ordered lists of operations, and their msgpack encoding.

A transaction is built by the proposer, stamped once with the proposer's wall
clock (``Txn.time``), encoded into a Raft entry, and applied from the committed
entry on every manager. Applying uses ``Txn.time`` for ``CreatedAt`` /
``UpdatedAt``, never the applying node's clock, so every manager writes the
same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

import msgpack

from ..errors import InvalidArgument, SwarmError
from ..model import Cluster, Node, normalize_time, now

Table = Literal["nodes", "clusters", "services", "tasks"]
TABLES: tuple[Table, ...] = ("nodes", "clusters", "services", "tasks")

#: What a table holds: ``Node`` in ``nodes``, ``Cluster`` in ``clusters``, and
#: API-shaped dicts (with ``ID``) in ``services`` and ``tasks``.
StoredObject: TypeAlias = Node | Cluster | dict[str, Any]

TXN_FORMAT = 1


@dataclass(frozen=True)
class Create:
    table: Table
    obj: StoredObject


@dataclass(frozen=True)
class Update:
    table: Table
    obj: StoredObject
    #: The ``Version.Index`` the writer read; anything else is "update out of sequence".
    expected_version: int


@dataclass(frozen=True)
class Delete:
    table: Table
    id: str
    #: ``None``: delete whatever version is stored.
    expected_version: int | None = None


@dataclass(frozen=True)
class PutMeta:
    key: str
    value: Any


@dataclass(frozen=True)
class DeleteMeta:
    key: str


@dataclass(frozen=True)
class MarkRemoved:
    node_id: str


@dataclass(frozen=True)
class PatchTask:
    """Moves a task forward without a version check (see :mod:`swarmkit_py.store`).

    Applied field by field, each only if it moves forward: ``status`` if its
    state is later than the task's (or the same state with other details),
    ``desired`` if later than the task's desired state. ``node_id`` assigns an
    unassigned task not yet past ``pending``; if the task is elsewhere or
    further on, the whole patch is skipped. A missing task is skipped too:
    agents, the scheduler and the orchestrators never conflict through it.
    """

    id: str
    status: dict[str, Any] | None = None
    desired: str | None = None
    node_id: str | None = None


Op: TypeAlias = Create | Update | Delete | PutMeta | DeleteMeta | MarkRemoved | PatchTask


def object_id(obj: StoredObject) -> str:
    """The ID of a stored object."""
    if isinstance(obj, Node | Cluster):
        return obj.id
    value = obj.get("ID")
    return value if isinstance(value, str) else ""


def check_object(table: str, obj: object) -> StoredObject:
    """``obj`` if it is what ``table`` holds and has an ID; InvalidArgument otherwise."""
    if table not in TABLES:
        raise InvalidArgument(f"unknown table {table!r} (tables: {', '.join(TABLES)})")
    expected: type = {"nodes": Node, "clusters": Cluster}.get(table, dict)
    if not isinstance(obj, expected):
        raise InvalidArgument(
            f"the {table} table holds {expected.__name__} objects, not {type(obj).__name__}"
        )
    stored = cast(StoredObject, obj)
    if not object_id(stored):
        raise InvalidArgument(f"an object in the {table} table needs a non-empty string ID")
    return stored


@dataclass
class Txn:
    """An ordered list of store operations, applied all or nothing.

    Build it with the methods below (each returns the transaction, to chain).
    """

    ops: list[Op] = field(default_factory=list)
    #: The proposer's wall-clock time, RFC 3339 with nanoseconds.
    time: str = field(default_factory=now)

    def create(self, table: Table, obj: StoredObject) -> Txn:
        self.ops.append(Create(table, check_object(table, obj)))
        return self

    def update(self, table: Table, obj: StoredObject, expected_version: int) -> Txn:
        self.ops.append(Update(table, check_object(table, obj), expected_version))
        return self

    def delete(self, table: Table, obj_id: str, expected_version: int | None = None) -> Txn:
        if table not in TABLES:
            raise InvalidArgument(f"unknown table {table!r} (tables: {', '.join(TABLES)})")
        if not isinstance(obj_id, str) or not obj_id:
            raise InvalidArgument("delete needs a non-empty string ID")
        self.ops.append(Delete(table, obj_id, expected_version))
        return self

    def put_meta(self, key: str, value: Any) -> Txn:
        self.ops.append(PutMeta(key, value))
        return self

    def delete_meta(self, key: str) -> Txn:
        self.ops.append(DeleteMeta(key))
        return self

    def mark_removed(self, node_id: str) -> Txn:
        self.ops.append(MarkRemoved(node_id))
        return self

    def patch_task(
        self,
        task_id: str,
        *,
        status: dict[str, Any] | None = None,
        desired: str | None = None,
        node_id: str | None = None,
    ) -> Txn:
        if not isinstance(task_id, str) or not task_id:
            raise InvalidArgument("patch_task needs a non-empty string ID")
        self.ops.append(PatchTask(task_id, status, desired, node_id))
        return self


def encode_object(table: str, obj: StoredObject) -> dict[str, Any]:
    """The msgpack-able form of a stored object."""
    if isinstance(obj, Node | Cluster):
        return obj.to_store()
    return obj


def decode_object(table: str, data: object) -> StoredObject:
    """The inverse of :func:`encode_object`; InvalidArgument if malformed."""
    if table == "nodes":
        return Node.from_api(data)
    if table == "clusters":
        return Cluster.from_api(data)
    return check_object(table, data)


def _encode_op(op: Op) -> list[Any]:
    if isinstance(op, Create):
        return ["create", op.table, encode_object(op.table, op.obj)]
    if isinstance(op, Update):
        return ["update", op.table, encode_object(op.table, op.obj), op.expected_version]
    if isinstance(op, Delete):
        return ["delete", op.table, op.id, op.expected_version]
    if isinstance(op, PutMeta):
        return ["put_meta", op.key, op.value]
    if isinstance(op, DeleteMeta):
        return ["delete_meta", op.key]
    if isinstance(op, PatchTask):
        return ["patch_task", op.id, op.status, op.desired, op.node_id]
    return ["mark_removed", op.node_id]


def encode_txn(txn: Txn) -> bytes:
    """The bytes of a Raft entry carrying ``txn``."""
    body = {"v": TXN_FORMAT, "time": txn.time, "ops": [_encode_op(op) for op in txn.ops]}
    try:
        return cast(bytes, msgpack.packb(body, use_bin_type=True))
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgument(f"the transaction cannot be encoded: {exc}") from None


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"malformed transaction: {what} must be a string")
    return value


def _table(value: object) -> Table:
    if value not in TABLES:
        raise InvalidArgument(f"malformed transaction: unknown table {value!r}")
    return value


def _version(value: object, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument("malformed transaction: a version must be an integer")
    return value


def _decode_op(raw: object) -> Op:
    if not isinstance(raw, list) or not raw:
        raise InvalidArgument("malformed transaction: an operation must be a non-empty array")
    kind, args = raw[0], raw[1:]
    shapes = {
        "create": 2,
        "update": 3,
        "delete": 3,
        "put_meta": 2,
        "delete_meta": 1,
        "patch_task": 4,
    }
    if len(args) != shapes.get(kind, 1) or kind not in (*shapes, "mark_removed"):
        raise InvalidArgument(f"malformed transaction: bad operation {kind!r}")
    if kind == "create":
        table = _table(args[0])
        return Create(table, decode_object(table, args[1]))
    if kind == "update":
        table = _table(args[0])
        version = _version(args[2], optional=False)
        assert version is not None
        return Update(table, decode_object(table, args[1]), version)
    if kind == "delete":
        return Delete(_table(args[0]), _str(args[1], "an ID"), _version(args[2], True))
    if kind == "put_meta":
        return PutMeta(_str(args[0], "a meta key"), args[1])
    if kind == "delete_meta":
        return DeleteMeta(_str(args[0], "a meta key"))
    if kind == "patch_task":
        status, desired, node_id = args[1], args[2], args[3]
        if status is not None and not isinstance(status, dict):
            raise InvalidArgument("malformed transaction: a task status must be a map")
        return PatchTask(
            _str(args[0], "a task ID"),
            status,
            None if desired is None else _str(desired, "a desired state"),
            None if node_id is None else _str(node_id, "a node ID"),
        )
    return MarkRemoved(_str(args[0], "a node ID"))


def decode_txn(data: bytes) -> Txn:
    """The transaction in a Raft entry; InvalidArgument (only) if it is not one."""
    try:
        body = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types on garbage
        raise InvalidArgument(f"malformed transaction: {type(exc).__name__}: {exc}") from None
    try:
        if not isinstance(body, Mapping) or body.get("v") != TXN_FORMAT:
            raise InvalidArgument(
                f"malformed transaction: not a format {TXN_FORMAT} store transaction"
            )
        ops = body.get("ops")
        if not isinstance(ops, list):
            raise InvalidArgument("malformed transaction: ops must be an array")
        time = normalize_time(_str(body.get("time"), "the time"))
        return Txn([_decode_op(op) for op in ops], time)
    except SwarmError as exc:
        if isinstance(exc, InvalidArgument):
            raise
        raise InvalidArgument(f"malformed transaction: {exc.message}") from None
    except Exception as exc:  # a malformed object the model did not anticipate
        raise InvalidArgument(f"malformed transaction: {type(exc).__name__}: {exc}") from None
