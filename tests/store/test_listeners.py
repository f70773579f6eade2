"""Change notifications after each applied transaction."""

from __future__ import annotations

import logging

import pytest

from swarmkit_py.errors import NotFound
from swarmkit_py.store import Change

from .helpers import Applier, node, txn


def test_listeners_get_every_change_in_op_order_with_before_and_after() -> None:
    a = Applier()
    seen: list[list[Change]] = []
    a.store.add_listener(seen.append)
    n = node()
    a.apply(txn().create("nodes", n).put_meta("k", 1).mark_removed("gone"))
    drained = n.copy()
    drained.spec.availability = "drain"
    a.apply(txn().update("nodes", drained, 1).put_meta("k", 2).delete_meta("k"))
    first, second = seen
    assert [(c.table, c.kind, c.id) for c in first] == [
        ("nodes", "created", n.id),
        ("meta", "created", "k"),
        ("removed", "created", "gone"),
    ]
    assert first[0].before is None
    assert first[0].after.version.index == 1
    update = second[0]
    assert update.kind == "updated"
    assert update.before.spec.availability == "active"
    assert update.after.spec.availability == "drain"
    assert [(c.kind, c.before, c.after) for c in second[1:]] == [
        ("updated", 1, 2),
        ("deleted", 2, None),
    ]


def test_a_failed_txn_notifies_nobody() -> None:
    a = Applier()
    seen: list[list[Change]] = []
    a.store.add_listener(seen.append)
    with pytest.raises(NotFound):
        a.apply(txn().put_meta("k", 1).delete("nodes", "missing"))
    assert seen == []


def test_a_raising_listener_is_logged_and_does_not_break_apply(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = Applier()
    seen: list[list[Change]] = []

    def broken(changes: list[Change]) -> None:
        raise RuntimeError("listener bug")

    a.store.add_listener(broken)
    a.store.add_listener(seen.append)
    n = node()
    with caplog.at_level(logging.ERROR):
        a.apply(txn().create("nodes", n))
    assert a.store.get_node(n.id) is not None
    assert len(seen) == 1
    assert "listener" in caplog.text and "listener bug" in caplog.text


def test_removed_listener_is_not_called() -> None:
    a = Applier()
    seen: list[list[Change]] = []
    a.store.add_listener(seen.append)
    a.store.remove_listener(seen.append)
    a.apply(txn().put_meta("k", 1))
    assert seen == []


def test_restore_fires_a_reset() -> None:
    a = Applier()
    a.apply(txn().put_meta("k", 1))
    data = a.store.snapshot()
    b = Applier()
    seen: list[list[Change]] = []
    b.store.add_listener(seen.append)
    b.store.restore(data)
    assert seen == [[Change("*", "reset")]]
