"""Snapshots capture the whole store; restore replaces it; corrupt data is refused."""

from __future__ import annotations

import msgpack
import pytest

from swarmkit_py.store import ClusterStore, CorruptSnapshot, Txn

from .helpers import T1, Applier, cluster, node, service, task, txn


def populated() -> Applier:
    a = Applier()
    n1, n2 = node(hostname="h1", role="manager", zone="a"), node(hostname="h2")
    n1.raft_id = 77
    s = service("web")
    a.apply(txn().create("nodes", n1).create("nodes", n2).create("clusters", cluster()))
    a.apply(txn(T1).create("services", s).create("tasks", task(s["ID"], n2.id)))
    a.apply(txn().put_meta("ca/root", {"pem": b"----", "n": 3}).mark_removed("old-node"))
    return a


def test_snapshot_restore_round_trip_gives_an_equal_store() -> None:
    a = populated()
    data = a.store.snapshot()
    b = ClusterStore()
    b.restore(data)
    assert b.snapshot() == data
    assert b.applied_index == a.store.applied_index
    assert b.list_nodes() == sorted(a.store.list_nodes(), key=lambda n: n.id)
    assert b.get_meta("ca/root") == {"pem": b"----", "n": 3}
    assert b.is_removed("old-node")
    assert b.cluster() == a.store.cluster()


def test_restored_store_has_working_indexes() -> None:
    a = populated()
    b = ClusterStore()
    b.restore(a.store.snapshot())
    assert b.resolve_node("h1").raft_id == 77
    web = b.resolve_service("web")
    assert len(b.list_tasks(service_id=web["ID"])) == 1
    with pytest.raises(Exception, match="already exists"):
        b.apply(b.applied_index + 1, Txn().create("services", service("web")))


def test_snapshot_bytes_do_not_depend_on_creation_order() -> None:
    n1, n2 = node(hostname="a"), node(hostname="b")
    first, second = ClusterStore(), ClusterStore()
    first.apply(1, txn().create("nodes", n1).create("nodes", n2))
    second.apply(1, txn().create("nodes", n2).create("nodes", n1))
    assert first.snapshot() == second.snapshot()


def test_empty_snapshot_means_empty_state() -> None:
    a = populated()
    a.store.restore(b"")
    assert a.store.list_nodes() == [] and a.store.meta_keys() == []
    assert a.store.applied_index == 0
    assert a.store.snapshot() == ClusterStore().snapshot()


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01garbage",
        msgpack.packb([1, 2]),
        msgpack.packb({"format": 2}),
        msgpack.packb({"format": 1, "index": 1}),
        msgpack.packb(
            {
                "format": 1,
                "index": 1,
                "nodes": [{"ID": 3}],
                "clusters": [],
                "services": [],
                "tasks": [],
                "meta": [],
                "removed": [],
            }
        ),
    ],
)
def test_corrupt_snapshot_raises_a_clear_error_and_keeps_the_state(data: bytes) -> None:
    a = populated()
    before = a.store.snapshot()
    with pytest.raises(CorruptSnapshot, match="snapshot is corrupt") as err:
        a.store.restore(data)
    assert "join it to the swarm again" in err.value.message
    assert a.store.snapshot() == before


def test_truncated_snapshot_is_corrupt() -> None:
    data = populated().store.snapshot()
    with pytest.raises(CorruptSnapshot):
        ClusterStore().restore(data[: len(data) // 2])
