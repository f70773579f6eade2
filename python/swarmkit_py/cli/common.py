"""What every swarmctl command shares: the API endpoint, running a command
against it, and docker's way of reporting failures (the message on stderr,
exit status 1)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import click

from ..api.client import APIClient, ClientError
from ..errors import SwarmError

Work = Callable[[APIClient], Awaitable[None]]


@dataclass
class Settings:
    """Options of the `swarmctl` group."""

    host: str | None


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
    settings = ctx.find_object(Settings)
    host = settings.host if settings else None

    async def main() -> None:
        async with APIClient.from_host(host) as api:
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
