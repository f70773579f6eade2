"""What the application gives a Raft node: the state machine it replicates."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Entry(NamedTuple):
    """A committed log entry."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, on purpose
    term: int
    data: bytes


class StateMachine(Protocol):
    """The application state a Raft node keeps consistent.

    The node calls these from its event loop, in log order, once per entry per
    process lifetime: after a restart it calls `restore` with the last snapshot
    (if any), then `apply` with the entries after it.
    """

    def apply(self, entries: list[Entry]) -> None:
        """Applies a batch of committed entries, in index order."""

    def snapshot(self) -> bytes:
        """Returns the whole state as of the last applied entry."""

    def restore(self, data: bytes) -> None:
        """Replaces the whole state with a snapshot's (empty bytes: empty state)."""
