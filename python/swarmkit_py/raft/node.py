"""A Raft node for asyncio programs: the Rust core on its own thread, the
network transport and the application's state machine, tied together.

    node = RaftNode(RaftConfig(node_id=1, listen_addr="127.0.0.1:4001",
                               data_dir=Path("d1"), peers={1: ..., 2: ..., 3: ...}),
                    state_machine)
    await node.start()
    index = await node.propose(b"...")   # committed and applied locally

With `log_backend` the log lives in a storage plugin (`LogBackend`) instead of
`data_dir`; the node calls it from its Raft thread and closes it when it stops.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from swarmkit_py import _core

from .config import RaftConfig
from .errors import (
    NodeStoppedError,
    NotLeaderError,
    ProposalTooLargeError,
    RaftError,
    StorageError,
    from_core,
)
from .state_machine import Entry, StateMachine
from .status import Member, NodeStatus
from .transport import RaftTransport

if TYPE_CHECKING:
    from swarmkit_py.storage.types import LogBackend

log = logging.getLogger(__name__)
core_log = logging.getLogger("swarmkit_py.raft.core")

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_APPLY_ENTRY, _APPLY_MEMBERSHIP, _APPLY_RESTORE = 0, 1, 2


class RaftNode:
    """One member of a Raft group, driven from the running asyncio loop."""

    def __init__(
        self,
        config: RaftConfig,
        state_machine: StateMachine,
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        tls_server_name: str | None = None,
        authorize_peer: Callable[[ssl.SSLObject | None], object] | None = None,
        listen: bool = True,
        log_backend: LogBackend | None = None,
    ) -> None:
        """`server_ssl`/`client_ssl` put the transport on (mutual) TLS;
        `tls_server_name` is the name checked in peers' certificates and
        `authorize_peer` vets each inbound connection (raise to refuse it).
        With `listen=False` the node does not listen itself: a server sharing
        the port hands it Raft connections through `serve_raft_stream`.
        `log_backend` keeps the Raft log in a storage plugin instead of
        `config.data_dir`; the node owns it from `start` on: it interrupts and
        closes it when it stops, and closes it when it fails or cannot start."""
        self.config = config
        self._sm = state_machine
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._tls_server_name = tls_server_name
        self._authorize_peer = authorize_peer
        self._listen = listen
        self._log_backend = log_backend
        self._core: Any = None
        #: Stopping the core thread and releasing the backend, once begun.
        self._core_stopped: asyncio.Future[None] | None = None
        self._transport: RaftTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._proposals: dict[int, asyncio.Future[int]] = {}
        self._reads: dict[int, asyncio.Future[int]] = {}
        self._read_waiters: list[tuple[int, int, asyncio.Future[int]]] = []
        self._outbox: list[tuple[int, bytes]] = []
        self._flush_scheduled = False
        self._applied_index = 0
        self._last_snapshot_index = 0
        self._leader_id = 0
        self._term = 0
        self._role = "follower"
        self._members: dict[int, Member] = {}
        self._removed: set[int] = set()
        self._leader_changed = asyncio.Event()
        self._failure: str | None = None
        self._running = False
        self.on_leader_change: Callable[[int, int], None] | None = None

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Opens the log (replaying it into the state machine), listens for
        peers and starts taking part in the group."""
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        c = self.config
        bootstrap = sorted(c.peers.items()) if c.peers else None
        # With a log backend nothing of Raft lives in the data directory.
        data_dir = None
        if c.data_dir is not None and self._log_backend is None:
            c.data_dir.mkdir(parents=True, exist_ok=True)
            data_dir = str(c.data_dir)

        def open_core() -> Any:
            return _core.RaftCore(
                c.node_id,
                data_dir,
                bootstrap,
                log_backend=self._log_backend,
                tick_interval=c.tick_interval,
                election_ticks=c.election_ticks,
                heartbeat_ticks=c.heartbeat_ticks,
                snapshot_interval=c.snapshot_interval,
                keep_entries_after_snapshot=c.keep_entries_after_snapshot,
                max_proposal_bytes=c.max_proposal_bytes,
                fsync=c.fsync,
                wal_segment_bytes=c.wal_segment_bytes,
            )

        try:
            self._core = await self._loop.run_in_executor(None, open_core)
        except Exception as e:
            if self._log_backend is not None:
                await self._loop.run_in_executor(None, self._close_backend)
            if isinstance(e, _core.RaftStorageError):
                raise StorageError(str(e)) from None
            raise
        self._core_stopped = None
        self._transport = RaftTransport(
            c.node_id,
            c.listen_addr,
            c.address,
            deliver=self._core.step,
            unreachable=self._core.report_unreachable,
            snapshot_status=self._core.report_snapshot,
            server_ssl=self._server_ssl,
            client_ssl=self._client_ssl,
            server_name=self._tls_server_name,
            authorize=self._authorize_peer,
        )
        try:
            await self._transport.start(listen=self._listen)
        except OSError:
            await self._stop_core()
            raise
        self._running = True
        self._loop.add_reader(self._core.wake_fd(), self._on_wake)
        self._on_wake()

    async def stop(self) -> None:
        """Stops taking part; the log stays stored for the next start (a log
        backend is closed: the next start needs a new one)."""
        if not self._running:
            return
        self._running = False
        assert self._loop is not None and self._transport is not None
        if self._failure is None:
            self._loop.remove_reader(self._core.wake_fd())
        await self._transport.stop()
        await asyncio.shield(self._stop_core())
        self._fail_all(NodeStoppedError("the raft node was stopped"))

    async def __aenter__(self) -> RaftNode:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- what callers ask --------------------------------------------------

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @property
    def leader_id(self) -> int:
        """The leader this node knows of (0: none)."""
        return self._leader_id

    @property
    def term(self) -> int:
        return self._term

    @property
    def is_leader(self) -> bool:
        return self._role == "leader"

    @property
    def applied_index(self) -> int:
        """Index of the last entry handed to the state machine."""
        return self._applied_index

    @property
    def members(self) -> dict[int, Member]:
        return dict(self._members)

    @property
    def listen_port(self) -> int:
        assert self._transport is not None, "node not started"
        return self._transport.bound_port

    def set_client_ssl(self, client_ssl: ssl.SSLContext) -> None:
        """The TLS context for connections made from now on (after a
        certificate renewal); open connections carry on."""
        self._client_ssl = client_ssl
        if self._transport is not None:
            self._transport.set_client_ssl(client_ssl)

    async def serve_raft_stream(
        self, initial: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serves a Raft connection accepted by a server sharing this node's port."""
        if self._transport is None or not self._running:
            writer.transport.abort()
            return
        await self._transport.serve_stream(initial, reader, writer)

    async def propose(self, data: bytes) -> int:
        """Replicates `data`; returns its log index once it is committed and
        applied here. Raises `NotLeaderError` on a follower,
        `ProposalDroppedError` if a leadership change lost it."""
        if len(data) > self.config.max_proposal_bytes:
            raise ProposalTooLargeError(
                f"proposal of {len(data)} bytes exceeds the limit of "
                f"{self.config.max_proposal_bytes} bytes"
            )
        pid, fut = self._new_future(self._proposals)
        self._outbox.append((pid, data))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)
        return await fut

    async def read_index(self, timeout: float | None = None) -> int:
        """Waits until this node has applied everything committed when the call
        began (a linearizable read point) and returns that index."""
        rid, fut = self._new_future(self._reads)
        self._core.read_index(rid)
        wait = timeout if timeout is not None else self.config.election_timeout * 2
        try:
            return await asyncio.wait_for(fut, wait)
        except TimeoutError:
            self._reads.pop(rid, None)
            raise NotLeaderError(
                "no answer from a leader for the read; the group may have no quorum",
                self._leader_id,
            ) from None

    async def add_voter(self, node_id: int, address: str) -> int:
        """Adds a voting member; returns the index of the change."""
        return await self._change("add_voter", node_id, address)

    async def add_learner(self, node_id: int, address: str) -> int:
        """Adds a member that receives the log but does not vote yet."""
        return await self._change("add_learner", node_id, address)

    async def promote_learner(self, node_id: int) -> int:
        return await self._change("promote_learner", node_id)

    async def remove_member(self, node_id: int) -> int:
        """Removes a member for good: its ID can never be used again."""
        return await self._change("remove", node_id)

    async def transfer_leadership(self, to: int, timeout: float | None = None) -> None:
        """Hands leadership to member `to` and waits until it has it."""
        self._check_running()
        self._core.transfer_leader(to)
        await self.wait_for_leader(timeout, want=to)

    async def campaign(self) -> None:
        """Starts an election now (used after a forced recovery, and by tests)."""
        self._check_running()
        self._core.campaign()

    async def force_new_cluster(self, timeout: float | None = None) -> int:
        """Makes this node the only member of a new group that keeps everything
        committed (for when a majority of members is lost for good). The other
        members' Raft IDs can never be used again. Returns the commit index the
        new group starts from; this node is its leader when this returns."""
        self._check_running()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else 30.0)
        while self._applied_index < self.status().commit_index:
            if loop.time() > deadline:
                raise TimeoutError("the state machine did not catch up with the commit index")
            await asyncio.sleep(0.01)
        pid, fut = self._new_future(self._proposals)
        self._core.force_new_cluster(pid, self._sm.snapshot())
        index = await fut
        self._last_snapshot_index = max(self._last_snapshot_index, self._applied_index)
        await self.wait_for_leader(timeout, want=self.node_id)
        return index

    async def wait_for_leader(self, timeout: float | None = None, want: int | None = None) -> int:
        """Waits until a leader is known (or, with `want`, until it is that node)."""
        wait = timeout if timeout is not None else self.config.election_timeout * 5
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not (self._leader_id and (want is None or self._leader_id == want)):
            self._check_running()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no leader elected within {wait:.1f}s")
            self._leader_changed.clear()
            try:
                await asyncio.wait_for(self._leader_changed.wait(), remaining)
            except TimeoutError:
                continue
        return self._leader_id

    async def wait_applied(self, index: int, timeout: float | None = None) -> None:
        """Waits until the state machine has applied `index`."""
        if self._applied_index >= index:
            return
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        bisect.insort(self._read_waiters, (index, next(self._ids), fut))
        await asyncio.wait_for(fut, timeout)

    def status(self) -> NodeStatus:
        """A snapshot of the node's Raft state (term, indexes, members, progress)."""
        self._check_running()
        return NodeStatus.from_core(self._core.status())

    # -- internals ---------------------------------------------------------

    def _check_running(self) -> None:
        if self._failure is not None:
            raise NodeStoppedError(f"the raft node failed: {self._failure}")
        if not self._running:
            raise NodeStoppedError("the raft node is not running")

    def _new_future(self, table: dict[int, asyncio.Future[int]]) -> tuple[int, asyncio.Future[int]]:
        self._check_running()
        assert self._loop is not None
        request_id = next(self._ids)
        fut: asyncio.Future[int] = self._loop.create_future()
        table[request_id] = fut
        return request_id, fut

    async def _change(self, kind: str, node_id: int, address: str = "") -> int:
        pid, fut = self._new_future(self._proposals)
        self._core.change_membership(pid, kind, node_id, address)
        return await fut

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._outbox = self._outbox, []
        if batch and self._running:
            self._core.propose(batch)

    def _on_wake(self) -> None:
        try:
            out = self._core.take_output()
        except RuntimeError:
            return
        try:
            self._process(out)
        except Exception as e:
            # The state machine (application code) failed: it may have applied
            # part of a batch, so this node cannot go on applying the log.
            log.exception("raft node %x: applying committed entries failed", self.node_id)
            self._fatal(f"the state machine raised {type(e).__name__}: {e}")

    def _process(self, out: dict[str, Any]) -> None:
        for level, message in out["logs"]:
            core_log.log(_LEVELS.get(level, logging.INFO), "[%x] %s", self.node_id, message)
        if out["membership"] is not None:
            self._set_membership(*out["membership"])
        if out["messages"] and self._transport is not None:
            self._transport.send(out["messages"])
        if out["applied"]:
            self._apply(out["applied"])
        self._applied_index = max(self._applied_index, out["applied_index"])
        for pid, index, kind, message in out["proposals"]:
            fut = self._proposals.pop(pid, None)
            if fut is not None and not fut.done():
                if kind is None:
                    fut.set_result(index)
                else:
                    fut.set_exception(from_core(kind, message, self._leader_id))
        for rid, index, kind, message in out["reads"]:
            fut = self._reads.pop(rid, None)
            if fut is None or fut.done():
                continue
            if kind is not None:
                fut.set_exception(from_core(kind, message, self._leader_id))
            else:
                bisect.insort(self._read_waiters, (index, rid, fut))
        self._release_waiters()
        if out["leader"] is not None:
            self._set_leader(*out["leader"])
        if out["snapshot_wanted"] or (
            self._applied_index - self._last_snapshot_index >= self.config.snapshot_interval
        ):
            self._snapshot()
        if out["fatal"] is not None:
            self._fatal(out["fatal"])

    def _stop_core(self) -> asyncio.Future[None]:
        """Stops the core thread and releases the log backend, once; every
        call returns the same future."""
        if self._core_stopped is None:
            assert self._loop is not None
            self._core_stopped = self._loop.run_in_executor(None, self._stop_core_thread)
        return self._core_stopped

    def _stop_core_thread(self) -> None:
        backend = self._log_backend
        if backend is not None:
            # A backend waiting for its database gives up, so the thread can end.
            try:
                backend.interrupt()
            except Exception:
                log.exception("raft node %x: interrupting the log backend failed", self.node_id)
        self._core.stop()
        self._close_backend()

    def _close_backend(self) -> None:
        if self._log_backend is None:
            return
        try:
            self._log_backend.close()
        except Exception:
            log.exception("raft node %x: closing the log backend failed", self.node_id)

    def _fatal(self, reason: str) -> None:
        """Stops this node for good: it cannot go on safely."""
        if self._failure is not None:
            return
        self._failure = reason
        log.error("raft node %x stopped: %s", self.node_id, reason)
        self._fail_all(NodeStoppedError(f"the raft node failed: {reason}"))
        if self._running:
            # Leave the group without waiting; stop() still cleans up.
            assert self._loop is not None
            self._loop.remove_reader(self._core.wake_fd())
            self._stop_core()
            if self._transport is not None:
                self._loop.create_task(self._transport.stop())

    def _apply(self, items: list[tuple[int, int, int, bytes | None]]) -> None:
        batch: list[Entry] = []
        for kind, index, term, data in items:
            if kind == _APPLY_ENTRY:
                assert data is not None
                batch.append(Entry(index, term, data))
                continue
            if batch:
                self._sm.apply(batch)
                batch = []
            if kind == _APPLY_RESTORE:
                assert data is not None
                self._sm.restore(data)
                self._last_snapshot_index = index
            self._applied_index = index
        if batch:
            self._sm.apply(batch)
            self._applied_index = batch[-1].index

    def _release_waiters(self) -> None:
        waiters = self._read_waiters
        while waiters and waiters[0][0] <= self._applied_index:
            index, _, fut = waiters.pop(0)
            if not fut.done():
                fut.set_result(index)

    def _snapshot(self) -> None:
        index = self._applied_index
        if index <= self._last_snapshot_index:
            return
        self._core.save_snapshot(index, self._sm.snapshot())
        self._last_snapshot_index = index

    def _set_membership(self, members: list[tuple[int, str, bool]], removed: list[int]) -> None:
        self._members = {i: Member(i, a, learner) for i, a, learner in members}
        self._removed = set(removed)
        if self._transport is not None:
            self._transport.set_peers({i: m.address for i, m in self._members.items()})

    def _set_leader(self, leader_id: int, term: int, role: str) -> None:
        changed = leader_id != self._leader_id or term != self._term
        self._leader_id, self._term, self._role = leader_id, term, role
        if changed:
            self._leader_changed.set()
            if self.on_leader_change is not None:
                self.on_leader_change(leader_id, term)

    def _fail_all(self, error: RaftError) -> None:
        for table in (self._proposals, self._reads):
            for fut in table.values():
                if not fut.done():
                    fut.set_exception(error)
            table.clear()
        for _, _, fut in self._read_waiters:
            if not fut.done():
                fut.set_exception(error)
        self._read_waiters.clear()
