"""An asyncio client of a node's Engine-API-compatible endpoint (what
`swarmctl` uses). Answers are the Engine API's JSON as dicts; error answers
raise the `SwarmError` subclass their status and message stand for.

    async with APIClient.from_host("unix:///var/lib/swarmd/api.sock") as api:
        nodes = await api.nodes_list({"role": ["manager"]})
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import SwarmError, error_for_status
from ..logs import LogLine, LogMessage, LogOptions
from ..model.times import SECOND, parse_time
from ..pki.tls import harden
from .server import API_VERSION, MULTIPLEXED_STREAM, STREAM_TYPES, SYSTEM_ERROR_STREAM

Json = dict[str, Any]

DEFAULT_TCP_PORT = 2375
DEFAULT_TLS_PORT = 2376


class ClientError(SwarmError):
    """Raised by the client itself rather than answered by the daemon (an
    unusable host address, no endpoint configured)."""

    http_status = 400


class DaemonUnreachable(ClientError):
    """The API endpoint could not be reached at all (no answer to report)."""

    http_status = 503


class LogStreamError(SwarmError):
    """The daemon reported a failure in the middle of a log stream (Docker's
    system-error frame, e.g. "Error grabbing logs: ...")."""

    http_status = 500


class TLSFileError(ClientError):
    """A certificate or key file given for the API's TLS cannot be used."""


def _bool(value: bool) -> str:
    return "1" if value else "0"


def _ref(ref: str) -> str:
    return quote(ref, safe="")


def _unix_seconds(nanoseconds: int) -> str:
    """Docker's spelling of a point in time in a query: `seconds.nanoseconds`."""
    return f"{nanoseconds // SECOND}.{nanoseconds % SECOND:09d}"


def resolve_host(host: str | None) -> str:
    """`host`, else `SWARMKIT_HOST`, else `DOCKER_HOST`; a `ClientError` if none is set."""
    host = host or os.environ.get("SWARMKIT_HOST") or os.environ.get("DOCKER_HOST")
    if not host:
        raise ClientError(
            "no API endpoint given: pass -H unix:///path/to/api.sock (or tcp://host:port), "
            "or set SWARMKIT_HOST"
        )
    return host


def is_tcp_host(host: str) -> bool:
    """True for the addresses that travel over TCP (and so may use TLS)."""
    return urlsplit(host).scheme in ("tcp", "http", "https")


def _check_pem(what: str, path: Path) -> None:
    """Raise a `TLSFileError` naming `path` unless it holds a PEM `what`."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TLSFileError(f"cannot read the TLS {what} file {path}: {err.strerror}") from err
    try:
        if what == "key":
            serialization.load_pem_private_key(data, password=None)
        else:
            x509.load_pem_x509_certificates(data)
    except TypeError as err:  # a key protected by a password
        raise TLSFileError(f"the TLS key file {path} is encrypted: {err}") from err
    except ValueError as err:
        expected = "PRIVATE KEY" if what == "key" else "CERTIFICATE"
        raise TLSFileError(
            f"the TLS {what} file {path} is not a PEM {what} "
            f"(expected a -----BEGIN {expected}----- block)"
        ) from err


def load_tls_files(
    context: ssl.SSLContext,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
) -> None:
    """Load the CA to verify the peer with and our certificate and key into
    `context`, checking each file first so an error names the one at fault.
    The certificate and key go together: give both or neither."""
    if (cert_file is None) != (key_file is None):
        given, missing = ("certificate", "key") if key_file is None else ("key", "certificate")
        raise TLSFileError(f"a TLS {given} file needs its {missing} file too")
    if ca_file is not None:
        _check_pem("CA certificate", ca_file)
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except ssl.SSLError as err:
            raise TLSFileError(f"cannot use the TLS CA file {ca_file}: {err}") from err
    if cert_file is not None and key_file is not None:
        _check_pem("certificate", cert_file)
        _check_pem("key", key_file)
        try:
            context.load_cert_chain(str(cert_file), str(key_file))
        except ssl.SSLError as err:
            raise TLSFileError(
                f"the TLS key file {key_file} does not go with the certificate {cert_file}: "
                f"{err.reason or err}"
            ) from err


def tls_client_context(
    ca_file: Path | None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """The context for a `tcp://` endpoint, as docker's `--tls`/`--tlsverify`.

    With `verify` the server must present a certificate for the address
    dialled, signed by `ca_file` (the system's CAs when None); without it
    anything is accepted. `cert_file`/`key_file` are presented to the server
    (a swarmd with `--api-tls-*` refuses clients without them)."""
    context = harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    if verify:
        if ca_file is None:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    load_tls_files(context, ca_file if verify else None, cert_file, key_file)
    return context


class APIClient:
    """One connection pool to one node's API. Use `from_host` and `async with`."""

    def __init__(
        self,
        host: str,
        connector: aiohttp.BaseConnector,
        base_url: str,
        timeout: float | None = None,
    ) -> None:
        self.host = host
        self._base_url = base_url
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=10),
            headers={"User-Agent": "swarmkit-py-client"},
        )

    @classmethod
    def from_host(
        cls,
        host: str | None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = None,
    ) -> APIClient:
        """`unix:///path` or `tcp://host:port` (TLS when `ssl_context` is given);
        None means `SWARMKIT_HOST`, then `DOCKER_HOST`."""
        host = resolve_host(host)
        parts = urlsplit(host)
        connector: aiohttp.BaseConnector
        if parts.scheme == "unix":
            path = parts.path or parts.netloc
            if not path:
                raise ClientError(f"invalid host {host!r}: expected unix:///path/to/api.sock")
            connector = aiohttp.UnixConnector(path=path)
            base_url = "http://localhost"
        elif parts.scheme in ("tcp", "http", "https"):
            try:
                port = parts.port
            except ValueError as err:
                raise ClientError(f"invalid host {host!r}: {err}") from err
            if not parts.hostname:
                raise ClientError(f"invalid host {host!r}: expected tcp://host:port")
            tls = ssl_context is not None or parts.scheme == "https"
            port = port or (DEFAULT_TLS_PORT if tls else DEFAULT_TCP_PORT)
            name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context else tls)
            base_url = f"{'https' if tls else 'http'}://{name}:{port}"
        else:
            raise ClientError(
                f"invalid host {host!r}: expected unix:///path/to/api.sock or tcp://host:port"
            )
        return cls(host, connector, base_url, timeout)

    async def __aenter__(self) -> APIClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._session.close()

    # -- transport ---------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        versioned: bool = True,
    ) -> tuple[Any, dict[str, str]]:
        url = self._base_url + (f"/v{API_VERSION}" if versioned else "") + path
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            async with self._session.request(
                method, url, params=params, data=data, headers=headers
            ) as response:
                text = await response.text()
                answer_headers = dict(response.headers)
                status = response.status
        except (aiohttp.ClientConnectionError, OSError) as err:
            raise self._unreachable(err) from err
        except TimeoutError as err:
            raise DaemonUnreachable(
                f"the swarmkit daemon at {self.host} did not answer in time"
            ) from err
        decoded: Any = text
        if response.content_type == "application/json" and text:
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = text
        if status >= 400:
            raise _error_answer(status, text)
        return decoded, answer_headers

    def _unreachable(self, err: BaseException) -> DaemonUnreachable:
        return DaemonUnreachable(
            f"Cannot connect to the swarmkit daemon at {self.host}. Is swarmd running? "
            f"({err or type(err).__name__})"
        )

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        answer, _ = await self._call(method, path, **kwargs)
        return answer

    # -- system --------------------------------------------------------------

    async def ping(self) -> Json:
        """`GET /_ping`: {"ApiVersion", "Swarm", "OSType", "Experimental"}."""
        _, headers = await self._call("GET", "/_ping", versioned=False)
        return {
            "ApiVersion": headers.get("Api-Version", ""),
            "Swarm": headers.get("Swarm", ""),
            "OSType": headers.get("OSType", ""),
            "Experimental": headers.get("Docker-Experimental", "false") == "true",
        }

    async def version(self) -> Json:
        answer: Json = await self._json("GET", "/version")
        return answer

    async def info(self) -> Json:
        answer: Json = await self._json("GET", "/info")
        return answer

    # -- swarm -----------------------------------------------------------------

    async def swarm_inspect(self) -> Json:
        answer: Json = await self._json("GET", "/swarm")
        return answer

    async def swarm_init(self, **fields: Any) -> str:
        """`POST /swarm/init` with SwarmInitRequest fields (ListenAddr=...,
        Spec={...}); returns the new node ID."""
        return str(await self._json("POST", "/swarm/init", body=fields))

    async def swarm_join(self, **fields: Any) -> None:
        """`POST /swarm/join` with SwarmJoinRequest fields (RemoteAddrs=[...],
        JoinToken=...)."""
        await self._call("POST", "/swarm/join", body=fields)

    async def swarm_leave(self, force: bool = False) -> None:
        await self._call("POST", "/swarm/leave", params={"force": _bool(force)})

    async def swarm_update(
        self,
        version: int,
        spec: Json,
        rotate_worker_token: bool = False,
        rotate_manager_token: bool = False,
        rotate_manager_unlock_key: bool = False,
    ) -> None:
        params = {
            "version": str(version),
            "rotateWorkerToken": _bool(rotate_worker_token),
            "rotateManagerToken": _bool(rotate_manager_token),
            "rotateManagerUnlockKey": _bool(rotate_manager_unlock_key),
        }
        await self._call("POST", "/swarm/update", params=params, body=spec)

    # -- nodes -------------------------------------------------------------------

    async def nodes_list(self, filters: dict[str, list[str]] | None = None) -> list[Json]:
        params = {"filters": json.dumps(filters)} if filters else None
        answer: list[Json] = await self._json("GET", "/nodes", params=params)
        return answer

    async def node_inspect(self, node_ref: str) -> Json:
        answer: Json = await self._json("GET", f"/nodes/{quote(node_ref, safe='')}")
        return answer

    async def node_update(self, node_ref: str, version: int, spec: Json) -> None:
        await self._call(
            "POST",
            f"/nodes/{quote(node_ref, safe='')}/update",
            params={"version": str(version)},
            body=spec,
        )

    async def node_remove(self, node_ref: str, force: bool = False) -> None:
        await self._call(
            "DELETE", f"/nodes/{quote(node_ref, safe='')}", params={"force": _bool(force)}
        )

    async def tasks_list(self, filters: dict[str, list[str]] | None = None) -> list[Json]:
        params = {"filters": json.dumps(filters)} if filters else None
        answer: list[Json] = await self._json("GET", "/tasks", params=params)
        return answer

    async def task_inspect(self, task_id: str) -> Json:
        answer: Json = await self._json("GET", f"/tasks/{_ref(task_id)}")
        return answer

    def task_logs(self, task_id: str, options: LogOptions) -> AsyncGenerator[LogMessage, None]:
        """The task's log lines as they come (see `service_logs`)."""
        return self._logs(f"/tasks/{_ref(task_id)}/logs", options)

    # -- services ------------------------------------------------------------------

    async def services_list(
        self, filters: dict[str, list[str]] | None = None, status: bool = False
    ) -> list[Json]:
        """`GET /services`; with `status` each service has its `ServiceStatus`
        (RunningTasks, DesiredTasks, CompletedTasks)."""
        params = {"status": _bool(status)}
        if filters:
            params["filters"] = json.dumps(filters)
        answer: list[Json] = await self._json("GET", "/services", params=params)
        return answer

    async def service_inspect(self, ref: str, insert_defaults: bool = False) -> Json:
        answer: Json = await self._json(
            "GET", f"/services/{_ref(ref)}", params={"insertDefaults": _bool(insert_defaults)}
        )
        return answer

    async def service_create(self, spec: Json) -> Json:
        """`POST /services/create`: `{"ID": ..., "Warnings": [...] or None}`."""
        answer: Json = await self._json("POST", "/services/create", body=spec)
        return answer

    async def service_update(
        self,
        ref: str,
        version: int,
        spec: Json,
        rollback: bool = False,
        rebalance: bool = False,
    ) -> Json:
        """`POST /services/{id}/update?version=` with the full spec;
        `rollback` asks for the previous spec instead (`?rollback=previous`),
        `rebalance` (ours) to spread the running tasks anew. Answers
        `{"Warnings": [...]}`."""
        params = {"version": str(version)}
        if rollback:
            params["rollback"] = "previous"
        if rebalance:
            params["rebalance"] = "1"
        answer = await self._json("POST", f"/services/{_ref(ref)}/update", params=params, body=spec)
        return answer if isinstance(answer, dict) else {"Warnings": None}

    async def service_remove(self, ref: str) -> None:
        await self._call("DELETE", f"/services/{_ref(ref)}")

    def service_logs(self, ref: str, options: LogOptions) -> AsyncGenerator[LogMessage, None]:
        """The service's log lines as they come, decoded from Docker's
        multiplexed stream; with `options.follow` until the caller stops
        iterating. Every message carries its time and task context whatever
        `options.timestamps` and `options.details` say (those are for how the
        caller prints it). A failure the daemon reports mid-stream raises
        `LogStreamError` after the lines before it."""
        return self._logs(f"/services/{_ref(ref)}/logs", options)

    async def _logs(self, path: str, options: LogOptions) -> AsyncGenerator[LogMessage, None]:
        params = {
            "stdout": _bool(options.stdout),
            "stderr": _bool(options.stderr),
            "follow": _bool(options.follow),
            "timestamps": "1",
            "details": "1",
            "tail": "all" if options.tail is None else str(options.tail),
        }
        if options.since_ns:
            params["since"] = _unix_seconds(options.since_ns)
        if options.until_ns:
            params["until"] = _unix_seconds(options.until_ns)
        url = f"{self._base_url}/v{API_VERSION}{path}"
        try:
            response = await self._session.get(url, params=params)
        except (aiohttp.ClientConnectionError, OSError) as err:
            raise self._unreachable(err) from err
        async with response:
            if response.status >= 400:
                raise _error_answer(response.status, await response.text())
            try:
                async for log_message in _read_log_stream(response):
                    yield log_message
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as err:
                raise LogStreamError(f"the log stream from the daemon broke off: {err}") from err


def _error_answer(status: int, text: str) -> SwarmError:
    """The error an Engine API error answer (`{"message": ...}`) stands for."""
    message = None
    with contextlib.suppress(ValueError):
        decoded = json.loads(text)
        message = decoded.get("message") if isinstance(decoded, dict) else None
    return error_for_status(status, str(message or text.strip() or f"HTTP {status}"))


async def _read_log_stream(response: aiohttp.ClientResponse) -> AsyncIterator[LogMessage]:
    content = response.content
    if response.headers.get("Content-Type", "") != MULTIPLEXED_STREAM:
        # A TTY task's stream (or an old daemon's): no frames, all stdout.
        while line := await content.readline():
            yield _decode_log_line(1, line)
        return
    while True:
        try:
            header = await content.readexactly(8)
        except asyncio.IncompleteReadError as err:
            if err.partial:
                raise LogStreamError("the log stream ended inside a frame") from err
            return
        payload = await content.readexactly(int.from_bytes(header[4:], "big"))
        if header[0] == SYSTEM_ERROR_STREAM:
            text = payload.decode(errors="replace").strip()
            raise LogStreamError(f"error from daemon in stream: {text}")
        yield _decode_log_line(header[0], payload)


_STREAM_NAMES = {number: name for name, number in STREAM_TYPES.items()}


def _decode_log_line(stream_type: int, payload: bytes) -> LogMessage:
    """`<RFC 3339 time> <details> <line>` (what `_logs` asks for) as a LogMessage."""
    stamp, _, rest = payload.partition(b" ")
    details, _, data = rest.partition(b" ")
    try:
        time_ns = parse_time(stamp.decode("ascii", errors="replace"))
    except SwarmError as err:
        raise LogStreamError(f"invalid log line from the daemon: {payload[:80]!r}") from err
    attributes: dict[str, str] = {}
    for pair in details.decode(errors="replace").split(","):
        key, _, value = pair.partition("=")
        attributes[unquote_plus(key)] = unquote_plus(value)
    stream = _STREAM_NAMES.get(stream_type, "stdout")
    return LogMessage(
        LogLine(time_ns, "stderr" if stream == "stderr" else "stdout", data),
        attributes.get("com.docker.swarm.node.id", ""),
        attributes.get("com.docker.swarm.service.id", ""),
        attributes.get("com.docker.swarm.task.id", ""),
    )
