"""Finding plugins and collecting what they register, one plugin at a time so
a plugin that raises is reported with its name and leaves the others (and
the daemon) unharmed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import builtins, hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "swarmkit_py"


@dataclass
class PluginInfo:
    """What `swarmctl plugin ls` and `/info` show of one plugin."""

    name: str
    version: str = ""
    provides: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Version": self.version,
            "Provides": list(self.provides),
            "Errors": list(self.errors),
        }


class PluginError(Exception):
    """A plugin named for a role is not installed (the message lists those that are)."""


class Plugins:
    """The plugin manager of one process: built-ins plus installed plugins."""

    def __init__(self, *, load_entry_points: bool = True, extra: Iterable[object] = ()) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self._register(builtins, "builtin", "")
        if load_entry_points:
            self._load_entry_points()
        for plugin in extra:
            self._register(plugin, getattr(plugin, "__name__", repr(plugin)), "")
        self.runtimes: dict[str, Any] = {}
        self.storages: dict[str, Any] = {}
        self.schedulers: dict[str, Any] = {}
        self.placement: list[Any] = []
        self._placement_owners: dict[int, str] = {}
        self._collect("register_runtimes", "runtime", self._keyed(self.runtimes))
        self._collect("register_storages", "storage", self._keyed(self.storages))
        self._collect("register_schedulers", "scheduler", self._named(self.schedulers))
        self._collect("register_placement_plugins", "placement", self._listed(self.placement))

    # -- loading -----------------------------------------------------------

    def _register(self, plugin: object, name: str, version: str) -> None:
        try:
            self.pm.register(plugin, name=name)
        except Exception as e:
            log.error("plugin %s could not be registered: %s", name, e)
            self.info.setdefault(name, PluginInfo(name, version)).errors.append(str(e))
            return
        self.info.setdefault(name, PluginInfo(name, version))

    def _load_entry_points(self) -> None:
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            version = entry.dist.version if entry.dist is not None else ""
            try:
                module = entry.load()
            except Exception as e:  # a broken plugin must not take the daemon down
                log.error("plugin %s failed to load: %s", entry.name, e)
                self.info[entry.name] = PluginInfo(entry.name, version, errors=[f"load: {e}"])
                continue
            self._register(module, entry.name, version)

    def _collect(self, hook: str, kind: str, add: Callable[[str, tuple[Any, ...]], None]) -> None:
        caller = getattr(self.pm.hook, hook)
        for impl in caller.get_hookimpls():
            name = impl.plugin_name

            def register(*args: Any, _name: str = name) -> None:
                add(_name, args)

            try:
                impl.function(register)
            except Exception as e:
                log.error("plugin %s failed in %s: %s", name, hook, e)
                self.info.setdefault(name, PluginInfo(name)).errors.append(f"{hook}: {e}")

    def _keyed(self, into: dict[str, Any]) -> Callable[[str, tuple[Any, ...]], None]:
        def add(plugin: str, args: tuple[Any, ...]) -> None:
            key, factory = args
            into[str(key)] = factory
            self.info[plugin].provides.append(f"{self._kind(into)}:{key}")

        return add

    def _named(self, into: dict[str, Any]) -> Callable[[str, tuple[Any, ...]], None]:
        def add(plugin: str, args: tuple[Any, ...]) -> None:
            (obj,) = args
            into[str(obj.name)] = obj
            self.info[plugin].provides.append(f"scheduler:{obj.name}")

        return add

    def _listed(self, into: list[Any]) -> Callable[[str, tuple[Any, ...]], None]:
        def add(plugin: str, args: tuple[Any, ...]) -> None:
            (obj,) = args
            into.append(obj)
            self._placement_owners[id(obj)] = plugin
            self.info[plugin].provides.append(f"placement:{obj.name}")

        return add

    def _kind(self, registry: dict[str, Any]) -> str:
        return "runtime" if registry is self.runtimes else "storage"

    # -- choosing ------------------------------------------------------------

    def choose(self, kind: str, name: str) -> Any:
        """The runtime/storage/scheduler called `name`; PluginError listing the
        installed ones if there is none."""
        registry = {"runtime": self.runtimes, "storage": self.storages,
                    "scheduler": self.schedulers}[kind]  # fmt: skip
        if name not in registry:
            installed = ", ".join(sorted(registry)) or "none"
            raise PluginError(f"unknown {kind} {name!r}; installed: {installed}")
        return registry[name]

    def describe(self) -> list[dict[str, Any]]:
        return [info.to_api() for info in sorted(self.info.values(), key=lambda i: i.name)]

    def owner(self, placement: object) -> str:
        """The name of the plugin that registered a placement filter or scorer."""
        return self._placement_owners.get(id(placement), str(getattr(placement, "name", "")))

    def report_error(self, plugin: str, where: str, error: BaseException) -> None:
        """Logs an error of a plugin and lists it under the plugin's name (`swarmctl
        plugin ls`, `/info`): at most 20 per plugin, each text once."""
        log.error("plugin %s failed in %s: %s", plugin, where, error)
        info = self.info.setdefault(plugin, PluginInfo(plugin))
        text = f"{where}: {error}"
        if len(info.errors) < 20 and text not in info.errors:
            info.errors.append(text)

    # -- observers -------------------------------------------------------------

    def observes(self, hook: str) -> bool:
        """Whether any plugin implements the observer hook (callers skip building
        its arguments otherwise)."""
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Calls an observer hook on every plugin; one that raises is logged and skipped."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception as e:
                self.report_error(impl.plugin_name, hook, e)

    def add_commands(self, cli: Any) -> None:
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as e:
                log.error("plugin %s failed in register_commands: %s", impl.plugin_name, e)
