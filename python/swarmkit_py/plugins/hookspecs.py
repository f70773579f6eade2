"""The hooks a swarmkit-py plugin implements (pluggy, project name "swarmkit_py").

A plugin is a module with ``@hookimpl`` functions, found through the entry-point
group ``swarmkit_py``. Registration hooks are synchronous and hand over objects
whose methods may be async. The built-in runtimes, storage and schedulers
register through these same hooks (``swarmkit_py.plugins.builtins``).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("swarmkit_py")
hookimpl = pluggy.HookimplMarker("swarmkit_py")


@hookspec
def register_runtimes(register: Any) -> None:
    """``register(name, factory)``: ``factory(data_dir: Path) -> Runtime`` runs tasks."""


@hookspec
def register_storages(register: Any) -> None:
    """``register(name, factory)``: ``factory(options: dict[str, str]) -> Storage`` keeps a
    manager's Raft log and snapshots (``swarmkit_py.storage``; options come from
    ``swarmd --storage-opt KEY=VALUE``)."""


@hookspec
def register_schedulers(register: Any) -> None:
    """``register(scheduler)``: a whole strategy (``.name``, ``.schedule(nodes, groups)``)."""


@hookspec
def register_placement_plugins(register: Any) -> None:
    """``register(plugin)``: a ``PlacementFilter`` or ``PlacementScorer`` for the Rust pipeline."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add ``click`` commands or groups to ``swarmctl`` (``cli`` is its root group)."""


@hookspec
def task_changed(task: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """A task was created or changed (on the leader; ``task`` is the Engine API dict)."""


@hookspec
def node_changed(node: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """A node was created or changed (on the leader; ``node`` is the Engine API dict)."""
