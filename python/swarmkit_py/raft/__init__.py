"""Raft consensus for swarmkit-py: a replicated, durable log with a Rust core.

The public API is `RaftNode` (see `node.py`), configured by `RaftConfig`, applying
committed entries to the application's `StateMachine`.
"""

from .config import RaftConfig
from .errors import (
    MembershipChangeError,
    NodeStoppedError,
    NotLeaderError,
    ProposalDroppedError,
    ProposalTooLargeError,
    RaftError,
    StorageError,
)
from .node import RaftNode
from .state_machine import Entry, StateMachine
from .status import Member, NodeStatus, PeerProgress

__all__ = [
    "Entry",
    "Member",
    "MembershipChangeError",
    "NodeStatus",
    "NodeStoppedError",
    "NotLeaderError",
    "PeerProgress",
    "ProposalDroppedError",
    "ProposalTooLargeError",
    "RaftConfig",
    "RaftError",
    "RaftNode",
    "StateMachine",
    "StorageError",
]
