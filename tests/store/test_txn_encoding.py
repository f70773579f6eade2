"""Transactions travel as msgpack; anything that is not one decodes to InvalidArgument."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmkit_py.errors import InvalidArgument
from swarmkit_py.store import Create, Delete, Txn, decode_txn, encode_txn

from .helpers import T0, cluster, node, service, task


def test_every_op_round_trips() -> None:
    n, c, s, t = node(hostname="h", zone="a"), cluster(), service("web"), task("svc", "n1")
    original = (
        Txn(time=T0)
        .create("nodes", n)
        .create("clusters", c)
        .create("services", s)
        .update("tasks", t, 7)
        .delete("services", "sid")
        .delete("tasks", "tid", 3)
        .put_meta("ca", {"pem": b"\x01", "n": [1, 2]})
        .delete_meta("old")
        .mark_removed("nid")
    )
    decoded = decode_txn(encode_txn(original))
    assert decoded == original


def test_decoded_time_is_normalized_to_utc_nanoseconds() -> None:
    txn = Txn(time="2024-01-02T04:04:05.5+01:00")
    assert decode_txn(encode_txn(txn)).time == "2024-01-02T03:04:05.500000000Z"


def test_building_a_txn_checks_objects_against_their_table() -> None:
    with pytest.raises(InvalidArgument, match="holds Node objects"):
        Txn().create("nodes", service("web"))
    with pytest.raises(InvalidArgument, match="non-empty string ID"):
        Txn().create("services", {"Spec": {}})
    with pytest.raises(InvalidArgument, match="unknown table"):
        Txn().create("volumes", {"ID": "x"})  # type: ignore[arg-type]


def test_unencodable_meta_value_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="cannot be encoded"):
        encode_txn(Txn().put_meta("k", object()))


def packed(body: object) -> bytes:
    return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"not msgpack at all",
        packed([1, 2, 3]),
        packed({"v": 99, "time": T0, "ops": []}),
        packed({"v": 1, "time": "noon", "ops": []}),
        packed({"v": 1, "time": T0, "ops": {}}),
        packed({"v": 1, "time": T0, "ops": [["explode"]]}),
        packed({"v": 1, "time": T0, "ops": [["create", "nodes"]]}),
        packed({"v": 1, "time": T0, "ops": [["create", "nodes", {"ID": 5}]]}),
        packed({"v": 1, "time": T0, "ops": [["create", "nodes", {"ID": "a", "Spec": 3}]]}),
        packed({"v": 1, "time": T0, "ops": [["update", "tasks", {"ID": "a"}, "1"]]}),
        packed({"v": 1, "time": T0, "ops": [["delete", "users", "a", None]]}),
        packed({"v": 1, "time": T0, "ops": [["mark_removed", 5]]}),
        packed({"v": 1, "time": T0, "ops": [["create", "nodes", {"ID": "a", "Version": []}]]}),
        packed({1: 2}),
    ],
)
def test_garbage_decodes_to_invalid_argument(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match=r"malformed transaction|invalid"):
        decode_txn(data)


@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_but_invalid_argument(data: bytes) -> None:
    try:
        decode_txn(data)
    except InvalidArgument:
        pass


@given(
    st.recursive(
        st.none() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=5) | st.binary(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_random_msgpack_structures_never_raise_anything_but_invalid_argument(
    body: object,
) -> None:
    for wrapped in (
        body,
        {"v": 1, "time": T0, "ops": [body]},
        {"v": 1, "time": T0, "ops": [["create", "nodes", body]]},
    ):
        try:
            decode_txn(packed(wrapped))
        except InvalidArgument:
            pass


def test_op_types_are_plain_values() -> None:
    assert Create("tasks", {"ID": "a"}) == Create("tasks", {"ID": "a"})
    assert Delete("nodes", "x").expected_version is None
