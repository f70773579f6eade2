"""The task table of `service ps` and `node ps`, as docker prints it: tasks
named `service.slot` (`service.nodeID` for global services), each slot's
current task first and its older ones below it as ` \\_ service.slot`,
nodes by hostname and services by name."""

from __future__ import annotations

import time
from typing import Any

import click

from ..api.client import APIClient
from ..errors import InvalidArgument, SwarmError
from ..model.times import SECOND, parse_time
from .output import (
    human_duration,
    pretty,
    print_json_lines,
    print_table,
    short_image,
    truncate_id,
)

Json = dict[str, Any]

TASK_COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("IMAGE", "Image"),
    ("NODE", "Node"),
    ("DESIRED STATE", "DesiredState"),
    ("CURRENT STATE", "CurrentState"),
    ("ERROR", "Error"),
    ("PORTS", "Ports"),
]
OLDER_TASK_INDENT = " \\_ "
MAX_ERROR_LENGTH = 30


async def id_names(api: APIClient) -> tuple[dict[str, str], dict[str, str]]:
    """Service names and node hostnames by ID (docker's ID resolver, in two calls)."""
    services = {s["ID"]: s.get("Spec", {}).get("Name", s["ID"]) for s in await api.services_list()}
    nodes = {
        n["ID"]: n.get("Description", {}).get("Hostname") or n["ID"] for n in await api.nodes_list()
    }
    return services, nodes


def task_name(task: Json, service_names: dict[str, str]) -> str:
    service_id = str(task.get("ServiceID", ""))
    service = service_names.get(service_id, service_id)
    return f"{service}.{task.get('Slot') or task.get('NodeID', '')}"


def _created_ns(task: Json) -> int:
    try:
        return parse_time(str(task.get("CreatedAt", "")))
    except InvalidArgument:
        return 0


def sort_tasks(tasks: list[Json], service_names: dict[str, str]) -> list[tuple[str, Json]]:
    """(name, task) with each slot's tasks together, newest first, as docker
    sorts them (names compared as strings, so `web.10` comes before `web.2`)."""
    named = [(task_name(task, service_names), task) for task in tasks]
    named.sort(key=lambda item: (item[0], -_created_ns(item[1])))
    return named


def current_state(status: Json, now_ns: int | None = None) -> str:
    """`Running 5 seconds ago` (docker lowercases the duration)."""
    state = pretty(str(status.get("State", "")))
    try:
        since = parse_time(str(status.get("Timestamp", "")))
    except InvalidArgument:
        return state
    elapsed = ((now_ns or time.time_ns()) - since) / SECOND
    return f"{state} {human_duration(elapsed).lower()} ago"


def task_row(task: Json, name: str, hostnames: dict[str, str], no_trunc: bool) -> dict[str, str]:
    """One row in docker's field names."""
    status = task.get("Status", {})
    task_id = str(task.get("ID", ""))
    image = str(task.get("Spec", {}).get("ContainerSpec", {}).get("Image", ""))
    error = str(status.get("Err", ""))
    if not no_trunc and len(error) > MAX_ERROR_LENGTH:
        error = error[: MAX_ERROR_LENGTH - 1] + "…"
    ports = [
        f"*:{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')}"
        for p in (status.get("PortStatus") or {}).get("Ports") or []
    ]
    node_id = str(task.get("NodeID", ""))
    return {
        "ID": task_id if no_trunc else truncate_id(task_id),
        "Name": name,
        "Image": image if no_trunc else short_image(image),
        "Node": hostnames.get(node_id, node_id),
        "DesiredState": pretty(str(task.get("DesiredState", ""))),
        "CurrentState": current_state(status),
        "Error": f'"{error}"' if error else "",
        "Ports": ",".join(ports),
    }


async def print_tasks(
    api: APIClient, tasks: list[Json], no_trunc: bool, quiet: bool, output_format: str
) -> None:
    """Print `tasks` as `docker service ps` / `docker node ps` do."""
    service_names: dict[str, str] = {}
    hostnames: dict[str, str] = {}
    if tasks:
        try:
            service_names, hostnames = await id_names(api)
        except SwarmError:
            pass  # show IDs rather than nothing
    named = sort_tasks(tasks, service_names)
    if quiet:
        for _, task in named:
            click.echo(task.get("ID", ""))
        return
    rows = [task_row(task, name, hostnames, no_trunc) for name, task in named]
    if output_format == "json":
        print_json_lines(rows, sort_keys=True)
        return
    previous = ""
    for row in rows:
        name = row["Name"]
        if name == previous:
            row["Name"] = OLDER_TASK_INDENT + name
        previous = name
    print_table(
        [header for header, _ in TASK_COLUMNS],
        [[row[field] for _, field in TASK_COLUMNS] for row in rows],
    )
