"""The plugin manager: built-ins through the public hooks, discovery through
entry points, and plugins that raise reported by name and isolated."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.plugins import PluginError, Plugins, hookimpl
from swarmkit_py.runtime import SimulatedRuntime


def _module(name: str, **hooks: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, hookimpl(function))
    return module


def test_builtins_register_through_the_hooks() -> None:
    plugins = Plugins(load_entry_points=False)
    assert set(plugins.runtimes) == {"process", "simulated"}
    assert set(plugins.schedulers) == {"spread", "binpack"}
    assert set(plugins.storages) == {"file"}
    (builtin,) = plugins.describe()
    assert builtin["Name"] == "builtin" and "scheduler:binpack" in builtin["Provides"]
    with pytest.raises(PluginError, match=r"unknown runtime 'nope'; installed: process, simulated"):
        plugins.choose("runtime", "nope")


def test_a_plugin_that_raises_is_reported_and_the_others_still_load() -> None:
    def good(register: Any) -> None:
        register("fast-sim", lambda data_dir: SimulatedRuntime())

    def bad(register: Any) -> None:
        register("half", lambda data_dir: SimulatedRuntime())
        raise RuntimeError("boom in registration")

    plugins = Plugins(
        load_entry_points=False,
        extra=[_module("good_plugin", register_runtimes=good),
               _module("bad_plugin", register_runtimes=bad)],
    )  # fmt: skip
    assert "fast-sim" in plugins.runtimes and "process" in plugins.runtimes
    info = {p["Name"]: p for p in plugins.describe()}
    assert info["bad_plugin"]["Errors"] == ["register_runtimes: boom in registration"]
    assert info["good_plugin"]["Errors"] == [] and info["good_plugin"]["Provides"] == [
        "runtime:fast-sim"
    ]


def test_an_observer_that_raises_does_not_stop_the_others() -> None:
    seen: list[str] = []

    def bad(task: Any, previous: Any) -> None:
        raise ValueError("observer broke")

    def good(task: Any, previous: Any) -> None:
        seen.append(task["ID"])

    plugins = Plugins(
        load_entry_points=False,
        extra=[
            _module("bad_observer", task_changed=bad),
            _module("good_observer", task_changed=good),
        ],
    )
    plugins.notify("task_changed", task={"ID": "t1"}, previous=None)
    assert seen == ["t1"]
    info = {p["Name"]: p for p in plugins.describe()}
    assert info["bad_observer"]["Errors"] == ["task_changed: observer broke"]


def _install_fake_distribution(site: Path, name: str, module_source: str) -> None:
    """A plugin as pip would install it: a module and a dist-info with an entry point."""
    (site / f"{name}.py").write_text(module_source)
    dist = site / f"{name}-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(f"[swarmkit_py]\n{name} = {name}\n")


def test_entry_points_are_discovered_and_a_broken_plugin_is_reported(tmp_path: Path) -> None:
    _install_fake_distribution(
        tmp_path,
        "sk_plugin_ok",
        "from swarmkit_py.plugins import hookimpl\n"
        "from swarmkit_py.runtime import SimulatedRuntime\n"
        "@hookimpl\n"
        "def register_runtimes(register):\n"
        "    register('ok-runtime', lambda data_dir: SimulatedRuntime())\n",
    )
    _install_fake_distribution(tmp_path, "sk_plugin_broken", "raise ImportError('missing dep')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        plugins = Plugins()
    finally:
        sys.path.remove(str(tmp_path))
    info = {p["Name"]: p for p in plugins.describe()}
    assert "ok-runtime" in plugins.runtimes
    assert info["sk_plugin_ok"]["Version"] == "1.2.3"
    assert info["sk_plugin_broken"]["Errors"] == ["load: missing dep"]


def test_swarmd_refuses_an_unknown_runtime_and_lists_the_installed_ones(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "swarmkit_py.daemon", "--data-dir", str(tmp_path),
         "--runtime", "kubernetes"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("swarmd: unknown runtime 'kubernetes'; installed: ")
    assert {"process", "simulated"} <= set(message.rpartition(": ")[2].split(", "))
