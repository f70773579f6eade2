"""What every swarmctl command shares: the API endpoint and its TLS, running
a command against it, and docker's way of reporting failures (the message on
stderr, exit status 1)."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from ..api.client import APIClient, ClientError, is_tcp_host, resolve_host, tls_client_context
from ..errors import SwarmError

Work = Callable[[APIClient], Awaitable[None]]


def _env_set(*names: str) -> bool:
    # docker turns TLS verification on for any non-empty DOCKER_TLS_VERIFY, even "0".
    return any(os.environ.get(name) for name in names)


@dataclass
class TLSOptions:
    """docker's `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`, `--tlskey`.

    `--tlsverify` (or a non-empty `SWARMKIT_TLS_VERIFY` / `DOCKER_TLS_VERIFY`)
    means TLS that verifies the daemon; `--tls` alone means TLS that does not.
    Files not given are `ca.pem`, `cert.pem` and `key.pem` in
    `SWARMKIT_CERT_PATH`, else `DOCKER_CERT_PATH`, else `~/.docker`, used when
    they exist. Only `tcp://` endpoints use TLS."""

    tls: bool = False
    verify: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context_for(self, host: str) -> ssl.SSLContext | None:
        """The SSL context to reach `host` with (None: plain HTTP or unix)."""
        verify = self.verify or _env_set("SWARMKIT_TLS_VERIFY", "DOCKER_TLS_VERIFY")
        if not (self.tls or verify):
            given = [
                flag
                for flag, value in (
                    ("--tlscacert", self.ca_file),
                    ("--tlscert", self.cert_file),
                    ("--tlskey", self.key_file),
                )
                if value is not None
            ]
            if given:
                raise CommandError(
                    f"{', '.join(given)} given without --tlsverify (or --tls): "
                    "add --tlsverify to use TLS"
                )
            return None
        if not is_tcp_host(host):
            return None
        cert_dir = Path(
            os.environ.get("SWARMKIT_CERT_PATH")
            or os.environ.get("DOCKER_CERT_PATH")
            or Path.home() / ".docker"
        )

        def pick(given: Path | None, name: str) -> Path | None:
            if given is not None:
                return given
            default = cert_dir / name
            return default if default.exists() else None

        return tls_client_context(
            pick(self.ca_file, "ca.pem"),
            pick(self.cert_file, "cert.pem"),
            pick(self.key_file, "key.pem"),
            verify=verify,
        )


@dataclass
class Settings:
    """Options of the `swarmctl` group."""

    host: str | None
    tls: TLSOptions = field(default_factory=TLSOptions)


class CommandError(Exception):
    """A failure found by swarmctl itself (bad flag value, missing label...):
    printed as it is, without docker's "Error response from daemon" prefix."""


class CommandFailed(Exception):
    """Some items of a multi-item command failed; their messages were printed."""


def error_text(err: BaseException) -> str:
    """What docker prints for an error: daemon answers are prefixed."""
    if isinstance(err, SwarmError) and not isinstance(err, ClientError):
        return f"Error response from daemon: {err.message}"
    return str(err)


def run(ctx: click.Context, work: Work) -> None:
    """Connect to the endpoint of `ctx`, run `work`, and exit 1 with docker's
    message if it fails."""
    settings = ctx.find_object(Settings) or Settings(host=None)

    async def main() -> None:
        host = resolve_host(settings.host)
        ssl_context = settings.tls.context_for(host)
        async with APIClient.from_host(host, ssl_context=ssl_context) as api:
            await work(api)

    try:
        asyncio.run(main())
    except CommandFailed:
        ctx.exit(1)
    except (SwarmError, CommandError) as err:
        click.echo(error_text(err), err=True)
        ctx.exit(1)


def fail_item(err: BaseException) -> None:
    """Report one failed item of a multi-item command and carry on."""
    click.echo(error_text(err), err=True)
