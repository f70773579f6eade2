"""Finding nodes and services by reference and with Docker's node filters."""

from __future__ import annotations

import pytest

from swarmkit_py.errors import InvalidArgument, NotFound
from swarmkit_py.model import EngineDescription

from .helpers import Applier, node, service, txn


@pytest.fixture
def nodes() -> Applier:
    a = Applier()
    m = node("abc111", hostname="alpha", role="manager", zone="a", ssd="")
    w1 = node("abc222", hostname="beta", zone="b")
    w2 = node("xyz333", hostname="beta")
    w2.description.engine = EngineDescription(labels={"kernel": "6.1"})
    w2.membership = "pending"
    named = node("def444", hostname="gamma")
    named.spec.name = "db-node"
    a.apply(txn().create("nodes", m).create("nodes", w1).create("nodes", w2))
    a.apply(txn().create("nodes", named))
    return a


def ids(found: list[object]) -> set[str]:
    return {n.id for n in found}  # type: ignore[attr-defined]


def test_resolve_node_by_exact_id(nodes: Applier) -> None:
    assert nodes.store.resolve_node("abc222").description.hostname == "beta"


def test_resolve_node_by_unique_hostname_or_spec_name(nodes: Applier) -> None:
    assert nodes.store.resolve_node("alpha").id == "abc111"
    assert nodes.store.resolve_node("db-node").id == "def444"
    assert nodes.store.resolve_node("gamma").id == "def444"


def test_resolve_node_by_unique_id_prefix(nodes: Applier) -> None:
    assert nodes.store.resolve_node("xy").id == "xyz333"


def test_shared_name_is_ambiguous(nodes: Applier) -> None:
    with pytest.raises(InvalidArgument, match=r"node beta is ambiguous \(2 matches found\)"):
        nodes.store.resolve_node("beta")


def test_shared_id_prefix_is_ambiguous(nodes: Applier) -> None:
    with pytest.raises(InvalidArgument, match="node abc is ambiguous"):
        nodes.store.resolve_node("abc")


def test_unknown_node_is_not_found_like_docker(nodes: Applier) -> None:
    with pytest.raises(NotFound) as err:
        nodes.store.resolve_node("nope")
    assert err.value.message == "node nope not found"
    assert err.value.http_status == 404
    with pytest.raises(NotFound):
        nodes.store.resolve_node("")


def test_renamed_node_is_found_by_its_new_name_only(nodes: Applier) -> None:
    renamed = nodes.store.resolve_node("def444").copy()
    renamed.spec.name = "cache"
    nodes.apply(txn().update("nodes", renamed, renamed.version.index))
    assert nodes.store.resolve_node("cache").id == "def444"
    with pytest.raises(NotFound):
        nodes.store.resolve_node("db-node")


def test_filters_by_id_prefix_and_name_prefix(nodes: Applier) -> None:
    assert ids(nodes.store.find_nodes({"id": ["abc"]})) == {"abc111", "abc222"}
    assert ids(nodes.store.find_nodes({"name": ["be", "gam"]})) == {"abc222", "xyz333", "def444"}
    assert ids(nodes.store.find_nodes({"name": ["db"]})) == {"def444"}


def test_filters_by_role_and_membership(nodes: Applier) -> None:
    assert ids(nodes.store.find_nodes({"role": ["manager"]})) == {"abc111"}
    assert len(nodes.store.find_nodes({"role": ["WORKER"]})) == 3
    assert ids(nodes.store.find_nodes({"membership": ["pending"]})) == {"xyz333"}


def test_node_label_filter_matches_key_or_key_value_all_required(nodes: Applier) -> None:
    assert ids(nodes.store.find_nodes({"node.label": ["zone"]})) == {"abc111", "abc222"}
    assert ids(nodes.store.find_nodes({"node.label": ["zone=b"]})) == {"abc222"}
    assert ids(nodes.store.find_nodes({"node.label": ["zone=a", "ssd"]})) == {"abc111"}
    assert nodes.store.find_nodes({"node.label": ["zone=b", "ssd"]}) == []


def test_label_filter_matches_engine_labels(nodes: Applier) -> None:
    assert ids(nodes.store.find_nodes({"label": ["kernel=6.1"]})) == {"xyz333"}
    assert nodes.store.find_nodes({"label": ["zone"]}) == []


def test_different_filters_must_all_hold(nodes: Applier) -> None:
    assert ids(nodes.store.find_nodes({"id": ["abc"], "role": ["worker"]})) == {"abc222"}


def test_bad_filters_are_refused_with_dockers_messages(nodes: Applier) -> None:
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        nodes.store.find_nodes({"colour": ["red"]})
    with pytest.raises(InvalidArgument, match="Invalid role filter: 'boss'"):
        nodes.store.find_nodes({"role": ["boss"]})
    with pytest.raises(InvalidArgument, match="Invalid membership filter: 'maybe'"):
        nodes.store.find_nodes({"membership": ["maybe"]})


def test_resolve_service_by_id_name_and_prefix() -> None:
    a = Applier()
    web, api = service("web", "s1aaaa"), service("api", "s1bbbb")
    a.apply(txn().create("services", web).create("services", api))
    assert a.store.resolve_service("s1aaaa")["Spec"]["Name"] == "web"
    assert a.store.resolve_service("api")["ID"] == "s1bbbb"
    assert a.store.resolve_service("s1b")["ID"] == "s1bbbb"
    with pytest.raises(InvalidArgument, match="service s1 is ambiguous"):
        a.store.resolve_service("s1")
    with pytest.raises(NotFound, match="service db not found"):
        a.store.resolve_service("db")
