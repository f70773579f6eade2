"""Applying transactions: versions, timestamps, all-or-nothing, and each op's errors."""

from __future__ import annotations

import pytest

from swarmkit_py.errors import FailedPrecondition, NameConflict, NotFound, OutOfSequence
from swarmkit_py.store import ClusterStore, Txn

from .helpers import T0, T1, Applier, cluster, node, service, task, txn


def test_create_stamps_version_and_times_from_the_txn_not_the_clock() -> None:
    a = Applier()
    a.index = 41
    n = node(hostname="h1")
    a.apply(txn(T0).create("nodes", n))
    stored = a.store.get_node(n.id)
    assert stored is not None
    assert stored.version.index == 42
    assert stored.created_at == stored.updated_at == T0
    assert stored.to_api()["CreatedAt"] == T0


def test_update_keeps_created_at_and_moves_version_and_updated_at() -> None:
    a = Applier()
    n = node()
    first = a.apply(txn(T0).create("nodes", n))
    changed = n.copy()
    changed.spec.availability = "drain"
    second = a.apply(txn(T1).update("nodes", changed, expected_version=first))
    stored = a.store.get_node(n.id)
    assert stored is not None
    assert (stored.version.index, stored.created_at, stored.updated_at) == (second, T0, T1)
    assert stored.spec.availability == "drain"


def test_store_keeps_its_own_copy_of_applied_objects() -> None:
    a = Applier()
    n = node()
    a.apply(txn().create("nodes", n))
    n.spec.labels["sneaky"] = "yes"
    stored = a.store.get_node(n.id)
    assert stored is not None and stored.spec.labels == {}


def test_update_with_an_old_version_is_out_of_sequence() -> None:
    a = Applier()
    n = node()
    created = a.apply(txn().create("nodes", n))
    a.apply(txn().update("nodes", n, created))
    with pytest.raises(OutOfSequence, match="update out of sequence") as err:
        a.apply(txn().update("nodes", n, created))
    assert err.value.http_status == 500


def test_update_of_a_missing_object_is_not_found() -> None:
    a = Applier()
    n = node(node_id="ghost")
    with pytest.raises(NotFound, match="node ghost not found"):
        a.apply(txn().update("nodes", n, 1))


def test_create_with_an_existing_id_is_a_name_conflict() -> None:
    a = Applier()
    n = node()
    a.apply(txn().create("nodes", n))
    with pytest.raises(NameConflict, match=f"node {n.id} already exists"):
        a.apply(txn().create("nodes", n))


def test_service_names_are_unique_but_node_names_are_not() -> None:
    a = Applier()
    a.apply(txn().create("services", service("web")))
    with pytest.raises(NameConflict, match="service web already exists"):
        a.apply(txn().create("services", service("web")))
    a.apply(txn().create("nodes", node(hostname="same")).create("nodes", node(hostname="same")))
    assert len(a.store.list_nodes()) == 2


def test_renaming_a_service_onto_another_name_conflicts_and_frees_its_old_name() -> None:
    a = Applier()
    web, api = service("web"), service("api")
    a.apply(txn().create("services", web).create("services", api))
    clash = dict(api, Spec={"Name": "web"})
    with pytest.raises(NameConflict):
        a.apply(txn().update("services", clash, a.index))
    renamed = dict(web, Spec={"Name": "frontend"})
    a.apply(txn().update("services", renamed, 1))
    a.apply(txn().create("services", service("web")))
    assert a.store.service_by_name("frontend")["ID"] == web["ID"]  # type: ignore[index]


def test_a_failing_op_leaves_the_whole_txn_unapplied() -> None:
    a = Applier()
    existing = node()
    a.apply(txn().create("nodes", existing))
    fresh = node()
    bad = (
        txn()
        .create("nodes", fresh)
        .put_meta("k", 1)
        .mark_removed("x")
        .create("services", service("s"))
        .create("nodes", existing)  # fails last
    )
    before = a.store.snapshot()
    with pytest.raises(NameConflict):
        a.store.apply(2, bad)
    assert a.store.get_node(fresh.id) is None
    assert a.store.get_meta("k") is None
    assert not a.store.is_removed("x")
    assert a.store.service_by_name("s") is None
    assert a.store.applied_index == 1
    assert a.store.snapshot() == before


def test_ops_in_one_txn_see_the_effects_of_earlier_ops() -> None:
    a = Applier()
    s = service("web")
    index = a.apply(txn().create("services", s).delete("services", s["ID"]))
    assert a.store.get_service(s["ID"]) is None
    a.apply(txn().create("services", service("web")))  # the name was freed
    with pytest.raises(NotFound):
        a.apply(txn().delete("services", s["ID"]))
    assert index == 1


def test_delete_checks_the_expected_version_when_given() -> None:
    a = Applier()
    t = task("svc")
    created = a.apply(txn().create("tasks", t))
    with pytest.raises(OutOfSequence):
        a.apply(txn().delete("tasks", t["ID"], expected_version=created + 5))
    a.apply(txn().delete("tasks", t["ID"], expected_version=created))
    assert a.store.get_task(t["ID"]) is None


def test_dict_objects_get_api_shaped_version_and_times() -> None:
    a = Applier()
    s = service("web")
    a.apply(txn(T1).create("services", s))
    stored = a.store.get_service(s["ID"])
    assert stored is not None
    assert stored["Version"] == {"Index": 1}
    assert stored["CreatedAt"] == stored["UpdatedAt"] == T1
    assert "Version" not in s  # the caller's dict is untouched


def test_meta_values_are_stored_as_every_manager_decodes_them() -> None:
    a = Applier()
    a.apply(txn().put_meta("ca/root", {"pem": b"\x00bytes", "pair": (1, 2)}))
    assert a.store.get_meta("ca/root") == {"pem": b"\x00bytes", "pair": [1, 2]}
    a.apply(txn().delete_meta("ca/root").delete_meta("never-set"))
    assert a.store.get_meta("ca/root", "gone") == "gone"


def test_removed_nodes_stay_removed_and_cannot_be_created_again() -> None:
    a = Applier()
    n = node()
    created = a.apply(txn().create("nodes", n))
    a.apply(txn().delete("nodes", n.id, created).mark_removed(n.id))
    assert a.store.is_removed(n.id)
    assert n.id in a.store.removed_nodes()
    with pytest.raises(FailedPrecondition, match="was removed from the swarm"):
        a.apply(txn().create("nodes", n))


def test_cluster_object_is_found_as_the_swarms_cluster() -> None:
    a = Applier()
    assert a.store.cluster() is None
    c = cluster()
    a.apply(txn().create("clusters", c))
    assert a.store.cluster() == a.store.get_cluster(c.id)
    assert a.store.list_clusters()[0].version.index == 1


def test_tasks_are_indexed_by_service_and_node() -> None:
    a = Applier()
    t1, t2, t3 = task("s1", "n1"), task("s1", "n2"), task("s2", "n1")
    a.apply(txn().create("tasks", t1).create("tasks", t2).create("tasks", t3))
    ids = lambda tasks: {t["ID"] for t in tasks}  # noqa: E731
    assert ids(a.store.list_tasks(service_id="s1")) == {t1["ID"], t2["ID"]}
    assert ids(a.store.list_tasks(node_id="n1")) == {t1["ID"], t3["ID"]}
    assert ids(a.store.list_tasks(service_id="s1", node_id="n1")) == {t1["ID"]}
    moved = dict(t1, NodeID="n3")
    a.apply(txn().update("tasks", moved, 1))
    assert ids(a.store.list_tasks(node_id="n1")) == {t3["ID"]}
    assert len(a.store.list_tasks()) == 3


def test_entries_must_be_applied_in_increasing_index_order() -> None:
    store = ClusterStore()
    store.apply(5, Txn())
    with pytest.raises(ValueError, match="not after the last applied"):
        store.apply(5, Txn())
