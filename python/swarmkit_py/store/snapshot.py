"""Whole-store snapshots: msgpack of every table, the meta table and the removed set.

Rows are written sorted by ID (meta by key), so two stores with the same state
write the same bytes whatever order their objects were created in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import msgpack

from ..errors import SwarmError
from .txn import TABLES, StoredObject, Table, decode_object, encode_object, object_id

if TYPE_CHECKING:
    from .store import ClusterStore

SNAPSHOT_FORMAT = 1


class CorruptSnapshot(SwarmError):
    """A snapshot that cannot be read; the store keeps its previous state."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"cannot restore the cluster state: the snapshot is corrupt ({detail}). "
            "Remove this manager's state directory and join it to the swarm again to get a "
            "fresh copy from the other managers."
        )


def encode_snapshot(store: ClusterStore) -> bytes:
    body: dict[str, Any] = {"format": SNAPSHOT_FORMAT, "index": store.applied_index}
    for table in TABLES:
        rows = store._tables[table]
        body[table] = [encode_object(table, rows[i]) for i in sorted(rows)]
    body["meta"] = [[key, store._meta[key]] for key in sorted(store._meta)]
    body["removed"] = sorted(store._removed)
    return cast(bytes, msgpack.packb(body, use_bin_type=True))


def decode_snapshot(
    data: bytes,
) -> tuple[int, dict[Table, dict[str, Any]], dict[str, Any], set[str]]:
    """(applied index, tables, meta, removed IDs); CorruptSnapshot if unreadable."""
    try:
        body = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:
        raise CorruptSnapshot(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(body, Mapping):
        raise CorruptSnapshot("not a store snapshot")
    if body.get("format") != SNAPSHOT_FORMAT:
        raise CorruptSnapshot(
            f"unknown format {body.get('format')!r}, this version reads format {SNAPSHOT_FORMAT}"
        )
    try:
        index = body["index"]
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise CorruptSnapshot("bad applied index")
        tables: dict[Table, dict[str, Any]] = {}
        for table in TABLES:
            rows: dict[str, StoredObject] = {}
            for raw in body[table]:
                obj = decode_object(table, raw)
                rows[object_id(obj)] = obj
            tables[table] = rows
        meta = {}
        for key, value in body["meta"]:
            if not isinstance(key, str):
                raise CorruptSnapshot("a meta key is not a string")
            meta[key] = value
        removed = set(body["removed"])
        if not all(isinstance(node_id, str) for node_id in removed):
            raise CorruptSnapshot("a removed node ID is not a string")
    except CorruptSnapshot:
        raise
    except SwarmError as exc:
        raise CorruptSnapshot(exc.message) from None
    except Exception as exc:
        raise CorruptSnapshot(f"{type(exc).__name__}: {exc}") from None
    return index, tables, meta, removed
