"""Plugins: pluggy hooks for runtimes, storage backends, schedulers, placement
filters and scorers, swarmctl commands, and task/node observers. See
docs/plugins.md."""

from .hookspecs import hookimpl, hookspec
from .manager import ENTRY_POINT_GROUP, PluginError, PluginInfo, Plugins
from .types import PlacementFilter, PlacementScorer, RuntimeFactory, Scheduler, StorageFactory

__all__ = [
    "ENTRY_POINT_GROUP",
    "PlacementFilter",
    "PlacementScorer",
    "PluginError",
    "PluginInfo",
    "Plugins",
    "RuntimeFactory",
    "Scheduler",
    "StorageFactory",
    "hookimpl",
    "hookspec",
]
