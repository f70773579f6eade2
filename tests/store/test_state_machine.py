"""The store as a Raft state machine: entries in, failures remembered for the proposer."""

from __future__ import annotations

from swarmkit_py.errors import InvalidArgument, NameConflict, OutOfSequence
from swarmkit_py.raft import Entry, StateMachine
from swarmkit_py.store import ClusterStore, StoreStateMachine, encode_txn

from .helpers import node, service, txn


def entry(index: int, data: bytes) -> Entry:
    return Entry(index, 1, data)


def test_store_state_machine_satisfies_the_raft_protocol() -> None:
    sm: StateMachine = StoreStateMachine(ClusterStore())
    assert callable(sm.apply) and callable(sm.snapshot) and callable(sm.restore)


def test_entries_apply_at_their_index_and_failures_are_reported_once() -> None:
    sm = StoreStateMachine(ClusterStore())
    n = node()
    sm.apply(
        [
            entry(1, encode_txn(txn().create("nodes", n))),
            entry(2, encode_txn(txn().create("nodes", n))),  # conflict
            entry(3, b""),  # e.g. a new leader's empty entry
            entry(4, b"garbage"),
            entry(5, encode_txn(txn().update("nodes", n, expected_version=9))),
        ]
    )
    stored = sm.store.get_node(n.id)
    assert stored is not None and stored.version.index == 1
    assert sm.result(1) is None
    assert isinstance(sm.result(2), NameConflict)
    assert sm.result(2) is None  # popped
    assert sm.result(3) is None
    assert isinstance(sm.result(4), InvalidArgument)
    assert isinstance(sm.result(5), OutOfSequence)
    assert sm.store.applied_index == 5


def test_results_are_kept_for_recent_indexes_only() -> None:
    sm = StoreStateMachine(ClusterStore(), result_window=10)
    bad = encode_txn(txn().delete("nodes", "missing"))
    sm.apply([entry(i, bad) for i in range(1, 31)])
    assert sm.result(5) is None
    assert sm.result(20) is None
    assert sm.result(21) is not None
    assert sm.result(30) is not None


def test_entries_already_in_the_restored_snapshot_are_skipped() -> None:
    first = StoreStateMachine(ClusterStore())
    s = service("web")
    data = encode_txn(txn().create("services", s))
    first.apply([entry(1, data)])
    second = StoreStateMachine(ClusterStore())
    second.restore(first.snapshot())
    second.apply([entry(1, data)])
    assert second.result(1) is None
    assert second.snapshot() == first.snapshot()


def test_restore_through_the_state_machine_replaces_everything() -> None:
    sm = StoreStateMachine(ClusterStore())
    sm.apply([entry(1, encode_txn(txn().put_meta("k", "v")))])
    snapshot = sm.snapshot()
    sm.apply([entry(2, encode_txn(txn().put_meta("k", "w")))])
    sm.restore(snapshot)
    assert sm.store.get_meta("k") == "v"
    assert sm.store.applied_index == 1
