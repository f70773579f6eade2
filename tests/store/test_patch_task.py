"""PatchTask: forward-only task writes that never conflict."""

from __future__ import annotations

from typing import Any

from swarmkit_py.store import ClusterStore, Txn, decode_txn, encode_txn


def _task(state: str = "new", desired: str = "running", node: str = "") -> dict[str, Any]:
    return {
        "ID": "t1",
        "ServiceID": "s1",
        "NodeID": node,
        "DesiredState": desired,
        "Status": {"State": state, "Message": "created"},
    }


def _store(**kwargs: str) -> ClusterStore:
    store = ClusterStore()
    store.apply(1, Txn().create("tasks", _task(**kwargs)))
    return store


def _apply(store: ClusterStore, txn: Txn) -> None:
    # Through the wire format, as every manager applies it.
    store.apply(store.applied_index + 1, decode_txn(encode_txn(txn)))


def test_status_moves_forward_only() -> None:
    store = _store(state="running", node="n1")
    _apply(store, Txn().patch_task("t1", status={"State": "starting"}))
    assert store.get_task("t1")["Status"]["State"] == "running"  # type: ignore[index]
    _apply(store, Txn().patch_task("t1", status={"State": "failed", "Err": "exit 1"}))
    task = store.get_task("t1")
    assert task is not None and task["Status"] == {"State": "failed", "Err": "exit 1"}
    assert task["Version"]["Index"] == 3


def test_desired_state_moves_forward_only() -> None:
    store = _store(desired="ready")
    _apply(store, Txn().patch_task("t1", desired="running"))
    _apply(store, Txn().patch_task("t1", desired="ready"))
    assert store.get_task("t1")["DesiredState"] == "running"  # type: ignore[index]
    _apply(store, Txn().patch_task("t1", desired="shutdown"))
    assert store.get_task("t1")["DesiredState"] == "shutdown"  # type: ignore[index]


def test_assignment_only_onto_an_unassigned_task() -> None:
    store = _store(state="pending")
    assigned = {"State": "assigned", "Message": "scheduler assigned task to node"}
    _apply(store, Txn().patch_task("t1", node_id="n1", status=assigned))
    task = store.get_task("t1")
    assert task is not None and task["NodeID"] == "n1" and task["Status"] == assigned
    # A second scheduler decision for the same task changes nothing.
    _apply(store, Txn().patch_task("t1", node_id="n2", status=assigned))
    assert store.get_task("t1")["NodeID"] == "n1"  # type: ignore[index]


def test_missing_task_and_no_op_patches_are_skipped_without_failing_the_txn() -> None:
    store = _store()
    changes: list[Any] = []
    store.add_listener(changes.extend)
    _apply(store, Txn().patch_task("gone", desired="shutdown").put_meta("k", 1))
    assert store.get_meta("k") == 1
    assert [c.table for c in changes] == ["meta"]
    _apply(store, Txn().patch_task("t1", desired="running"))  # already running
    assert [c.table for c in changes] == ["meta"]
