"""Docker's `service create` and `service update` flags and what each does
to a ServiceSpec: values in docker's spellings (`64MiB`, `1.5` CPUs,
`8080:80/udp`, `spread=node.labels.zone`, Go durations), written in the
Engine API's units (bytes, NanoCPUs, nanoseconds). A flag that is not given
leaves its part of the spec alone; a section a flag needs starts from
Docker's defaults (restart policy, update and rollback config)."""

from __future__ import annotations

import csv
import os
import re
import shlex
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import click

from .durations import DURATION

Json = dict[str, Any]
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

SECOND = 1_000_000_000
# swarmkit's defaults, which docker's CLI starts from when a section is first set.
DEFAULT_RESTART_POLICY: Json = {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0}
DEFAULT_UPDATE_CONFIG: Json = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5 * SECOND,
    "MaxFailureRatio": 0,
    "Order": "stop-first",
}

_MEMORY = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_MEMORY_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_PROTOCOLS = ("tcp", "udp", "sctp")


def parse_memory(text: str) -> int:
    """Docker's RAMInBytes: `64m`, `64MiB`, `1G`, `1.5g`, `100` (binary units)."""
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"invalid size: '{text}' (e.g. 64MiB, 512m or 1G)")
    number, unit = match.groups()
    try:
        return int(Decimal(number) * 1024 ** _MEMORY_UNITS[(unit or "").lower()])
    except InvalidOperation as err:
        raise ValueError(f"invalid size: '{text}'") from err


def parse_cpus(text: str) -> int:
    """A number of CPUs (`0.5`, `2`, `1/4`) as NanoCPUs, exact to the nanoCPU."""
    try:
        numerator, _, denominator = text.partition("/")
        value = Decimal(numerator) / Decimal(denominator or 1)
    except (InvalidOperation, ZeroDivisionError) as err:
        raise ValueError(f"failed to parse {text} as a rational number") from err
    nano = value * SECOND
    if nano != nano.to_integral_value():
        raise ValueError(f"{text}: value is too precise (the unit is 0.000000001 CPU)")
    return int(nano)


def parse_ports(text: str) -> list[Json]:
    """`-p` in docker's short (`[published:]target[/protocol]`, ranges allowed)
    or long (`mode=host,target=80,published=8080,protocol=udp`) syntax."""
    if re.search(r"\w+=\w+(,\w+=\w+)*", text):
        port: Json = {"Protocol": "tcp", "PublishMode": "ingress"}
        for field in next(csv.reader([text])):
            key, sep, value = field.lower().partition("=")
            if not sep or not key:
                raise ValueError(f"invalid field: {field}")
            if key == "protocol":
                if value not in _PROTOCOLS:
                    raise ValueError(f"invalid protocol value '{value}'")
                port["Protocol"] = value
            elif key == "mode":
                if value not in ("ingress", "host"):
                    raise ValueError(
                        f"invalid publish mode value ({value}): must be either 'ingress' or 'host'"
                    )
                port["PublishMode"] = value
            elif key in ("target", "published"):
                number = _port_number(value, key)
                port["TargetPort" if key == "target" else "PublishedPort"] = number
            else:
                raise ValueError(f"invalid field key: {key}")
        if not port.get("TargetPort"):
            raise ValueError("missing mandatory field 'target'")
        return [port]
    body, _, protocol = text.partition("/")
    protocol = protocol.lower() or "tcp"
    if protocol not in _PROTOCOLS:
        raise ValueError(f"invalid protocol value '{protocol}'")
    parts = body.split(":")
    if len(parts) > 2:
        raise ValueError("hostip is not supported")
    targets = _port_range(parts[-1], "target")
    published = _port_range(parts[0], "published") if len(parts) == 2 and parts[0] else [0]
    if len(published) == 1 and len(targets) > 1 and published[0]:
        published = list(range(published[0], published[0] + len(targets)))
    elif len(published) != len(targets) and published != [0]:
        raise ValueError(
            f"invalid ranges specified for container and host Ports: {parts[-1]} and {parts[0]}"
        )
    return [
        {
            "Protocol": protocol,
            "TargetPort": target,
            "PublishedPort": published[i] if published != [0] else 0,
            "PublishMode": "ingress",
        }
        for i, target in enumerate(targets)
    ]


def _port_number(text: str, what: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError(f"invalid {what} port ({text}): value must be an integer from 0 to 65535")
    return int(text)


def _port_range(text: str, what: str) -> list[int]:
    start, sep, end = text.partition("-")
    first = _port_number(start, what)
    last = _port_number(end, what) if sep else first
    if last < first:
        raise ValueError(f"invalid {what} port range: {text}")
    return list(range(first, last + 1))


def parse_placement_pref(text: str) -> Json:
    strategy, sep, argument = text.partition("=")
    if not sep or not strategy:
        raise ValueError('placement preference must be of the format "<strategy>=<arg>"')
    if strategy != "spread":
        raise ValueError(f"unsupported placement preference {strategy} (only spread is supported)")
    return {"Spread": {"SpreadDescriptor": argument}}


def parse_env(text: str) -> str:
    """Docker's ValidateEnv: `KEY=value`, or `KEY` taking its value from here."""
    key, sep, _ = text.partition("=")
    if not key:
        raise ValueError(f"invalid environment variable: {text}")
    if not sep and key in os.environ:
        return f"{key}={os.environ[key]}"
    return text


def parse_label(text: str) -> str:
    key = text.partition("=")[0].strip()
    if not key:
        raise ValueError(f"invalid label '{text}': empty name")
    if any(c.isspace() for c in key):
        raise ValueError(f"label '{key}' contains whitespaces")
    return text


def labels_map(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`k=v` (or `k`, an empty value) items as a map, later ones winning."""
    return {key: value for key, _, value in (item.partition("=") for item in items)}


class _Parsed(click.ParamType):  # type: ignore[type-arg]
    """A click type from a parse function that raises ValueError."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._parse(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


MEMORY = _Parsed("bytes", parse_memory)
CPUS = _Parsed("decimal", parse_cpus)
PORTS = _Parsed("port", parse_ports)
PLACEMENT_PREF = _Parsed("pref", parse_placement_pref)
ENV = _Parsed("env", parse_env)
LABEL = _Parsed("label", parse_label)
COMMAND = _Parsed("command", shlex.split)
UINT = click.IntRange(min=0)
RATIO = click.FloatRange(min=0, max=1)
FAILURE_ACTIONS = ("pause", "continue", "rollback")
ORDERS = ("start-first", "stop-first")


def _options(*decorators: Decorator) -> Decorator:
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def _config_options(kind: str, actions: tuple[str, ...]) -> Decorator:
    verb = "updated" if kind == "update" else "rolled back"
    return _options(
        click.option(
            f"--{kind}-parallelism",
            type=UINT,
            help=f"Maximum number of tasks {verb} simultaneously (0 for all at once)",
        ),
        click.option(f"--{kind}-delay", type=DURATION, help=f"Delay between tasks {verb}"),
        click.option(
            f"--{kind}-monitor",
            type=DURATION,
            help=f"Duration after each task {verb} to monitor for failure",
        ),
        click.option(
            f"--{kind}-failure-action", type=click.Choice(actions), help=f"Action on {kind} failure"
        ),
        click.option(
            f"--{kind}-max-failure-ratio",
            type=RATIO,
            help=f"Failure rate to tolerate during a {kind}",
        ),
        click.option(
            f"--{kind}-order", type=click.Choice(ORDERS), help=f"{kind.capitalize()} order"
        ),
    )


#: Flags `service create` and `service update` share.
COMMON_OPTIONS = _options(
    click.option(
        "-d",
        "--detach",
        is_flag=True,
        help="Exit immediately instead of waiting for the service to converge",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Suppress progress output"),
    click.option("-w", "--workdir", help="Working directory inside the container"),
    click.option(
        "--entrypoint", type=COMMAND, help="Overwrite the default ENTRYPOINT of the image"
    ),
    click.option("--replicas", type=UINT, help="Number of tasks"),
    click.option(
        "--replicas-max-per-node",
        type=UINT,
        help="Maximum number of tasks per node (0 = unlimited)",
    ),
    click.option("--limit-cpu", type=CPUS, help="Limit CPUs"),
    click.option("--limit-memory", type=MEMORY, help="Limit Memory"),
    click.option("--reserve-cpu", type=CPUS, help="Reserve CPUs"),
    click.option("--reserve-memory", type=MEMORY, help="Reserve Memory"),
    click.option(
        "--stop-grace-period",
        type=DURATION,
        help="Time to wait before force killing a container (default 10s)",
    ),
    click.option(
        "--restart-condition",
        type=click.Choice(("none", "on-failure", "any")),
        help='Restart when condition is met (default "any")',
    ),
    click.option(
        "--restart-delay", type=DURATION, help="Delay between restart attempts (default 5s)"
    ),
    click.option(
        "--restart-max-attempts", type=UINT, help="Maximum number of restarts before giving up"
    ),
    click.option(
        "--restart-window", type=DURATION, help="Window used to evaluate the restart policy"
    ),
    _config_options("update", FAILURE_ACTIONS),
    _config_options("rollback", FAILURE_ACTIONS[:2]),
)


def create_spec(image: str, args: tuple[str, ...], options: Json) -> Json:
    """The ServiceSpec `service create IMAGE [ARG...]` sends."""
    container: Json = {"Image": image}
    if args:
        container["Args"] = list(args)
    if options["env"]:
        container["Env"] = _merged_env((), options["env"])
    if options["container_label"]:
        container["Labels"] = labels_map(options["container_label"])
    spec: Json = {"TaskTemplate": {"ContainerSpec": container}}
    if options["name"]:
        spec["Name"] = options["name"]
    if options["label"]:
        spec["Labels"] = labels_map(options["label"])
    placement: Json = {}
    if options["constraint"]:
        placement["Constraints"] = list(options["constraint"])
    if options["placement_pref"]:
        placement["Preferences"] = list(options["placement_pref"])
    if placement:
        spec["TaskTemplate"]["Placement"] = placement
    if options["mode"] == "global":
        for flag, given in (
            ("replicas", options["replicas"] is not None),
            ("replicas-max-per-node", bool(options["replicas_max_per_node"])),
        ):
            if given:
                raise click.UsageError(
                    f"{flag} can only be used with replicated or replicated-job mode"
                )
        spec["Mode"] = {"Global": {}}
    else:
        replicated: Json = {}
        if options["replicas"] is not None:
            replicated["Replicas"] = options["replicas"]
        spec["Mode"] = {"Replicated": replicated}
    endpoint: Json = {"Mode": "vip"}
    if options["publish"]:
        endpoint["Ports"] = [port for ports in options["publish"] for port in ports]
    spec["EndpointSpec"] = endpoint
    _apply_common(spec, options)
    return spec


def update_spec(spec: Json, options: Json) -> None:
    """Change `spec` (the service's current one) as `service update`'s flags say."""
    template = spec.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    _update_map(spec, "Labels", options["label_add"], options["label_rm"])
    _update_map(container, "Labels", options["container_label_add"], options["container_label_rm"])
    if options["image"] is not None:
        container["Image"] = options["image"]
    if options["args"] is not None:
        container["Args"] = options["args"]
    if options["env_add"] or options["env_rm"]:
        removed = set(options["env_rm"])
        kept = [e for e in container.get("Env") or [] if e.partition("=")[0] not in removed]
        container["Env"] = _merged_env(kept, options["env_add"])
    if options["constraint_add"] or options["constraint_rm"]:
        placement = template.get("Placement") or {}
        constraints = [*(placement.get("Constraints") or []), *options["constraint_add"]]
        removed = set(options["constraint_rm"])
        placement["Constraints"] = sorted(c for c in constraints if c not in removed)
        template["Placement"] = placement
    if options["placement_pref_add"] or options["placement_pref_rm"]:
        placement = template.get("Placement") or {}
        removed = {p["Spread"]["SpreadDescriptor"] for p in options["placement_pref_rm"]}
        preferences = [
            p
            for p in placement.get("Preferences") or []
            if (p.get("Spread") or {}).get("SpreadDescriptor") not in removed
        ]
        placement["Preferences"] = preferences + list(options["placement_pref_add"])
        template["Placement"] = placement
    if options["publish_add"] or options["publish_rm"]:
        endpoint = spec.get("EndpointSpec") or {}
        endpoint["Ports"] = _updated_ports(
            endpoint.get("Ports") or [],
            [p for ports in options["publish_add"] for p in ports],
            [p for ports in options["publish_rm"] for p in ports],
        )
        spec["EndpointSpec"] = endpoint
    if options["replicas"] is not None:
        replicated = spec.get("Mode", {}).get("Replicated")
        if replicated is None:
            raise click.UsageError("replicas can only be used with replicated mode")
        replicated["Replicas"] = options["replicas"]
    if options["force"]:
        template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
    _apply_common(spec, options)


def _apply_common(spec: Json, options: Json) -> None:
    """The flags create and update share; each touches only its own field."""
    template = spec.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    for flag, field in (
        ("workdir", "Dir"),
        ("entrypoint", "Command"),
        ("stop_grace_period", "StopGracePeriod"),
    ):
        if options[flag] is not None:
            container[field] = options[flag]
    for section, cpu_flag, memory_flag in (
        ("Limits", "limit_cpu", "limit_memory"),
        ("Reservations", "reserve_cpu", "reserve_memory"),
    ):
        if options[cpu_flag] is None and options[memory_flag] is None:
            continue
        resources = template.get("Resources") or {}
        part = resources.get(section) or {}
        if options[cpu_flag] is not None:
            part["NanoCPUs"] = options[cpu_flag]
        if options[memory_flag] is not None:
            part["MemoryBytes"] = options[memory_flag]
        resources[section] = part
        template["Resources"] = resources
    if options["replicas_max_per_node"] is not None:
        placement = template.get("Placement") or {}
        placement["MaxReplicas"] = options["replicas_max_per_node"]
        template["Placement"] = placement
    _set_section(
        template,
        "RestartPolicy",
        DEFAULT_RESTART_POLICY,
        {
            "Condition": options["restart_condition"],
            "Delay": options["restart_delay"],
            "MaxAttempts": options["restart_max_attempts"],
            "Window": options["restart_window"],
        },
    )
    for kind, section in (("update", "UpdateConfig"), ("rollback", "RollbackConfig")):
        _set_section(
            spec,
            section,
            DEFAULT_UPDATE_CONFIG,
            {
                "Parallelism": options[f"{kind}_parallelism"],
                "Delay": options[f"{kind}_delay"],
                "Monitor": options[f"{kind}_monitor"],
                "FailureAction": options[f"{kind}_failure_action"],
                "MaxFailureRatio": options[f"{kind}_max_failure_ratio"],
                "Order": options[f"{kind}_order"],
            },
        )


def _set_section(parent: Json, name: str, defaults: Json, values: Json) -> None:
    given = {key: value for key, value in values.items() if value is not None}
    if given:
        parent[name] = {**(parent.get(name) or defaults), **given}


def _merged_env(current: list[str] | tuple[str, ...], added: tuple[str, ...]) -> list[str]:
    """Docker's env merge: a variable set again replaces the earlier value."""
    env = list(current)
    for item in added:
        key = item.partition("=")[0]
        positions = [i for i, e in enumerate(env) if e.partition("=")[0] == key]
        if positions:
            env[positions[0]] = item
            for i in reversed(positions[1:]):
                del env[i]
        else:
            env.append(item)
    return env


def _update_map(parent: Json, field: str, added: tuple[str, ...], removed: tuple[str, ...]) -> None:
    if not added and not removed:
        return
    values = dict(parent.get(field) or {})
    for key in removed:
        values.pop(key, None)
    values.update(labels_map(added))
    parent[field] = values


def _port_key(port: Json) -> tuple[Any, ...]:
    return (
        port.get("TargetPort"),
        port.get("Protocol") or "tcp",
        port.get("PublishMode") or "ingress",
    )


def _updated_ports(current: list[Json], added: list[Json], removed: list[Json]) -> list[Json]:
    """docker's `--publish-rm` (by target port, protocol and mode) then
    `--publish-add` (skipping ports already there), sorted."""
    gone = {_port_key(p) for p in removed}
    ports = [p for p in current if _port_key(p) not in gone]
    for port in added:
        if not any(
            (p.get("PublishedPort"), *_port_key(p)) == (port.get("PublishedPort"), *_port_key(port))
            for p in ports
        ):
            ports.append(port)
    return sorted(ports, key=lambda p: (p.get("PublishedPort") or 0, *map(str, _port_key(p))))
