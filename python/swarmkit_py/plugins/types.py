"""What plugins hand over: runtimes (``swarmkit_py.runtime.Runtime``), storage
backends, whole schedulers, and placement filters and scorers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from swarmkit_py.model import Node
from swarmkit_py.runtime import Runtime
from swarmkit_py.scheduler import GroupResult, SchedGroup, SchedNode
from swarmkit_py.storage import Storage

#: ``factory(data_dir)``: the runtime a node uses, keeping its state under ``data_dir``.
RuntimeFactory = Callable[[Path], Runtime]
#: ``factory(options)``: the storage backend configured by ``swarmd --storage-opt
#: KEY=VALUE`` (see ``swarmkit_py.storage.Storage``).
StorageFactory = Callable[[Mapping[str, str]], Storage]


class Scheduler(Protocol):
    """A whole placement strategy, used instead of the built-in ones."""

    name: str

    def schedule(self, nodes: list[SchedNode], groups: list[SchedGroup]) -> list[GroupResult]: ...


class PlacementFilter(Protocol):
    """An extra filter in the Rust pipeline (after resources, as Docker's plugin
    filter). It is asked once per node for each group of identical tasks."""

    name: str
    #: How refusals read in ``no suitable node (...)``: ``"{count}"`` and
    #: ``"{nodes}"`` ("node"/"nodes") are filled in, e.g. "load too high on {count} {nodes}".
    explanation: str

    def allows(self, group: SchedGroup, node: Node) -> bool: ...


class PlacementScorer(Protocol):
    """Ranks the nodes that pass every filter: a lower score is preferred. It
    comes after placement preferences and faulty-node avoidance, before the
    spread (or binpack) order."""

    name: str

    def score(self, group: SchedGroup, node: Node) -> int: ...
