"""`swarmctl node ...`: docker's `node` commands (ls, inspect, ps, rm,
promote, demote, update), same flags, same columns, plus the TASKS, CPU and
MEMORY columns our nodes report in their `Load`. `node ps` prints the task
table of `tasks.py`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from ..api.client import APIClient
from ..errors import SwarmError
from .common import CommandError, CommandFailed, fail_item, run
from .output import (
    FORMAT_OPTION,
    INSPECT_FORMAT_OPTION,
    INSPECT_PRETTY_OPTION,
    bytes_size,
    cpus,
    go_time,
    pretty,
    print_inspected,
    print_json_lines,
    print_table,
)
from .tasks import print_tasks

Json = dict[str, Any]

NODE_COLUMNS = [
    ("ID", "ID"),
    ("HOSTNAME", "Hostname"),
    ("STATUS", "Status"),
    ("AVAILABILITY", "Availability"),
    ("MANAGER STATUS", "ManagerStatus"),
    ("ENGINE VERSION", "EngineVersion"),
    ("TASKS", "Tasks"),
    ("CPU", "CPU"),
    ("MEMORY", "Memory"),
]


def parse_filters(values: tuple[str, ...]) -> dict[str, list[str]]:
    """Repeated `--filter key=value` as the API's filter map."""
    filters: dict[str, list[str]] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"bad format of filter (expected name=value): {value}")
        filters.setdefault(key.strip().lower(), []).append(item)
    return filters


def natural_key(text: str) -> list[Any]:
    """Sort key that puts node-2 before node-10 (docker sorts hostnames so)."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)
    ]


async def resolve(api: APIClient, ref: str) -> str:
    """Docker's node Reference: `self` is the node the CLI talks to."""
    if ref != "self":
        return ref
    node_id = str((await api.info()).get("Swarm", {}).get("NodeID", ""))
    if not node_id:
        await api.nodes_list()  # answers the precise error (not in a swarm, worker...)
        raise CommandError("node ID not found in /info")
    return node_id


def node_row(node: Json, info: Json) -> dict[str, Any]:
    """One `node ls` row in docker's field names (plus Tasks, CPU, Memory)."""
    swarm_info = info.get("Swarm", {})
    description = node.get("Description", {})
    manager_status = node.get("ManagerStatus")
    reachability = ""
    if manager_status:
        reachability = (
            "Leader" if manager_status.get("Leader") else manager_status.get("Reachability", "")
        )
    cluster_tls = (swarm_info.get("Cluster") or {}).get("TLSInfo") or {}
    node_tls = description.get("TLSInfo") or {}
    if not cluster_tls or not node_tls:
        tls_status = "Unknown"
    else:
        tls_status = "Ready" if node_tls == cluster_tls else "Needs Rotation"
    load = node.get("Load")
    resources = description.get("Resources", {})
    tasks = cpu = memory = ""
    if isinstance(load, dict):
        tasks = str(load.get("RunningTasks", 0))
        cpu = f"{cpus(load.get('NanoCPUsUsed', 0))}/{cpus(resources.get('NanoCPUs', 0))}"
        memory = (
            f"{bytes_size(load.get('MemoryBytesUsed', 0))}/"
            f"{bytes_size(resources.get('MemoryBytes', 0))}"
        )
    return {
        "ID": node.get("ID", ""),
        "Self": node.get("ID") == swarm_info.get("NodeID"),
        "Hostname": description.get("Hostname", ""),
        "Status": pretty(node.get("Status", {}).get("State", "")),
        "Availability": pretty(node.get("Spec", {}).get("Availability", "")),
        "ManagerStatus": pretty(reachability),
        "EngineVersion": description.get("Engine", {}).get("EngineVersion", ""),
        "TLSStatus": tls_status,
        "Tasks": tasks,
        "CPU": cpu,
        "Memory": memory,
    }


def node_pretty(node: Json) -> str:
    """`node inspect --pretty`: docker's text layout (tabs included)."""
    spec = node.get("Spec", {})
    description = node.get("Description", {})
    status = node.get("Status", {})
    lines = [f"ID:\t\t\t{node.get('ID', '')}"]
    if spec.get("Name"):
        lines.append(f"Name:\t\t\t{spec['Name']}")
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" - {k}{'=' + v if v else ''}" for k, v in sorted(spec["Labels"].items())]
    lines.append(f"Hostname:              \t{description.get('Hostname', '')}")
    lines.append(f"Joined at:             \t{go_time(node.get('CreatedAt', ''))}")
    lines.append("Status:")
    lines.append(f" State:\t\t\t{pretty(status.get('State', ''))}")
    if status.get("Message"):
        lines.append(f" Message:              \t{pretty(status['Message'])}")
    lines.append(f" Availability:         \t{pretty(spec.get('Availability', ''))}")
    if status.get("Addr"):
        lines.append(f" Address:\t\t{status['Addr']}")
    manager_status = node.get("ManagerStatus")
    if manager_status:
        lines.append("Manager Status:")
        lines.append(f" Address:\t\t{manager_status.get('Addr', '')}")
        lines.append(f" Raft Status:\t\t{pretty(manager_status.get('Reachability', ''))}")
        lines.append(f" Leader:\t\t{'Yes' if manager_status.get('Leader') else 'No'}")
    platform = description.get("Platform", {})
    resources = description.get("Resources", {})
    memory = resources.get("MemoryBytes", 0)
    lines += [
        "Platform:",
        f" Operating System:\t{platform.get('OS', '')}",
        f" Architecture:\t\t{platform.get('Architecture', '')}",
        "Resources:",
        f" CPUs:\t\t\t{int(resources.get('NanoCPUs', 0) // 1_000_000_000)}",
        f" Memory:\t\t{bytes_size(memory) if memory else ''}",
    ]
    load = node.get("Load")
    if isinstance(load, dict):
        lines += [
            "Load:",
            f" Running tasks:\t\t{load.get('RunningTasks', 0)}",
            f" CPUs used:\t\t{cpus(load.get('NanoCPUsUsed', 0))}",
            f" Memory used:\t\t{bytes_size(load.get('MemoryBytesUsed', 0))}",
        ]
    engine = description.get("Engine", {})
    plugins: dict[str, list[str]] = {}
    for plugin in engine.get("Plugins") or []:
        plugins.setdefault(plugin.get("Type", ""), []).append(plugin.get("Name", ""))
    if plugins:
        lines.append("Plugins:")
        lines += [f" {kind}:\t\t{', '.join(names)}" for kind, names in sorted(plugins.items())]
    lines.append(f"Engine Version:\t\t{engine.get('EngineVersion', '')}")
    if engine.get("Labels"):
        lines.append("Engine Labels:")
        lines += [f" - {k}{'=' + v if v else ''}" for k, v in sorted(engine["Labels"].items())]
    tls = description.get("TLSInfo") or {}
    if tls:
        lines += [
            "TLS Info:",
            " TrustRoot:",
            tls.get("TrustRoot", ""),
            f" Issuer Subject:\t{tls.get('CertIssuerSubject', '')}",
            f" Issuer Public Key:\t{tls.get('CertIssuerPublicKey', '')}",
        ]
    return "\n".join(lines)


@click.group()
def node() -> None:
    """Manage swarm nodes."""


@node.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value)")
@FORMAT_OPTION
@click.pass_context
def node_ls(ctx: click.Context, quiet: bool, filters: tuple[str, ...], output_format: str) -> None:
    """List nodes in the swarm."""
    filter_map = parse_filters(filters)

    async def work(api: APIClient) -> None:
        nodes = await api.nodes_list(filter_map)
        nodes.sort(key=lambda n: natural_key(n.get("Description", {}).get("Hostname", "")))
        if quiet:
            for item in nodes:
                click.echo(item.get("ID", ""))
            return
        info = await api.info() if nodes else {}
        rows = [node_row(item, info) for item in nodes]
        if output_format == "json":
            print_json_lines(rows, sort_keys=True)
            return
        table = []
        for row in rows:
            cells = [str(row[field]) for _, field in NODE_COLUMNS]
            cells[0] += " *" if row["Self"] else ""
            table.append(cells)
        print_table([header for header, _ in NODE_COLUMNS], table)

    run(ctx, work)


@node.command("inspect")
@INSPECT_PRETTY_OPTION
@INSPECT_FORMAT_OPTION
@click.argument("refs", nargs=-1, required=True, metavar="NODE...")
@click.pass_context
def node_inspect(
    ctx: click.Context, pretty_output: bool, output_format: str | None, refs: tuple[str, ...]
) -> None:
    """Display detailed information on one or more nodes."""

    async def work(api: APIClient) -> None:
        found: list[Json] = []
        errors: list[BaseException] = []
        for ref in refs:
            try:
                found.append(await api.node_inspect(await resolve(api, ref)))
            except (SwarmError, CommandError) as err:
                errors.append(err)
        print_inspected(found, pretty_output, output_format, node_pretty)
        for error in errors:
            fail_item(error)
        if errors:
            raise CommandFailed

    run(ctx, work)


@node.command("ps")
@click.option("-q", "--quiet", is_flag=True, help="Only display task IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value)")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@FORMAT_OPTION
@click.argument("refs", nargs=-1, metavar="[NODE...]")
@click.pass_context
def node_ps(
    ctx: click.Context,
    quiet: bool,
    filters: tuple[str, ...],
    no_trunc: bool,
    output_format: str,
    refs: tuple[str, ...],
) -> None:
    """List tasks running on one or more nodes, defaults to current node."""
    filter_map = parse_filters(filters)

    async def work(api: APIClient) -> None:
        tasks: list[Json] = []
        for ref in refs or ("self",):
            target = await api.node_inspect(await resolve(api, ref))
            tasks += await api.tasks_list({**filter_map, "node": [target["ID"]]})
        await print_tasks(api, tasks, no_trunc or quiet, quiet, output_format)

    run(ctx, work)


@node.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force remove a node from the swarm")
@click.argument("refs", nargs=-1, required=True, metavar="NODE...")
@click.pass_context
def node_rm(ctx: click.Context, force: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more nodes from the swarm."""

    async def work(api: APIClient) -> None:
        failed = False
        for ref in refs:
            try:
                await api.node_remove(ref, force)
            except SwarmError as err:
                fail_item(err)
                failed = True
                continue
            click.echo(ref)
        if failed:
            raise CommandFailed

    run(ctx, work)


Change = Callable[[Json], bool]


async def update_nodes(
    api: APIClient, refs: tuple[str, ...], change: Change, success: Callable[[str], None]
) -> None:
    """Docker's read-modify-write of each node: inspect, change its `Spec` in
    place, send it back with the version read. `change` returns False to skip."""
    for ref in refs:
        current = await api.node_inspect(await resolve(api, ref))
        current.setdefault("Spec", {})
        if not change(current):
            continue
        await api.node_update(current["ID"], current["Version"]["Index"], current["Spec"])
        success(ref)


@node.command("promote")
@click.argument("refs", nargs=-1, required=True, metavar="NODE...")
@click.pass_context
def node_promote(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Promote one or more nodes to manager in the swarm."""
    run(ctx, lambda api: _set_role(api, refs, "manager"))


@node.command("demote")
@click.argument("refs", nargs=-1, required=True, metavar="NODE...")
@click.pass_context
def node_demote(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Demote one or more nodes from manager in the swarm."""
    run(ctx, lambda api: _set_role(api, refs, "worker"))


async def _set_role(api: APIClient, refs: tuple[str, ...], role: str) -> None:
    def change(current: Json) -> bool:
        if current["Spec"].get("Role") == role:
            click.echo(f"Node {current['ID']} is already a {role}.")
            return False
        current["Spec"]["Role"] = role
        return True

    def success(ref: str) -> None:
        if role == "manager":
            click.echo(f"Node {ref} promoted to a manager in the swarm.")
        else:
            click.echo(f"Manager {ref} demoted in the swarm.")

    await update_nodes(api, refs, change, success)
    await _warn_two_managers(api)


TWO_MANAGERS_WARNING = (
    "WARNING: Running Swarm in a two-manager configuration. This configuration provides no "
    "fault tolerance, and poses a high risk to lose control over the cluster. Use three, "
    "five or seven managers so the swarm survives the loss of one, two or three of them."
)


async def _warn_two_managers(api: APIClient) -> None:
    """Two managers tolerate no failure at all: say so, as `docker info` does."""
    try:
        managers = await api.nodes_list({"role": ["manager"]})
    except SwarmError:
        return
    if len(managers) == 2:
        click.echo(TWO_MANAGERS_WARNING, err=True)


@node.command("update")
@click.option(
    "--availability",
    type=click.Choice(["active", "pause", "drain"]),
    help="Availability of the node",
)
@click.option("--role", type=click.Choice(["worker", "manager"]), help="Role of the node")
@click.option("--label-add", multiple=True, help='Add or update a node label ("key=value")')
@click.option("--label-rm", multiple=True, help="Remove a node label if exists")
@click.argument("ref", metavar="NODE")
@click.pass_context
def node_update(
    ctx: click.Context,
    availability: str | None,
    role: str | None,
    label_add: tuple[str, ...],
    label_rm: tuple[str, ...],
    ref: str,
) -> None:
    """Update a node."""

    def change(current: Json) -> bool:
        spec = current["Spec"]
        if role:
            spec["Role"] = role
        if availability:
            spec["Availability"] = availability
        labels = spec.get("Labels") or {}
        for item in label_add:
            key, _, value = item.partition("=")
            labels[key] = value
        for key in label_rm:
            if key not in labels:
                raise CommandError(f"key {key} doesn't exist in node's labels")
            del labels[key]
        spec["Labels"] = labels
        return True

    run(ctx, lambda api: update_nodes(api, (ref,), change, click.echo))
