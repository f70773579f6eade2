"""Every manager ends with the same state: same entries in, same snapshot out, whether
a manager applied everything or restored a snapshot halfway."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from swarmkit_py.model import Node, NodeSpec
from swarmkit_py.raft import Entry
from swarmkit_py.store import ClusterStore, StoreStateMachine, Txn, encode_txn

NODE_IDS = ["n1", "n2", "n3"]
SERVICE_IDS = ["s1", "s2", "s3"]
NAMES = ["web", "api", "db"]
versions = st.integers(min_value=0, max_value=12)

node_ops = st.tuples(
    st.sampled_from(["create", "update", "delete"]),
    st.sampled_from(NODE_IDS),
    st.sampled_from(["active", "pause", "drain"]),
    st.sampled_from(["", "h1", "h2"]),
    versions,
)
service_ops = st.tuples(
    st.sampled_from(["create", "update", "delete"]),
    st.sampled_from(SERVICE_IDS),
    st.sampled_from(NAMES),
    versions,
)
meta_ops = st.tuples(
    st.sampled_from(["put", "delete", "remove"]),
    st.sampled_from(["a", "b"]),
    st.integers(-5, 5),
)
ops = st.one_of(node_ops, service_ops, meta_ops)
txns = st.lists(
    st.tuples(st.lists(ops, min_size=1, max_size=4), st.integers(0, 10**12)),
    min_size=1,
    max_size=25,
)


def build(raw_ops: list[tuple[Any, ...]], clock: int) -> bytes:
    txn = Txn(time=f"2024-01-01T00:00:00.{clock % 10**9:09d}Z")
    for op in raw_ops:
        if len(op) == 5:
            kind, node_id, availability, hostname, version = op
            node = Node(id=node_id, spec=NodeSpec(availability=availability))
            node.description.hostname = hostname
            if kind == "create":
                txn.create("nodes", node)
            elif kind == "update":
                txn.update("nodes", node, version)
            else:
                txn.delete("nodes", node_id, version if version % 2 else None)
        elif len(op) == 4:
            kind, service_id, name, version = op
            service = {"ID": service_id, "Spec": {"Name": name}}
            if kind == "create":
                txn.create("services", service)
            elif kind == "update":
                txn.update("services", service, version)
            else:
                txn.delete("services", service_id, version if version % 2 else None)
        else:
            kind, key, value = op
            if kind == "put":
                txn.put_meta(key, value)
            elif kind == "delete":
                txn.delete_meta(key)
            else:
                txn.mark_removed(NODE_IDS[value % len(NODE_IDS)])
    return encode_txn(txn)


@settings(max_examples=150, deadline=None)
@given(txns, st.integers(min_value=0, max_value=25))
def test_snapshot_restore_midway_converges_with_applying_everything(
    sequence: list[tuple[list[tuple[Any, ...]], int]], cut: int
) -> None:
    entries = [Entry(i + 1, 1, build(raw, clock)) for i, (raw, clock) in enumerate(sequence)]
    cut = min(cut, len(entries))

    whole = StoreStateMachine(ClusterStore())
    whole.apply(entries)

    first_half = StoreStateMachine(ClusterStore())
    first_half.apply(entries[:cut])
    restored = StoreStateMachine(ClusterStore())
    restored.restore(first_half.snapshot())
    restored.apply(entries[cut:])

    assert restored.snapshot() == whole.snapshot()
    for index in range(cut + 1, len(entries) + 1):
        assert type(restored.result(index)) is type(whole.result(index))
    by_id = lambda nodes: sorted(nodes, key=lambda n: n.id)  # noqa: E731
    named = {"name": ["h"]}
    assert by_id(restored.store.find_nodes(named)) == by_id(whole.store.find_nodes(named))
    for name in NAMES:
        assert restored.store.service_by_name(name) == whole.store.service_by_name(name)
