"""Task log lines and the options of a log request, shared by the runtimes
(which capture them), the agent and dispatcher (which carry them) and the
Engine API (which streams them in Docker's multiplexed format)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class LogOptions:
    """What `service logs` / `GET /services/{id}/logs` asks for."""

    stdout: bool = True
    stderr: bool = True
    #: Only lines at or after this time (unix nanoseconds); 0: from the start.
    since_ns: int = 0
    #: Only lines before this time (unix nanoseconds); 0: no limit.
    until_ns: int = 0
    #: The last N lines of each task; None: all.
    tail: int | None = None
    follow: bool = False
    timestamps: bool = False
    details: bool = False

    def wants(self, line: LogLine) -> bool:
        if line.stream == "stdout" and not self.stdout:
            return False
        if line.stream == "stderr" and not self.stderr:
            return False
        if self.since_ns and line.time_ns < self.since_ns:
            return False
        return not (self.until_ns and line.time_ns >= self.until_ns)

    def to_wire(self) -> dict[str, Any]:
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "since_ns": self.since_ns,
            "until_ns": self.until_ns,
            "tail": self.tail,
            "follow": self.follow,
            "timestamps": self.timestamps,
            "details": self.details,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LogOptions:
        tail = data.get("tail")
        return cls(
            stdout=bool(data.get("stdout", True)),
            stderr=bool(data.get("stderr", True)),
            since_ns=int(data.get("since_ns") or 0),
            until_ns=int(data.get("until_ns") or 0),
            tail=int(tail) if isinstance(tail, int) else None,
            follow=bool(data.get("follow", False)),
            timestamps=bool(data.get("timestamps", False)),
            details=bool(data.get("details", False)),
        )


@dataclass(frozen=True)
class LogLine:
    """One line a task wrote, with its trailing newline (if it had one)."""

    time_ns: int
    stream: Stream
    data: bytes


@dataclass(frozen=True)
class LogMessage:
    """A log line with where it came from."""

    line: LogLine
    node_id: str
    service_id: str
    task_id: str

    def to_wire(self) -> list[Any]:
        return [
            self.line.time_ns,
            self.line.stream,
            self.line.data,
            self.node_id,
            self.service_id,
            self.task_id,
        ]

    @classmethod
    def from_wire(cls, data: list[Any]) -> LogMessage:
        time_ns, stream, raw, node_id, service_id, task_id = data
        return cls(
            LogLine(int(time_ns), "stderr" if stream == "stderr" else "stdout", bytes(raw)),
            str(node_id),
            str(service_id),
            str(task_id),
        )
