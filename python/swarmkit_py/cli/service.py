"""`swarmctl service ...`: docker's `service` commands (create, inspect,
logs, ls, ps, rm, rollback, scale, update), same flags, same texts and
columns, plus `update --rebalance`."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import click
from click.core import ParameterSource

from ..api.client import APIClient
from ..api.server import log_frame
from ..errors import NotFound, SwarmError
from ..logs import LogMessage, LogOptions
from ..model.times import format_time
from . import node as node_commands
from .common import CommandError, CommandFailed, error_text, fail_item, run
from .durations import parse_since
from .output import (
    FORMAT_OPTION,
    INSPECT_FORMAT_OPTION,
    INSPECT_PRETTY_OPTION,
    print_inspected,
    print_json_lines,
    print_table,
    truncate_id,
)
from .progress import wait_on_service
from .service_output import service_pretty, service_row
from .service_spec import (
    COMMAND,
    COMMON_OPTIONS,
    ENV,
    LABEL,
    PLACEMENT_PREF,
    PORTS,
    create_spec,
    update_spec,
)
from .tasks import print_tasks

Json = dict[str, Any]

SERVICE_COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("MODE", "Mode"),
    ("REPLICAS", "Replicas"),
    ("IMAGE", "Image"),
    ("PORTS", "Ports"),
]


def _filters(values: tuple[str, ...]) -> dict[str, list[str]]:
    return node_commands.parse_filters(values)


def _warn(answer: Json) -> None:
    for warning in answer.get("Warnings") or []:
        click.echo(warning, err=True)


def _interrupted() -> bool:
    """True if Ctrl-C cancelled the command (which then ends quietly, as
    docker does); False for any other cancellation, which goes on."""
    task = asyncio.current_task()
    return task is not None and task.uncancel() == 0


async def converge(api: APIClient, ref: str, detach: bool, quiet: bool) -> bool:
    """Wait for the service unless detached; False if Ctrl-C stopped the wait
    (the change goes on in the background)."""
    if detach:
        return True
    try:
        await wait_on_service(api, ref, quiet)
    except asyncio.CancelledError:
        if not _interrupted():
            raise
        if not quiet:
            click.echo("Operation continuing in background.")
            click.echo(f"Use `swarmctl service ps {ref}` to check progress.")
        return False
    return True


@click.group()
def service() -> None:
    """Manage swarm services."""


@service.command(
    "create",
    context_settings={"allow_interspersed_args": False},
)
@click.option("--name", help="Service name")
@click.option(
    "--mode",
    type=click.Choice(["replicated", "global"]),
    default="replicated",
    show_default=True,
    help="Service mode",
)
@click.option("-e", "--env", multiple=True, type=ENV, help="Set environment variables")
@click.option("-l", "--label", multiple=True, type=LABEL, help="Service labels")
@click.option("--container-label", multiple=True, type=LABEL, help="Container labels")
@click.option("--constraint", multiple=True, help="Placement constraints")
@click.option(
    "--placement-pref",
    multiple=True,
    type=PLACEMENT_PREF,
    help="Add a placement preference (spread=node.labels.<key>)",
)
@click.option(
    "-p",
    "--publish",
    multiple=True,
    type=PORTS,
    help="Publish a port as a node port (published:target[/protocol], or "
    "mode=host,target=80,published=8080)",
)
@COMMON_OPTIONS
@click.argument("image")
@click.argument("args", nargs=-1)
@click.pass_context
def create(ctx: click.Context, /, image: str, args: tuple[str, ...], **options: Any) -> None:
    """Create a new service: IMAGE [COMMAND] [ARG...]."""
    spec = create_spec(image, args, options)

    async def work(api: APIClient) -> None:
        answer = await api.service_create(spec)
        _warn(answer)
        click.echo(answer["ID"])
        await converge(api, answer["ID"], options["detach"], options["quiet"])

    run(ctx, work)


@service.command("update")
@click.option("--image", help="Service image tag")
@click.option("--args", type=COMMAND, help="Service command args")
@click.option("--env-add", multiple=True, type=ENV, help="Add or update an environment variable")
@click.option("--env-rm", multiple=True, help="Remove an environment variable")
@click.option("--label-add", multiple=True, type=LABEL, help="Add or update a service label")
@click.option("--label-rm", multiple=True, help="Remove a label by its key")
@click.option(
    "--container-label-add", multiple=True, type=LABEL, help="Add or update a container label"
)
@click.option("--container-label-rm", multiple=True, help="Remove a container label by its key")
@click.option("--constraint-add", multiple=True, help="Add or update a placement constraint")
@click.option("--constraint-rm", multiple=True, help="Remove a constraint")
@click.option(
    "--placement-pref-add", multiple=True, type=PLACEMENT_PREF, help="Add a placement preference"
)
@click.option(
    "--placement-pref-rm", multiple=True, type=PLACEMENT_PREF, help="Remove a placement preference"
)
@click.option("--publish-add", multiple=True, type=PORTS, help="Add or update a published port")
@click.option(
    "--publish-rm", multiple=True, type=PORTS, help="Remove a published port by its target port"
)
@click.option("--force", is_flag=True, help="Force update even if no changes require it")
@click.option("--rollback", is_flag=True, help="Rollback to previous specification")
@click.option(
    "--rebalance",
    is_flag=True,
    help="Also spread the service's running tasks anew over the nodes (swarmkit-py)",
)
@COMMON_OPTIONS
@click.argument("ref", metavar="SERVICE")
@click.pass_context
def update(ctx: click.Context, /, ref: str, **options: Any) -> None:
    """Update a service."""
    if options["rollback"]:
        others = [
            name
            for name in options
            if name not in ("rollback", "detach", "quiet")
            and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
        ]
        if others:
            raise click.UsageError("other flags may not be combined with --rollback")

    async def work(api: APIClient) -> None:
        current = await api.service_inspect(ref)
        spec = current.get("Spec", {})
        if not options["rollback"]:
            update_spec(spec, options)
        answer = await api.service_update(
            current["ID"],
            current["Version"]["Index"],
            spec,
            rollback=options["rollback"],
            rebalance=options["rebalance"],
        )
        _warn(answer)
        click.echo(ref)
        await converge(api, ref, options["detach"], options["quiet"])

    run(ctx, work)


@service.command("rollback")
@click.option(
    "-d",
    "--detach",
    is_flag=True,
    help="Exit immediately instead of waiting for the service to converge",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output")
@click.argument("ref", metavar="SERVICE")
@click.pass_context
def rollback(ctx: click.Context, detach: bool, quiet: bool, ref: str) -> None:
    """Revert changes to a service's configuration."""

    async def work(api: APIClient) -> None:
        current = await api.service_inspect(ref)
        answer = await api.service_update(
            current["ID"], current["Version"]["Index"], current.get("Spec", {}), rollback=True
        )
        _warn(answer)
        click.echo(ref)
        await converge(api, ref, detach, quiet)

    run(ctx, work)


def _scale_target(value: str) -> tuple[str, str]:
    ref, sep, replicas = value.partition("=")
    if not sep or not ref:
        raise click.BadParameter(
            f"invalid scale specifier '{value}': expected SERVICE=REPLICAS", param_hint="SERVICE=N"
        )
    return ref, replicas


@service.command("scale")
@click.option(
    "-d",
    "--detach",
    is_flag=True,
    help="Exit immediately instead of waiting for the service to converge",
)
@click.argument("targets", nargs=-1, required=True, metavar="SERVICE=REPLICAS...")
@click.pass_context
def scale(ctx: click.Context, detach: bool, targets: tuple[str, ...]) -> None:
    """Scale one or multiple replicated services."""
    parsed = [_scale_target(value) for value in targets]

    async def work(api: APIClient) -> None:
        errors: list[str] = []
        scaled: list[str] = []
        for ref, text in parsed:
            if not text.isascii() or not text.isdigit():
                errors.append(f"{ref}: invalid replicas value {text}: expected a whole number")
                continue
            try:
                current = await api.service_inspect(ref)
                replicated = current.get("Spec", {}).get("Mode", {}).get("Replicated")
                if replicated is None:
                    raise CommandError(
                        "scale can only be used with replicated or replicated-job mode"
                    )
                replicated["Replicas"] = int(text)
                answer = await api.service_update(
                    current["ID"], current["Version"]["Index"], current["Spec"]
                )
            except (SwarmError, CommandError) as err:
                errors.append(f"{ref}: {error_text(err)}")
                continue
            _warn(answer)
            click.echo(f"{ref} scaled to {int(text)}")
            scaled.append(ref)
        for ref in scaled:
            try:
                if not await converge(api, ref, detach, False):
                    break
            except (SwarmError, CommandError) as err:
                errors.append(f"{ref}: {error_text(err)}")
        for error in errors:
            click.echo(error, err=True)
        if errors:
            raise CommandFailed

    run(ctx, work)


@service.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value)")
@FORMAT_OPTION
@click.pass_context
def service_ls(
    ctx: click.Context, quiet: bool, filters: tuple[str, ...], output_format: str
) -> None:
    """List services."""
    filter_map = _filters(filters)

    async def work(api: APIClient) -> None:
        services = await api.services_list(filter_map, status=not quiet)
        services.sort(key=lambda s: node_commands.natural_key(s.get("Spec", {}).get("Name", "")))
        if quiet:
            for item in services:
                click.echo(truncate_id(str(item.get("ID", ""))))
            return
        rows = [service_row(item) for item in services]
        if output_format == "json":
            print_json_lines(rows, sort_keys=True)
            return
        print_table(
            [header for header, _ in SERVICE_COLUMNS],
            [[row[field] for _, field in SERVICE_COLUMNS] for row in rows],
        )

    run(ctx, work)


@service.command("inspect")
@INSPECT_PRETTY_OPTION
@INSPECT_FORMAT_OPTION
@click.argument("refs", nargs=-1, required=True, metavar="SERVICE...")
@click.pass_context
def service_inspect(
    ctx: click.Context, pretty_output: bool, output_format: str | None, refs: tuple[str, ...]
) -> None:
    """Display detailed information on one or more services."""

    async def work(api: APIClient) -> None:
        found: list[Json] = []
        errors: list[BaseException] = []
        for ref in refs:
            try:
                found.append(await api.service_inspect(ref, insert_defaults=True))
            except NotFound:
                errors.append(CommandError(f"no such service: {ref}"))
            except SwarmError as err:
                errors.append(err)
        print_inspected(found, pretty_output, output_format, service_pretty)
        for error in errors:
            fail_item(error)
        if errors:
            raise CommandFailed

    run(ctx, work)


async def _service_filter(api: APIClient, refs: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Docker's `service ps` matching: full ID, then full name, then a unique
    ID prefix. Returns the IDs found and "no such service" errors."""
    by_id = await api.services_list({"id": list(refs)})
    by_name = await api.services_list({"name": list(refs)})
    found: list[str] = []
    missing: list[str] = []
    for ref in refs:
        exact = [s["ID"] for s in by_id if s["ID"] == ref] or [
            s["ID"] for s in by_name if s.get("Spec", {}).get("Name") == ref
        ]
        prefixed = [s["ID"] for s in by_id if s["ID"].startswith(ref)]
        if exact:
            found.append(exact[0])
        elif len(prefixed) > 1:
            raise CommandError(f"multiple services found with provided prefix: {ref}")
        elif prefixed:
            found.append(prefixed[0])
        else:
            missing.append(f"no such service: {ref}")
    return found, missing


@service.command("ps")
@click.option("-q", "--quiet", is_flag=True, help="Only display task IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value)")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@FORMAT_OPTION
@click.argument("refs", nargs=-1, required=True, metavar="SERVICE...")
@click.pass_context
def service_ps(
    ctx: click.Context,
    quiet: bool,
    filters: tuple[str, ...],
    no_trunc: bool,
    output_format: str,
    refs: tuple[str, ...],
) -> None:
    """List the tasks of one or more services."""
    filter_map = _filters(filters)

    async def work(api: APIClient) -> None:
        service_ids, missing = await _service_filter(api, refs)
        if not service_ids:
            raise CommandError("\n".join(missing))
        if "node" in filter_map:
            filter_map["node"] = [
                await node_commands.resolve(api, ref) for ref in filter_map["node"]
            ]
        tasks = await api.tasks_list({**filter_map, "service": service_ids})
        await print_tasks(api, tasks, no_trunc or quiet, quiet, output_format)
        if missing:
            raise CommandError("\n".join(missing))

    run(ctx, work)


@service.command("rm")
@click.argument("refs", nargs=-1, required=True, metavar="SERVICE...")
@click.pass_context
def service_rm(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Remove one or more services."""

    async def work(api: APIClient) -> None:
        failed = False
        for ref in refs:
            try:
                await api.service_remove(ref)
            except SwarmError as err:
                fail_item(err)
                failed = True
                continue
            click.echo(ref)
        if failed:
            raise CommandFailed

    run(ctx, work)


def _tail(_ctx: click.Context, _param: click.Parameter, value: str) -> int | None:
    if value == "all":
        return None
    if not value.isascii() or not value.isdigit():
        raise click.BadParameter('expected a number of lines or "all"')
    return int(value)


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int:
    if not value:
        return 0
    try:
        return parse_since(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


class LogPrefixes:
    """docker's `name.slot.taskid@node` context before each line, resolved
    once per task (names through the API, IDs kept when they cannot be)."""

    def __init__(self, api: APIClient, options: Json, padding: int) -> None:
        self.api = api
        self.options = options
        self.padding = padding
        self.cache: dict[tuple[str, str, str], str] = {}

    async def _name(self, kind: str, object_id: str) -> str:
        if self.options["no_resolve"]:
            return object_id
        try:
            if kind == "node":
                node = await self.api.node_inspect(object_id)
                return str(node.get("Description", {}).get("Hostname") or object_id)
            found = await self.api.service_inspect(object_id)
            return str(found.get("Spec", {}).get("Name") or object_id)
        except SwarmError:
            return object_id

    async def prefix(self, message: LogMessage) -> str:
        key = (message.node_id, message.service_id, message.task_id)
        if key not in self.cache:
            node_name = await self._name("node", message.node_id)
            service_name = await self._name("service", message.service_id)
            task = await self.api.task_inspect(message.task_id)
            slot = int(task.get("Slot") or 0)
            name = f"{service_name}.{slot}"
            if not self.options["no_task_ids"]:
                task_id = str(task.get("ID", message.task_id))
                name += "." + (task_id if self.options["no_trunc"] else truncate_id(task_id))
            self.cache[key] = f"{name}@{node_name}" + " " * (self.padding - len(str(slot)))
        return self.cache[key]


@service.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option(
    "-n",
    "--tail",
    default="all",
    callback=_tail,
    help="Number of lines to show from the end of the logs",
)
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option(
    "--since",
    callback=_since,
    help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")',
)
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.option("--no-task-ids", is_flag=True, help="Do not include task IDs in output")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("--no-resolve", is_flag=True, help="Do not map IDs to Names in output")
@click.option("--raw", is_flag=True, help="Do not neatly format logs")
@click.argument("target", metavar="SERVICE|TASK")
@click.pass_context
def service_logs(ctx: click.Context, /, target: str, **options: Any) -> None:
    """Fetch the logs of a service or task."""
    log_options = LogOptions(
        since_ns=options["since"], tail=options["tail"], follow=options["follow"]
    )
    raw_options = LogOptions(timestamps=options["timestamps"], details=options["details"])

    async def work(api: APIClient) -> None:
        try:
            found = await api.service_inspect(target)
        except NotFound:
            try:
                task = await api.task_inspect(target)
            except NotFound:
                raise CommandError(f"no such task or service: {target}") from None
            tty = bool(task.get("Spec", {}).get("ContainerSpec", {}).get("TTY"))
            padding = len(str(task.get("Slot") or 0))
            messages = api.task_logs(target, log_options)
        else:
            spec = found.get("Spec", {})
            tty = bool(spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("TTY"))
            replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas")
            padding = len(str(replicas)) if replicas is not None else 1
            messages = api.service_logs(target, log_options)
        if tty and not options["raw"]:
            raise CommandError("tty service logs only supported with --raw")
        prefixes = LogPrefixes(api, options, padding)
        try:
            async with contextlib.aclosing(messages):
                async for message in messages:
                    if options["raw"]:
                        line = log_frame(message, raw_options, multiplexed=False)
                    else:
                        line = (await prefixes.prefix(message)).encode() + b"    | "
                        if options["details"]:
                            line += (
                                b" "  # docker's: the details left besides the context, then a space
                            )
                        if options["timestamps"]:
                            line = format_time(message.line.time_ns).encode() + b" " + line
                        line += message.line.data
                    click.echo(line, nl=False, err=message.line.stream == "stderr")
        except asyncio.CancelledError:
            if not _interrupted():
                raise

    run(ctx, work)
