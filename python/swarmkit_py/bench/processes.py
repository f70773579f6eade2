"""The processes a benchmark spawns: started in their own session, killed
without fail at the end, and measured through /proc (CPU time and peak
memory).

    with ProcessSet() as spawned:             # every process killed on exit,
        p = spawned.spawn(["etcd", ...], log)  # Ctrl-C and errors included
        meter = UsageMeter({"etcd-1": p.pid})
        meter.start(); ...; usage = meter.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1
# Resolved here: the child only calls it between fork and exec.
_PRCTL = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


@dataclass(frozen=True)
class ProcessUsage:
    """One process over a measured window."""

    name: str
    pid: int
    #: CPU time (user + system) over the window, as a percentage of one core.
    cpu_percent: float
    #: Peak resident memory of the process's whole life so far (VmHWM).
    peak_rss_mib: float

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pid": self.pid,
            "cpu_percent": round(self.cpu_percent, 1),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: count fields after its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process in MiB (0 if it is gone)."""
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    """Resident memory now (VmRSS) of a live process in MiB (0 if it is gone)."""
    return _status_mib(pid, "VmRSS")


def _status_mib(pid: int, field: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class UsageMeter:
    """CPU use of named processes between `start` and `stop`."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self._cpu: dict[str, float] = {}
        self._started = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()
        self._cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> list[ProcessUsage]:
        wall = max(time.perf_counter() - self._started, 1e-9)
        return [
            ProcessUsage(
                name=name,
                pid=pid,
                cpu_percent=100 * (cpu_seconds(pid) - self._cpu.get(name, 0.0)) / wall,
                peak_rss_mib=peak_rss_mib(pid),
            )
            for name, pid in self.pids.items()
        ]


def kill_and_reap(processes: Iterable[subprocess.Popen[bytes] | None]) -> None:
    """SIGKILLs the processes still running and waits for each, for a group
    whose data is thrown away (no need for a clean shutdown)."""
    started = [p for p in processes if p is not None]
    for process in started:
        if process.poll() is None:
            process.kill()
    for process in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the thread that spawned it dies
    (the bench's main thread), even by `kill -9`, so nothing outlives it."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ProcessSet:
    """Processes that must not outlive the benchmark: each runs in its own
    session (so a terminal's Ctrl-C reaches only the bench, which then stops
    them in order) and dies with the bench process; `kill_all` (run on exit
    of the `with` block, whatever ends it) kills the survivors' process groups
    and reaps them."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self._adopted: list[subprocess.Popen[bytes]] = []

    def spawn(
        self,
        args: Sequence[str],
        log: Path | None = None,
        env: Mapping[str, str] | None = None,
        pipes: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Starts `args` with its output in `log` (or discarded); with `pipes`,
        its stdin and stdout are pipes to talk to it."""
        out = open(log, "ab") if log is not None else subprocess.DEVNULL
        try:
            process = subprocess.Popen(
                list(args),
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else out,
                stderr=out,
                env=None if env is None else {**os.environ, **env},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        self.processes.append(process)
        return process

    def adopt(self, process: subprocess.Popen[bytes] | None) -> None:
        """Kills `process` too at the end (one another helper started, e.g. a
        `LocalCluster` node, which shares the bench's process group)."""
        if process is not None:
            self._adopted.append(process)

    def kill_all(self) -> None:
        """Kills every process still running (its whole group for those
        spawned here) and reaps them."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in self._adopted:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        for process in self.processes + self._adopted:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def __enter__(self) -> ProcessSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill_all()


class BenchProcessError(RuntimeError):
    """A process the bench started died, failed or hung (the message says which)."""


async def ask(
    process: subprocess.Popen[bytes], message: str, timeout: float, log: Path | None = None
) -> dict[str, Any]:
    """Sends one line to a child spawned with `pipes` and returns its JSON answer
    line. Raises BenchProcessError if it exits, answers `{"error": ...}` or
    takes longer than `timeout` seconds."""
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(message.encode() + b"\n")
        process.stdin.flush()
    except BrokenPipeError:
        pass  # it exited: readline says so below
    reply = asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)
    try:
        line = await asyncio.wait_for(reply, timeout)
    except TimeoutError:
        raise BenchProcessError(
            f"{_name(process)} did not answer within {timeout:.0f} s{_tail(log)}"
        ) from None
    if not line:
        raise BenchProcessError(f"{_name(process)} exited{_tail(log)}")
    answer: dict[str, Any] = json.loads(line)
    if "error" in answer:
        raise BenchProcessError(f"{_name(process)}: {answer['error']}")
    return answer


def _name(process: subprocess.Popen[bytes]) -> str:
    args = process.args if isinstance(process.args, list) else [str(process.args)]
    words = [str(a) for a in args]
    if len(words) > 2 and words[1] == "-m":
        return f"{words[2].rsplit('.', 1)[-1]} (pid {process.pid})"
    return f"{Path(words[0]).name} (pid {process.pid})"


def _tail(log: Path | None, chars: int = 2000) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace")[-chars:].strip()
    return f"; its output ends:\n{text}" if text else ""


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turns SIGTERM into KeyboardInterrupt while inside, so `finally` blocks
    (and `ProcessSet.kill_all`) run when the bench is terminated too."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
