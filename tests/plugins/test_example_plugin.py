"""The worked example, for real: `pip install` puts plugins/swarmkit-lowest-load
in a directory, swarmd processes that have it on PYTHONPATH find it through its
entry point, `swarmctl plugin ls` lists it, and their leader places tasks away
from the node that reports the most running tasks, where plain spread does not."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from swarmkit_py.testing.local_swarm import LocalSwarm

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "swarmkit-lowest-load"


def pip_install(package: Path, target: Path) -> None:
    """`pip install --no-deps --target`: the package as pip lays it out."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target),
         "--disable-pip-version-check", "--no-input", "-q", str(package)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}{result.stderr}"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def running_per_node(swarm: LocalSwarm, service: str) -> Counter[str]:
    """Running tasks of the service per node hostname (`service ps --format json`)."""
    out = await swarm.swarmctl(
        1, "service", "ps", service, "--format", "json", "-f", "desired-state=running"
    )
    rows = json_lines(out.stdout)
    return Counter(r["Node"] for r in rows if r["CurrentState"].startswith("Running"))


async def wait_running_tasks_reported(swarm: LocalSwarm, hostname: str, count: int) -> None:
    """Until the node's agent has reported `count` running tasks in its load."""
    deadline = time.monotonic() + 30
    load: Any = None
    while time.monotonic() < deadline:
        load = (await swarm.inspect(1, hostname)).get("Load")
        if load and load["RunningTasks"] == count:
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{hostname} never reported {count} running tasks; last load {load}")


async def place_web_beside_a_busy_node(swarm: LocalSwarm) -> Counter[str]:
    """node2 runs four tasks of `busy`; then `web` gets three replicas."""
    await swarm.swarmctl(
        1, "service", "create", "--name", "busy", "--replicas", "4",
        "--constraint", "node.hostname==node2", "busybox", "sleep", "3600",
    )  # fmt: skip
    await wait_running_tasks_reported(swarm, "node2", 4)
    await swarm.swarmctl(
        1, "service", "create", "--name", "web", "--replicas", "3", "busybox", "sleep", "3600"
    )
    return await running_per_node(swarm, "web")


async def test_the_lowest_load_plugin_installed_with_pip_changes_placement(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    await asyncio.to_thread(pip_install, PLUGIN, site)
    (dist,) = metadata.distributions(path=[str(site)])
    assert (dist.metadata["Name"], dist.version) == ("swarmkit-lowest-load", "0.1.0")
    assert [(e.group, e.name, e.value) for e in dist.entry_points] == [
        ("swarmkit_py", "lowest_load", "swarmkit_lowest_load")
    ]

    plain = LocalSwarm(tmp_path / "plain", managers=1, workers=2)
    lowest = LocalSwarm(tmp_path / "lowest", managers=1, workers=2, env={"PYTHONPATH": str(site)})
    try:
        await asyncio.gather(plain.start(), lowest.start())
        listed = json_lines((await lowest.swarmctl(1, "plugin", "ls", "--format", "json")).stdout)
        assert {
            "Name": "lowest_load",
            "Version": "0.1.0",
            "Provides": ["placement:lowest-load"],
            "Errors": [],
        } in listed
        table = (await lowest.swarmctl(1, "plugin", "ls")).stdout
        assert "lowest_load" in table and "placement:lowest-load" in table
        plain_listed = json_lines(
            (await plain.swarmctl(1, "plugin", "ls", "--format", "json")).stdout
        )
        assert "lowest_load" not in {p["Name"] for p in plain_listed}

        spread, by_load = await asyncio.gather(
            place_web_beside_a_busy_node(plain), place_web_beside_a_busy_node(lowest)
        )
        # Spread: fewest web tasks first, so once node1 and node3 have one, node2 (four
        # busy tasks, no web task) gets the third.
        assert spread == {"node1": 1, "node2": 1, "node3": 1}
        # Lowest load: node2's reported running tasks outrank the spread order.
        assert sum(by_load.values()) == 3 and "node2" not in by_load, by_load
    finally:
        await asyncio.gather(plain.stop(), lowest.stop())
