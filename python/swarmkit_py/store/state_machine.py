"""The store as the Raft layer's state machine."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..errors import SwarmError
from ..raft.state_machine import Entry, StateMachine
from .store import ClusterStore
from .txn import decode_txn

log = logging.getLogger(__name__)

#: How many recent indexes' failures :meth:`StoreStateMachine.result` remembers.
DEFAULT_RESULT_WINDOW = 10_000


class StoreStateMachine:
    """Applies committed entries (encoded :class:`~swarmkit_py.store.Txn`) to a store.

    A transaction that fails validation changes nothing; its error is kept for
    :meth:`result` so the proposer can answer its caller. Garbage entries are
    treated the same way (InvalidArgument), identically on every manager.
    """

    def __init__(self, store: ClusterStore, result_window: int = DEFAULT_RESULT_WINDOW) -> None:
        self.store = store
        self._result_window = result_window
        self._failures: OrderedDict[int, SwarmError] = OrderedDict()

    def apply(self, entries: list[Entry]) -> None:
        for entry in entries:
            self._apply_one(entry)
        self._forget_old_results()

    def _apply_one(self, entry: Entry) -> None:
        if entry.index <= self.store.applied_index:
            return  # already in the restored snapshot
        if not entry.data:
            self.store.note_applied(entry.index)
            return
        try:
            self.store.apply(entry.index, decode_txn(entry.data), owned=True)
            return
        except SwarmError as exc:
            error = exc
        except Exception as exc:  # a bug; every manager hits it alike, so go on
            log.exception("applying entry %d failed unexpectedly", entry.index)
            error = SwarmError(f"internal store error applying entry {entry.index}: {exc}")
        self._failures[entry.index] = error
        self.store.note_applied(entry.index)

    def _forget_old_results(self) -> None:
        oldest_kept = self.store.applied_index - self._result_window
        failures = self._failures
        while failures and next(iter(failures)) <= oldest_kept:
            failures.popitem(last=False)

    def result(self, index: int) -> SwarmError | None:
        """The error of the entry at ``index`` if it failed, once; ``None`` if it
        succeeded (or its result was already taken or is too old to be kept)."""
        return self._failures.pop(index, None)

    def snapshot(self) -> bytes:
        return self.store.snapshot()

    def restore(self, data: bytes) -> None:
        """Replaces the whole state (``b""``: empty) and tells listeners ``reset``.

        Raises :class:`~swarmkit_py.store.CorruptSnapshot` with the store unchanged
        if ``data`` cannot be read.
        """
        self.store.restore(data)
        self._failures.clear()


if TYPE_CHECKING:
    _PROTOCOL_CHECK: type[StateMachine] = StoreStateMachine
