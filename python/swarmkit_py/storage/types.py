"""What a storage backend is: the durable Raft log of one manager
(:class:`LogBackend`), optionally a live copy of the applied cluster state
(:class:`StateSink`), and the :class:`Storage` that hands both out.

A plugin registers a factory through the ``register_storages`` hook::

    register("mysql", factory)   # factory(options: dict[str, str]) -> Storage

``options`` are the ``swarmd --storage-opt KEY=VALUE`` pairs. The factory
checks them and raises :class:`StorageConfigError` for bad ones; it opens no
connection. The built-in ``file`` storage keeps the log in the Rust WAL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol


class StorageConfigError(ValueError):
    """The storage options are wrong (unknown key, malformed DSN, ...)."""


class StorageUnavailable(Exception):
    """The backend cannot be reached or used (at start: swarmd exits with this
    message). The text never contains a credential."""


class LogRecord(NamedTuple):
    """One Raft log entry. ``data`` is the encoded entry (opaque to backends)."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, on purpose
    term: int
    data: bytes


class HardState(NamedTuple):
    """Raft's hard state: current term, vote in that term, commit index."""

    term: int
    vote: int
    commit: int


class SnapshotRecord(NamedTuple):
    """A Raft snapshot: the index and term it covers and its encoded form
    (metadata and cluster state, opaque, possibly tens of MiB)."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, on purpose
    term: int
    data: bytes


class RecoveredLog(NamedTuple):
    """Everything stored, as ``recover`` returns it. ``entries`` are in index
    order and contiguous; entries at or below the snapshot's index may be
    included (they are ignored)."""

    hard_state: HardState | None
    snapshot: SnapshotRecord | None
    entries: list[LogRecord]


class LogBackend(Protocol):
    """The durable log of one Raft node, called from the node's Raft thread,
    one call at a time.

    Durability: a method returns only once what it wrote survives a crash of
    this process and of the backend (``kill -9``). A method that raises stops
    the Raft node (fatal) -- so a backend that can wait for a lost connection
    to come back retries instead, until :meth:`interrupt` is called.
    """

    def recover(self) -> RecoveredLog:
        """Loads what is stored. Called once, first."""
        ...

    def append(self, entries: list[LogRecord], hard_state: HardState | None) -> None:
        """Stores ``entries`` (contiguous; may be empty) and ``hard_state`` (if
        given) atomically. An entry whose index is at or below the last stored
        one replaces it and every entry after it (Raft's truncation)."""
        ...

    def save_snapshot(self, snapshot: SnapshotRecord, discard_log: bool) -> None:
        """Stores ``snapshot`` atomically, replacing the previous one. With
        ``discard_log`` (a snapshot installed from the leader) every stored
        entry is dropped too."""
        ...

    def compact(self, first_index: int) -> None:
        """Entries below ``first_index`` are no longer needed (a snapshot covers them)."""
        ...

    def interrupt(self) -> None:
        """The node is stopping: a call that is waiting for the backend to come
        back gives up and raises. Called from another thread."""
        ...

    def close(self) -> None:
        """Releases connections and locks (after the Raft thread has stopped)."""
        ...


class StateChange(NamedTuple):
    """One object of the applied cluster state: ``obj`` is its Engine API form
    (``None``: deleted)."""

    kind: Literal["node", "service", "task"]
    id: str
    obj: dict[str, Any] | None


class NodeLive(NamedTuple):
    """What a manager knows of a node besides the stored object."""

    #: The node is the Raft leader.
    leader: bool
    #: Managers: "reachable" or "unreachable" as the leader sees them; workers: "".
    reachability: str
    #: Tasks of the node whose current state is ``running``.
    running_tasks: int
    #: Unix time at which the leader last heard from the node; ``None`` on a
    #: manager that is not the leader (it does not receive heartbeats).
    last_heartbeat: float | None


class StateSink(Protocol):
    """Receives the cluster state as it is applied on one manager. Called on
    the event loop: it must not block (queue the work and do it elsewhere).
    It is not on the durability path: a sink that falls behind catches up."""

    def reset(self, index: int, objects: list[StateChange], live: dict[str, NodeLive]) -> None:
        """The whole state as of Raft index ``index`` (at start, after a snapshot)."""
        ...

    def apply(self, index: int, changes: list[StateChange], live: dict[str, NodeLive]) -> None:
        """Changes applied up to ``index``; ``live`` holds only the nodes whose
        live values changed."""
        ...

    def close(self) -> None:
        """Flushes what is queued (bounded in time) and releases connections."""
        ...


class Storage(Protocol):
    """A configured storage backend (what a ``register_storages`` factory returns)."""

    name: str

    def check(self) -> None:
        """Verifies that the backend can be used (reachable, schema not newer
        than this code). Raises :class:`StorageUnavailable` with a clear message."""
        ...

    def open_log(self, raft_dir: Path, node_id: str) -> LogBackend | None:
        """The log of the manager ``node_id``; ``None`` means the built-in file
        WAL in ``raft_dir``. Raises :class:`StorageUnavailable` if it cannot be
        opened (another process holds it, unreachable, newer schema)."""
        ...

    def state_sink(self, node_id: str) -> StateSink | None:
        """Where the manager mirrors its applied state, if anywhere."""
        ...

    def wipe(self, raft_dir: Path, node_id: str) -> None:
        """Discards a manager's stored state (it was demoted or left the swarm)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What ``/info`` shows of the backend. Never a password."""
        ...
