"""Framed msgpack calls over TLS streams, with per-call authorization.

A frame is a 4-byte big-endian length and a msgpack map. Requests are
``{"id": int, "method": str, "params": map}``; answers are ``{"id", "ok": true, "result": map}``
or ``{"id", "ok": false, "error": {"code", "message"}}``. A malformed frame gets an error answer
and never takes the server down.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography import x509

from .certs import NodeIdentity, NodeRole
from .errors import ConnectionRejectedError, PKIError, RpcProtocolError, error_from_code

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 1 << 20
HANDSHAKE_TIMEOUT = 10.0
_HEADER = struct.Struct(">I")

Params = dict[str, Any]


@dataclass(frozen=True)
class CallContext:
    """What a handler knows about its caller."""

    peer: NodeIdentity | None
    peer_certificate: x509.Certificate | None
    peer_address: tuple[str, int] | None


Handler = Callable[[CallContext, Params], Awaitable[Params]]
#: Decides whether a certificate may make a call needing one of the roles; raises if not.
Authorizer = Callable[[x509.Certificate | None, frozenset[NodeRole]], NodeIdentity]
#: Takes over a connection whose first frame is not an RPC request (another protocol sharing
#: the port, such as Raft's): gets the bytes read so far, the stream and the peer's certificate.
RawStreamHandler = Callable[
    [bytes, asyncio.StreamReader, asyncio.StreamWriter, x509.Certificate | None], Awaitable[None]
]


@dataclass(frozen=True)
class Method:
    """A callable method. ``allowed_roles=None`` means no client certificate is needed."""

    handler: Handler
    allowed_roles: frozenset[NodeRole] | None


def encode_frame(message: Mapping[str, Any]) -> bytes:
    """Length-prefixed msgpack encoding of ``message``."""
    payload: bytes = msgpack.packb(message, use_bin_type=True)
    if len(payload) > MAX_FRAME_BYTES:
        raise RpcProtocolError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME_BYTES}")
    return _HEADER.pack(len(payload)) + payload


class _FrameTooLarge(Exception):
    pass


async def read_frame(reader: asyncio.StreamReader, prefix: bytes = b"") -> bytes | None:
    """The next frame's payload, or ``None`` at a clean end of stream. ``prefix`` holds
    bytes of the frame already read (at least its header when not empty)."""
    if prefix:
        header, body = prefix[: _HEADER.size], prefix[_HEADER.size :]
    else:
        try:
            header = await reader.readexactly(_HEADER.size)
        except asyncio.IncompleteReadError as err:
            if err.partial:
                raise
            return None
        body = b""
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise _FrameTooLarge(length)
    if len(body) > length:
        raise _FrameTooLarge(length)  # cannot happen for a well-formed prefix
    return body + await reader.readexactly(length - len(body))


async def close_writer(writer: asyncio.StreamWriter, timeout: float = 1.0) -> None:
    """Close a stream; if the TLS goodbye takes longer than ``timeout``, drop the connection."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout)
    except (TimeoutError, ssl.SSLError, OSError):
        writer.transport.abort()


def _error(request_id: object, code: str, message: str) -> Params:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message}}


class _HoldReadingProtocol(asyncio.StreamReaderProtocol):
    """Stops reading at once, so the client's first TLS bytes wait for ``start_tls``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.ReadTransport):
            transport.pause_reading()
        super().connection_made(transport)


class RpcServer:
    """Serves ``methods`` over TLS; the context is fetched per connection, so it can change."""

    def __init__(
        self,
        methods: Mapping[str, Method],
        ssl_context: Callable[[], ssl.SSLContext],
        authorize: Authorizer,
        raw_stream: RawStreamHandler | None = None,
    ) -> None:
        self._methods = dict(methods)
        self._raw_stream = raw_stream
        self._ssl_context = ssl_context
        self._authorize = authorize
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        #: Why recent TLS handshakes failed, newest last (for logs and tests).
        self.rejected_handshakes: collections.deque[str] = collections.deque(maxlen=100)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0 picks a free one)."""
        loop = asyncio.get_running_loop()

        def factory() -> asyncio.StreamReaderProtocol:
            reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES + 1024)
            return _HoldReadingProtocol(reader, self._on_connection)

        self._server = await loop.create_server(factory, host, port)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        # Dropping the transports ends each connection's task on its own; cancelling them
        # instead would make asyncio log the cancellation as an error.
        for writer in list(self._connections.values()):
            writer.transport.abort()
        if self._connections:
            _, pending = await asyncio.wait(list(self._connections), timeout=2.0)
            for task in pending:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.pop(task, None)
            await close_writer(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_address = writer.get_extra_info("peername")
        try:
            await writer.start_tls(self._ssl_context(), ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, OSError, TimeoutError) as err:
            self.rejected_handshakes.append(f"{peer_address}: {err}")
            log.info("TLS handshake with %s failed: %s", peer_address, err)
            return
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        peer_certificate = x509.load_der_x509_certificate(der) if der else None
        if self._raw_stream is not None:
            # An RPC frame's payload is a msgpack map (0x80-0x8f, 0xde, 0xdf); anything
            # else belongs to the protocol sharing this port.
            try:
                head = await reader.readexactly(_HEADER.size + 1)
            except (asyncio.IncompleteReadError, ssl.SSLError, OSError):
                return
            marker = head[-1]
            if not (0x80 <= marker <= 0x8F or marker in (0xDE, 0xDF)):
                await self._raw_stream(head, reader, writer, peer_certificate)
                return
            prefix = head
        else:
            prefix = b""
        while True:
            try:
                payload = await read_frame(reader, prefix)
                prefix = b""
            except _FrameTooLarge as err:
                writer.write(encode_frame(_error(None, "bad_request", f"frame too large: {err}")))
                await writer.drain()
                return
            except (asyncio.IncompleteReadError, ssl.SSLError, OSError):
                return
            if payload is None:
                return
            answer = await self._answer(payload, peer_certificate, peer_address)
            try:
                writer.write(encode_frame(answer))
                await writer.drain()
            except (ConnectionError, ssl.SSLError, OSError):
                return  # the caller went away before its answer

    async def _answer(
        self,
        payload: bytes,
        peer_certificate: x509.Certificate | None,
        peer_address: tuple[str, int] | None,
    ) -> Params:
        try:
            request = msgpack.unpackb(payload, raw=False)
        except Exception as err:  # msgpack raises several unrelated types
            return _error(None, "bad_request", f"malformed frame: not msgpack ({err})")
        if not isinstance(request, dict):
            return _error(None, "bad_request", "malformed frame: expected a map")
        request_id = request.get("id")
        method_name = request.get("method")
        params = request.get("params", {})
        if not isinstance(request_id, int) or isinstance(request_id, bool):
            return _error(None, "bad_request", "malformed request: 'id' must be an integer")
        if not isinstance(method_name, str) or not isinstance(params, dict):
            return _error(
                request_id, "bad_request", "malformed request: needs 'method' (str), 'params' (map)"
            )
        method = self._methods.get(method_name)
        if method is None:
            return _error(request_id, "bad_request", f"unknown method {method_name!r}")
        try:
            peer = None
            if method.allowed_roles is not None:
                peer = self._authorize(peer_certificate, method.allowed_roles)
            context = CallContext(peer, peer_certificate, peer_address)
            result = await method.handler(context, params)
        except PKIError as err:
            return _error(request_id, err.code, str(err))
        except Exception:
            log.exception("method %s failed", method_name)
            return _error(request_id, "internal", f"internal error in {method_name}")
        return {"id": request_id, "ok": True, "result": result}


def describe_tls_failure(err: BaseException) -> str:
    """An operator-facing sentence for a failed TLS connection to a manager."""
    text = str(err)
    if "CERTIFICATE_EXPIRED" in text:
        return (
            "the manager rejected this node's certificate because it has expired; "
            "rejoin the swarm with a join token"
        )
    if "UNKNOWN_CA" in text or "BAD_CERTIFICATE" in text or "CERTIFICATE_UNKNOWN" in text:
        return (
            "the manager does not trust this node's certificate: it was not issued by this "
            "swarm's root CA"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"cannot verify the manager's certificate: {getattr(err, 'verify_message', text)}"
    return f"TLS connection to the manager failed: {text}"


class RpcClient:
    """One connection to an :class:`RpcServer`; calls are answered in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next_id = 1
        self._answered = False
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls,
        address: tuple[str, int],
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
    ) -> RpcClient:
        """Open a TLS connection; raise :class:`ConnectionRejectedError` if the handshake fails."""
        host, port = address
        try:
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=ssl_context,
                server_hostname=server_hostname if ssl_context.check_hostname else "",
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
                limit=MAX_FRAME_BYTES + 1024,
            )
        except ssl.SSLError as err:
            raise ConnectionRejectedError(describe_tls_failure(err)) from err
        return cls(reader, writer)

    @property
    def peer_certificate(self) -> x509.Certificate | None:
        """The server's certificate."""
        ssl_object = self._writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        return x509.load_der_x509_certificate(der) if der else None

    async def call(self, method: str, params: Params | None = None) -> Params:
        """Call ``method``; return its result or raise the typed error the server reported."""
        async with self._lock:
            request_id = self._next_id
            self._next_id += 1
            try:
                self._writer.write(
                    encode_frame({"id": request_id, "method": method, "params": params or {}})
                )
                await self._writer.drain()
                payload = await read_frame(self._reader)
            except ssl.SSLError as err:
                raise ConnectionRejectedError(describe_tls_failure(err)) from err
            except (asyncio.IncompleteReadError, ConnectionError) as err:
                raise ConnectionRejectedError(self._closed_message(method)) from err
            except _FrameTooLarge as err:
                raise RpcProtocolError(f"answer frame too large: {err}") from err
            if payload is None:
                raise ConnectionRejectedError(self._closed_message(method))
            self._answered = True
        answer = msgpack.unpackb(payload, raw=False)
        if not isinstance(answer, dict):
            raise RpcProtocolError("malformed answer from the manager")
        if answer.get("ok"):
            result = answer.get("result")
            return result if isinstance(result, dict) else {}
        error = answer.get("error") or {}
        raise error_from_code(str(error.get("code")), str(error.get("message")))

    def _closed_message(self, method: str) -> str:
        if self._answered:
            return f"the manager closed the connection during {method}"
        # With TLS 1.3 the server checks our certificate after our side of the handshake is
        # done, so its refusal shows up as a closed connection on the first call.
        return (
            "the manager closed the connection before answering: it did not accept this "
            "node's certificate (expired, or not issued by this swarm's root CA; the manager's "
            "log says which). Rejoin the swarm with a join token if it persists"
        )

    async def close(self) -> None:
        """Close the connection."""
        await close_writer(self._writer)

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
