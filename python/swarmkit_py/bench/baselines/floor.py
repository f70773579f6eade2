"""The physical floor of this machine for a durable replicated write: a plain
`write` + `fdatasync` loop on the bench's disk, and the round-trip time of a
small message between two processes over TCP on loopback.

With one proposer a durable Raft commit costs at least one fsync (the
leader's and a follower's overlap) plus one round trip, so
`1 / (fdatasync + round trip)` is the most commits/s one proposer can get.

    python -m swarmkit_py.bench.baselines.floor echo --port-file FILE   # the echo side
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..processes import ProcessSet
from ..results import percentile

HOST = "127.0.0.1"
MESSAGE_BYTES = 64
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Floor:
    fdatasync_p50_ms: float
    fdatasyncs_per_s: float
    round_trip_p50_ms: float

    @property
    def one_proposer_commits_per_s(self) -> float:
        """The ceiling for one proposer: one fsync and one round trip per commit."""
        return 1e3 / (self.fdatasync_p50_ms + self.round_trip_p50_ms)

    def facts(self) -> dict[str, float]:
        return {
            "fdatasync_p50_ms": self.fdatasync_p50_ms,
            "fdatasyncs_per_s": self.fdatasyncs_per_s,
            "loopback_round_trip_p50_ms": self.round_trip_p50_ms,
            "one_proposer_floor_commits_per_s": self.one_proposer_commits_per_s,
        }


def fdatasync_loop(path: Path, value_bytes: int, count: int, duration_s: float) -> list[float]:
    """Appends `value_bytes` and fdatasyncs, `count` times or for `duration_s`
    seconds, whichever ends first; the time each took, in seconds."""
    value = b"f" * value_bytes
    times: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        deadline = time.perf_counter() + duration_s
        while len(times) < count and time.perf_counter() < deadline:
            started = time.perf_counter()
            os.write(fd, value)
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return times


def round_trips(port: int, count: int, duration_s: float) -> list[float]:
    """Sends a small message to the echo process and waits for it back,
    `count` times or for `duration_s` seconds; each round trip in seconds."""
    message = b"r" * MESSAGE_BYTES
    times: list[float] = []
    with socket.create_connection((HOST, port), timeout=START_TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.perf_counter() + duration_s
        while len(times) < count and time.perf_counter() < deadline:
            started = time.perf_counter()
            s.sendall(message)
            received = 0
            while received < MESSAGE_BYTES:
                chunk = s.recv(MESSAGE_BYTES - received)
                if not chunk:
                    raise ConnectionError("the echo process closed the connection")
                received += len(chunk)
            times.append(time.perf_counter() - started)
    return times


def measure_floor(
    work_dir: Path, processes: ProcessSet, value_bytes: int, count: int, duration_s: float
) -> Floor:
    """Both loops, each bounded by `count` and `duration_s` (blocking: run it
    in an executor thread from asyncio)."""
    syncs = sorted(fdatasync_loop(work_dir / "floor.data", value_bytes, count, duration_s))
    port_file = work_dir / "floor-echo.port"
    echo = processes.spawn(
        [sys.executable, "-m", "swarmkit_py.bench.baselines.floor", "echo",
         "--port-file", str(port_file)],
        log=work_dir / "floor-echo.log",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists() or not port_file.read_text().strip():
            if echo.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the echo process did not start (see {work_dir}/floor-echo.log)"
                )
            time.sleep(0.01)
        trips = sorted(round_trips(int(port_file.read_text()), count, duration_s))
    finally:
        echo.kill()
        echo.wait()
    return Floor(
        fdatasync_p50_ms=percentile(syncs, 50) * 1e3,
        fdatasyncs_per_s=len(syncs) / sum(syncs) if syncs else 0.0,
        round_trip_p50_ms=percentile(trips, 50) * 1e3,
    )


def _echo(port_file: Path) -> None:
    with socket.create_server((HOST, 0)) as server:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(server.getsockname()[1]))
        tmp.replace(port_file)
        conn, _ = server.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(65536):
                conn.sendall(data)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = p.add_subparsers(dest="command", required=True)
    echo = sub.add_parser("echo", help="echo one TCP connection on loopback")
    echo.add_argument("--port-file", type=Path, required=True, help="where to write the port")
    args = p.parse_args(argv)
    _echo(args.port_file)


if __name__ == "__main__":
    main()
