"""swarmd: runs one swarmkit-py node.

    swarmd --data-dir DIR [--api-socket PATH] [--hostname NAME] [--label k=v]...

Like dockerd it starts outside any swarm and serves the Engine API on a unix
socket (default DIR/swarmd.sock); `swarm init` / `swarm join` through that API
make it a manager or a worker, which it remembers across restarts. SIGTERM
and SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from swarmkit_py.api.server import serve

from .daemon import Daemon, DaemonConfig

RUNTIMES = ("process",)
STORAGES = ("file",)


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"invalid label {text!r}: expected key=value")
    return key, value if sep else ""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarmd", description="Run one swarmkit-py node.")
    p.add_argument("--data-dir", type=Path, required=True, help="state, keys and the raft log")
    p.add_argument("--api-socket", type=Path, help="Engine API unix socket (DIR/swarmd.sock)")
    p.add_argument("--hostname", help="the node's hostname (default: this machine's)")
    p.add_argument("--label", action="append", type=_label, default=[], help="engine label k=v")
    p.add_argument("--runtime", default="process", help=f"task runtime: {', '.join(RUNTIMES)}")
    p.add_argument("--storage", default="file", help=f"raft storage: {', '.join(STORAGES)}")
    p.add_argument("--raft-tick", type=float, default=1.0, help="seconds per raft tick")
    p.add_argument("--election-ticks", type=int, default=10)
    p.add_argument("--heartbeat-ticks", type=int, default=1)
    p.add_argument("--log-level", default="INFO")
    return p


async def run(args: argparse.Namespace) -> None:
    config = DaemonConfig(
        data_dir=args.data_dir,
        hostname=args.hostname,
        labels=dict(args.label),
        tick_interval=args.raft_tick,
        election_ticks=args.election_ticks,
        heartbeat_ticks=args.heartbeat_ticks,
    )
    daemon = Daemon(config)
    await daemon.start()
    socket_path = args.api_socket or args.data_dir / "swarmd.sock"
    server = await serve(daemon, str(socket_path))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("swarmd").info("swarmd ready: API on unix://%s", socket_path)
    print(f"swarmd ready api=unix://{socket_path}", flush=True)
    await stop.wait()
    await server.close()
    await daemon.stop()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.runtime not in RUNTIMES:
        raise SystemExit(
            f"swarmd: unknown runtime {args.runtime!r}; installed: {', '.join(RUNTIMES)}"
        )
    if args.storage not in STORAGES:
        raise SystemExit(
            f"swarmd: unknown storage {args.storage!r}; installed: {', '.join(STORAGES)}"
        )
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        asyncio.run(run(args))
    except RuntimeError as e:
        raise SystemExit(f"swarmd: {e}") from None


if __name__ == "__main__":
    main()
