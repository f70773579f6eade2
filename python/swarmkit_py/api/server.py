"""The Engine-API-compatible HTTP server of a swarmkit-py node.

It only translates: each handler reads the request (`requests.py`), calls one
`SwarmBackend` method and writes the answer in the Engine API's shape. Paths
are served with and without a `/vN.NN` prefix, errors are `{"message": ...}`
with the status of the `SwarmError`, and every answer carries `Api-Version`,
so the `docker` CLI and the Docker SDK work against it unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web

from .. import __version__
from ..errors import InvalidArgument, SwarmError
from ..logs import LogMessage, LogOptions
from ..model.times import format_time
from ..store import query as store_query
from . import requests as rq
from .backend import SwarmBackend

API_VERSION = "1.47"
MAX_BODY_BYTES = 2 * 1024 * 1024
NODE_FILTERS = frozenset(store_query.NODE_FILTERS)
SERVICE_FILTERS = frozenset(store_query.SERVICE_FILTERS)
TASK_FILTERS = frozenset(store_query.TASK_FILTERS)
# Docker's media types of a log stream: frames with 8-byte headers, or (TTY
# tasks, and clients older than API 1.42) the same bytes labelled raw.
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
RAW_STREAM = "application/vnd.docker.raw-stream"
STREAM_TYPES = {"stdout": 1, "stderr": 2}
SYSTEM_ERROR_STREAM = 3
# How often a follow stream with nothing to send checks that its client is still there.
DISCONNECT_CHECK_SECONDS = 0.5

log = logging.getLogger(__name__)

BACKEND: web.AppKey[SwarmBackend] = web.AppKey("backend", SwarmBackend)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_VERSIONED_PATH = re.compile(r"^/v([0-9.]+)(/.*)$")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in text.split("."))


def _request_version(request: web.Request) -> tuple[int, ...]:
    """The API version the client asked for in the path (ours when unversioned)."""
    match = _VERSIONED_PATH.match(request.path)
    return _version_tuple(match.group(1) if match else API_VERSION)


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": the docker CLI reads error bodies only then
    # (a "; charset=utf-8" suffix makes it print the raw JSON).
    return web.Response(
        body=(json.dumps(data) + "\n").encode(),
        status=status,
        headers={"Content-Type": "application/json"},
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"message": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns every failure into Docker's `{"message": ...}` answer."""
    match = _VERSIONED_PATH.match(request.path)
    if match and _version_tuple(match.group(1)) > _version_tuple(API_VERSION):
        return _error(
            400,
            f"client version {match.group(1)[:16]} is too new. Maximum supported API version "
            f"is {API_VERSION}",
        )
    try:
        return await handler(request)
    except SwarmError as err:
        return _error(err.http_status, err.message)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"request body is larger than the limit of {MAX_BODY_BYTES} bytes")
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return _error(404, _not_served(request.path))
    except web.HTTPException as err:
        return _error(err.status, err.reason)
    except Exception as err:
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, str(err) or type(err).__name__)


# What `docker service create/update --network/--secret/--config` look up
# first; swarmd has none of these objects, and says so.
_UNSUPPORTED_OBJECTS = re.compile(r"^(?:/v[0-9.]+)?/(networks|secrets|configs)(?:/|$)")


def _not_served(path: str) -> str:
    match = _UNSUPPORTED_OBJECTS.match(path)
    if match is None:
        return "page not found"
    return (
        f"swarmd has no {match.group(1)}: only the swarm, node, service and task endpoints "
        "of the Engine API are served"
    )


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = API_VERSION
    response.headers["Server"] = f"swarmkit-py/{__version__}"
    response.headers["Docker-Experimental"] = "false"
    response.headers["OSType"] = "linux"


def _backend(request: web.Request) -> SwarmBackend:
    return request.app[BACKEND]


# -- system --------------------------------------------------------------------


async def ping(request: web.Request) -> web.Response:
    return web.Response(
        text="OK",
        content_type="text/plain",
        headers={
            "Swarm": _backend(request).swarm_header(),
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Pragma": "no-cache",
        },
    )


async def version(request: web.Request) -> web.Response:
    return _json(await _backend(request).version())


async def info(request: web.Request) -> web.Response:
    return _json(await _backend(request).info())


# -- swarm ---------------------------------------------------------------------


async def swarm_inspect(request: web.Request) -> web.Response:
    return _json(await _backend(request).swarm_inspect())


async def swarm_init(request: web.Request) -> web.Response:
    body = await rq.json_body(request, rq.SWARM_INIT_REQUEST, "SwarmInitRequest")
    node_id = await _backend(request).swarm_init(body)
    return _json(node_id)


async def swarm_join(request: web.Request) -> web.Response:
    body = await rq.json_body(request, rq.SWARM_JOIN_REQUEST, "SwarmJoinRequest")
    await _backend(request).swarm_join(body)
    return web.Response()


async def swarm_leave(request: web.Request) -> web.Response:
    await _backend(request).swarm_leave(rq.query_bool(request, "force"))
    return web.Response()


async def swarm_update(request: web.Request) -> web.Response:
    version = rq.query_version(request, "swarm")
    rotate_worker = rq.query_bool(request, "rotateWorkerToken")
    rotate_manager = rq.query_bool(request, "rotateManagerToken")
    rotate_unlock = rq.query_bool(request, "rotateManagerUnlockKey")
    spec = await rq.json_body(request, rq.SWARM_SPEC, "SwarmSpec")
    await _backend(request).swarm_update(
        version, spec, rotate_worker, rotate_manager, rotate_unlock
    )
    return web.Response()


# -- nodes ---------------------------------------------------------------------


async def nodes_list(request: web.Request) -> web.Response:
    filters = rq.query_filters(request, NODE_FILTERS)
    return _json(await _backend(request).nodes_list(filters))


async def node_inspect(request: web.Request) -> web.Response:
    return _json(await _backend(request).node_inspect(request.match_info["id"]))


async def node_update(request: web.Request) -> web.Response:
    version = rq.query_version(request, "node")
    spec = await rq.json_body(request, rq.NODE_SPEC, "NodeSpec")
    await _backend(request).node_update(request.match_info["id"], version, spec)
    return web.Response()


async def node_remove(request: web.Request) -> web.Response:
    force = rq.query_bool(request, "force")
    await _backend(request).node_remove(request.match_info["id"], force)
    return web.Response()


# -- services ------------------------------------------------------------------


async def services_list(request: web.Request) -> web.Response:
    filters = rq.query_filters(request, SERVICE_FILTERS)
    # Docker ignores `status` from clients older than API 1.41.
    status = rq.query_bool(request, "status") and _request_version(request) >= (1, 41)
    return _json(await _backend(request).services_list(filters, status))


async def service_create(request: web.Request) -> web.Response:
    # X-Registry-Auth is accepted and ignored: no registry credentials are used.
    spec = await rq.json_body(request, rq.SERVICE_SPEC, "ServiceSpec")
    answer = await _backend(request).service_create(spec)
    return _json(answer, status=201)


async def service_inspect(request: web.Request) -> web.Response:
    insert_defaults = rq.query_bool(request, "insertDefaults")
    return _json(await _backend(request).service_inspect(request.match_info["id"], insert_defaults))


async def service_update(request: web.Request) -> web.Response:
    version = rq.query_version(request, "service")
    rollback = rq.query_choice(request, "rollback", ("none", "previous"))
    rq.query_choice(request, "registryAuthFrom", ("spec", "previous-spec"))
    rebalance = rq.query_bool(request, "rebalance")
    spec = await rq.json_body(request, rq.SERVICE_SPEC, "ServiceSpec")
    answer = await _backend(request).service_update(
        request.match_info["id"],
        version,
        spec,
        rollback=rollback == "previous",
        rebalance=rebalance,
    )
    return _json(answer)


async def service_remove(request: web.Request) -> web.Response:
    await _backend(request).service_remove(request.match_info["id"])
    return web.Response()


async def service_logs(request: web.Request) -> web.StreamResponse:
    backend = _backend(request)
    ref = request.match_info["id"]
    options = rq.query_log_options(request)
    service = await backend.service_inspect(ref, False)
    tty = _tty(service.get("Spec", {}).get("TaskTemplate", {}))
    return await _stream_logs(request, backend.service_logs(ref, options), options, tty)


# -- tasks -----------------------------------------------------------------------


async def tasks_list(request: web.Request) -> web.Response:
    filters = rq.query_filters(request, TASK_FILTERS)
    return _json(await _backend(request).tasks_list(filters))


async def task_inspect(request: web.Request) -> web.Response:
    return _json(await _backend(request).task_inspect(request.match_info["id"]))


async def task_logs(request: web.Request) -> web.StreamResponse:
    backend = _backend(request)
    task_id = request.match_info["id"]
    options = rq.query_log_options(request)
    task = await backend.task_inspect(task_id)
    tty = _tty(task.get("Spec", {}))
    return await _stream_logs(request, backend.task_logs(task_id, options), options, tty)


# -- log streams -------------------------------------------------------------------


def _tty(task_spec: Any) -> bool:
    container = task_spec.get("ContainerSpec") if isinstance(task_spec, dict) else None
    return isinstance(container, dict) and container.get("TTY") is True


def log_frame(message: LogMessage, options: LogOptions, multiplexed: bool) -> bytes:
    """One log line as Docker writes it: `[time ][details ]line`, the time in
    RFC 3339 with nine fractional digits and the details Docker's sorted,
    query-escaped `key=value` pairs; multiplexed, behind an 8-byte header
    (stream type, three zero bytes, big-endian payload length)."""
    payload = message.line.data
    if options.details:
        attributes = {
            "com.docker.swarm.node.id": message.node_id,
            "com.docker.swarm.service.id": message.service_id,
            "com.docker.swarm.task.id": message.task_id,
        }
        details = ",".join(
            f"{quote_plus(key, safe='')}={quote_plus(value, safe='')}"
            for key, value in sorted(attributes.items())
        )
        payload = details.encode() + b" " + payload
    if options.timestamps:
        payload = format_time(message.line.time_ns).encode() + b" " + payload
    if not multiplexed:
        return payload
    return _frame_header(STREAM_TYPES[message.line.stream], len(payload)) + payload


def _frame_header(stream_type: int, length: int) -> bytes:
    return bytes((stream_type, 0, 0, 0)) + length.to_bytes(4, "big")


async def _stream_logs(
    request: web.Request,
    messages: AsyncIterator[LogMessage],
    options: LogOptions,
    tty: bool,
) -> web.StreamResponse:
    """Sends `messages` as they come. Once the 200 is out, a failure can only
    be reported inside the stream: Docker's system-error frame
    (`Error grabbing logs: ...`), which the docker CLI prints and exits on."""
    multiplexed = not tty
    content_type = RAW_STREAM
    if multiplexed and _request_version(request) >= (1, 42):
        content_type = MULTIPLEXED_STREAM
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)
    try:
        async with contextlib.aclosing(_until_disconnected(request, messages)) as stream:
            async for message in stream:
                if options.wants(message.line):
                    await response.write(log_frame(message, options, multiplexed))
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; nobody is left to tell
    except Exception as err:
        if not isinstance(err, SwarmError):
            log.exception("%s %s failed while streaming", request.method, request.path)
        reason = err.message if isinstance(err, SwarmError) else str(err) or type(err).__name__
        data = f"Error grabbing logs: {reason}\n".encode()
        if multiplexed:
            data = _frame_header(SYSTEM_ERROR_STREAM, len(data)) + data
        with contextlib.suppress(ConnectionResetError):
            await response.write(data)
            await response.write_eof()
    return response


async def _until_disconnected(
    request: web.Request, messages: AsyncIterator[LogMessage]
) -> AsyncGenerator[LogMessage, None]:
    """`messages`, stopping (and closing them) once the client has gone away,
    even while no message comes (a `follow` stream of a quiet service)."""
    iterator = aiter(messages)
    pending: asyncio.Task[LogMessage] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=DISCONNECT_CHECK_SECONDS)
            if not done:
                transport = request.transport
                if transport is None or transport.is_closing():
                    return
                continue
            try:
                message = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield message
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await pending
        close = getattr(iterator, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/swarm", swarm_inspect),
    ("POST", "/swarm/init", swarm_init),
    ("POST", "/swarm/join", swarm_join),
    ("POST", "/swarm/leave", swarm_leave),
    ("POST", "/swarm/update", swarm_update),
    ("GET", "/nodes", nodes_list),
    ("GET", "/nodes/{id}", node_inspect),
    ("DELETE", "/nodes/{id}", node_remove),
    ("POST", "/nodes/{id}/update", node_update),
    ("GET", "/services", services_list),
    ("POST", "/services/create", service_create),
    ("GET", "/services/{id}", service_inspect),
    ("DELETE", "/services/{id}", service_remove),
    ("POST", "/services/{id}/update", service_update),
    ("GET", "/services/{id}/logs", service_logs),
    ("GET", "/tasks", tasks_list),
    ("GET", "/tasks/{id}", task_inspect),
    ("GET", "/tasks/{id}/logs", task_logs),
]


def make_app(backend: SwarmBackend) -> web.Application:
    """The aiohttp application serving `backend` (every route with and without
    a `/vN.NN` prefix)."""
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    app[BACKEND] = backend
    for method, path, handler in ROUTES:
        for prefix in ("", "/v{api_version:[0-9.]+}"):
            app.router.add_route(method, prefix + path, handler)
    app.on_response_prepare.append(_common_headers)
    return app


class ApiServer:
    """A running API server; `close()` stops it and removes its socket."""

    def __init__(self, runner: web.AppRunner, unix_path: str | None) -> None:
        self._runner = runner
        self.unix_path = unix_path

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        """The bound TCP address (the real port when 0 was asked for)."""
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                return str(address[0]), int(address[1])
        return None

    async def close(self) -> None:
        await self._runner.cleanup()
        if self.unix_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_path)


def _refuse_live_socket(path: str) -> None:
    """asyncio replaces a stale socket file silently; make sure it is stale."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return  # nobody listens: stale, safe to replace
    finally:
        probe.close()
    raise InvalidArgument(f"another process is serving {path}; stop it or choose another path")


async def serve(
    backend: SwarmBackend,
    unix_path: str | None,
    tcp: tuple[str, int] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    socket_mode: int = 0o660,
) -> ApiServer:
    """Serve the API on a unix socket (mode `socket_mode`) and/or on TCP
    (`ssl_context` for TLS, mutual when the context requires client certs)."""
    if unix_path is None and tcp is None:
        raise ValueError("serve() needs a unix socket path, a TCP address, or both")
    runner = web.AppRunner(make_app(backend), access_log=None)
    await runner.setup()
    try:
        if unix_path is not None:
            _refuse_live_socket(unix_path)
            await web.UnixSite(runner, unix_path).start()
            os.chmod(unix_path, socket_mode)
        if tcp is not None:
            await web.TCPSite(runner, tcp[0], tcp[1], ssl_context=ssl_context).start()
    except BaseException:
        await runner.cleanup()
        raise
    return ApiServer(runner, unix_path)
