"""The node's Docker engine, reached through the (blocking) Docker SDK.

One client per runtime, connected on first use. Short calls run on the
runtime's own thread pool rather than asyncio's default one: that pool is small
(a stop waits out a grace period) and `asyncio.run` joins it at exit. Calls
that block for as long as a container runs (waiting for its end, following its
logs) each get a daemon thread, which never holds up the daemon's exit.

`SWARMKIT_DOCKER_HOST` names the engine (`unix:///var/run/docker.sock`,
`tcp://...`); without it the SDK's usual environment applies (`DOCKER_HOST`,
`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`). An address that answers as a
swarmd rather than a Docker engine is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import docker
from docker.errors import DockerException

T = TypeVar("T")

#: Names the engine this runtime uses, before the SDK's own `DOCKER_HOST`.
ENGINE_HOST_ENV = "SWARMKIT_DOCKER_HOST"
#: Threads for short engine calls (stops wait out their grace period here).
MAX_THREADS = 32
#: Connections kept open to the engine; each waiting container holds one.
MAX_POOL_SIZE = 256
#: How many chunks of a stream may wait for a slow reader.
STREAM_BUFFER = 256


class EngineUnavailable(DockerException):
    """The engine cannot be reached, or the address is not a Docker engine."""


class ClosableStream(Protocol):
    """What the SDK returns for a streamed response (`CancellableStream`)."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def connect() -> docker.DockerClient:
    """A client of the engine named by the environment (see the module docstring)."""
    host = os.environ.get(ENGINE_HOST_ENV)
    try:
        if host:
            client = docker.DockerClient(base_url=host, version="auto", max_pool_size=MAX_POOL_SIZE)
        else:
            client = docker.from_env(version="auto", max_pool_size=MAX_POOL_SIZE)
        platform = client.version().get("Platform") or {}
    except DockerException as e:
        where = host or os.environ.get("DOCKER_HOST") or "the default socket"
        raise EngineUnavailable(f"cannot reach the Docker engine at {where}: {e}") from None
    if platform.get("Name") == "swarmkit-py":
        client.close()
        raise EngineUnavailable(
            f"{host or os.environ.get('DOCKER_HOST')} is a swarmd, not a Docker engine: "
            f"set {ENGINE_HOST_ENV} to the engine's address"
        )
    return client


class Engine:
    """One Docker client and the threads that call it."""

    def __init__(self, connector: Callable[[], docker.DockerClient] = connect) -> None:
        self._connector = connector
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="swarmkit-docker")

    def client(self) -> docker.DockerClient:
        """The client, connecting first if need be (blocking: call it on a thread)."""
        with self._lock:
            if self._client is None:
                self._client = self._connector()
            return self._client

    async def call(self, work: Callable[[docker.DockerClient], T]) -> T:
        """`work(client)` on the runtime's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self.client()))

    def watch(self, work: Callable[[docker.DockerClient], T], name: str) -> asyncio.Future[T]:
        """`work(client)` on a daemon thread of its own, for calls that block as
        long as a container runs; its outcome lands in the returned future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(setter: Callable[[Any], None], value: object) -> None:
            if not future.done():  # not cancelled meanwhile
                setter(value)

        def run() -> None:
            try:
                result = work(self.client())
            except BaseException as e:  # handed to the awaiting side
                outcome: tuple[Callable[[Any], None], object] = (future.set_exception, e)
            else:
                outcome = (future.set_result, result)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, *outcome)

        threading.Thread(target=run, name=name, daemon=True).start()
        return future

    async def streams(
        self, openers: Sequence[Callable[[docker.DockerClient], ClosableStream]]
    ) -> AsyncIterator[tuple[int, bytes]]:
        """The chunks of several streamed responses, as `(index of its opener,
        chunk)` in the order they arrive; each is read by a daemon thread, and
        closed when the reader stops early. An error of one stream ends them all."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[int, bytes] | BaseException | None] = asyncio.Queue(
            STREAM_BUFFER
        )
        stop = threading.Event()
        opened: list[ClosableStream] = []
        opened_lock = threading.Lock()

        def put(item: tuple[int, bytes] | BaseException | None) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def read(index: int, opener: Callable[[docker.DockerClient], ClosableStream]) -> None:
            end: BaseException | None = None
            try:
                stream = opener(self.client())
                with opened_lock:
                    if stop.is_set():  # the reader is gone already
                        stream.close()
                        return
                    opened.append(stream)
                for chunk in _until(stream, stop):
                    put((index, chunk))
            except BaseException as e:  # handed to the reading side
                end = e
            # The loop may be closed or shutting down: nobody reads any more.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                put(end)

        for index, opener in enumerate(openers):
            threading.Thread(
                target=read, args=(index, opener), name="swarmkit-docker stream", daemon=True
            ).start()
        running = len(openers)
        try:
            while running:
                item = await queue.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            with opened_lock:
                for stream in opened:
                    with contextlib.suppress(Exception):
                        stream.close()
            # Unblock readers waiting for room; each puts at most one more item.
            while not queue.empty():
                queue.get_nowait()


def _until(stream: Iterable[bytes], stop: threading.Event) -> Iterator[bytes]:
    for chunk in stream:
        if stop.is_set():
            return
        yield chunk
