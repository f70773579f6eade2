"""The Engine-API-compatible HTTP server of a swarmkit-py node.

It only translates: each handler reads the request (`requests.py`), calls one
`SwarmBackend` method and writes the answer in the Engine API's shape. Paths
are served with and without a `/vN.NN` prefix, errors are `{"message": ...}`
with the status of the `SwarmError`, and every answer carries `Api-Version`,
so the `docker` CLI and the Docker SDK work against it unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .. import __version__
from ..errors import InvalidArgument, SwarmError
from . import requests as rq
from .backend import SwarmBackend

API_VERSION = "1.47"
MAX_BODY_BYTES = 2 * 1024 * 1024
NODE_FILTERS = frozenset({"id", "label", "membership", "name", "node.label", "role"})
# /tasks is served only as far as `node ps` needs until services exist.
TASK_FILTERS = frozenset({"node", "desired-state"})

log = logging.getLogger(__name__)

BACKEND: web.AppKey[SwarmBackend] = web.AppKey("backend", SwarmBackend)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_VERSIONED_PATH = re.compile(r"^/v([0-9.]+)(/.*)$")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in text.split("."))


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
        return _error(404, "page not found")
    except web.HTTPException as err:
        return _error(err.status, err.reason)
    except Exception as err:
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, str(err) or type(err).__name__)


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


async def tasks_list(request: web.Request) -> web.Response:
    """`GET /tasks` for the `node` and `desired-state` filters (`node ps`)."""
    backend = _backend(request)
    filters = rq.query_filters(request, TASK_FILTERS)
    node_refs = filters.get("node")
    if node_refs is None:
        node_refs = [node["ID"] for node in await backend.nodes_list({})]
    tasks: dict[str, Any] = {}
    for ref in node_refs:
        for task in await backend.node_tasks(ref):
            tasks[str(task.get("ID"))] = task
    states = filters.get("desired-state")
    answer = [t for t in tasks.values() if states is None or t.get("DesiredState") in states]
    return _json(answer)


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
    ("GET", "/tasks", tasks_list),
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
