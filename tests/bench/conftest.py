"""Helpers for the `swarmctl bench` tests: run the CLI as its own process (as
a user would, so signals and stray processes can be checked) and find
processes by what their command line names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def swarmctl_bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`swarmctl bench ARGS...`, waited for."""
    return subprocess.run(
        [sys.executable, "-m", "swarmkit_py.cli.swarmctl", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def bench_json(*args: str, timeout: float = 120) -> dict[str, Any]:
    """The report of `swarmctl bench ARGS... --json`; fails with its stderr."""
    result = swarmctl_bench(*args, "--json", timeout=timeout)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def processes_naming(text: str) -> dict[int, str]:
    """Live processes (not zombies) whose command line contains `text`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def wait_for_processes(text: str, count: int, timeout: float = 60) -> dict[int, str]:
    """Waits until at least `count` processes name `text`; returns them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = processes_naming(text)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} processes naming {text!r} after {timeout} s")


def assert_no_process_left(text: str, grace: float = 5.0) -> None:
    """No process naming `text` survives (after `grace` seconds to exit)."""
    deadline = time.monotonic() + grace
    while (left := processes_naming(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes left behind: {left}"
