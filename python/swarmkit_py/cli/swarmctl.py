"""`swarmctl`: docker's `swarm`, `node` and `service` commands against a
swarmkit-py node's API, `plugin ls`, and commands plugins add.

    swarmctl -H unix:///var/lib/swarmd/api.sock node ls
    swarmctl -H tcp://10.0.0.1:2376 --tlsverify --tlscacert ca.pem \
        --tlscert cert.pem --tlskey key.pem swarm init
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__
from ..plugins import Plugins
from .bench import bench
from .common import Settings, TLSOptions
from .node import node
from .plugin import plugin
from .service import service
from .swarm import swarm

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-H",
    "--host",
    envvar="SWARMKIT_HOST",
    help="Daemon API endpoint: unix:///path/to/api.sock or tcp://host:port "
    "[env SWARMKIT_HOST, then DOCKER_HOST]",
)
@click.option("--tls", is_flag=True, help="Use TLS; implied by --tlsverify")
@click.option(
    "--tlsverify",
    is_flag=True,
    help="Use TLS and verify the daemon [env SWARMKIT_TLS_VERIFY, DOCKER_TLS_VERIFY]",
)
@click.option(
    "--tlscacert", type=_FILE, help="Trust certs signed only by this CA [CERT_PATH/ca.pem]"
)
@click.option("--tlscert", type=_FILE, help="Path to TLS certificate file [CERT_PATH/cert.pem]")
@click.option("--tlskey", type=_FILE, help="Path to TLS key file [CERT_PATH/key.pem]")
@click.version_option(__version__, "-v", "--version", prog_name="swarmctl")
@click.pass_context
def cli(
    ctx: click.Context,
    host: str | None,
    tls: bool,
    tlsverify: bool,
    tlscacert: Path | None,
    tlscert: Path | None,
    tlskey: Path | None,
) -> None:
    """Manage a swarmkit-py cluster through a node's API.

    CERT_PATH is SWARMKIT_CERT_PATH, else DOCKER_CERT_PATH, else ~/.docker;
    TLS is used for tcp:// endpoints only."""
    ctx.obj = Settings(
        host=host,
        tls=TLSOptions(
            tls=tls, verify=tlsverify, ca_file=tlscacert, cert_file=tlscert, key_file=tlskey
        ),
    )


cli.add_command(swarm)
cli.add_command(node)
cli.add_command(service)
cli.add_command(plugin)
cli.add_command(bench)


def main() -> None:
    """The `swarmctl` console script (with the commands installed plugins add)."""
    Plugins().add_commands(cli)
    cli(prog_name="swarmctl")


if __name__ == "__main__":
    main()
