"""Service specs: checking request bodies as dockerd and swarmkit do, and reading settings.

Services are stored as Engine API dicts. :func:`parse_service_spec` decodes a
``ServiceSpec`` the way Go's ``encoding/json`` decodes it into dockerd's structs (keys
matched without regard to case and written back in their canonical spelling, unknown
keys dropped, a value of the wrong type refused with Go's message naming the field),
then applies dockerd's and swarmkit's checks. The result keeps what the client sent;
defaults are not filled in, except ``Mode``, which dockerd always stores
(``{"Replicated": {"Replicas": 1}}`` when absent).

The readers below (:func:`restart_policy`, :func:`update_config`, ...) give the
effective settings of a stored spec with Docker's defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from ..errors import InvalidArgument
from .common import deep_copy
from .constraints import LABEL_PREFIXES, Constraint, parse_constraints
from .times import MILLISECOND, SECOND

RestartCondition = Literal["none", "on-failure", "any"]
FailureAction = Literal["pause", "continue", "rollback"]
UpdateOrder = Literal["stop-first", "start-first"]

RESTART_CONDITIONS: tuple[RestartCondition, ...] = ("none", "on-failure", "any")
FAILURE_ACTIONS: tuple[FailureAction, ...] = ("pause", "continue", "rollback")
UPDATE_ORDERS: tuple[UpdateOrder, ...] = ("stop-first", "start-first")
PROTOCOLS = ("tcp", "udp", "sctp")
PUBLISH_MODES = ("ingress", "host")
RESOLUTION_MODES = ("vip", "dnsrr")

DEFAULT_RESTART_DELAY = 5 * SECOND
DEFAULT_MONITOR = 5 * SECOND
DEFAULT_STOP_GRACE_PERIOD = 10 * SECOND
MAX_NAME_LENGTH = 63
MIN_NANO_CPUS = 1_000_000
MIN_MEMORY_BYTES = 4 * 1024 * 1024

# swarmkit's isValidDNSName (service names may not contain dots).
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")


# --- Decoding like Go's encoding/json into dockerd's types ---------------------------


@dataclass(frozen=True)
class _Scalar:
    kind: Literal["string", "bool", "int", "float"]
    go_type: str
    low: int = 0
    high: int = 0


@dataclass(frozen=True)
class _List:
    item: _Schema
    go_type: str


@dataclass(frozen=True)
class _Map:
    go_type: str = "map[string]string"


@dataclass(frozen=True)
class _Raw:
    """A value kept as sent once its JSON kind is right (parts we do not model)."""

    go_type: str
    kind: type[dict[str, Any]] | type[list[Any]]


@dataclass(frozen=True)
class _Struct:
    go_type: str
    fields: Mapping[str, _Schema]
    #: If set, unknown keys are refused with this hint (Go ignores them, which would
    #: silently turn a misspelt mode into the default one).
    unknown_key_hint: str = ""
    folded: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded", {name.lower(): name for name in self.fields})

    @property
    def name(self) -> str:
        return self.go_type.rsplit(".", 1)[-1]


_Schema = _Scalar | _List | _Map | _Raw | _Struct

_I64 = (-(1 << 63), (1 << 63) - 1)
_STR = _Scalar("string", "string")
_BOOL = _Scalar("bool", "bool")
_INT64 = _Scalar("int", "int64", *_I64)
_INT = _Scalar("int", "int", *_I64)
_UINT64 = _Scalar("int", "uint64", 0, (1 << 64) - 1)
_UINT32 = _Scalar("int", "uint32", 0, (1 << 32) - 1)
_DURATION = _Scalar("int", "time.Duration", *_I64)
_FLOAT32 = _Scalar("float", "float32")
_STRINGS = _List(_STR, "[]string")
_LABELS = _Map()


def _enum(go_type: str) -> _Scalar:
    return _Scalar("string", go_type)


_HEALTHCHECK = _Struct(
    "container.HealthConfig",
    {
        "Test": _STRINGS,
        "Interval": _DURATION,
        "Timeout": _DURATION,
        "StartPeriod": _DURATION,
        "StartInterval": _DURATION,
        "Retries": _INT,
    },
)
_CONTAINER_SPEC = _Struct(
    "swarm.ContainerSpec",
    {
        "Image": _STR,
        "Labels": _LABELS,
        "Command": _STRINGS,
        "Args": _STRINGS,
        "Hostname": _STR,
        "Env": _STRINGS,
        "Dir": _STR,
        "User": _STR,
        "Groups": _STRINGS,
        "Privileges": _Raw("swarm.Privileges", dict),
        "Init": _BOOL,
        "StopSignal": _STR,
        "TTY": _BOOL,
        "OpenStdin": _BOOL,
        "ReadOnly": _BOOL,
        "Mounts": _Raw("[]mount.Mount", list),
        "StopGracePeriod": _DURATION,
        "Healthcheck": _HEALTHCHECK,
        "Hosts": _STRINGS,
        "DNSConfig": _Struct(
            "swarm.DNSConfig", {"Nameservers": _STRINGS, "Search": _STRINGS, "Options": _STRINGS}
        ),
        "Secrets": _Raw("[]*swarm.SecretReference", list),
        "Configs": _Raw("[]*swarm.ConfigReference", list),
        "Isolation": _enum("container.Isolation"),
        "Sysctls": _LABELS,
        "CapabilityAdd": _STRINGS,
        "CapabilityDrop": _STRINGS,
        "Ulimits": _Raw("[]*container.Ulimit", list),
        "OomScoreAdj": _INT64,
    },
)
_RESOURCES = _Struct(
    "swarm.ResourceRequirements",
    {
        "Limits": _Struct(
            "swarm.Limit", {"NanoCPUs": _INT64, "MemoryBytes": _INT64, "Pids": _INT64}
        ),
        "Reservations": _Struct(
            "swarm.Resources",
            {
                "NanoCPUs": _INT64,
                "MemoryBytes": _INT64,
                "GenericResources": _Raw("[]swarm.GenericResource", list),
            },
        ),
        "SwapBytes": _INT64,
        "MemorySwappiness": _INT64,
    },
)
_PLATFORM = _Struct("swarm.Platform", {"Architecture": _STR, "OS": _STR})
_PLACEMENT = _Struct(
    "swarm.Placement",
    {
        "Constraints": _STRINGS,
        "Preferences": _List(
            _Struct(
                "swarm.PlacementPreference",
                {"Spread": _Struct("swarm.SpreadOver", {"SpreadDescriptor": _STR})},
            ),
            "[]swarm.PlacementPreference",
        ),
        "MaxReplicas": _UINT64,
        "Platforms": _List(_PLATFORM, "[]swarm.Platform"),
    },
)
_NETWORKS = _List(
    _Struct(
        "swarm.NetworkAttachmentConfig",
        {"Target": _STR, "Aliases": _STRINGS, "DriverOpts": _LABELS},
    ),
    "[]swarm.NetworkAttachmentConfig",
)
_TASK_SPEC = _Struct(
    "swarm.TaskSpec",
    {
        "ContainerSpec": _CONTAINER_SPEC,
        "PluginSpec": _Raw("swarm.RuntimeSpec", dict),
        "NetworkAttachmentSpec": _Raw("swarm.NetworkAttachmentSpec", dict),
        "Resources": _RESOURCES,
        "RestartPolicy": _Struct(
            "swarm.RestartPolicy",
            {
                "Condition": _enum("swarm.RestartPolicyCondition"),
                "Delay": _DURATION,
                "MaxAttempts": _UINT64,
                "Window": _DURATION,
            },
        ),
        "Placement": _PLACEMENT,
        "Networks": _NETWORKS,
        "LogDriver": _Struct("swarm.Driver", {"Name": _STR, "Options": _LABELS}),
        "ForceUpdate": _UINT64,
        "Runtime": _enum("swarm.RuntimeType"),
    },
)
_UPDATE_CONFIG = _Struct(
    "swarm.UpdateConfig",
    {
        "Parallelism": _UINT64,
        "Delay": _DURATION,
        "FailureAction": _enum("swarm.FailureAction"),
        "Monitor": _DURATION,
        "MaxFailureRatio": _FLOAT32,
        "Order": _enum("swarm.UpdateOrder"),
    },
)
_MODE = _Struct(
    "swarm.ServiceMode",
    {
        "Replicated": _Struct("swarm.ReplicatedService", {"Replicas": _UINT64}),
        "Global": _Struct("swarm.GlobalService", {}),
        "ReplicatedJob": _Struct(
            "swarm.ReplicatedJob", {"MaxConcurrent": _UINT64, "TotalCompletions": _UINT64}
        ),
        "GlobalJob": _Struct("swarm.GlobalJob", {}),
    },
    unknown_key_hint="use Replicated or Global",
)
_SERVICE_SPEC = _Struct(
    "swarm.ServiceSpec",
    {
        "Name": _STR,
        "Labels": _LABELS,
        "TaskTemplate": _TASK_SPEC,
        "Mode": _MODE,
        "UpdateConfig": _UPDATE_CONFIG,
        "RollbackConfig": _UPDATE_CONFIG,
        "Networks": _NETWORKS,
        "EndpointSpec": _Struct(
            "swarm.EndpointSpec",
            {
                "Mode": _enum("swarm.ResolutionMode"),
                "Ports": _List(
                    _Struct(
                        "swarm.PortConfig",
                        {
                            "Name": _STR,
                            "Protocol": _enum("network.IPProtocol"),
                            "TargetPort": _UINT32,
                            "PublishedPort": _UINT32,
                            "PublishMode": _enum("swarm.PortConfigPublishMode"),
                        },
                    ),
                    "[]swarm.PortConfig",
                ),
            },
        ),
    },
)


def _json_kind(value: object, numeric_target: bool = False) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value!r}" if numeric_target else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_error(
    value: object, go_type: str, struct: str, path: str, numeric: bool = False
) -> InvalidArgument:
    return InvalidArgument(
        f"invalid JSON: json: cannot unmarshal {_json_kind(value, numeric)} into Go struct field "
        f"{struct}.{path} of type {go_type}"
    )


def _decode(value: Any, schema: _Schema, struct: str, path: str) -> Any:
    """``value`` checked against ``schema``; ``struct``/``path`` name it as Go's errors do."""
    if isinstance(schema, _Struct):
        if not isinstance(value, dict):
            raise _type_error(value, schema.go_type, struct, path)
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key if key in schema.fields else schema.folded.get(str(key).lower())
            if name is None and schema.unknown_key_hint:
                hint = schema.unknown_key_hint
                raise InvalidArgument(f'invalid {path}: unknown key "{key}" ({hint})')
            if name is None or item is None:
                continue
            inner = f"{path}.{name}" if path else name
            out[name] = _decode(item, schema.fields[name], schema.name, inner)
        return out
    if isinstance(schema, _List):
        if not isinstance(value, list):
            raise _type_error(value, schema.go_type, struct, path)
        return [_decode(item, schema.item, struct, path) for item in value if item is not None]
    if isinstance(schema, _Map):
        if not isinstance(value, dict):
            raise _type_error(value, schema.go_type, struct, path)
        for text in value.values():
            if text is not None and not isinstance(text, str):
                raise _type_error(text, "string", struct, path)
        return {key: text or "" for key, text in value.items()}
    if isinstance(schema, _Raw):
        if not isinstance(value, schema.kind):
            raise _type_error(value, schema.go_type, struct, path)
        return deep_copy(value)
    return _decode_scalar(value, schema, struct, path)


def _decode_scalar(value: Any, schema: _Scalar, struct: str, path: str) -> Any:
    if schema.kind == "string":
        ok = isinstance(value, str)
    elif schema.kind == "bool":
        ok = isinstance(value, bool)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        ok = False
    elif schema.kind == "float":
        ok = True
    else:
        ok = isinstance(value, int) and schema.low <= value <= schema.high
        if not ok:
            raise _type_error(value, schema.go_type, struct, path, numeric=True)
    if not ok:
        raise _type_error(value, schema.go_type, struct, path)
    return value


# --- Checking a ServiceSpec -----------------------------------------------------------


def parse_service_spec(body: object) -> dict[str, Any]:
    """A ``ServiceSpec`` request body checked as dockerd and swarmkit check it.

    Returns a new dict holding the known fields as sent (plus ``Mode``, see the
    module's docstring). An empty ``Name`` is allowed here: dockerd gives such a
    service a random name before swarmkit requires one. Raises
    :class:`~swarmkit_py.errors.InvalidArgument` with Docker's message.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidArgument(
            f"invalid JSON: json: cannot unmarshal {_json_kind(body)} into Go value of type "
            "swarm.ServiceSpec"
        )
    spec: dict[str, Any] = _decode(body, _SERVICE_SPEC, "ServiceSpec", "")
    spec["Mode"] = _checked_mode(spec.get("Mode", {}))
    _check_name(spec.get("Name", ""))
    task = spec.get("TaskTemplate", {})
    _check_runtime(task)
    _check_resources(task.get("Resources", {}))
    _check_restart_policy(task.get("RestartPolicy", {}))
    _check_placement(task.get("Placement", {}))
    _check_container(task["ContainerSpec"])
    for key, kind in (("UpdateConfig", "update"), ("RollbackConfig", "rollback")):
        _check_update_config(spec.get(key), kind)
    _check_endpoint(spec.get("EndpointSpec"))
    return spec


def check_spec_change(old_spec: Mapping[str, Any], new_spec: Mapping[str, Any]) -> None:
    """Refuses what swarmkit refuses on update: changing the mode or the name."""
    if is_global(old_spec) != is_global(new_spec):
        raise InvalidArgument("service mode change is not allowed")
    if old_spec.get("Name", "") != new_spec.get("Name", ""):
        raise InvalidArgument("renaming services is not supported")


def _checked_mode(mode: dict[str, Any]) -> dict[str, Any]:
    if len(mode) > 1:
        raise InvalidArgument("must specify only one service mode")
    if "ReplicatedJob" in mode or "GlobalJob" in mode:
        raise InvalidArgument("job services are not supported")
    if "Global" in mode:
        return {"Global": {}}
    return {"Replicated": {"Replicas": mode.get("Replicated", {}).get("Replicas", 1)}}


def _check_name(name: str) -> None:
    if not name:
        return
    if not _SERVICE_NAME.fullmatch(name):
        raise InvalidArgument("name must be valid as a DNS name component")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"name must be {MAX_NAME_LENGTH} characters or fewer")


def _check_runtime(task: dict[str, Any]) -> None:
    runtime = task.get("Runtime", "")
    if runtime not in ("", "container"):
        raise InvalidArgument(
            f'unsupported runtime "{runtime}": only container services are supported'
        )
    if not task.get("ContainerSpec", {}).get("Image"):
        raise InvalidArgument("ContainerSpec: image reference must be provided")


def _check_resources(resources: dict[str, Any]) -> None:
    limits = resources.get("Limits", {})
    if "SwapBytes" in resources and not limits.get("MemoryBytes"):
        raise InvalidArgument("memory swap provided, but no memory-limit was set")
    for values in (limits, resources.get("Reservations", {})):
        cpus, memory = values.get("NanoCPUs", 0), values.get("MemoryBytes", 0)
        if cpus != 0 and cpus < MIN_NANO_CPUS:
            raise InvalidArgument(
                f"invalid cpu value {_go_float(cpus / 1e9)}: Must be at least "
                f"{_go_float(MIN_NANO_CPUS / 1e9)}"
            )
        if memory != 0 and memory < MIN_MEMORY_BYTES:
            raise InvalidArgument(f"invalid memory value {memory}: Must be at least 4MiB")


def _check_restart_policy(policy: dict[str, Any]) -> None:
    condition = policy.get("Condition", "")
    if condition and condition not in RESTART_CONDITIONS:
        raise InvalidArgument(f'invalid RestartCondition: "{condition}"')
    for key, name in (("Delay", "restart-delay"), ("Window", "restart-window")):
        if policy.get(key, 0) < 0:
            raise InvalidArgument(f"TaskSpec: {name} cannot be negative")


def _check_placement(placement: dict[str, Any]) -> None:
    parse_constraints(placement.get("Constraints"))
    for preference in placement.get("Preferences", []):
        descriptor = preference.get("Spread", {}).get("SpreadDescriptor")
        if descriptor is None:
            raise InvalidArgument(
                'invalid placement preference: only {"Spread": {"SpreadDescriptor": ...}} '
                "is supported"
            )
        lowered = descriptor.lower()
        if not any(lowered.startswith(p) and len(lowered) > len(p) for p in LABEL_PREFIXES):
            raise InvalidArgument(
                f'invalid placement preference "{descriptor}": spread over '
                "node.labels.<name> or engine.labels.<name>"
            )


def _check_container(container: dict[str, Any]) -> None:
    image = container["Image"]
    if not _is_image_reference(image):
        raise InvalidArgument(f'ContainerSpec: "{image}" is not a valid repository/tag')
    for item in container.get("Env", []):
        if not item or item.startswith("="):
            raise InvalidArgument(
                f'ContainerSpec: invalid environment variable "{item}" (expected KEY=VALUE or KEY)'
            )
    if container.get("StopGracePeriod", 0) < 0:
        raise InvalidArgument("ContainerSpec: StopGracePeriod cannot be negative")
    targets: set[object] = set()
    for mount in container.get("Mounts", []):
        target = mount.get("Target") if isinstance(mount, dict) else None
        if target in targets:
            raise InvalidArgument(f"ContainerSpec: duplicate mount point: {target}")
        targets.add(target)
    health = container.get("Healthcheck", {})
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        if health.get(key, 0) != 0 and health[key] < MILLISECOND:
            raise InvalidArgument(f"ContainerSpec: {key} in HealthConfig cannot be less than 1ms")
    if health.get("Retries", 0) < 0:
        raise InvalidArgument("ContainerSpec: Retries in HealthConfig cannot be negative")


def _check_update_config(config: dict[str, Any] | None, kind: str) -> None:
    if config is None:
        return
    action = config.get("FailureAction", "")
    allowed = FAILURE_ACTIONS if kind == "update" else ("pause", "continue")
    if action and action not in allowed:
        raise InvalidArgument(f"unrecognized {kind} failure action {action}")
    order = config.get("Order", "")
    if order and order not in UPDATE_ORDERS:
        raise InvalidArgument(f"unrecognized {kind} order {order}")
    for key in ("Delay", "Monitor"):
        if config.get(key, 0) < 0:
            raise InvalidArgument(f"TaskSpec: {kind}-{key.lower()} cannot be negative")
    if not 0 <= config.get("MaxFailureRatio", 0) <= 1:
        raise InvalidArgument(
            f"TaskSpec: {kind}-maxfailureratio cannot be less than 0 or bigger than 1"
        )


def _check_endpoint(endpoint: dict[str, Any] | None) -> None:
    if endpoint is None:
        return
    mode = endpoint.get("Mode", "")
    if mode and mode not in RESOLUTION_MODES:
        raise InvalidArgument(f'invalid resolution mode: "{mode}"')
    published: set[tuple[str, int]] = set()
    for port in endpoint.get("Ports", []):
        # Docker matches these two without regard to case; store them as it shows them.
        for key, allowed in (("Protocol", PROTOCOLS), ("PublishMode", PUBLISH_MODES)):
            if key in port:
                port[key] = port[key].lower()
                if port[key] and port[key] not in allowed:
                    names = ", ".join(allowed)
                    raise InvalidArgument(
                        f'EndpointSpec: invalid {key} "{port[key]}" (must be one of {names})'
                    )
        target, public = port.get("TargetPort", 0), port.get("PublishedPort", 0)
        if not 1 <= target <= 65535:
            raise InvalidArgument(
                f"EndpointSpec: invalid TargetPort {target} (must be between 1 and 65535)"
            )
        if public > 65535:
            raise InvalidArgument(
                f"EndpointSpec: invalid PublishedPort {public} (must be between 0 and 65535)"
            )
        if mode == "dnsrr" and port.get("PublishMode", "") in ("", "ingress"):
            raise InvalidArgument(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
            )
        if public:
            taken = (port.get("Protocol") or "tcp", public)
            if taken in published:
                raise InvalidArgument("EndpointSpec: duplicate published ports provided")
            published.add(taken)


# distribution/reference's grammar: [domain/]path[:tag][@digest], path in lowercase.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(
    rf"({_NAME})(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


def _is_image_reference(image: str) -> bool:
    match = _REFERENCE.fullmatch(image)
    return match is not None and len(match.group(1)) <= 255


def _go_float(value: float) -> str:
    """``value`` as Go's ``%g`` prints it (shortest digits, exponent from 1e+06 and below 1e-4)."""
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    point = len(digit_tuple) + exponent  # digits before the decimal point
    prefix = "-" if sign else ""
    if not -4 <= point - 1 < 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{point - 1:+03d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


# --- Effective settings of a stored spec ----------------------------------------------


@dataclass(frozen=True)
class RestartPolicy:
    """When and how soon a stopped task is replaced; durations in nanoseconds."""

    condition: RestartCondition = "any"
    delay: int = DEFAULT_RESTART_DELAY
    #: Restarts allowed (within ``window``); 0: no limit.
    max_attempts: int = 0
    #: The period over which ``max_attempts`` counts; 0: unbounded.
    window: int = 0


@dataclass(frozen=True)
class UpdateConfig:
    """How a rolling update (or rollback) proceeds; durations in nanoseconds."""

    #: Tasks updated at once; 0: all of them (an UpdateConfig sent without Parallelism).
    parallelism: int = 1
    delay: int = 0
    failure_action: FailureAction = "pause"
    #: How long after its update a task's failure counts against the update.
    monitor: int = DEFAULT_MONITOR
    max_failure_ratio: float = 0.0
    order: UpdateOrder = "stop-first"


@dataclass(frozen=True)
class Placement:
    constraints: tuple[Constraint, ...] = ()
    #: Spread descriptors (``node.labels.zone``), lowercased, in order.
    preferences: tuple[str, ...] = ()
    #: Tasks of the service per node; 0: no limit.
    max_replicas: int = 0
    #: ``(os, architecture)``, lowercased; ``""`` matches any.
    platforms: tuple[tuple[str, str], ...] = ()


def _sub(d: Mapping[str, Any] | None, *keys: str) -> Mapping[str, Any]:
    for key in keys:
        d = (d or {}).get(key)
    return d or {}


def restart_policy(spec: Mapping[str, Any]) -> RestartPolicy:
    """The restart policy with Docker's defaults (any, 5 s delay, unlimited, no window)."""
    policy = _sub(spec, "TaskTemplate", "RestartPolicy")
    condition = policy.get("Condition") or "any"
    return RestartPolicy(
        condition=condition if condition in RESTART_CONDITIONS else "any",
        delay=policy.get("Delay", DEFAULT_RESTART_DELAY),
        max_attempts=policy.get("MaxAttempts", 0),
        window=policy.get("Window", 0),
    )


def update_config(spec: Mapping[str, Any], rollback: bool = False) -> UpdateConfig:
    """``UpdateConfig`` (or ``RollbackConfig``) with Docker's defaults.

    Without the object: parallelism 1, no delay, pause, 5 s monitor, ratio 0,
    stop-first. With it, missing fields are zero as in Docker, except that a zero
    monitor means 5 s and empty strings mean pause and stop-first.
    """
    config = spec.get("RollbackConfig" if rollback else "UpdateConfig")
    if not config:
        return UpdateConfig()
    return UpdateConfig(
        parallelism=config.get("Parallelism", 0),
        delay=config.get("Delay", 0),
        failure_action=config.get("FailureAction") or "pause",
        monitor=config.get("Monitor") or DEFAULT_MONITOR,
        max_failure_ratio=float(config.get("MaxFailureRatio", 0)),
        order=config.get("Order") or "stop-first",
    )


def stop_grace_period_ns(spec: Mapping[str, Any]) -> int:
    """How long a task may take to stop before it is killed (10 s unless set)."""
    value = _sub(spec, "TaskTemplate", "ContainerSpec").get("StopGracePeriod")
    return DEFAULT_STOP_GRACE_PERIOD if value is None else int(value)


def is_global(spec: Mapping[str, Any]) -> bool:
    return "Global" in _sub(spec, "Mode")


def replicas(spec: Mapping[str, Any]) -> int | None:
    """The replica count (1 if unset), ``None`` for a global service."""
    if is_global(spec):
        return None
    return int(_sub(spec, "Mode", "Replicated").get("Replicas", 1))


def reservations(spec: Mapping[str, Any]) -> tuple[int, int]:
    """``(nano_cpus, memory_bytes)`` each task reserves."""
    reserved = _sub(spec, "TaskTemplate", "Resources", "Reservations")
    return int(reserved.get("NanoCPUs", 0)), int(reserved.get("MemoryBytes", 0))


def placement(spec: Mapping[str, Any]) -> Placement:
    settings = _sub(spec, "TaskTemplate", "Placement")
    return Placement(
        constraints=tuple(parse_constraints(settings.get("Constraints"))),
        preferences=tuple(
            str(_sub(p, "Spread").get("SpreadDescriptor", "")).lower()
            for p in settings.get("Preferences") or []
        ),
        max_replicas=int(settings.get("MaxReplicas", 0)),
        platforms=tuple(
            (str(p.get("OS", "")).lower(), str(p.get("Architecture", "")).lower())
            for p in settings.get("Platforms") or []
        ),
    )


def host_ports(spec: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``(protocol, published port)`` of the ports published in host mode on a fixed port."""
    return [
        ((port.get("Protocol") or "tcp").lower(), int(port["PublishedPort"]))
        for port in _sub(spec, "EndpointSpec").get("Ports") or []
        if (port.get("PublishMode") or "").lower() == "host" and port.get("PublishedPort", 0) > 0
    ]


def insert_defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as ``GET /services/{id}?insertDefaults=true`` shows it.

    Like dockerd: swarmkit's defaults (stop grace period, restart policy, update and
    rollback configs, empty resources and placement) plus what dockerd's conversion
    always writes (labels, mode, runtime, force-update counter, enum defaults).
    """
    out = deep_copy(dict(spec))
    out.setdefault("Labels", {})
    count = replicas(spec)
    out["Mode"] = {"Global": {}} if count is None else {"Replicated": {"Replicas": count}}
    task = out.setdefault("TaskTemplate", {})
    container = task.get("ContainerSpec")
    if container is not None:
        container.setdefault("StopGracePeriod", DEFAULT_STOP_GRACE_PERIOD)
        container.setdefault("DNSConfig", {})
        container["Isolation"] = container.get("Isolation") or "default"
    task.setdefault("Resources", {})
    policy = task.setdefault("RestartPolicy", {})
    policy["Condition"] = policy.get("Condition") or "any"
    policy.setdefault("Delay", DEFAULT_RESTART_DELAY)
    policy.setdefault("MaxAttempts", 0)
    task.setdefault("Placement", {})
    task.setdefault("ForceUpdate", 0)
    task["Runtime"] = task.get("Runtime") or "container"
    for key in ("UpdateConfig", "RollbackConfig"):
        if out.get(key) is None:
            out[key] = {"Parallelism": 1}
        config = out[key]
        config.setdefault("Parallelism", 0)
        config["FailureAction"] = config.get("FailureAction") or "pause"
        config["Monitor"] = config.get("Monitor") or DEFAULT_MONITOR
        config.setdefault("MaxFailureRatio", 0)
        config["Order"] = config.get("Order") or "stop-first"
    endpoint = out.get("EndpointSpec")
    if endpoint is not None:
        endpoint["Mode"] = endpoint.get("Mode") or "vip"
        for port in endpoint.get("Ports", []):
            port["Protocol"] = port.get("Protocol") or "tcp"
            port["PublishMode"] = port.get("PublishMode") or "ingress"
    return out
