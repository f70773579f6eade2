"""The replicated cluster state: an indexed in-memory store applied from Raft.

See docs/design/store.md. Build a :class:`Txn`, propose ``encode_txn(txn)``
through Raft; every manager's :class:`StoreStateMachine` applies the committed
entry to its :class:`ClusterStore`, and ``result(index)`` says if it failed.
"""

from .query import NODE_FILTERS, SERVICE_FILTERS, TASK_FILTERS
from .snapshot import SNAPSHOT_FORMAT, CorruptSnapshot
from .state_machine import DEFAULT_RESULT_WINDOW, StoreStateMachine
from .store import Change, ChangeKind, ClusterStore, Listener, object_version
from .txn import (
    TABLES,
    Create,
    Delete,
    DeleteMeta,
    MarkRemoved,
    Op,
    PutMeta,
    StoredObject,
    Table,
    Txn,
    Update,
    decode_txn,
    encode_txn,
    object_id,
)

__all__ = [
    "DEFAULT_RESULT_WINDOW",
    "NODE_FILTERS",
    "SERVICE_FILTERS",
    "SNAPSHOT_FORMAT",
    "TABLES",
    "TASK_FILTERS",
    "Change",
    "ChangeKind",
    "ClusterStore",
    "CorruptSnapshot",
    "Create",
    "Delete",
    "DeleteMeta",
    "Listener",
    "MarkRemoved",
    "Op",
    "PutMeta",
    "StoreStateMachine",
    "StoredObject",
    "Table",
    "Txn",
    "Update",
    "decode_txn",
    "encode_txn",
    "object_id",
    "object_version",
]
