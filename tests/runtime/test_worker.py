"""The worker reconciling assigned tasks with real processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.agent.worker import LOST, Worker
from swarmkit_py.logs import LogOptions
from swarmkit_py.runtime import ProcessRuntime

from . import alive, collect, eventually, make_task


class Reports:
    """What a worker reported, batch by batch."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        self.batches.append(batch)

    def of(self, task_id: str) -> list[dict[str, Any]]:
        return [u["status"] for b in self.batches for u in b if u["task_id"] == task_id]

    def states(self, task_id: str) -> list[str]:
        return [status["State"] for status in self.of(task_id)]

    def last(self, task_id: str) -> dict[str, Any]:
        statuses = self.of(task_id)
        return statuses[-1] if statuses else {}

    def count(self) -> int:
        return sum(len(batch) for batch in self.batches)

    async def reach(self, task_id: str, state: str, timeout: float = 5.0) -> dict[str, Any]:
        await eventually(
            lambda: self.last(task_id).get("State") == state,
            timeout,
            what=f"task {task_id} to be reported {state} (so far {self.states(task_id)})",
        )
        return self.last(task_id)


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
async def worker(tmp_path: Path, reports: Reports) -> AsyncIterator[Worker]:
    worker = Worker(ProcessRuntime(tmp_path), tmp_path, "node1", reports)
    await worker.start()
    yield worker
    await worker.stop()


def with_state(task: dict[str, Any], state: str, desired: str | None = None) -> dict[str, Any]:
    """The task as the store shows it once it has recorded `state`."""
    return {
        **task,
        "Status": {"State": state},
        "DesiredState": desired or task["DesiredState"],
    }


async def test_assigned_task_is_started_and_reported_running(
    worker: Worker, reports: Reports
) -> None:
    await worker.apply([make_task("t1", "sleep", "30")])
    running = await reports.reach("t1", "running")
    states = reports.states("t1")
    order = ["accepted", "preparing", "starting", "running"]
    assert states == [s for s in order if s in states], states
    assert running["Message"] == "started"
    pid = running["ContainerStatus"]["PID"]
    assert pid > 0 and alive(pid)
    assert worker.running_count() == 1
    assert worker.statuses() == [{"task_id": "t1", "status": running}]
    assert [t["ID"] for t in worker.known_tasks()] == ["t1"]


async def test_updates_of_one_loop_iteration_are_batched(worker: Worker, reports: Reports) -> None:
    await worker.apply([make_task(f"t{i}", "sleep", "30") for i in range(3)])
    for i in range(3):
        await reports.reach(f"t{i}", "running")
    assert {u["task_id"] for u in reports.batches[0]} == {"t0", "t1", "t2"}


async def test_applying_the_same_set_again_changes_nothing(
    worker: Worker, reports: Reports
) -> None:
    task = make_task("t1", "sleep", "30")
    await worker.apply([task])
    pid = (await reports.reach("t1", "running"))["ContainerStatus"]["PID"]
    sent = reports.count()
    await worker.apply([task])  # the store has not recorded the reports yet
    await worker.apply([with_state(task, "running")])
    await worker.apply([with_state(task, "running")])
    await asyncio.sleep(0.2)
    assert reports.count() == sent
    assert alive(pid)
    assert worker.statuses()[0]["status"]["ContainerStatus"]["PID"] == pid


async def test_exits_are_reported_complete_or_failed_and_never_restarted(
    worker: Worker, reports: Reports
) -> None:
    ok, bad = make_task("ok", "true"), make_task("bad", "sh", "-c", "exit 3")
    await worker.apply([ok, bad])
    complete = await reports.reach("ok", "complete")
    failed = await reports.reach("bad", "failed")
    assert complete["Message"] == "finished"
    assert complete["ContainerStatus"]["ExitCode"] == 0
    assert failed["Err"] == "task: non-zero exit (3)"
    assert failed["ContainerStatus"]["ExitCode"] == 3
    assert worker.running_count() == 0
    sent = reports.count()
    await worker.apply([ok, bad])
    await worker.apply([with_state(ok, "running"), with_state(bad, "running")])
    await asyncio.sleep(0.2)
    assert reports.count() == sent


async def test_missing_executable_is_rejected_with_the_reason(
    worker: Worker, reports: Reports
) -> None:
    await worker.apply([make_task("t1", "nosuchcmd")])
    rejected = await reports.reach("t1", "rejected")
    assert rejected["Err"] == (
        'starting container failed: exec: "nosuchcmd": executable file not found in $PATH'
    )


async def test_desired_shutdown_stops_the_task_within_its_grace_period(
    worker: Worker, reports: Reports
) -> None:
    task = make_task("t1", "sh", "-c", 'trap "" TERM; sleep 30', grace=0.3)
    await worker.apply([task])
    pid = (await reports.reach("t1", "running"))["ContainerStatus"]["PID"]
    began = time.monotonic()
    await worker.apply([with_state(task, "running", desired="shutdown")])
    shutdown = await reports.reach("t1", "shutdown")
    assert time.monotonic() - began >= 0.3
    assert shutdown["Message"] == "shutdown"
    assert shutdown["ContainerStatus"]["ExitCode"] == 137
    assert not alive(pid)


async def test_task_waiting_in_ready_is_not_started(worker: Worker, reports: Reports) -> None:
    await worker.apply([make_task("t1", "sleep", "30", desired="ready")])
    await asyncio.sleep(0.2)
    assert reports.count() == 0 and worker.running_count() == 0


async def test_task_lost_by_an_earlier_daemon_is_reported_failed(
    worker: Worker, reports: Reports
) -> None:
    lost = make_task("t1", "sleep", "30", state="running")
    await worker.apply([lost])
    failed = await reports.reach("t1", "failed")
    assert failed["Err"] == LOST
    assert worker.running_count() == 0
    sent = reports.count()
    await worker.apply([lost])
    await asyncio.sleep(0.1)
    assert reports.count() == sent


async def test_task_removed_from_the_set_is_stopped(worker: Worker, reports: Reports) -> None:
    await worker.apply([make_task("t1", "sleep", "30"), make_task("t2", "sleep", "30")])
    pid1 = (await reports.reach("t1", "running"))["ContainerStatus"]["PID"]
    pid2 = (await reports.reach("t2", "running"))["ContainerStatus"]["PID"]
    await asyncio.sleep(0.2)  # without apply, nothing changes
    assert alive(pid1) and alive(pid2)
    await worker.apply([make_task("t2", "sleep", "30")])
    await reports.reach("t1", "shutdown")
    assert not alive(pid1) and alive(pid2)


async def test_a_removed_tasks_files_are_deleted_once_it_has_stopped(
    worker: Worker, reports: Reports, tmp_path: Path
) -> None:
    task = make_task("t1", "sleep", "30", grace=0)
    await worker.apply([task])
    await reports.reach("t1", "running")
    assert (tmp_path / "tasks/t1/log").exists()
    await worker.apply([with_state(task, "running", desired="remove")])
    await reports.reach("t1", "shutdown")
    await worker.apply([])
    assert not (tmp_path / "tasks/t1").exists()
    assert worker.known_tasks() == []


async def test_finished_tasks_are_kept_while_the_store_holds_them(
    worker: Worker, reports: Reports, tmp_path: Path
) -> None:
    tasks = [make_task(f"t{i}", "echo", f"run {i}") for i in range(3)]
    await worker.apply(tasks)
    for task in tasks:
        await reports.reach(task["ID"], "complete")
    # The store deleted t0 (history trimmed): its directory goes, the others stay.
    await worker.apply(tasks[1:])
    kept = sorted(path.name for path in (tmp_path / "tasks").iterdir())
    assert kept == ["t1", "t2"]
    lines = await collect(worker.logs("t2", LogOptions()))
    assert [line.data for line in lines] == [b"run 2\n"]


async def test_stopping_the_worker_stops_its_tasks(tmp_path: Path, reports: Reports) -> None:
    worker = Worker(ProcessRuntime(tmp_path), tmp_path, "node1", reports)
    await worker.start()
    await worker.apply([make_task("t1", "sleep", "30")])
    pid = (await reports.reach("t1", "running"))["ContainerStatus"]["PID"]
    await worker.stop()
    assert not alive(pid)
    assert reports.last("t1")["State"] == "shutdown"


async def test_a_restarted_worker_kills_leftovers_and_reports_them_failed(
    tmp_path: Path, reports: Reports
) -> None:
    first = Worker(ProcessRuntime(tmp_path), tmp_path, "node1", reports)
    await first.start()
    task = make_task("t1", "sh", "-c", "sleep 30 & echo $!; wait")
    await first.apply([task])
    pid = (await reports.reach("t1", "running"))["ContainerStatus"]["PID"]
    await eventually(lambda: (tmp_path / "tasks/t1/log").stat().st_size > 0)
    child = int((await collect(first.logs("t1", LogOptions())))[0].data)
    await first.stop(stop_tasks=False)  # as if the daemon was killed
    assert alive(pid) and alive(child)

    again = Reports()
    second = Worker(ProcessRuntime(tmp_path), tmp_path, "node1", again)
    await second.start()
    try:
        await eventually(lambda: not alive(pid) and not alive(child), what="leftovers killed")
        await second.apply([with_state(task, "running")])
        failed = await again.reach("t1", "failed")
        assert failed["Err"] == LOST
        assert second.running_count() == 0
        lines = await collect(second.logs("t1", LogOptions()))
        assert [line.data for line in lines] == [f"{child}\n".encode()]
    finally:
        await second.stop()


async def test_a_restarted_worker_reports_what_ended_while_it_was_away(
    tmp_path: Path, reports: Reports
) -> None:
    first = Worker(ProcessRuntime(tmp_path), tmp_path, "node1", reports)
    await first.start()
    task = make_task("t1", "true")
    await first.apply([task])
    await reports.reach("t1", "complete")
    await first.stop()

    again = Reports()
    second = Worker(ProcessRuntime(tmp_path), tmp_path, "node1", again)
    await second.start()
    try:
        # The manager never got the report: the store still says running.
        await second.apply([with_state(task, "running")])
        complete = await again.reach("t1", "complete")
        assert complete["Message"] == "finished"
        assert second.statuses() == [{"task_id": "t1", "status": complete}]
    finally:
        await second.stop()
