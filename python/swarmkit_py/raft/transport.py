"""Node-to-node transport for Raft messages: framed TCP, optionally TLS.

Each node listens on one address; it sends to a peer over its own outbound
connection to that peer, so a pair of nodes uses two connections. Messages
are fire-and-forget, as Raft expects: a send to an unreachable peer is
dropped and reported, and Raft retries. TLS plugs in through the two
`ssl.SSLContext`s; the Raft core never sees the difference.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

import msgpack

from .config import parse_addr
from .frames import KIND_HELLO, KIND_RAFT, FrameDecoder, FrameError, encode

log = logging.getLogger(__name__)

# Most bytes buffered for a peer that is not connected yet; beyond that they
# are dropped (Raft resends what matters).
_MAX_PENDING_BYTES = 64 * 1024 * 1024
_RECONNECT_BACKOFF = (0.05, 1.0)


class _Inbound:
    """Decodes one inbound connection's frames and hands messages to Raft."""

    def __init__(self, owner: RaftTransport, peer: object) -> None:
        self._owner = owner
        self._peer = peer
        self._decoder = FrameDecoder()

    def feed(self, data: bytes) -> bool:
        """Takes received bytes; False means the peer broke the protocol."""
        try:
            frames = self._decoder.feed(data)
        except FrameError as e:
            log.warning("closing connection from %s: %s", self._peer, e)
            return False
        msgs = []
        for kind, payload in frames:
            if kind == KIND_RAFT:
                msgs.append(payload)
            elif kind == KIND_HELLO:
                self._hello(payload)
            else:
                log.warning("dropped a frame of unknown kind %d", kind)
        if msgs:
            self._owner._deliver(msgs)
        return True

    def _hello(self, payload: bytes) -> None:
        try:
            hello = msgpack.unpackb(payload)
            node_id, address = int(hello["id"]), str(hello["addr"])
        except Exception as e:  # hostile input must not take the node down
            log.warning("ignored a malformed hello frame: %s", e)
            return
        self._owner._learn(node_id, address)


class _InboundProtocol(asyncio.Protocol):
    def __init__(self, transport_owner: RaftTransport) -> None:
        self._owner = transport_owner
        self._inbound: _Inbound | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if not self._owner._authorized(transport.get_extra_info("ssl_object"), peer):
            transport.abort()
            return
        self._inbound = _Inbound(self._owner, peer)
        self._owner._inbound.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._owner._inbound.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        if self._inbound is None or self._transport is None or self._transport.is_closing():
            return
        if not self._inbound.feed(data):
            self._transport.abort()


class _OutboundProtocol(asyncio.Protocol):
    def __init__(self, peer: _Peer) -> None:
        self._peer = peer

    def data_received(self, data: bytes) -> None:
        pass  # peers never answer on our outbound connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._peer.lost()


class _Peer:
    """The outbound connection to one peer."""

    def __init__(self, owner: RaftTransport, node_id: int, address: str) -> None:
        self.owner = owner
        self.node_id = node_id
        self.address = address
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.pending_snapshots = 0
        self.connecting: asyncio.Task[None] | None = None
        self.backoff = _RECONNECT_BACKOFF[0]
        self.retry_at = 0.0

    def send(self, frames: list[bytes], snapshots: int) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(frames))
            for _ in range(snapshots):
                self.owner._snapshot_sent(self.node_id, True)
            return
        size = sum(map(len, frames))
        if self.pending_bytes + size > _MAX_PENDING_BYTES:
            self.owner._unreachable(self.node_id, snapshots)
            return
        self.pending.extend(frames)
        self.pending_bytes += size
        self.pending_snapshots += snapshots
        loop = asyncio.get_running_loop()
        if self.connecting is None and loop.time() >= self.retry_at:
            self.connecting = loop.create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = parse_addr(self.address)
            transport, _ = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _OutboundProtocol(self),
                    host,
                    port,
                    ssl=self.owner._client_ssl,
                    server_hostname=self.owner._server_name if self.owner._client_ssl else None,
                ),
                timeout=5.0,
            )
        except (OSError, TimeoutError, ValueError, ssl.SSLError) as e:
            log.debug("cannot reach node %x at %s: %s", self.node_id, self.address, e)
            snapshots = self.pending_snapshots
            self.pending, self.pending_bytes, self.pending_snapshots = [], 0, 0
            self.retry_at = loop.time() + self.backoff
            self.backoff = min(self.backoff * 2, _RECONNECT_BACKOFF[1])
            self.owner._unreachable(self.node_id, snapshots)
            return
        finally:
            self.connecting = None
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.owner._hello_frame)
        self.backoff = _RECONNECT_BACKOFF[0]
        if self.pending:
            frames, snapshots = self.pending, self.pending_snapshots
            self.pending, self.pending_bytes, self.pending_snapshots = [], 0, 0
            self.send(frames, snapshots)

    def lost(self) -> None:
        self.transport = None

    def close(self) -> None:
        if self.connecting is not None:
            self.connecting.cancel()
        if self.transport is not None:
            self.transport.abort()
            self.transport = None


class RaftTransport:
    """Sends and receives Raft messages for one node.

    `deliver` gets each batch of received messages (encoded); `unreachable` and
    `snapshot_status` report failed sends and snapshot deliveries back to Raft.
    With TLS, `server_name` is the name checked in peers' certificates and
    `authorize` gets each inbound connection's `ssl.SSLObject` (None without
    TLS) and raises to refuse it.
    """

    def __init__(
        self,
        node_id: int,
        listen_addr: str,
        advertise_addr: str,
        deliver: Callable[[list[bytes]], None],
        unreachable: Callable[[int], None],
        snapshot_status: Callable[[int, bool], None],
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        server_name: str | None = None,
        authorize: Callable[[ssl.SSLObject | None], object] | None = None,
    ) -> None:
        self.node_id = node_id
        self.listen_addr = listen_addr
        self._deliver_cb = deliver
        self._unreachable_cb = unreachable
        self._snapshot_cb = snapshot_status
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._server_name = server_name
        self._authorize = authorize
        self._peers: dict[int, _Peer] = {}
        # Addresses from the membership; peers not in it (a node being added)
        # are reached at the address their hello frame announced.
        self._member_addresses: dict[int, str] = {}
        self._hello_frame = encode(
            KIND_HELLO, msgpack.packb({"id": node_id, "addr": advertise_addr})
        )
        self._inbound: set[asyncio.WriteTransport] = set()
        self._server: asyncio.Server | None = None

    @property
    def bound_port(self) -> int:
        """The port actually listened on (useful with port 0)."""
        assert self._server is not None, "transport not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, listen: bool = True) -> None:
        """Starts listening, unless another server hands connections over
        (`listen=False`, see `serve_stream`)."""
        if not listen:
            return
        host, port = parse_addr(self.listen_addr)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _InboundProtocol(self), host, port, ssl=self._server_ssl, reuse_address=True
        )

    async def stop(self) -> None:
        for peer in self._peers.values():
            peer.close()
        self._peers.clear()
        for t in list(self._inbound):
            t.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def set_client_ssl(self, client_ssl: ssl.SSLContext) -> None:
        """Used for connections made from now on; open ones carry on."""
        self._client_ssl = client_ssl

    def set_peers(self, addresses: dict[int, str]) -> None:
        """Updates where peers are; connections to moved or removed peers close."""
        self._member_addresses = dict(addresses)
        for node_id in list(self._peers):
            peer = self._peers[node_id]
            if addresses.get(node_id) != peer.address:
                peer.close()
                del self._peers[node_id]
        for node_id, address in addresses.items():
            if node_id != self.node_id and node_id not in self._peers and address:
                self._peers[node_id] = _Peer(self, node_id, address)

    def send(self, messages: list[tuple[int, bool, bytes]]) -> None:
        """Sends encoded messages `(to, is_snapshot, bytes)`, batched per peer."""
        by_peer: dict[int, tuple[list[bytes], int]] = {}
        for to, is_snapshot, payload in messages:
            frames, snaps = by_peer.get(to, ([], 0))
            frames.append(encode(KIND_RAFT, payload))
            by_peer[to] = (frames, snaps + int(is_snapshot))
        for to, (frames, snaps) in by_peer.items():
            peer = self._peers.get(to)
            if peer is None:
                log.debug("no address for node %x; dropping %d messages", to, len(frames))
                self._unreachable(to, snaps)
                continue
            peer.send(frames, snaps)

    async def serve_stream(
        self, initial: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serves an inbound connection accepted by another server sharing the
        port (see `swarmkit_py.pki.rpc.RpcServer`'s raw stream hook); `initial`
        is what that server already read."""
        peer = writer.get_extra_info("peername")
        if not self._authorized(writer.get_extra_info("ssl_object"), peer):
            writer.transport.abort()
            return
        inbound = _Inbound(self, peer)
        self._inbound.add(writer.transport)
        try:
            data = initial
            while data:
                if not inbound.feed(data):
                    return
                data = await reader.read(1 << 16)
        except (ConnectionError, ssl.SSLError, OSError):
            return
        finally:
            self._inbound.discard(writer.transport)
            writer.transport.abort()

    def _authorized(self, ssl_object: ssl.SSLObject | None, peer: object) -> bool:
        if self._authorize is None:
            return True
        # With TLS this runs after the handshake: the peer's certificate is known.
        try:
            self._authorize(ssl_object)
        except Exception as e:
            log.warning("refused raft connection from %s: %s", peer, e)
            return False
        return True

    def _learn(self, node_id: int, address: str) -> None:
        if node_id == self.node_id or node_id in self._member_addresses:
            return
        peer = self._peers.get(node_id)
        if peer is None or peer.address != address:
            if peer is not None:
                peer.close()
            self._peers[node_id] = _Peer(self, node_id, address)

    def _deliver(self, msgs: list[bytes]) -> None:
        self._deliver_cb(msgs)

    def _unreachable(self, node_id: int, snapshots: int) -> None:
        self._unreachable_cb(node_id)
        for _ in range(snapshots):
            self._snapshot_cb(node_id, False)

    def _snapshot_sent(self, node_id: int, ok: bool) -> None:
        self._snapshot_cb(node_id, ok)
