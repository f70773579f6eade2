"""Errors raised by the Raft layer. Each says what failed and what to do next."""

from __future__ import annotations


class RaftError(Exception):
    """Base class of every error of `swarmkit_py.raft`."""


class NotLeaderError(RaftError):
    """The node is not the leader; `leader_id` names the one it knows (0: none)."""

    def __init__(self, message: str, leader_id: int = 0) -> None:
        super().__init__(message)
        self.leader_id = leader_id


class ProposalDroppedError(RaftError):
    """The entry was lost to a leadership change and will never commit; retry it."""


class ProposalTooLargeError(RaftError, ValueError):
    """The proposal exceeds the configured size limit."""


class MembershipChangeError(RaftError):
    """A membership change that is not allowed (the message says why)."""


class NodeStoppedError(RaftError):
    """The node stopped (or failed) before the outcome was known."""


class StorageError(RaftError):
    """The node's durable storage cannot be opened or written (locked, corrupt,
    unknown format version, I/O error)."""


def from_core(kind: str, message: str, leader_id: int = 0) -> RaftError:
    """Maps an error kind reported by the Rust core to its exception."""
    if kind == "not_leader":
        return NotLeaderError(message, leader_id)
    if kind == "dropped":
        return ProposalDroppedError(message)
    if kind == "too_large":
        return ProposalTooLargeError(message)
    if kind == "rejected":
        return MembershipChangeError(message)
    return NodeStoppedError(message)
