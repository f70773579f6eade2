"""swarmd: runs one swarmkit-py node.

    swarmd --data-dir DIR [--api-socket PATH] [--hostname NAME] [--label k=v]...
           [--api-tcp HOST:PORT --api-tls-ca FILE --api-tls-cert FILE --api-tls-key FILE]

Like dockerd it starts outside any swarm and serves the Engine API on a unix
socket (default DIR/swarmd.sock) and, with --api-tcp, on TCP with mutual TLS
(dockerd's --tlsverify: the operator's CA, server certificate and key).
`swarm init` / `swarm join` through that API make it a manager or a worker,
which it remembers across restarts. SIGTERM and SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import ssl
from dataclasses import dataclass
from pathlib import Path

from swarmkit_py.api.client import TLSFileError, load_tls_files
from swarmkit_py.api.server import serve
from swarmkit_py.errors import SwarmError
from swarmkit_py.pki.tls import harden
from swarmkit_py.plugins import PluginError, Plugins
from swarmkit_py.raft import StorageError
from swarmkit_py.storage import StorageConfigError, StorageUnavailable
from swarmkit_py.storage.options import storage_option

from .daemon import Daemon, DaemonConfig


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"invalid label {text!r}: expected key=value")
    return key, value if sep else ""


@dataclass(frozen=True)
class TcpEndpoint:
    """Where and how the API is served on TCP (`ssl_context` None: plain HTTP)."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None

    @property
    def url(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{name}:{self.port}"


def _tcp_address(text: str) -> tuple[str, int]:
    address = text.removeprefix("tcp://")
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"invalid address {text!r}: expected HOST:PORT (e.g. 0.0.0.0:2376 or [::1]:2376)"
        )
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def api_tls_context(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """The API's TCP context: presents `cert_file`, and REQUIRES a client
    certificate signed by `ca_file` (TLS 1.2 or newer)."""
    context = harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    context.verify_mode = ssl.CERT_REQUIRED
    load_tls_files(context, ca_file, cert_file, key_file)
    return context


def tcp_endpoint(args: argparse.Namespace) -> TcpEndpoint | None:
    """The TCP endpoint the flags ask for, or None; `SystemExit` with the
    reason when they do not make a safe one."""
    tls_flags = {
        "--api-tls-ca": args.api_tls_ca,
        "--api-tls-cert": args.api_tls_cert,
        "--api-tls-key": args.api_tls_key,
    }
    given = [flag for flag, value in tls_flags.items() if value is not None]
    if args.api_tcp is None:
        if given or args.api_tcp_insecure:
            flags = ", ".join(given + (["--api-tcp-insecure"] if args.api_tcp_insecure else []))
            raise SystemExit(f"swarmd: {flags} only meaningful with --api-tcp HOST:PORT")
        return None
    host, port = args.api_tcp
    if args.api_tcp_insecure:
        if given:
            raise SystemExit(
                f"swarmd: --api-tcp-insecure serves plain HTTP; it cannot be combined with "
                f"{', '.join(given)}"
            )
        if not _is_loopback(host):
            raise SystemExit(
                f"swarmd: refusing to serve the API without TLS on {host}: --api-tcp-insecure "
                "is only allowed on a loopback address (127.0.0.1, ::1 or localhost); give "
                "--api-tls-ca, --api-tls-cert and --api-tls-key to serve it on other addresses"
            )
        return TcpEndpoint(host, port, None)
    missing = [flag for flag, value in tls_flags.items() if value is None]
    if missing:
        raise SystemExit(
            "swarmd: --api-tcp serves the API with mutual TLS and needs --api-tls-ca, "
            f"--api-tls-cert and --api-tls-key (missing: {', '.join(missing)}); "
            "--api-tcp-insecure serves plain HTTP on a loopback address instead"
        )
    try:
        context = api_tls_context(args.api_tls_ca, args.api_tls_cert, args.api_tls_key)
    except TLSFileError as err:
        raise SystemExit(f"swarmd: {err.message}") from None
    return TcpEndpoint(host, port, context)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarmd", description="Run one swarmkit-py node.")
    p.add_argument("--data-dir", type=Path, required=True, help="state, keys and the raft log")
    p.add_argument("--api-socket", type=Path, help="Engine API unix socket (DIR/swarmd.sock)")
    p.add_argument(
        "--api-tcp",
        type=_tcp_address,
        metavar="HOST:PORT",
        help="also serve the API on TCP, with mutual TLS (needs the three --api-tls-* files)",
    )
    p.add_argument("--api-tls-ca", type=Path, metavar="FILE", help="CA that signs client certs")
    p.add_argument("--api-tls-cert", type=Path, metavar="FILE", help="the API's TLS certificate")
    p.add_argument("--api-tls-key", type=Path, metavar="FILE", help="the API's TLS private key")
    p.add_argument(
        "--api-tcp-insecure",
        action="store_true",
        help="serve --api-tcp as plain HTTP, without authentication (loopback addresses only)",
    )
    p.add_argument("--hostname", help="the node's hostname (default: this machine's)")
    p.add_argument("--label", action="append", type=_label, default=[], help="engine label k=v")
    p.add_argument("--runtime", default="process", help="task runtime plugin (process)")
    p.add_argument("--storage", default="file", help="raft storage plugin (file, mysql)")
    p.add_argument(
        "--storage-opt",
        action="append",
        type=storage_option,
        default=[],
        metavar="KEY=VALUE",
        help="an option of the storage plugin, e.g. dsn=mysql://user@host:3306/db "
        "(the password in SWARMKIT_MYSQL_PASSWORD); repeatable",
    )
    p.add_argument(
        "--scheduler",
        default="spread",
        help="scheduler plugin for this node's manager when it leads (spread, binpack)",
    )
    p.add_argument("--raft-tick", type=float, default=1.0, help="seconds per raft tick")
    p.add_argument("--election-ticks", type=int, default=10)
    p.add_argument("--heartbeat-ticks", type=int, default=1)
    p.add_argument("--log-level", default="INFO")
    return p


async def run(
    args: argparse.Namespace, tcp: TcpEndpoint | None = None, plugins: Plugins | None = None
) -> None:
    config = DaemonConfig(
        data_dir=args.data_dir,
        hostname=args.hostname,
        labels=dict(args.label),
        tick_interval=args.raft_tick,
        election_ticks=args.election_ticks,
        heartbeat_ticks=args.heartbeat_ticks,
        runtime=args.runtime,
        storage=args.storage,
        storage_options=dict(args.storage_opt),
        scheduler=args.scheduler,
        plugins=plugins,
    )
    daemon = Daemon(config)
    try:
        await daemon.start()
    except (StorageUnavailable, StorageError) as e:
        await daemon.stop()
        raise RuntimeError(f"storage {config.storage}: {e}") from None
    socket_path = args.api_socket or args.data_dir / "swarmd.sock"
    try:
        server = await serve(
            daemon,
            str(socket_path),
            tcp=(tcp.host, tcp.port) if tcp else None,
            ssl_context=tcp.ssl_context if tcp else None,
        )
    except (OSError, SwarmError) as err:
        await daemon.stop()
        where = f" or {tcp.url}" if tcp else ""
        raise RuntimeError(f"cannot serve the API on unix://{socket_path}{where}: {err}") from err
    except BaseException:
        await daemon.stop()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log = logging.getLogger("swarmd")
    ready = f"api=unix://{socket_path}"
    if tcp is not None:
        bound = server.tcp_address  # the real port when 0 was asked for
        url = TcpEndpoint(*bound, tcp.ssl_context).url if bound else tcp.url
        ready += f" tcp={url}"
        if tcp.ssl_context is None:
            log.warning("the API on %s is served WITHOUT TLS or authentication", url)
    log.info("swarmd ready: %s", ready)
    print(f"swarmd ready {ready}", flush=True)
    await stop.wait()
    await server.close()
    await daemon.stop()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    plugins = Plugins()
    try:
        for kind in ("runtime", "storage", "scheduler"):
            plugins.choose(kind, getattr(args, kind))
        plugins.choose("storage", args.storage)(dict(args.storage_opt))
    except PluginError as e:
        raise SystemExit(f"swarmd: {e}") from None
    except StorageConfigError as e:
        raise SystemExit(f"swarmd: storage {args.storage}: {e}") from None
    tcp = tcp_endpoint(args)
    try:
        asyncio.run(run(args, tcp, plugins))
    except RuntimeError as e:
        raise SystemExit(f"swarmd: {e}") from None


if __name__ == "__main__":
    main()
