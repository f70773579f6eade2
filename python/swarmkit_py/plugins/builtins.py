"""The built-in plugin: the `process` and `simulated` runtimes, `file` storage
and the `spread` and `binpack` schedulers, registered through the same hooks
as any third-party plugin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmkit_py.runtime import ProcessRuntime, SimulatedRuntime
from swarmkit_py.scheduler import GroupResult, SchedGroup, SchedNode, schedule

from .hookspecs import hookimpl


@dataclass(frozen=True)
class BuiltinScheduler:
    """Docker's spread strategy, or binpack (fullest node that fits first), in Rust."""

    name: str

    def schedule(self, nodes: list[SchedNode], groups: list[SchedGroup]) -> list[GroupResult]:
        return schedule(nodes, groups, self.name)


@dataclass(frozen=True)
class FileStorage:
    """The Rust write-ahead log and snapshot files under the node's data directory."""

    name: str = "file"


def _simulated(data_dir: Path) -> SimulatedRuntime:
    return SimulatedRuntime()


def _file_storage(**options: Any) -> FileStorage:
    return FileStorage()


@hookimpl
def register_runtimes(register: Any) -> None:
    register("process", ProcessRuntime)
    register("simulated", _simulated)


@hookimpl
def register_storages(register: Any) -> None:
    register("file", _file_storage)


@hookimpl
def register_schedulers(register: Any) -> None:
    register(BuiltinScheduler("spread"))
    register(BuiltinScheduler("binpack"))
