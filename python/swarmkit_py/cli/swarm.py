"""`swarmctl swarm ...`: docker's `swarm` commands (init, join, join-token,
leave, inspect, update, ca), same flags, same output."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import click

from ..api.client import APIClient
from ..pki.external_ca import parse_external_ca_spec
from .common import CommandError, run
from .durations import DURATION
from .output import print_inspect

DEFAULT_LISTEN_ADDR = "0.0.0.0:2377"
DEFAULT_SWARM_PORT = 2377
CA_ROTATION_POLL_SECONDS = 0.2


def node_addr(value: str) -> str:
    """Docker's NodeAddrOption: `<ip|interface>[:port]`, defaults filled in
    from 0.0.0.0:2377."""
    host, sep, port = value.rpartition(":")
    if not sep or "]" in port:  # no port (an IPv6 literal in brackets has colons)
        host, port = value, ""
    host = host or "0.0.0.0"
    port = port or str(DEFAULT_SWARM_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"invalid port {port!r} in {value!r}")
    return f"{host}:{port}"


def _node_addr_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    return None if value is None else node_addr(value)


def _external_cas(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> Any:
    """`--external-ca protocol=cfssl,url=https://...` as the API's ExternalCA objects."""
    if not values:
        return None
    external: list[dict[str, Any]] = []
    for value in values:
        try:
            ca = parse_external_ca_spec(value)
        except ValueError as err:
            raise click.BadParameter(str(err)) from err
        entry: dict[str, Any] = {"Protocol": "cfssl", "URL": ca.url, "Options": {}}
        if ca.profile:
            entry["Options"]["profile"] = ca.profile
        external.append(entry)
    return external


AVAILABILITY = click.Choice(["active", "pause", "drain"], case_sensitive=False)


def _merge_spec(spec: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The SwarmSpec with the flags that were given (None = not given) applied."""
    spec = copy.deepcopy(spec)

    def section(name: str) -> dict[str, Any]:
        value = spec.get(name)
        if not isinstance(value, dict):
            value = spec[name] = {}
        return value

    if changes.get("task_history_limit") is not None:
        section("Orchestration")["TaskHistoryRetentionLimit"] = changes["task_history_limit"]
    if changes.get("dispatcher_heartbeat") is not None:
        section("Dispatcher")["HeartbeatPeriod"] = changes["dispatcher_heartbeat"]
    if changes.get("cert_expiry") is not None:
        section("CAConfig")["NodeCertExpiry"] = changes["cert_expiry"]
    if changes.get("external_ca") is not None:
        section("CAConfig")["ExternalCAs"] = changes["external_ca"]
    if changes.get("snapshot_interval") is not None:
        section("Raft")["SnapshotInterval"] = changes["snapshot_interval"]
    if changes.get("max_snapshots") is not None:
        section("Raft")["KeepOldSnapshots"] = changes["max_snapshots"]
    if changes.get("autolock") is not None:
        section("EncryptionConfig")["AutoLockManagers"] = changes["autolock"]
    return spec


def spec_options(func: Any) -> Any:
    """The SwarmSpec flags `swarm init` and `swarm update` share."""
    options = [
        click.option("--task-history-limit", type=int, help="Task history retention limit"),
        click.option(
            "--dispatcher-heartbeat",
            type=DURATION,
            help="Dispatcher heartbeat period (ns|us|ms|s|m|h) [default 5s]",
        ),
        click.option(
            "--cert-expiry",
            type=DURATION,
            help="Validity period for node certificates (ns|us|ms|s|m|h) [default 2160h0m0s]",
        ),
        click.option(
            "--external-ca",
            multiple=True,
            callback=_external_cas,
            help="Specifications of one or more certificate signing endpoints "
            "(protocol=cfssl,url=https://...)",
        ),
        click.option("--snapshot-interval", type=click.IntRange(0), help="Raft snapshot interval"),
        click.option(
            "--max-snapshots",
            type=click.IntRange(0),
            help="Number of additional Raft snapshots to retain",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


async def print_join_command(api: APIClient, node_id: str, worker: bool, manager: bool) -> None:
    """Docker's "To add a worker to this swarm, run the following command" text."""
    node = await api.node_inspect(node_id)
    swarm = await api.swarm_inspect()
    manager_status = node.get("ManagerStatus")
    if not manager_status:
        return
    address = manager_status.get("Addr", "")
    tokens = swarm.get("JoinTokens", {})
    for role, wanted in (("worker", worker), ("manager", manager)):
        if wanted:
            click.echo(
                f"To add a {role} to this swarm, run the following command:\n\n"
                f"    swarmctl swarm join --token {tokens.get(role.capitalize(), '')} "
                f"{address}\n"
            )


@click.group()
def swarm() -> None:
    """Manage the swarm."""


@swarm.command()
@click.option(
    "--listen-addr",
    default=DEFAULT_LISTEN_ADDR,
    callback=_node_addr_option,
    help='Listen address (format: "<ip|interface>[:port]")',
    show_default=True,
)
@click.option("--advertise-addr", help='Advertised address (format: "<ip|interface>[:port]")')
@click.option(
    "--force-new-cluster", is_flag=True, help="Force create a new cluster from current state"
)
@click.option("--availability", type=AVAILABILITY, help="Availability of the node")
@spec_options
@click.pass_context
def init(ctx: click.Context, /, **options: Any) -> None:
    """Initialize a swarm."""
    request: dict[str, Any] = {
        "ListenAddr": options["listen_addr"],
        "AdvertiseAddr": options["advertise_addr"] or "",
        "ForceNewCluster": options["force_new_cluster"],
        "Spec": _merge_spec({}, options),
    }
    if options["availability"]:
        request["Availability"] = options["availability"].lower()

    async def work(api: APIClient) -> None:
        node_id = await api.swarm_init(**request)
        click.echo(f"Swarm initialized: current node ({node_id}) is now a manager.\n")
        await print_join_command(api, node_id, worker=True, manager=False)
        click.echo(
            "To add a manager to this swarm, run 'swarmctl swarm join-token manager' and follow "
            "the instructions."
        )

    run(ctx, work)


@swarm.command()
@click.option("--token", default="", help="Token for entry into the swarm")
@click.option(
    "--listen-addr",
    default=DEFAULT_LISTEN_ADDR,
    callback=_node_addr_option,
    help='Listen address (format: "<ip|interface>[:port]")',
    show_default=True,
)
@click.option("--advertise-addr", help='Advertised address (format: "<ip|interface>[:port]")')
@click.option("--availability", type=AVAILABILITY, help="Availability of the node")
@click.argument("remote", metavar="HOST:PORT")
@click.pass_context
def join(
    ctx: click.Context,
    token: str,
    listen_addr: str,
    advertise_addr: str | None,
    availability: str | None,
    remote: str,
) -> None:
    """Join a swarm as a node and/or manager."""
    request: dict[str, Any] = {
        "JoinToken": token,
        "ListenAddr": listen_addr,
        "AdvertiseAddr": advertise_addr or "",
        "RemoteAddrs": [remote],
    }
    if availability:
        request["Availability"] = availability.lower()

    async def work(api: APIClient) -> None:
        await api.swarm_join(**request)
        info = await api.info()
        role = "manager" if info.get("Swarm", {}).get("ControlAvailable") else "worker"
        click.echo(f"This node joined a swarm as a {role}.")

    run(ctx, work)


@swarm.command("join-token")
@click.option("--rotate", is_flag=True, help="Rotate join token")
@click.option("-q", "--quiet", is_flag=True, help="Only display token")
@click.argument("role", type=click.Choice(["worker", "manager"]))
@click.pass_context
def join_token(ctx: click.Context, rotate: bool, quiet: bool, role: str) -> None:
    """Manage join tokens."""
    worker, manager = role == "worker", role == "manager"

    async def work(api: APIClient) -> None:
        if rotate:
            swarm_object = await api.swarm_inspect()
            await api.swarm_update(
                swarm_object["Version"]["Index"],
                swarm_object.get("Spec", {}),
                rotate_worker_token=worker,
                rotate_manager_token=manager,
            )
            if not quiet:
                click.echo(f"Successfully rotated {role} join token.\n")
        swarm_object = await api.swarm_inspect()
        if quiet:
            click.echo(swarm_object.get("JoinTokens", {}).get(role.capitalize(), ""))
            return
        info = await api.info()
        await print_join_command(api, info["Swarm"]["NodeID"], worker, manager)

    run(ctx, work)


@swarm.command()
@click.option(
    "-f", "--force", is_flag=True, help="Force this node to leave the swarm, ignoring warnings"
)
@click.pass_context
def leave(ctx: click.Context, force: bool) -> None:
    """Leave the swarm."""

    async def work(api: APIClient) -> None:
        await api.swarm_leave(force)
        click.echo("Node left the swarm.")

    run(ctx, work)


@swarm.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json"]),
    help="json: one compact JSON object instead of an indented array",
)
@click.pass_context
def inspect(ctx: click.Context, output_format: str | None) -> None:
    """Display the swarm object (with its join tokens)."""

    async def work(api: APIClient) -> None:
        swarm_object = await api.swarm_inspect()
        if output_format == "json":
            click.echo(json.dumps(swarm_object, separators=(",", ":")))
        else:
            print_inspect([swarm_object])

    run(ctx, work)


@swarm.command()
@click.option(
    "--autolock",
    type=click.BOOL,
    is_flag=False,
    flag_value=True,
    default=None,
    help="Change manager autolocking setting (true|false)",
)
@spec_options
@click.pass_context
def update(ctx: click.Context, /, **options: Any) -> None:
    """Update the swarm."""
    if all(value is None for value in options.values()):
        raise click.UsageError("swarm update needs at least one option to change", ctx)

    async def work(api: APIClient) -> None:
        swarm_object = await api.swarm_inspect()
        spec = _merge_spec(swarm_object.get("Spec", {}), options)
        await api.swarm_update(swarm_object["Version"]["Index"], spec)
        click.echo("Swarm updated.")

    run(ctx, work)


@swarm.command()
@click.option(
    "--rotate",
    is_flag=True,
    help="Rotate the swarm CA - new root certificate and key are generated",
)
@click.option(
    "--cert-expiry",
    type=DURATION,
    help="Validity period for node certificates (ns|us|ms|s|m|h)",
)
@click.option(
    "--external-ca",
    multiple=True,
    callback=_external_cas,
    help="Specifications of one or more certificate signing endpoints",
)
@click.option(
    "-d", "--detach", is_flag=True, help="Exit immediately instead of waiting for the rotation"
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output")
@click.pass_context
def ca(
    ctx: click.Context,
    rotate: bool,
    cert_expiry: int | None,
    external_ca: list[dict[str, Any]] | None,
    detach: bool,
    quiet: bool,
) -> None:
    """Display and rotate the root CA."""
    if not rotate:
        for flag, value in (("cert-expiry", cert_expiry), ("external-ca", external_ca)):
            if value is not None:
                raise click.UsageError(
                    f"`--{flag}` flag requires the `--rotate` flag to update the CA"
                )

    async def work(api: APIClient) -> None:
        swarm_object = await api.swarm_inspect()
        if rotate:
            # Docker's wire form of a rotation: ForceRotate incremented in a swarm update.
            spec = _merge_spec(
                swarm_object.get("Spec", {}),
                {"cert_expiry": cert_expiry, "external_ca": external_ca},
            )
            ca_config = spec.setdefault("CAConfig", {})
            ca_config["ForceRotate"] = int(ca_config.get("ForceRotate", 0)) + 1
            await api.swarm_update(swarm_object["Version"]["Index"], spec)
            if detach:
                return
            if not quiet:
                click.echo("Rotating the root CA...", err=True)
            swarm_object = await api.swarm_inspect()
            while swarm_object.get("RootRotationInProgress"):
                await asyncio.sleep(CA_ROTATION_POLL_SECONDS)
                swarm_object = await api.swarm_inspect()
        trust_root = swarm_object.get("TLSInfo", {}).get("TrustRoot", "")
        if not trust_root:
            raise CommandError("No CA information available")
        click.echo(trust_root.strip())

    run(ctx, work)
