"""Storage backends: where a manager keeps its Raft log (and, optionally, a
queryable copy of the applied cluster state). See docs/storage.md."""

from .types import (
    HardState,
    LogBackend,
    LogRecord,
    NodeLive,
    RecoveredLog,
    SnapshotRecord,
    StateChange,
    StateSink,
    Storage,
    StorageConfigError,
    StorageUnavailable,
)

__all__ = [
    "HardState",
    "LogBackend",
    "LogRecord",
    "NodeLive",
    "RecoveredLog",
    "SnapshotRecord",
    "StateChange",
    "StateSink",
    "Storage",
    "StorageConfigError",
    "StorageUnavailable",
]
