"""An HTTP/1.1 load generator in its own process, cheap enough per request
that the system it drives, not the generator, sets the pace (its CPU use is
measured and shown beside the results, so that can be checked).

Each concurrent client is one keep-alive connection with its request bytes
built once; the next request goes out from the callback that read the
previous answer, with no coroutine or parser in between. Targets:

- `etcd`: `POST /v3/kv/put` on etcd's gRPC gateway, `{"key", "value"}` in
  base64 (a key per client, the value `value_bytes` long);
- `propose`: `POST /propose` on a standalone swarmkit-py Raft node
  (`swarmkit_py.raft.standalone`), the raw value as the body.

The parent (`LoadGenerator`) talks to it over stdin/stdout, one JSON line
each way: a load spec; `{"ready": true}` once the connections are open;
`go`; the result.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .processes import ProcessSet, ProcessUsage, ask, peak_rss_mib
from .results import latency_summary

TARGETS = ("etcd", "propose")
CONNECT_TIMEOUT_S = 30.0
#: How long a load may take past its duration (answers still in flight).
GRACE_S = 30.0


def build_request(target: str, host: str, port: int, client: int, value_bytes: int) -> bytes:
    """The bytes of one request of `client`, sent again and again."""
    value = (b"v%d-" % client).ljust(value_bytes, b".")[:value_bytes]
    if target == "etcd":
        key = base64.b64encode(b"bench/%d" % client).decode()
        body = json.dumps({"key": key, "value": base64.b64encode(value).decode()}).encode()
        path, content_type = "/v3/kv/put", "application/json"
    elif target == "propose":
        body, path, content_type = value, "/propose", "application/octet-stream"
    else:
        raise ValueError(f"unknown target {target!r}: expected one of {', '.join(TARGETS)}")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class _Run:
    """The budget shared by the clients of one load, and what they measured."""

    count: int
    deadline: float
    issued: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_sample: list[str] = field(default_factory=list)
    idle: int = 0
    clients: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self) -> bool:
        """Whether one more request may go out."""
        if self.issued >= self.count or time.perf_counter() >= self.deadline:
            return False
        self.issued += 1
        return True

    def client_done(self) -> None:
        self.idle += 1
        if self.idle >= self.clients:
            self.finished.set()


class _Client(asyncio.Protocol):
    """One connection sending the same request each time the previous answer
    is complete (Content-Length framing, as both targets answer)."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.run: _Run | None = None
        self.buffer = b""
        self.need = -1
        self.status = 0
        self.sent_at = 0.0
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def start(self, run: _Run) -> None:
        self.run = run
        self._send_next()

    def _send_next(self) -> None:
        assert self.run is not None and self.transport is not None
        if self.transport.is_closing() or not self.run.take():
            self.run.client_done()
            self.run = None
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].lower()
                self.status = int(head[9:12])
                length = _content_length(head)
                self.need = end + 4 + length
            if len(self.buffer) < self.need:
                return
            body, self.buffer = self.buffer[: self.need], self.buffer[self.need :]
            self.need = -1
            self._answered(body)

    def _answered(self, response: bytes) -> None:
        run = self.run
        if run is None:
            return
        if self.status == 200:
            run.latencies.append(time.perf_counter() - self.sent_at)
        else:
            run.errors += 1
            if len(run.error_sample) < 5:
                run.error_sample.append(response[-300:].decode(errors="replace"))
        self._send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.run is not None:
            self.run.errors += 1
            if len(self.run.error_sample) < 5:
                self.run.error_sample.append(f"connection lost: {exc or 'closed by the server'}")
            self.run.client_done()
            self.run = None
        if not self.lost.done():
            self.lost.set_result(None)


def _content_length(head: bytes) -> int:
    """The Content-Length of a lower-cased response head (0 if absent)."""
    at = head.find(b"content-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at)
    return int(head[at + 15 : end if end >= 0 else len(head)])


async def _connect(
    target: str, host: str, port: int, concurrency: int, value_bytes: int
) -> list[_Client]:
    loop = asyncio.get_running_loop()
    clients: list[_Client] = []
    try:
        for i in range(concurrency):
            request = build_request(target, host, port, i, value_bytes)
            factory = functools.partial(_Client, request)
            clients.append((await loop.create_connection(factory, host, port))[1])
    except OSError:
        for client in clients:
            if client.transport is not None:
                client.transport.close()
        raise
    return clients


async def _serve(args: argparse.Namespace, commands: IO[str], answers: IO[str]) -> None:
    """Runs one load per spec line on `commands` until it closes."""
    loop = asyncio.get_running_loop()

    def say(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    while line := await loop.run_in_executor(None, commands.readline):
        spec = json.loads(line)
        concurrency, count = int(spec["concurrency"]), int(spec["count"])
        try:
            clients = await _connect(
                args.target, args.host, args.port, concurrency, args.value_bytes
            )
        except OSError as e:
            say({"error": f"cannot connect to {args.host}:{args.port}: {e}"})
            continue
        say({"ready": True})
        await loop.run_in_executor(None, commands.readline)  # "go"
        cpu_before = sum(os.times()[:2])
        started = time.perf_counter()
        run = _Run(count=count, deadline=started + float(spec["duration"]), clients=concurrency)
        for client in clients:
            client.start(run)
        await run.finished.wait()
        elapsed = time.perf_counter() - started
        cpu = sum(os.times()[:2]) - cpu_before
        for client in clients:
            assert client.transport is not None
            client.transport.close()
        await asyncio.gather(*(c.lost for c in clients))
        say(
            {
                "ops": len(run.latencies),
                "errors": run.errors,
                "error_sample": run.error_sample,
                "elapsed_s": elapsed,
                "stopped_by_time": run.issued < count,
                "cpu_percent": 100 * cpu / elapsed if elapsed else 0.0,
                **latency_summary(run.latencies),
            }
        )


class LoadGenerator:
    """The parent's side: spawns `python -m swarmkit_py.bench.loadgen` (in a
    `ProcessSet`, so it is killed with the rest) and runs loads through it."""

    def __init__(
        self,
        processes: ProcessSet,
        target: str,
        address: str,
        value_bytes: int,
        log: Path,
    ) -> None:
        host, _, port = address.rpartition(":")
        self.process = processes.spawn(
            [
                sys.executable,
                "-m",
                "swarmkit_py.bench.loadgen",
                "--target",
                target,
                "--host",
                host,
                "--port",
                port,
                "--value-bytes",
                str(value_bytes),
                "--log",
                str(log),
            ],
            log=log,
            pipes=True,
        )
        self.log = log
        self.duration_s = 0.0

    async def prepare(self, concurrency: int, count: int, duration_s: float) -> None:
        """Opens the connections of the next load."""
        spec = {"concurrency": concurrency, "count": count, "duration": duration_s}
        self.duration_s = duration_s
        await ask(self.process, json.dumps(spec), CONNECT_TIMEOUT_S, self.log)

    async def go(self) -> dict[str, Any]:
        """Runs the prepared load and returns what it measured."""
        return await ask(self.process, "go", self.duration_s + GRACE_S, self.log)

    def usage(self, result: dict[str, Any]) -> ProcessUsage:
        """The generator's CPU use over the load (as it measured it) and its
        peak memory."""
        return ProcessUsage(
            name="load generator",
            pid=self.process.pid,
            cpu_percent=float(result["cpu_percent"]),
            peak_rss_mib=peak_rss_mib(self.process.pid),
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--target", choices=TARGETS, required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--value-bytes", type=int, default=256)
    p.add_argument(
        "--log", help="the file its output goes to (named here so `ps` shows which bench owns it)"
    )
    args = p.parse_args(argv)
    try:
        asyncio.run(_serve(args, sys.stdin, sys.stdout))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
