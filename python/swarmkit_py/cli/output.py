"""How swarmctl prints: docker-style tables (through rich), JSON the way
`docker ... --format json` and `docker inspect` print it, and docker's
human spellings of sizes, times and states."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

FORMAT_OPTION = click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for programs (one JSON object per line).",
)

_BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A borderless table with docker's column layout (three spaces between
    columns); bold headers on a terminal, plain text elsewhere."""
    stream = sys.stdout
    terminal = stream.isatty()
    table = Table(
        box=None,
        show_edge=False,
        pad_edge=False,
        padding=(0, 3, 0, 0),
        header_style="bold" if terminal else "",
        highlight=False,
    )
    for header in headers:
        # docker's tabwriter makes every column at least 10 wide, padding included.
        table.add_column(
            header,
            no_wrap=True,
            min_width=7,
            overflow="ignore" if not terminal else "ellipsis",
        )
    for row in rows:
        table.add_row(*row)
    if terminal:
        Console(file=stream, highlight=False, emoji=False).print(table, markup=False)
        return
    # Piped output is for programs: never wrap or cut a row, no trailing blanks.
    widths = [max(7, len(header)) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    buffer = io.StringIO()
    console = Console(file=buffer, width=sum(widths) + 3 * len(widths) + 1, emoji=False)
    console.print(table, markup=False, highlight=False)
    for line in buffer.getvalue().splitlines():
        click.echo(line.rstrip())


def print_json_lines(items: Sequence[Any], sort_keys: bool = False) -> None:
    """One compact JSON document per line (docker's `--format json`; docker
    sorts the keys of table rows, not of API objects)."""
    for item in items:
        click.echo(json.dumps(item, separators=(",", ":"), sort_keys=sort_keys))


def print_inspect(items: Sequence[Any]) -> None:
    """A JSON array indented by four spaces, as `docker inspect` prints."""
    click.echo(json.dumps(list(items), indent=4))


#: `inspect`'s output flags, shared by `node inspect` and `service inspect`.
INSPECT_PRETTY_OPTION = click.option(
    "--pretty",
    "pretty_output",
    is_flag=True,
    help="Print the information in a human friendly format",
)
INSPECT_FORMAT_OPTION = click.option(
    "--format",
    "output_format",
    type=click.Choice(["json"]),
    help="json: one compact JSON object per line instead of an indented array",
)


def print_inspected(
    found: Sequence[Any],
    pretty_output: bool,
    output_format: str | None,
    pretty_text: Callable[[Any], str],
) -> None:
    """What `inspect` found: docker's pretty text, JSON lines, or an indented array."""
    if pretty_output:
        if found:
            click.echo("\n\n".join(pretty_text(item) for item in found))
    elif output_format == "json":
        print_json_lines(found)
    else:
        print_inspect(found)


def pretty(text: str) -> str:
    """Docker's PrettyPrint: the first letter capitalized (`ready` -> `Ready`)."""
    return text[:1].upper() + text[1:]


def bytes_size(size: float) -> str:
    """Docker's units.BytesSize: binary units, four significant digits (`7.775GiB`)."""
    unit = 0
    while size >= 1024 and unit < len(_BINARY_UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{size:.4g}{_BINARY_UNITS[unit]}"


def cpus(nano_cpus: int) -> str:
    """NanoCPUs as a short number of CPUs (`1.5`, `4`)."""
    return f"{nano_cpus / 1e9:.2f}".rstrip("0").rstrip(".")


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time with up to nanoseconds, or None if it is not one."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        return None
    base, fraction, zone = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{base}.{micros}{zone}")


def go_time(text: str) -> str:
    """An RFC 3339 time the way Go prints a time.Time in UTC
    (`2016-08-18 10:44:24.496525531 +0000 utc`, lower case as docker prints it)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z", text)
    if not match:
        return text
    day, clock, fraction = match.groups()
    fraction = (fraction or "").rstrip("0")
    return f"{day} {clock}{'.' + fraction if fraction else ''} +0000 utc"


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration (`Less than a second`, `5 minutes`, `2 hours`)."""
    if seconds < 1:
        return "Less than a second"
    if seconds < 2:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = seconds / 60
    if minutes < 2:
        return "About a minute"
    if minutes < 60:
        return f"{int(minutes)} minutes"
    hours = minutes / 60
    if hours < 1.5:
        return "About an hour"
    if hours < 48:
        return f"{round(hours)} hours"
    if hours < 24 * 7 * 2:
        return f"{int(hours / 24)} days"
    if hours < 24 * 30 * 2:
        return f"{int(hours / 24 / 7)} weeks"
    if hours < 24 * 365 * 2:
        return f"{int(hours / 24 / 30)} months"
    return f"{int(hours / 24 / 365)} years"


def ago(text: str) -> str:
    """`5 minutes ago` for an RFC 3339 time; empty if there is none."""
    when = parse_time(text)
    if when is None:
        return ""
    return human_duration((datetime.now(UTC) - when).total_seconds()) + " ago"


def short_image(image: str) -> str:
    """An image reference as docker's tables show it: a tagged reference
    loses its digest and the default registry (`docker.io/library/nginx:1@sha256:...`
    -> `nginx:1`); anything else is left as it is."""
    name, _, _ = image.partition("@")
    if ":" not in name.rsplit("/", 1)[-1]:
        return image
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def truncate_id(identifier: str) -> str:
    """Docker's TruncateID: the first 12 characters."""
    return identifier[:12]
