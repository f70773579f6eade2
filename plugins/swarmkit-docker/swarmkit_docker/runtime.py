"""The `docker` runtime: each task is a container on the node's Docker engine.

`start` creates the container (`container.create_options`: the task's
`ContainerSpec`, Docker's swarm labels, our marker labels) and starts it. The
image must be on the node already: nothing is pulled, and a missing one
rejects the task with the engine's `No such image: <ref>`. A container whose
start fails (no such executable, ...) is removed again, so a rejected task
leaves none behind.

A handle waits for its container's end on a thread of its own; the exit code
is the engine's (137 after SIGKILL). `stop(grace)` is `docker stop -t grace`:
the stop signal, SIGKILL after the grace period. The container is kept after
it ended, with its logs, until the worker `remove`s the task.

After a restart of swarmd, `adopt` finds a task's container by its task-ID
label and supervises it again if it still runs, so healthy containers are
not restarted. Containers made by an earlier run for tasks the worker no
longer keeps (no `task_dir`, the worker's record of the task) are removed
by `sweep`, once per runtime, before its first `start` or `adopt` (and in the
background when the runtime is made inside a running event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from swarmkit_py.logs import LogLine, LogOptions
from swarmkit_py.runtime import TaskError, task_dir

from .container import DATA_DIR_LABEL, MANAGED_LABEL, TASK_ID_LABEL, create_options
from .engine import Engine
from .logs import read_logs

log = logging.getLogger(__name__)

#: Container states in which a container still runs its task.
RUNNING_STATES = ("running", "paused", "restarting")


def _explain(error: DockerException) -> str:
    """The engine's own message for an API error, else the SDK's."""
    if isinstance(error, APIError) and error.explanation:
        return str(error.explanation)
    return str(error)


class ContainerLost(Exception):
    """A container's end could not be observed (removed meanwhile, engine lost)."""


class DockerHandle:
    """One task's container, supervised until it ends."""

    def __init__(
        self,
        engine: Engine,
        task_id: str,
        container_id: str,
        pid: int,
        on_finish: Callable[[DockerHandle], None],
    ) -> None:
        self.engine = engine
        self.task_id = task_id
        self.container_id = container_id
        self.pid = pid
        self.exit_code: int | None = None
        self._on_finish = on_finish
        self._ended = engine.watch(self._wait_blocking, f"wait {container_id[:12]}")
        self._done = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"container {container_id[:12]}"
        )

    def _wait_blocking(self, client: docker.DockerClient) -> int:
        try:
            result = client.api.wait(self.container_id)
        except NotFound:
            raise ContainerLost(f"container {self.container_id[:12]} was removed") from None
        except (DockerException, OSError) as e:
            raise ContainerLost(
                f"lost the Docker engine while container {self.container_id[:12]} ran: {e}"
            ) from None
        return int(result.get("StatusCode", -1))

    async def _supervise(self) -> int:
        try:
            self.exit_code = await self._ended
            return self.exit_code
        finally:
            self.pid = 0
            self._on_finish(self)

    @property
    def running(self) -> bool:
        return not self._done.done()

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    async def stop(self, grace: float) -> None:
        if not self._done.done():
            seconds = max(0, math.ceil(grace))
            try:
                await self.engine.call(lambda c: c.api.stop(self.container_id, timeout=seconds))
            except NotFound:
                pass  # gone already: wait() says how it ended
        with contextlib.suppress(ContainerLost):
            await self.wait()

    def status(self) -> dict[str, Any]:
        return {
            "ContainerID": self.container_id,
            "PID": self.pid if self.exit_code is None else 0,
            "ExitCode": self.exit_code or 0,
        }

    def logs(self, options: LogOptions) -> AsyncIterator[LogLine]:
        return read_logs(self.engine, self.container_id, options)


class DockerRuntime:
    """Runs each task as a container on the local Docker engine (see the module
    docstring)."""

    name = "docker"

    def __init__(self, data_dir: Path, engine: Engine | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.engine = engine or Engine()
        self._live: dict[str, DockerHandle] = {}
        self._swept = False
        self._sweep_lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        with contextlib.suppress(RuntimeError):  # no running loop: sweep on first use
            loop = asyncio.get_running_loop()
            self._background = loop.create_task(self._sweep_in_background())

    # --- tasks ----------------------------------------------------------------

    async def start(self, task: dict[str, Any]) -> DockerHandle:
        task_id = str(task.get("ID") or "")
        if task_id in self._live:
            raise TaskError(f"starting container failed: task {task_id} is already running")
        try:
            directory = task_dir(self.data_dir, task_id)
        except ValueError as e:
            raise TaskError(f"starting container failed: {e}") from None
        options = create_options(task, self.data_dir)
        # The sweep removes containers whose task has no directory: make it first.
        directory.mkdir(parents=True, exist_ok=True)
        try:
            await self.sweep()
            container_id, pid = await self.engine.call(lambda c: _create_and_start(c, options))
        except DockerException as e:
            raise TaskError(f"starting container failed: {_explain(e)}") from None
        handle = DockerHandle(self.engine, task_id, container_id, pid, self._finished)
        self._live[task_id] = handle
        return handle

    async def adopt(self, task: dict[str, Any]) -> DockerHandle | None:
        """The handle of the task's container if it still runs; None otherwise
        (an ended container is kept, with its logs, until `remove`)."""
        task_id = str(task.get("ID") or "")
        if task_id in self._live:
            return self._live[task_id]
        await self.sweep()
        for row in await self._containers(task_id):
            if row.get("State") in RUNNING_STATES:
                handle = await self._attach(task_id, str(row["Id"]))
                if handle is not None:
                    return handle
        return None

    async def _attach(self, task_id: str, container_id: str) -> DockerHandle | None:
        """A handle on the container if it runs."""
        try:
            attrs = await self.engine.call(lambda c: c.api.inspect_container(container_id))
        except NotFound:
            return None
        state = attrs.get("State") or {}
        if not state.get("Running"):
            return None
        handle = DockerHandle(
            self.engine, task_id, container_id, int(state.get("Pid") or 0), self._finished
        )
        self._live[task_id] = handle
        log.info("adopted container %s of task %s", container_id[:12], task_id)
        return handle

    async def logs(self, task_id: str, options: LogOptions) -> AsyncIterator[LogLine]:
        """The task's output from the engine (nothing once it is removed)."""
        live = self._live.get(task_id)
        if live is not None:
            container_id = live.container_id
        else:
            try:
                rows = await self._containers(task_id)
            except DockerException as e:
                log.warning("could not find the container of task %s: %s", task_id, e)
                return
            if not rows:
                return
            container_id = str(rows[0]["Id"])  # the newest
        async for line in read_logs(self.engine, container_id, options):
            yield line

    async def remove(self, task_id: str) -> None:
        """Removes the task's container (killing it if it still runs)."""
        live = self._live.get(task_id)
        for row in await self._containers(task_id):
            await self._remove_container(str(row["Id"]))
        if live is not None:
            with contextlib.suppress(ContainerLost):
                await live.wait()

    # --- leftovers --------------------------------------------------------------

    async def sweep(self) -> int:
        """Removes, once, the containers this node's runtime made for tasks the
        worker no longer keeps; the number removed."""
        async with self._sweep_lock:
            if self._swept:
                return 0
            rows = await self.engine.call(
                lambda c: c.api.containers(
                    all=True,
                    filters={
                        "label": [f"{MANAGED_LABEL}=true", f"{DATA_DIR_LABEL}={self.data_dir}"]
                    },
                )
            )
            stale = [str(row["Id"]) for row in rows if not self._kept(row)]
            for container_id in stale:
                await self._remove_container(container_id)
            if stale:
                log.info("removed %d containers of tasks this node no longer keeps", len(stale))
            self._swept = True
            return len(stale)

    def _kept(self, row: dict[str, Any]) -> bool:
        task_id = str((row.get("Labels") or {}).get(TASK_ID_LABEL) or "")
        try:
            return task_id in self._live or task_dir(self.data_dir, task_id).is_dir()
        except ValueError:
            return False

    async def _sweep_in_background(self) -> None:
        try:
            await self.sweep()
        except DockerException as e:
            log.warning("could not look for leftover containers: %s", e)

    # --- helpers ------------------------------------------------------------------

    async def _containers(self, task_id: str) -> list[dict[str, Any]]:
        """The engine's summaries of the task's containers, newest first."""
        if not task_id:
            return []
        rows: list[dict[str, Any]] = await self.engine.call(
            lambda c: c.api.containers(
                all=True,
                filters={"label": [f"{MANAGED_LABEL}=true", f"{TASK_ID_LABEL}={task_id}"]},
            )
        )
        return rows

    async def _remove_container(self, container_id: str) -> None:
        try:
            await self.engine.call(
                lambda c: c.api.remove_container(container_id, force=True, v=True)
            )
        except NotFound:
            pass
        except APIError as e:
            if e.status_code != 409:  # 409: a removal is already under way
                raise

    def _finished(self, handle: DockerHandle) -> None:
        if self._live.get(handle.task_id) is handle:
            del self._live[handle.task_id]


def _create_and_start(client: docker.DockerClient, options: dict[str, Any]) -> tuple[str, int]:
    """Creates and starts the container (blocking); (its ID, its PID)."""
    try:
        container = client.containers.create(**options)
    except ImageNotFound as e:
        raise TaskError(_explain(e)) from None  # "No such image: nosuch:latest"
    except APIError as e:
        if e.status_code != 409:
            raise
        # The name is taken: a container an earlier run made for this very task.
        client.api.remove_container(options["name"], force=True, v=True)
        container = client.containers.create(**options)
    try:
        container.start()
        container.reload()
    except DockerException as e:
        with contextlib.suppress(DockerException):
            container.remove(force=True, v=True)
        raise TaskError(f"starting container failed: {_explain(e)}") from None
    state = container.attrs.get("State") or {}
    return str(container.id), int(state.get("Pid") or 0)
