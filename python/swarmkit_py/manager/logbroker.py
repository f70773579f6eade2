"""Task logs, from the nodes that hold them to whoever asked.

Logs stay on the node that ran the task. A log request on any manager opens
a subscription on the leader (`LogBroker.Subscribe`), naming the tasks per
node. The leader's dispatcher hands each node its part in the node's next
assignments answer; the node's agent reads the task logs and publishes them
(`Dispatcher.PublishLogs`), then says it is done (unless following). The
requesting manager long-polls the subscription (`LogBroker.Read`) and streams
what arrives. A node without a session is reported done at once, so a down
node never makes `service logs` hang (Docker's does).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from swarmkit_py.errors import NotFound, SwarmError
from swarmkit_py.logs import LogMessage, LogOptions
from swarmkit_py.pki import MANAGERS_ONLY, CallContext, Method
from swarmkit_py.pki.rpc import Params
from swarmkit_py.tasks import cancel_and_wait

SUBSCRIBE = "LogBroker.Subscribe"
READ = "LogBroker.Read"
CLOSE = "LogBroker.Close"
PUBLISH = "Dispatcher.PublishLogs"
#: A subscription nobody read for this long is dropped.
IDLE_TIMEOUT = 30.0
#: Messages buffered per subscription before publishers are told to slow down.
MAX_BUFFERED = 20_000
#: Log bytes per read answer (RPC frames stop at 1 MiB).
READ_BYTES = 512 * 1024


@dataclass
class Subscription:
    id: str
    #: node ID -> task IDs on it
    tasks: dict[str, list[str]]
    options: LogOptions
    pending_nodes: set[str] = field(default_factory=set)
    messages: list[list[Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last_read: float = field(default_factory=time.monotonic)
    closed: bool = False

    @property
    def done(self) -> bool:
        return not self.pending_nodes

    def wire(self, node_id: str) -> Params:
        return {"id": self.id, "tasks": self.tasks[node_id], "options": self.options.to_wire()}


class LogBroker:
    """The leader's side: subscriptions, and the nodes' publications into them."""

    def __init__(
        self,
        is_connected: Callable[[str], bool],
        notify_node: Callable[[str], None],
        check_session: Callable[[CallContext, Params], str],
    ) -> None:
        self._is_connected = is_connected
        self._notify_node = notify_node
        self._check_session = check_session
        self._subs: dict[str, Subscription] = {}
        self._reaper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._drop_idle())

    async def stop(self) -> None:
        await cancel_and_wait(self._reaper)
        self._reaper = None

    def methods(self) -> dict[str, Method]:
        from swarmkit_py.pki import ANY_NODE

        return {
            SUBSCRIBE: Method(self._subscribe_rpc, MANAGERS_ONLY),
            READ: Method(self._read_rpc, MANAGERS_ONLY),
            CLOSE: Method(self._close_rpc, MANAGERS_ONLY),
            PUBLISH: Method(self._publish, ANY_NODE),
        }

    def for_node(self, node_id: str) -> list[Params]:
        """The subscriptions the node should publish to now."""
        return [
            sub.wire(node_id)
            for sub in self._subs.values()
            if node_id in sub.pending_nodes and not sub.closed
        ]

    # -- subscriptions -----------------------------------------------------

    def subscribe(self, tasks: dict[str, list[str]], options: LogOptions) -> str:
        sub = Subscription(secrets.token_hex(8), tasks, options)
        self._subs[sub.id] = sub
        for node_id in tasks:
            if self._is_connected(node_id):
                sub.pending_nodes.add(node_id)
                self._notify_node(node_id)
        sub.changed.set()
        return sub.id

    async def read(self, sub_id: str, wait: float) -> tuple[list[list[Any]], bool]:
        sub = self._subs.get(sub_id)
        if sub is None:
            raise NotFound(f"log subscription {sub_id} not found (it expired)")
        sub.last_read = time.monotonic()
        if not sub.messages and not sub.done:
            sub.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await sub.changed.wait()
        messages = _take(sub.messages, READ_BYTES)
        sub.last_read = time.monotonic()
        done = sub.done and not sub.messages
        if done:
            self.close(sub_id)
        return messages, done

    def close(self, sub_id: str) -> None:
        sub = self._subs.pop(sub_id, None)
        if sub is not None:
            sub.closed = True
            for node_id in sub.pending_nodes:
                self._notify_node(node_id)

    def node_gone(self, node_id: str) -> None:
        """A node's session ended: it will publish nothing more."""
        for sub in self._subs.values():
            if node_id in sub.pending_nodes:
                sub.pending_nodes.discard(node_id)
                sub.changed.set()

    async def _drop_idle(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            now = time.monotonic()
            for sub_id, sub in list(self._subs.items()):
                if now - sub.last_read > IDLE_TIMEOUT:
                    self.close(sub_id)

    # -- RPC ---------------------------------------------------------------

    async def _subscribe_rpc(self, _: CallContext, params: Params) -> Params:
        tasks = params.get("tasks")
        if not isinstance(tasks, dict):
            raise SwarmError("malformed log subscription")
        options = LogOptions.from_wire(params.get("options") or {})
        return {"id": self.subscribe({str(k): list(v) for k, v in tasks.items()}, options)}

    async def _read_rpc(self, _: CallContext, params: Params) -> Params:
        messages, done = await self.read(str(params.get("id")), float(params.get("wait") or 1.0))
        return {"messages": messages, "done": done}

    async def _close_rpc(self, _: CallContext, params: Params) -> Params:
        self.close(str(params.get("id")))
        return {}

    async def _publish(self, context: CallContext, params: Params) -> Params:
        node_id = self._check_session(context, params)
        sub = self._subs.get(str(params.get("id")))
        if sub is None or sub.closed or node_id not in sub.pending_nodes:
            return {"closed": True}
        allowed = set(sub.tasks.get(node_id, ()))
        for message in params.get("messages") or []:
            if isinstance(message, list) and len(message) == 6 and message[5] in allowed:
                message[3] = node_id  # a node speaks only for itself
                sub.messages.append(message)
        if params.get("done"):
            sub.pending_nodes.discard(node_id)
        sub.changed.set()
        return {"closed": False, "slow_down": len(sub.messages) > MAX_BUFFERED}


def _take(messages: list[list[Any]], budget: int) -> list[list[Any]]:
    """Removes and returns the oldest messages whose data fits `budget` (at least one)."""
    size, count = 0, 0
    for message in messages:
        size += len(message[2]) + 64
        if count and size > budget:
            break
        count += 1
    taken = messages[:count]
    del messages[:count]
    return taken


async def stream(
    subscribe: Callable[[], Awaitable[str]],
    read: Callable[[str, float], Awaitable[tuple[list[list[Any]], bool]]],
    close: Callable[[str], Awaitable[None]],
) -> AsyncIterator[LogMessage]:
    """The messages of a new subscription until it is done (or the consumer stops)."""
    sub_id = await subscribe()
    try:
        while True:
            messages, done = await read(sub_id, 1.0)
            for raw in sorted(messages, key=lambda m: int(m[0])):
                yield LogMessage.from_wire(raw)
            if done:
                return
    finally:
        with contextlib.suppress(SwarmError, OSError, ConnectionError):
            await close(sub_id)
