"""The built-in `process` runtime: a task is a supervised child process.

`Spec.ContainerSpec` is read with Docker's meaning where it applies: argv is
`Command` + `Args` (the image is not used, so one of them must be set), `Env`
(`KEY=VALUE`; a bare `KEY` unsets it) is added to a minimal environment (the
daemon's `PATH` and `HOME`), `Dir` is the working directory, `StopSignal` and
`StopGracePeriod` say how `stop` ends it. No shell is involved.

Each task runs in its own session and process group: `stop` signals the whole
group, and when the main process ends the rest of its group is killed, as a
container ends with its first process. `PR_SET_PDEATHSIG` kills the main
process if the daemon dies; its own children survive that, and are killed
when `adopt` finds them after the restart (they carry `SWARMKIT_TASK_ID` in
their environment and belong to the task's session; a process that merely
reuses a PID is never touched).

Not enforced: `Resources.Limits` (RLIMIT_AS would break programs that map
large address ranges without using them; a cgroup-based runtime can honour
limits), `User`, `Hostname`, mounts, networks, `TTY`.

Output is captured line by line through pipes and appended to
`<data_dir>/tasks/<id>/log` as msgpack records `[time_ns, stream, data]`
(stream 1 = stdout, 2 = stderr; `data` raw bytes with the newline; lines over
16 KiB are split as Docker does); a torn last record is ignored on reading.
`<data_dir>/tasks/<id>/process.json` remembers the PID, its start time
(`/proc/<pid>/stat` field 22) and the boot ID, so leftovers can be told from
unrelated processes that reuse the PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from swarmkit_py.logs import LogLine, LogOptions

from .base import TaskError, container_spec, read_json, task_dir, write_json

#: Set in every task's environment; inherited by its children, it tells
#: leftovers of a task apart from processes that merely reuse a PID.
TASK_ID_ENV = "SWARMKIT_TASK_ID"
#: Lines longer than this are logged in pieces (Docker splits at 16 KiB too).
MAX_LINE = 16 * 1024
#: How long the output may stay open after the task's process group was killed
#: (a process that left the group can hold the pipes).
DRAIN_TIMEOUT = 2.0

_STDOUT, _STDERR = 1, 2
_PR_SET_PDEATHSIG = 1
_READ_CHUNK = 64 * 1024


# --- /proc ----------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(process group, session, start time in clock ticks since boot) of a live
    process, or None if there is none (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain anything.
    fields = text[text.rfind(b")") + 2 :].split()
    try:
        if fields[0] in (b"Z", b"X"):
            return None
        return int(fields[2]), int(fields[3]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _environ_has(pid: int, entry: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return entry in f.read().split(b"\0")
    except OSError:
        return False


def _kill_leftovers(task_id: str, pid: int, start_time: int) -> int:
    """Kills what is left of a task started by an earlier run of the daemon: the
    main process if it still runs with the recorded start time (and its group),
    and any process of its session that carries the task's marker. The number
    of processes signalled."""
    killed = 0
    stat = _proc_stat(pid)
    if stat is not None and stat[2] == start_time:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
            killed += 1
    marker = f"{TASK_ID_ENV}={task_id}".encode()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return killed
    for name in entries:
        if not name.isdigit() or int(name) in (pid, os.getpid()):
            continue
        other = int(name)
        stat = _proc_stat(other)
        if stat is None or pid not in (stat[0], stat[1]):
            continue
        if _environ_has(other, marker):
            with contextlib.suppress(OSError):
                os.kill(other, signal.SIGKILL)
                killed += 1
    return killed


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGKILL the child when the daemon dies
    (Linux only; the signal follows the forking thread, here the event loop's)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sigkill = int(signal.SIGKILL)

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent:  # the daemon died before prctl took effect
            os.kill(os.getpid(), sigkill)

    return setup


# --- the task's command ---------------------------------------------------


def _strings(spec: Mapping[str, Any], key: str) -> list[str]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaskError(f"invalid ContainerSpec.{key}: expected a list of strings")
    return list(value)


def _environment(spec: Mapping[str, Any], task_id: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH") or os.defpath}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    for item in _strings(spec, "Env"):
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
        else:
            env.pop(key, None)
    env[TASK_ID_ENV] = task_id
    return env


def _resolve(program: str, path: str, cwd: str | None) -> str:
    """The executable to run for argv[0], with Docker's messages when there is none."""
    failed = f'starting container failed: exec: "{program}"'
    if "/" in program:
        target = os.path.join(cwd or os.getcwd(), program)
        if not os.path.exists(target):
            raise TaskError(f"{failed}: stat {program}: no such file or directory")
        if os.path.isdir(target) or not os.access(target, os.X_OK):
            raise TaskError(f"{failed}: permission denied")
        return program
    found = shutil.which(program, path=path)
    if found is None:
        raise TaskError(f"{failed}: executable file not found in $PATH")
    return os.path.abspath(found)


def _stop_signal(spec: Mapping[str, Any]) -> int:
    text = spec.get("StopSignal")
    if not isinstance(text, str) or not text:
        return int(signal.SIGTERM)
    name = text.upper()
    if name.isdigit():
        return int(name)
    try:
        return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except KeyError:
        return int(signal.SIGTERM)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _spawn(
    data_dir: Path, task_id: str, task: Mapping[str, Any]
) -> tuple[Path, subprocess.Popen[bytes], _LogWriter, int]:
    """Starts the task's main process: (its directory, the process, its log, its
    stop signal)."""
    try:
        directory = task_dir(data_dir, task_id)
    except ValueError as e:
        raise TaskError(f"starting container failed: {e}") from None
    spec = container_spec(task)
    argv = _strings(spec, "Command") + _strings(spec, "Args")
    if not argv:
        raise TaskError("the process runtime needs a command: set the service's command or args")
    env = _environment(spec, task_id)
    workdir = spec.get("Dir") or None
    if workdir is not None and not (isinstance(workdir, str) and os.path.isdir(workdir)):
        raise TaskError(f"starting container failed: working directory {workdir!r} does not exist")
    executable = _resolve(argv[0], env["PATH"], workdir)

    directory.mkdir(parents=True, exist_ok=True)
    log = _LogWriter(directory / "log")
    try:
        popen = subprocess.Popen(
            argv,
            executable=executable,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
    except OSError as e:
        log.close()
        reason = (e.strerror or str(e)).lower()
        raise TaskError(f'starting container failed: exec: "{argv[0]}": {reason}') from None
    return directory, popen, log, _stop_signal(spec)


# --- output ---------------------------------------------------------------


class _LogWriter:
    """Appends a task's output to its log file and wakes those following it."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.finished = False
        self._changed: asyncio.Event | None = None

    def append(self, stream: int, data: bytes) -> None:
        if self.finished:
            return
        record = msgpack.packb([time.time_ns(), stream, data], use_bin_type=True)
        try:
            os.write(self._fd, record)
        except OSError:
            pass  # a full disk loses output, never the task
        self._wake()

    def close(self) -> None:
        if not self.finished:
            self.finished = True
            os.close(self._fd)
            self._wake()

    def changed(self) -> asyncio.Event:
        """Set at the next append or at close."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


class _LineSplitter(asyncio.Protocol):
    """Reads one pipe and hands each line (or 16 KiB piece) to the log."""

    def __init__(self, log: _LogWriter, stream: int, closed: asyncio.Future[None]) -> None:
        self._log = log
        self._stream = stream
        self._closed = closed
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        start = 0
        while True:
            end = buffer.find(b"\n", start, start + MAX_LINE)
            if end >= 0:
                self._log.append(self._stream, buffer[start : end + 1])
                start = end + 1
            elif len(buffer) - start >= MAX_LINE:
                self._log.append(self._stream, buffer[start : start + MAX_LINE])
                start += MAX_LINE
            else:
                break
        self._buffer = buffer[start:]

    def eof_received(self) -> bool | None:
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._flush()
        if not self._closed.done():
            self._closed.set_result(None)

    def _flush(self) -> None:
        if self._buffer:
            self._log.append(self._stream, self._buffer)
            self._buffer = b""


def _decode(record: Any) -> LogLine | None:
    if not isinstance(record, list) or len(record) != 3:
        return None
    time_ns, stream, data = record
    if not isinstance(time_ns, int) or not isinstance(data, bytes):
        return None
    return LogLine(time_ns, "stderr" if stream == _STDERR else "stdout", data)


def _open_log(path: Path) -> BinaryIO | None:
    try:
        return open(path, "rb")
    except OSError:
        return None


async def read_log(
    path: Path, options: LogOptions, live: _LogWriter | None
) -> AsyncIterator[LogLine]:
    """The lines of a log file that `options` asks for; with `follow`, also the
    lines `live` appends, until it is closed and the file is drained."""
    file = _open_log(path)
    if file is None:
        return
    with file:
        unpacker = msgpack.Unpacker(raw=False)
        past_until = False

        def read() -> list[LogLine] | None:
            """The wanted lines of the next chunk; None at the end of the file."""
            nonlocal past_until
            chunk = file.read(_READ_CHUNK)
            if not chunk:
                return None
            unpacker.feed(chunk)
            lines: list[LogLine] = []
            try:
                for record in unpacker:
                    line = _decode(record)
                    if line is None:
                        continue
                    if options.until_ns and line.time_ns >= options.until_ns:
                        past_until = True
                    elif options.wants(line):
                        lines.append(line)
            except (ValueError, msgpack.UnpackException):
                past_until = True  # a damaged file: stop at the damage
            return lines

        # What the file holds now.
        backlog: deque[LogLine] | None = deque(maxlen=options.tail) if options.tail else None
        while not past_until and (lines := read()) is not None:
            if options.tail is None:
                for line in lines:
                    yield line
            elif backlog is not None:
                backlog.extend(lines)
            await asyncio.sleep(0)
        for line in backlog or ():
            yield line
        if not options.follow:
            return
        # What is appended until the task has ended.
        while not past_until:
            done = live is None or live.finished
            changed = None if live is None or done else live.changed()
            lines = read()
            if lines is not None:
                for line in lines:
                    yield line
                continue
            if changed is None:
                return
            timeout = None
            if options.until_ns:
                timeout = max(0.0, (options.until_ns - time.time_ns()) / 1e9)
            try:
                await asyncio.wait_for(changed.wait(), timeout)
            except TimeoutError:
                return


# --- handles and the runtime ----------------------------------------------


class ProcessHandle:
    """A task's main process, its output and its end."""

    def __init__(
        self,
        task_id: str,
        popen: subprocess.Popen[bytes],
        start_time: int,
        log_path: Path,
        log: _LogWriter,
        stop_signal: int,
        on_finish: Callable[[ProcessHandle], None],
    ) -> None:
        self.task_id = task_id
        self.pid = popen.pid
        self.start_time = start_time
        self.exit_code: int | None = None
        self._popen = popen
        self._log_path = log_path
        self._log = log
        self._stop_signal = stop_signal
        self._on_finish = on_finish
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = loop.create_future()
        self._pipes_closed: list[asyncio.Future[None]] = []
        self._transports: list[asyncio.BaseTransport] = []
        self._done: asyncio.Task[int] | None = None

    async def _attach(self) -> None:
        loop = asyncio.get_running_loop()
        for stream, pipe in ((_STDOUT, self._popen.stdout), (_STDERR, self._popen.stderr)):
            closed: asyncio.Future[None] = loop.create_future()
            self._pipes_closed.append(closed)
            transport, _ = await loop.connect_read_pipe(
                functools.partial(_LineSplitter, self._log, stream, closed), pipe
            )
            self._transports.append(transport)
        self._watch_exit(loop)
        self._done = loop.create_task(self._supervise(), name=f"task {self.task_id}")

    def _watch_exit(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            loop.create_task(self._poll_exit())
            return

        def exited() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._reap()

        loop.add_reader(pidfd, exited)

    async def _poll_exit(self) -> None:
        """Where there is no pidfd (Linux before 5.3)."""
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        while os.waitid(os.P_PID, self.pid, flags) is None:  # noqa: ASYNC110, ASYNC222 - WNOHANG
            await asyncio.sleep(0.05)
        self._reap()

    def _reap(self) -> None:
        """The main process has ended but is not reaped yet, so its PID (the
        group's ID) cannot have been reused: kill the rest of the group, as a
        container ends with its first process, then reap it."""
        self._signal(signal.SIGKILL)
        if not self._exited.done():
            self._exited.set_result(self._popen.wait())

    async def _supervise(self) -> int:
        code = _exit_code(await self._exited)
        _, pending = await asyncio.wait(self._pipes_closed, timeout=DRAIN_TIMEOUT)
        if pending:  # a process that left the group holds the pipes
            for transport in self._transports:
                transport.close()
            await asyncio.wait(pending, timeout=1.0)
        self._log.close()
        self.exit_code = code
        self._on_finish(self)
        return code

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signum)

    @property
    def running(self) -> bool:
        return self.exit_code is None

    async def wait(self) -> int:
        assert self._done is not None
        return await asyncio.shield(self._done)

    async def stop(self, grace: float) -> None:
        if not self._exited.done():
            self._signal(self._stop_signal)
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), max(grace, 0.0))
            except TimeoutError:
                self._signal(signal.SIGKILL)
        await self.wait()

    def status(self) -> dict[str, Any]:
        return {
            "ContainerID": f"proc-{self.pid}",
            "PID": self.pid if self.exit_code is None else 0,
            "ExitCode": self.exit_code or 0,
        }

    def logs(self, options: LogOptions) -> AsyncIterator[LogLine]:
        return read_log(self._log_path, options, self._log)


class ProcessRuntime:
    """Runs each task as a child process of the daemon (see the module docstring)."""

    name = "process"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._live: dict[str, ProcessHandle] = {}

    async def start(self, task: dict[str, Any]) -> ProcessHandle:
        task_id = str(task.get("ID") or "")
        if task_id in self._live:
            raise TaskError(f"starting container failed: task {task_id} is already running")
        # Forked from the event loop's thread, which PR_SET_PDEATHSIG watches.
        directory, popen, log, stop_signal = _spawn(self.data_dir, task_id, task)
        stat = _proc_stat(popen.pid)
        handle = ProcessHandle(
            task_id,
            popen,
            stat[2] if stat else 0,
            directory / "log",
            log,
            stop_signal,
            self._finished,
        )
        try:
            write_json(
                directory / "process.json",
                {"pid": handle.pid, "start_time": handle.start_time, "boot_id": _boot_id()},
            )
            await handle._attach()
        except BaseException:
            handle._signal(signal.SIGKILL)
            popen.wait()
            log.close()
            raise
        self._live[task_id] = handle
        return handle

    def _finished(self, handle: ProcessHandle) -> None:
        if self._live.get(handle.task_id) is handle:
            del self._live[handle.task_id]
        path = task_dir(self.data_dir, handle.task_id) / "process.json"
        with contextlib.suppress(OSError):
            if path.exists():
                write_json(
                    path,
                    {
                        "pid": handle.pid,
                        "start_time": handle.start_time,
                        "boot_id": _boot_id(),
                        "exit_code": handle.exit_code,
                    },
                )

    async def adopt(self, task: dict[str, Any]) -> ProcessHandle | None:
        """A process cannot be supervised again by another daemon (its output
        pipes are gone): kill what is left of it and answer None."""
        task_id = str(task.get("ID") or "")
        if task_id in self._live:
            return self._live[task_id]
        try:
            path = task_dir(self.data_dir, task_id) / "process.json"
        except ValueError:
            return None
        record = read_json(path)
        if not isinstance(record, dict) or "exit_code" in record:
            return None
        pid, start_time = record.get("pid"), record.get("start_time")
        if isinstance(pid, int) and isinstance(start_time, int) and pid > 0:
            if record.get("boot_id") == _boot_id():
                _kill_leftovers(task_id, pid, start_time)
            record["exit_code"] = None  # unknown, and nothing left of it
            with contextlib.suppress(OSError):
                write_json(path, record)
        return None

    def logs(self, task_id: str, options: LogOptions) -> AsyncIterator[LogLine]:
        live = self._live.get(task_id)
        try:
            path = task_dir(self.data_dir, task_id) / "log"
        except ValueError:
            path = self.data_dir / "tasks" / "-" / "log"  # reads as no output
        return read_log(path, options, live._log if live is not None else None)

    async def remove(self, task_id: str) -> None:
        live = self._live.get(task_id)
        if live is not None:
            await live.stop(0)
        with contextlib.suppress(ValueError):
            directory = task_dir(self.data_dir, task_id)
            for name in ("log", "process.json", "process.json.tmp"):
                with contextlib.suppress(OSError):
                    (directory / name).unlink()
