"""A point-in-time view of a Raft node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Member:
    node_id: int
    address: str
    learner: bool


@dataclass(frozen=True)
class PeerProgress:
    """Replication progress of one member, as the leader sees it."""

    node_id: int
    matched: int
    next_index: int
    state: str
    recent_active: bool


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    term: int
    leader_id: int
    role: str
    commit_index: int
    applied_index: int
    first_index: int
    last_index: int
    snapshot_index: int
    members: tuple[Member, ...]
    removed: tuple[int, ...]
    progress: tuple[PeerProgress, ...]

    @property
    def is_leader(self) -> bool:
        return self.role == "leader"

    @classmethod
    def from_core(cls, d: dict[str, Any]) -> NodeStatus:
        return cls(
            node_id=d["id"],
            term=d["term"],
            leader_id=d["leader_id"],
            role=d["role"],
            commit_index=d["commit_index"],
            applied_index=d["applied_index"],
            first_index=d["first_index"],
            last_index=d["last_index"],
            snapshot_index=d["snapshot_index"],
            members=tuple(Member(i, a, learner) for i, a, learner in d["members"]),
            removed=tuple(d["removed"]),
            progress=tuple(PeerProgress(*p) for p in d["progress"]),
        )

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)
