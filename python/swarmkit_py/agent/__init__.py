"""The worker side of a node: its session with a manager."""

from .agent import Agent, describe_host

__all__ = ["Agent", "describe_host"]
