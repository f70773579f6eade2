"""The command and observer hooks in the real programs: a plugin's command
appears in `swarmctl`, and observers see a live daemon's tasks (one that
raises does not disturb it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

from swarmkit_py.daemon.daemon import Daemon, DaemonConfig
from swarmkit_py.plugins import Plugins, hookimpl
from swarmkit_py.raft.local_cluster import free_ports

from .test_plugin_manager import _install_fake_distribution


def test_a_plugin_adds_a_swarmctl_command(tmp_path: Path) -> None:
    _install_fake_distribution(
        tmp_path,
        "sk_hello",
        "import click\n"
        "from swarmkit_py.plugins import hookimpl\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    def hello():\n"
        "        '''Say hello from a plugin.'''\n"
        "        click.echo('hello from sk_hello')\n",
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    run = subprocess.run(
        [sys.executable, "-m", "swarmkit_py.cli.swarmctl", "hello"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello from sk_hello"


async def test_observers_see_a_live_daemons_tasks_and_a_failing_one_is_contained(
    tmp_path: Path,
) -> None:
    seen: dict[str, str] = {}
    nodes: list[str] = []

    def record(task: dict[str, Any], previous: dict[str, Any] | None) -> None:
        seen[task["ID"]] = task["Status"]["State"]

    def broken(task: dict[str, Any], previous: dict[str, Any] | None) -> None:
        raise RuntimeError("observer bug")

    def node_seen(node: dict[str, Any], previous: dict[str, Any] | None) -> None:
        nodes.append(node["ID"])

    recorder = types.ModuleType("recorder")
    recorder.task_changed = hookimpl(record)  # type: ignore[attr-defined]
    recorder.node_changed = hookimpl(node_seen)  # type: ignore[attr-defined]
    faulty = types.ModuleType("faulty")
    faulty.task_changed = hookimpl(broken)  # type: ignore[attr-defined]
    plugins = Plugins(load_entry_points=False, extra=[faulty, recorder])
    daemon = Daemon(
        DaemonConfig(data_dir=tmp_path / "n", hostname="n1", tick_interval=0.02,
                     runtime="simulated", plugins=plugins)
    )  # fmt: skip
    await daemon.start()
    try:
        (port,) = free_ports(1)
        addr = f"127.0.0.1:{port}"
        node_id = await daemon.swarm_init({"ListenAddr": addr, "AdvertiseAddr": addr})
        await daemon.service_create(
            {"Name": "watched", "Mode": {"Replicated": {"Replicas": 2}},
             "TaskTemplate": {"ContainerSpec": {"Image": "x", "Command": ["true"]}}}
        )  # fmt: skip
        for _ in range(100):
            if list(seen.values()).count("running") == 2:
                break
            await asyncio.sleep(0.1)
        assert list(seen.values()).count("running") == 2
        assert node_id in nodes
        info = {p["Name"]: p for p in plugins.describe()}
        assert info["faulty"]["Errors"] == ["task_changed: observer bug"]
        assert info["recorder"]["Errors"] == []
    finally:
        await daemon.stop()
