"""Settings of a Raft node. Defaults are Docker Swarm's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_PROPOSAL_BYTES = 1536 * 1024


@dataclass(frozen=True)
class RaftConfig:
    """How one Raft node runs.

    `data_dir` holds the durable log (the `file` storage backend); `None` keeps
    it in memory, for tests. A node given a log backend (see `RaftNode`) keeps
    its log there and leaves `data_dir` alone. `peers` bootstraps a new group
    with these members (every initial member gets the same mapping); leave it
    `None` for a node that waits to be added by a leader. Both are ignored once
    the log has state.
    """

    node_id: int
    listen_addr: str
    data_dir: Path | None = None
    advertise_addr: str | None = None
    peers: dict[int, str] | None = None
    tick_interval: float = 1.0
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    snapshot_interval: int = 10_000
    keep_entries_after_snapshot: int = 500
    max_proposal_bytes: int = MAX_PROPOSAL_BYTES
    fsync: bool = True
    wal_segment_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.node_id <= 0:
            raise ValueError("node_id must be a positive integer")
        if self.heartbeat_ticks < 1:
            raise ValueError("heartbeat_ticks must be at least 1")
        if self.election_ticks <= self.heartbeat_ticks:
            raise ValueError(
                f"election_ticks ({self.election_ticks}) must be greater than "
                f"heartbeat_ticks ({self.heartbeat_ticks})"
            )
        if self.tick_interval <= 0:
            raise ValueError("tick_interval must be greater than zero")
        parse_addr(self.listen_addr)

    @property
    def election_timeout(self) -> float:
        """Seconds a follower waits for a leader before campaigning (at least)."""
        return self.tick_interval * self.election_ticks

    @property
    def address(self) -> str:
        """The address peers use to reach this node."""
        return self.advertise_addr or self.listen_addr


def parse_addr(addr: str) -> tuple[str, int]:
    """Splits `host:port` (IPv6 hosts in brackets), with a clear error."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid address {addr!r}: expected host:port")
    return host.strip("[]"), int(port)
