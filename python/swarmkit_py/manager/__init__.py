"""The manager side of a node: replicated store on Raft, CA, dispatcher, control."""

from .manager import Manager, ManagerConfig

__all__ = ["Manager", "ManagerConfig"]
