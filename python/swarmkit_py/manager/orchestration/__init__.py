"""Orchestration on the leader: the replicated and global orchestrators, the
restart supervisor, rolling updates, the task reaper and the scheduler feed
(see docs/design/services.md)."""

from .loop import Orchestrator

__all__ = ["Orchestrator"]
