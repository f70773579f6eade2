"""Type stubs for the compiled module `swarmkit_py._core` (rust/bindings)."""

from collections.abc import Sequence
from os import PathLike
from typing import Any

from swarmkit_py.storage.types import LogBackend

class RaftStorageError(Exception):
    """The node's durable storage failed (locked, corrupt, unknown version, I/O)."""

class RaftCore:
    """A Raft node running on its own Rust thread. Its log lives in `data_dir`
    (the `file` backend), in `log_backend` (called on the node's thread, with
    the GIL taken for each call; give one or the other), or in memory."""

    def __init__(
        self,
        id: int,
        data_dir: str | PathLike[str] | None = None,
        bootstrap: list[tuple[int, str]] | None = None,
        *,
        log_backend: LogBackend | None = None,
        tick_interval: float = 1.0,
        election_ticks: int = 10,
        heartbeat_ticks: int = 1,
        snapshot_interval: int = 10_000,
        keep_entries_after_snapshot: int = 500,
        max_proposal_bytes: int = 1_572_864,
        fsync: bool = True,
        wal_segment_bytes: int = 64 * 1024 * 1024,
    ) -> None: ...
    def wake_fd(self) -> int: ...
    def step(self, messages: list[bytes]) -> None: ...
    def propose(self, batch: list[tuple[int, bytes]]) -> None: ...
    def change_membership(
        self, proposal: int, kind: str, node_id: int, address: str = ""
    ) -> None: ...
    def read_index(self, request: int) -> None: ...
    def transfer_leader(self, to: int) -> None: ...
    def campaign(self) -> None: ...
    def save_snapshot(self, index: int, data: bytes) -> None: ...
    def force_new_cluster(self, proposal: int, data: bytes) -> None: ...
    def report_unreachable(self, id: int) -> None: ...
    def report_snapshot(self, to: int, delivered: bool) -> None: ...
    def take_output(self) -> dict[str, Any]:
        """Keys: messages [(to, is_snapshot, bytes)], applied [(kind, index, term,
        data|None)] with kind 0 entry / 1 membership / 2 restore, applied_index,
        proposals and reads [(id, index, error_kind|None, message|None)],
        membership ([(id, address, learner)], [removed ids]) | None,
        leader_changed, leader (id, term, role) | None, snapshots_saved,
        snapshot_wanted, logs [(level, message)], fatal str | None."""
    def status(self) -> dict[str, Any]:
        """The node's status after its latest batch; never waits for the node
        thread (which may be stuck in its storage backend)."""
    def stop(self) -> None: ...

class FileLog:
    """The `file` log store on its own (benchmarks of the write path)."""

    def __init__(self, path: str | PathLike[str], fsync: bool = True) -> None: ...
    def append(self, payloads: list[bytes]) -> int: ...

SchedNodeRow = tuple[
    str,  # id
    bool,  # ready
    int,  # nano_cpus (available)
    int,  # memory_bytes (available)
    int,  # total_nano_cpus
    int,  # total_memory_bytes
    dict[str, str],  # attributes
    int,  # tasks
    dict[str, int],  # service_tasks
    dict[str, int],  # service_failures
    Sequence[tuple[str, int]],  # host_ports
]
SchedGroupRow = tuple[
    str,  # service_id
    int,  # count
    int,  # nano_cpus
    int,  # memory_bytes
    Sequence[tuple[str, str, str]],  # constraints (key, "==" | "!=", value)
    Sequence[tuple[str, str]],  # platforms (os, architecture)
    Sequence[tuple[str, int]],  # host_ports
    int,  # max_replicas
    Sequence[str],  # preferences
    str | None,  # node
    tuple[
        Sequence[int],  # plugin_failures (0, or the first refusing plugin filter, 1-based)
        Sequence[str],  # plugin_explanations ("{count}" and "{nodes}" filled in)
        Sequence[int],  # scores (lower preferred)
    ],
]

def schedule(
    nodes: Sequence[SchedNodeRow], groups: Sequence[SchedGroupRow], strategy: str
) -> list[tuple[list[str], str]]:
    """Places the groups (see `swarmkit_py.scheduler.schedule`); one (node_ids, reason)
    per group. Raises ValueError for an unknown strategy or operator, OverflowError for
    integers out of range (counts are unsigned 64-bit, plugin failures unsigned 32-bit,
    resources and scores signed 64-bit)."""
