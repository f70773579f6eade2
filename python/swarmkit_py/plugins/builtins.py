"""The built-in plugin: the `process` and `simulated` runtimes, `file` storage
and the `spread` and `binpack` schedulers, registered through the same hooks
as any third-party plugin."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmkit_py.runtime import ProcessRuntime, SimulatedRuntime
from swarmkit_py.scheduler import GroupResult, SchedGroup, SchedNode, schedule
from swarmkit_py.storage import StorageConfigError

from .hookspecs import hookimpl


@dataclass(frozen=True)
class BuiltinScheduler:
    """Docker's spread strategy, or binpack (fullest node that fits first), in Rust."""

    name: str

    def schedule(self, nodes: list[SchedNode], groups: list[SchedGroup]) -> list[GroupResult]:
        return schedule(nodes, groups, self.name)


@dataclass(frozen=True)
class FileStorage:
    """The Rust write-ahead log and snapshot files under the manager's data
    directory (``<data-dir>/raft``). It takes no options."""

    name: str = "file"

    def check(self) -> None:
        pass

    def open_log(self, raft_dir: Path, node_id: str) -> None:
        return None  # the Rust WAL in raft_dir

    def state_sink(self, node_id: str) -> None:
        return None

    def wipe(self, raft_dir: Path, node_id: str) -> None:
        shutil.rmtree(raft_dir, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"Backend": self.name}


def _simulated(data_dir: Path) -> SimulatedRuntime:
    return SimulatedRuntime()


def _file_storage(options: Mapping[str, str]) -> FileStorage:
    if options:
        raise StorageConfigError(
            f"the file storage takes no options (got {', '.join(sorted(options))})"
        )
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
