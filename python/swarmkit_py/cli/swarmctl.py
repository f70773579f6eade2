"""`swarmctl`: docker's `swarm` and `node` commands against a swarmkit-py
node's API.

    swarmctl -H unix:///var/lib/swarmd/api.sock node ls
    python -m swarmkit_py.cli.swarmctl -H tcp://10.0.0.1:2375 swarm init
"""

from __future__ import annotations

import click

from .. import __version__
from .common import Settings
from .node import node
from .swarm import swarm


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-H",
    "--host",
    envvar="SWARMKIT_HOST",
    help="Daemon API endpoint: unix:///path/to/api.sock or tcp://host:port "
    "[env SWARMKIT_HOST, then DOCKER_HOST]",
)
@click.version_option(__version__, "-v", "--version", prog_name="swarmctl")
@click.pass_context
def cli(ctx: click.Context, host: str | None) -> None:
    """Manage a swarmkit-py cluster through a node's API."""
    ctx.obj = Settings(host=host)


cli.add_command(swarm)
cli.add_command(node)


def main() -> None:
    """The `swarmctl` console script."""
    cli(prog_name="swarmctl")


if __name__ == "__main__":
    main()
