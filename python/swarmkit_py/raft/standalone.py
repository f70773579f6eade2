"""A standalone Raft node process over a replicated append-only log, with a
small HTTP control API on loopback. The demo, the multi-process tests and the
benchmarks run real groups of these:

    python -m swarmkit_py.raft.standalone --id 1 --listen 127.0.0.1:7001 \\
        --control 127.0.0.1:8001 --data-dir /tmp/n1 --peers 1=127.0.0.1:7001,2=...

Control API (JSON): GET /status, POST /propose (raw body), POST /load
({"count", "concurrency", "size", "tag", "duration"}), GET /entries?start=N, GET /read,
POST /members ({"op", "id", "address"}), POST /transfer ({"to"}).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import msgpack
from aiohttp import web

from swarmkit_py.plugins import PluginError, Plugins
from swarmkit_py.storage import StorageConfigError, StorageUnavailable
from swarmkit_py.storage.options import storage_option

from .config import RaftConfig
from .errors import NotLeaderError, RaftError
from .node import RaftNode
from .state_machine import Entry


class AppendLog:
    """The replicated state: every applied entry, in order, with its index."""

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []
        self.digest = hashlib.sha256()

    def apply(self, entries: list[Entry]) -> None:
        for e in entries:
            self.items.append((e.index, e.data))
            self.digest.update(e.data)

    def snapshot(self) -> bytes:
        packed: bytes = msgpack.packb(self.items)
        return packed

    def restore(self, data: bytes) -> None:
        self.items = [(i, d) for i, d in msgpack.unpackb(data)] if data else []
        self.digest = hashlib.sha256()
        for _, d in self.items:
            self.digest.update(d)


class DigestLog:
    """A replicated state with a constant-size snapshot, for benchmarks: the
    count of applied entries and a hash chained over their data."""

    def __init__(self) -> None:
        self.count = 0
        self.last_index = 0
        self.chain = b""

    @property
    def items(self) -> list[tuple[int, bytes]]:
        return []

    def apply(self, entries: list[Entry]) -> None:
        h = hashlib.blake2b(self.chain, digest_size=16)
        for e in entries:
            h.update(e.data)
        self.chain = h.digest()
        self.count += len(entries)
        self.last_index = entries[-1].index

    def snapshot(self) -> bytes:
        packed: bytes = msgpack.packb((self.count, self.last_index, self.chain))
        return packed

    def restore(self, data: bytes) -> None:
        self.count, self.last_index, self.chain = msgpack.unpackb(data) if data else (0, 0, b"")


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))
    return sorted_values[k]


class ControlServer:
    def __init__(self, node: RaftNode, log: AppendLog | DigestLog) -> None:
        self.node = node
        self.log = log

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.add_routes(
            [
                web.get("/status", self.status),
                web.post("/propose", self.propose),
                web.post("/load", self.load),
                web.get("/entries", self.entries),
                web.get("/read", self.read),
                web.post("/members", self.members),
                web.post("/transfer", self.transfer),
                web.post("/force-new-cluster", self.force_new_cluster),
            ]
        )
        return app

    async def status(self, request: web.Request) -> web.Response:
        st = self.node.status().to_dict()
        if isinstance(self.log, DigestLog):
            st["entries"] = self.log.count
        else:
            st["entries"] = len(self.log.items)
        st["pid"] = os.getpid()
        return web.json_response(st)

    async def propose(self, request: web.Request) -> web.Response:
        data = await request.read()
        try:
            index = await self.node.propose(data)
        except RaftError as e:
            return _error(e)
        return web.json_response({"index": index})

    async def load(self, request: web.Request) -> web.Response:
        """Runs `count` proposals from `concurrency` concurrent proposers, or
        fewer if `duration` (seconds) is given and runs out first."""
        spec = await request.json()
        count, concurrency = int(spec["count"]), int(spec.get("concurrency", 1))
        size, tag = int(spec.get("size", 64)), str(spec.get("tag", "load"))
        keep = bool(spec.get("return_acked", True))
        duration = spec.get("duration")
        deadline = time.perf_counter() + float(duration) if duration is not None else None
        issued = 0
        acked: list[tuple[int, str]] = []
        acked_count = 0
        errors: list[str] = []
        latencies: list[float] = []
        next_seq = iter(range(count))

        async def proposer() -> None:
            nonlocal acked_count, issued
            for seq in next_seq:
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                issued += 1
                value = f"{tag}-{seq}".encode().ljust(size, b".")
                start = time.perf_counter()
                try:
                    index = await self.node.propose(value)
                except RaftError as e:
                    errors.append(f"{type(e).__name__}: {e}")
                    continue
                latencies.append(time.perf_counter() - start)
                acked_count += 1
                if keep:
                    acked.append((index, value.hex()))

        start = time.perf_counter()
        await asyncio.gather(*(proposer() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        latencies.sort()
        return web.json_response(
            {
                "acked": acked if keep else acked_count,
                "errors": errors[:20],
                "error_count": len(errors),
                "elapsed": elapsed,
                "commits_per_s": acked_count / elapsed if elapsed else 0.0,
                "stopped_by_time": issued < count,
                "p50_ms": _percentile(latencies, 50) * 1e3,
                "p90_ms": _percentile(latencies, 90) * 1e3,
                "p99_ms": _percentile(latencies, 99) * 1e3,
            }
        )

    async def entries(self, request: web.Request) -> web.Response:
        start = int(request.query.get("start", "0"))
        if isinstance(self.log, DigestLog):
            digest = self.log.chain.hex()
        else:
            digest = self.log.digest.hexdigest()
        items = [(i, d.hex()) for i, d in self.log.items if i >= start]
        return web.json_response({"entries": items, "digest": digest})

    async def read(self, request: web.Request) -> web.Response:
        try:
            index = await self.node.read_index()
        except RaftError as e:
            return _error(e)
        return web.json_response({"index": index, "entries": len(self.log.items)})

    async def members(self, request: web.Request) -> web.Response:
        spec = await request.json()
        op, node_id, address = spec["op"], int(spec["id"]), spec.get("address", "")
        try:
            if op == "add_voter":
                index = await self.node.add_voter(node_id, address)
            elif op == "add_learner":
                index = await self.node.add_learner(node_id, address)
            elif op == "promote_learner":
                index = await self.node.promote_learner(node_id)
            elif op == "remove":
                index = await self.node.remove_member(node_id)
            else:
                return web.json_response({"error": f"unknown op {op!r}"}, status=400)
        except RaftError as e:
            return _error(e)
        return web.json_response({"index": index})

    async def transfer(self, request: web.Request) -> web.Response:
        spec = await request.json()
        try:
            await self.node.transfer_leadership(int(spec["to"]))
        except (RaftError, TimeoutError) as e:
            return _error(e)
        return web.json_response({"leader": self.node.leader_id})

    async def force_new_cluster(self, request: web.Request) -> web.Response:
        try:
            index = await self.node.force_new_cluster()
        except (RaftError, TimeoutError) as e:
            return _error(e)
        return web.json_response({"index": index, "leader": self.node.leader_id})


def _error(e: BaseException) -> web.Response:
    body: dict[str, Any] = {"error": str(e), "kind": type(e).__name__}
    if isinstance(e, NotLeaderError):
        body["leader"] = e.leader_id
    return web.json_response(body, status=503)


def parse_peers(text: str) -> dict[int, str]:
    """`1=host:port,2=host:port` -> {1: "host:port", ...}."""
    peers: dict[int, str] = {}
    for part in filter(None, text.split(",")):
        node_id, sep, addr = part.partition("=")
        if not sep or not node_id.strip().isdigit():
            raise argparse.ArgumentTypeError(f"bad peer {part!r}: expected ID=HOST:PORT")
        peers[int(node_id)] = addr.strip()
    return peers


async def serve(args: argparse.Namespace) -> None:
    config = RaftConfig(
        node_id=args.id,
        listen_addr=args.listen,
        data_dir=Path(args.data_dir),
        peers=args.peers,
        tick_interval=args.tick_interval,
        election_ticks=args.election_ticks,
        heartbeat_ticks=args.heartbeat_ticks,
        snapshot_interval=args.snapshot_interval,
        keep_entries_after_snapshot=args.keep_entries,
        fsync=not args.no_fsync,
        wal_segment_bytes=args.wal_segment_mib * 1024 * 1024,
    )
    log = DigestLog() if args.state_machine == "digest" else AppendLog()
    storage = Plugins().choose("storage", args.storage)(dict(args.storage_opt))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, storage.check)
    backend = await loop.run_in_executor(
        None, storage.open_log, config.data_dir, f"raft-node-{args.id}"
    )
    node = RaftNode(config, log, log_backend=backend)
    await node.start()
    runner = web.AppRunner(ControlServer(node, log).app(), access_log=None)
    await runner.setup()
    host, _, port = args.control.rpartition(":")
    await web.TCPSite(runner, host, int(port)).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready node={args.id} control={args.control}", flush=True)
    await stop.wait()
    await runner.cleanup()
    await node.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--id", type=int, required=True)
    p.add_argument("--listen", required=True, help="raft transport address HOST:PORT")
    p.add_argument("--control", required=True, help="HTTP control address HOST:PORT")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--peers", type=parse_peers, default=None, help="bootstrap members")
    p.add_argument("--tick-interval", type=float, default=1.0)
    p.add_argument("--election-ticks", type=int, default=10)
    p.add_argument("--heartbeat-ticks", type=int, default=1)
    p.add_argument("--snapshot-interval", type=int, default=10_000)
    p.add_argument("--keep-entries", type=int, default=500)
    p.add_argument(
        "--state-machine",
        choices=("log", "digest"),
        default="log",
        help="log: keep every entry (tests); digest: constant-size state (benchmarks)",
    )
    p.add_argument("--wal-segment-mib", type=int, default=64, help="WAL segment size")
    p.add_argument("--no-fsync", action="store_true", help="benchmarks only: no durability")
    p.add_argument("--storage", default="file", help="storage plugin for the log (file, mysql)")
    p.add_argument(
        "--storage-opt", action="append", default=[], type=storage_option, metavar="KEY=VALUE"
    )
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        asyncio.run(serve(args))
    except (RaftError, PluginError, StorageConfigError, StorageUnavailable) as e:
        raise SystemExit(f"swarmkit raft node {args.id}: {e}") from None


if __name__ == "__main__":
    main()
