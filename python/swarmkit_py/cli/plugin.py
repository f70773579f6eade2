"""`swarmctl plugin ls`: the plugins a node has loaded (from its `/info`)."""

from __future__ import annotations

import click

from ..api.client import APIClient
from .common import run
from .output import FORMAT_OPTION, print_json_lines, print_table

PLUGIN_COLUMNS = ["NAME", "VERSION", "PROVIDES", "ERRORS"]


@click.group()
def plugin() -> None:
    """Show the node's swarmkit-py plugins (runtimes, storage, schedulers, ...)."""


@plugin.command("ls")
@FORMAT_OPTION
@click.pass_context
def plugin_ls(ctx: click.Context, output_format: str) -> None:
    """List the plugins the node loaded, what each provides, and its errors."""

    async def work(api: APIClient) -> None:
        info = await api.info()
        plugins = info.get("SwarmkitPlugins") or []
        if output_format == "json":
            print_json_lines(plugins)
            return
        rows = [
            [
                str(p.get("Name", "")),
                str(p.get("Version", "")) or "-",
                ", ".join(p.get("Provides") or []) or "-",
                "; ".join(p.get("Errors") or []),
            ]
            for p in plugins
        ]
        print_table(PLUGIN_COLUMNS, rows)

    run(ctx, work)
