"""The `process` runtime with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from swarmkit_py.logs import LogOptions
from swarmkit_py.runtime import ProcessRuntime, TaskError
from swarmkit_py.runtime.base import write_json
from swarmkit_py.runtime.process import TASK_ID_ENV, _boot_id, _proc_stat

from . import alive, collect, eventually, make_task


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(tmp_path)
    yield runtime
    for handle in list(runtime._live.values()):
        await handle.stop(0)


async def test_command_args_env_and_dir_make_the_process(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    task = make_task(
        "t1",
        "sh",
        "-c",
        Args=['echo "$GREETING $1"; pwd; echo "$' + TASK_ID_ENV + '" >&2', "arg0", "world"],
        Env=["GREETING=hello", "HOME"],
        Dir=str(workdir),
    )
    handle = await runtime.start(task)
    assert handle.status()["PID"] == handle.pid > 0
    assert handle.status()["ContainerID"] == f"proc-{handle.pid}"
    assert await handle.wait() == 0
    lines = await collect(runtime.logs("t1", LogOptions()))
    out = [line.data for line in lines if line.stream == "stdout"]
    err = [line.data for line in lines if line.stream == "stderr"]
    assert out == [b"hello world\n", f"{workdir}\n".encode()]
    assert err == [b"t1\n"]
    assert handle.status() == {"ContainerID": f"proc-{handle.pid}", "PID": 0, "ExitCode": 0}


async def test_exit_codes_are_reported_like_docker(runtime: ProcessRuntime) -> None:
    failing = await runtime.start(make_task("t1", "sh", "-c", "exit 3"))
    false = await runtime.start(make_task("t2", "false"))
    signalled = await runtime.start(make_task("t3", "sh", "-c", "kill -USR1 $$"))
    assert await failing.wait() == 3
    assert failing.status()["ExitCode"] == 3
    assert await false.wait() == 1
    assert await signalled.wait() == 128 + signal.SIGUSR1


async def test_missing_executable_fails_with_dockers_message(runtime: ProcessRuntime) -> None:
    with pytest.raises(TaskError) as missing:
        await runtime.start(make_task("t1", "nosuchcmd", "x"))
    assert missing.value.reason == (
        'starting container failed: exec: "nosuchcmd": executable file not found in $PATH'
    )
    with pytest.raises(TaskError) as absent:
        await runtime.start(make_task("t2", "/no/such/file"))
    assert absent.value.reason == (
        'starting container failed: exec: "/no/such/file": '
        "stat /no/such/file: no such file or directory"
    )
    with pytest.raises(TaskError) as empty:
        await runtime.start(make_task("t3"))
    assert empty.value.reason == (
        "the process runtime needs a command: set the service's command or args"
    )


async def test_stop_sends_sigterm_to_the_process_group(runtime: ProcessRuntime) -> None:
    handle = await runtime.start(
        make_task("t1", "sh", "-c", 'trap "echo got TERM; exit 0" TERM; sleep 30 & echo $!; wait')
    )
    await eventually(lambda: os.path.getsize(runtime.data_dir / "tasks/t1/log") > 0)
    child = int((await collect(handle.logs(LogOptions())))[0].data)
    began = time.monotonic()
    await handle.stop(10)
    assert time.monotonic() - began < 3, "the trap ran at once, no SIGKILL was needed"
    assert await handle.wait() == 0
    lines = await collect(handle.logs(LogOptions(stderr=False)))
    assert [line.data for line in lines] == [f"{child}\n".encode(), b"got TERM\n"]
    assert not alive(child)


async def test_stop_kills_after_the_grace_period(runtime: ProcessRuntime) -> None:
    # An ignored signal stays ignored in the shell's children.
    handle = await runtime.start(
        make_task("t1", "sh", "-c", 'trap "" TERM; sleep 30 & echo $!; wait')
    )
    await eventually(lambda: os.path.getsize(runtime.data_dir / "tasks/t1/log") > 0)
    child = int((await collect(handle.logs(LogOptions())))[0].data)
    assert alive(child)
    began = time.monotonic()
    await handle.stop(0.5)
    elapsed = time.monotonic() - began
    assert 0.5 <= elapsed < 3
    assert await handle.wait() == 128 + signal.SIGKILL
    assert not alive(handle.pid)
    await eventually(lambda: not alive(child), what="the task's child to be killed")


async def test_when_the_main_process_ends_its_children_are_killed(
    runtime: ProcessRuntime,
) -> None:
    handle = await runtime.start(make_task("t1", "sh", "-c", "sleep 30 & echo $!"))
    assert await asyncio.wait_for(handle.wait(), 5) == 0
    child = int((await collect(handle.logs(LogOptions())))[0].data)
    await eventually(lambda: not alive(child), what="the task's child to be killed")


async def test_logs_tail_since_until_and_streams(runtime: ProcessRuntime) -> None:
    handle = await runtime.start(
        make_task("t1", "sh", "-c", "echo one; echo two; echo three >&2; sleep 0.1; echo four")
    )
    await handle.wait()

    async def read(**options: object) -> list[bytes]:
        lines = await collect(runtime.logs("t1", LogOptions(**options)))  # type: ignore[arg-type]
        return [line.data.strip() for line in lines]

    everything = await collect(runtime.logs("t1", LogOptions()))
    assert sorted(line.data.strip() for line in everything) == [b"four", b"one", b"three", b"two"]
    assert everything[-1].data == b"four\n"
    assert await read(stderr=False) == [b"one", b"two", b"four"]
    assert await read(stdout=False) == [b"three"]
    assert await read(tail=1) == [b"four"]
    assert await read(tail=2, stderr=False) == [b"two", b"four"]
    assert await read(tail=0) == []
    four = everything[-1].time_ns
    assert await read(since_ns=four) == [b"four"]
    assert b"four" not in await read(until_ns=four)
    assert len(await read(until_ns=four)) == 3


async def test_partial_lines_binary_and_long_lines_are_kept(runtime: ProcessRuntime) -> None:
    script = "printf 'a\\377b\\n'; head -c 40000 /dev/zero | tr '\\0' x; echo; printf 'end'"
    handle = await runtime.start(make_task("t1", "sh", "-c", script))
    await handle.wait()
    lines = [line.data for line in await collect(runtime.logs("t1", LogOptions()))]
    assert lines[0] == b"a\xffb\n"
    assert lines[-1] == b"end"
    long = lines[1:-1]
    assert b"".join(long) == b"x" * 40000 + b"\n"
    assert max(len(piece) for piece in long) == 16 * 1024


async def test_follow_streams_new_lines_until_the_task_ends(runtime: ProcessRuntime) -> None:
    handle = await runtime.start(
        make_task("t1", "sh", "-c", "echo a; sleep 0.3; echo b; sleep 0.3; echo c")
    )
    received: list[tuple[bytes, bool]] = []
    async for line in runtime.logs("t1", LogOptions(follow=True)):
        received.append((line.data, handle.status()["PID"] != 0))
    assert [data for data, _ in received] == [b"a\n", b"b\n", b"c\n"]
    assert received[0][1], "the first line arrives while the task still runs"
    assert handle.status()["PID"] == 0  # following ended because the task ended

    # tail=0 with follow: only what comes next; a consumer may stop at any time.
    handle = await runtime.start(make_task("t2", "sh", "-c", "echo old; sleep 0.3; echo new"))
    await eventually(lambda: os.path.getsize(runtime.data_dir / "tasks/t2/log") > 0)
    async for line in runtime.logs("t2", LogOptions(follow=True, tail=0)):
        assert line.data == b"new\n"
        break
    await handle.stop(0)


async def test_logs_survive_a_daemon_restart(runtime: ProcessRuntime, tmp_path: Path) -> None:
    handle = await runtime.start(make_task("t1", "echo", "kept"))
    await handle.wait()
    again = ProcessRuntime(tmp_path)
    lines = await collect(again.logs("t1", LogOptions(follow=True)))
    assert [line.data for line in lines] == [b"kept\n"]
    assert await collect(again.logs("unknown", LogOptions(follow=True))) == []
    await again.remove("t1")
    assert await collect(again.logs("t1", LogOptions())) == []


_ORPHAN_SCRIPT = """
import asyncio, sys
from pathlib import Path
from swarmkit_py.runtime import ProcessRuntime

async def main():
    runtime = ProcessRuntime(Path(sys.argv[1]))
    task = {"ID": "orphan", "Spec": {"ContainerSpec": {
        "Command": ["sh", "-c", "sleep 300 & echo $!; wait"]}}}
    handle = await runtime.start(task)
    print(handle.pid, flush=True)
    await asyncio.sleep(300)

asyncio.run(main())
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in daemon, in its own process, that starts one task in `tmp_path`."""
    process = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT, str(tmp_path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process that has nothing to do with any task."""
    process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


async def test_tasks_die_with_the_daemon_and_leftovers_are_killed_after(
    tmp_path: Path, daemon: subprocess.Popen[bytes]
) -> None:
    assert daemon.stdout is not None
    main = int(await asyncio.wait_for(asyncio.to_thread(daemon.stdout.readline), 10))
    log = tmp_path / "tasks/orphan/log"
    await eventually(lambda: log.stat().st_size > 0, what="the task's child to start")
    runtime = ProcessRuntime(tmp_path)
    child = int((await collect(runtime.logs("orphan", LogOptions())))[0].data)
    try:
        assert alive(main) and alive(child)
        daemon.kill()
        # PR_SET_PDEATHSIG: the task's main process dies with the daemon ...
        await eventually(lambda: not alive(main), what="the task to die with its daemon")
        # ... its children do not, until the next daemon finds them.
        await asyncio.sleep(0.1)
        assert alive(child)
        assert await runtime.adopt({"ID": "orphan"}) is None
        await eventually(lambda: not alive(child), what="the leftover to be killed")
    finally:
        for pid in (main, child):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_adopt_never_kills_a_process_that_reused_the_pid(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    stat = _proc_stat(stranger.pid)
    assert stat is not None
    directory = tmp_path / "tasks" / "t1"
    directory.mkdir(parents=True)
    record = {"pid": stranger.pid, "start_time": stat[2] - 1, "boot_id": _boot_id()}
    write_json(directory / "process.json", record)
    assert await ProcessRuntime(tmp_path).adopt({"ID": "t1"}) is None
    await asyncio.sleep(0.1)
    assert alive(stranger.pid)
