"""Engine API objects (``Node``, ``Service``, ``Task`` dicts) as rows of the
``nodes``, ``services`` and ``tasks`` tables. Times become UTC ``DATETIME(6)``
values (``NULL`` when unset); strings are cut to their column's size."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from swarmkit_py.storage import NodeLive

Row = tuple[Any, ...]
_NANOS_PER_CPU = Decimal(1_000_000_000)
# TEXT holds 65535 bytes, four per character at worst.
_TEXT = 16_000

NODE_COLUMNS = (
    "id",
    "hostname",
    "role",
    "status",
    "availability",
    "leader",
    "reachability",
    "addr",
    "nano_cpus",
    "cpus",
    "memory_bytes",
    "running_tasks",
    "last_heartbeat",
    "engine_version",
    "labels",
    "version",
    "created_at",
    "updated_at",
)
SERVICE_COLUMNS = (
    "id",
    "name",
    "mode",
    "replicas",
    "image",
    "version",
    "created_at",
    "updated_at",
    "spec",
)
TASK_COLUMNS = (
    "id",
    "service_id",
    "name",
    "slot",
    "node_id",
    "image",
    "desired_state",
    "state",
    "state_since",
    "message",
    "error",
    "exit_code",
    "version",
    "created_at",
    "updated_at",
)


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any, limit: int) -> str:
    return ("" if value is None else str(value))[:limit]


def _int(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def api_time(value: Any) -> datetime | None:
    """An Engine API time (RFC 3339, up to nanoseconds) as a naive UTC
    datetime; ``None`` for unset, Go's zero time or nonsense."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment if moment.year >= 1970 else None


def unix_time(value: float | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def _json(value: Any) -> str:
    return json.dumps(value if value is not None else {}, separators=(",", ":"), sort_keys=True)


def node_row(node: Mapping[str, Any], live: NodeLive | None) -> Row:
    """A ``nodes`` row (:data:`NODE_COLUMNS`). ``live`` (what the manager
    knows besides the object) wins over the object's own ``ManagerStatus``
    and ``Load``."""
    if live is not None:
        leader, reachability = live.leader, live.reachability
        running, heartbeat = live.running_tasks, unix_time(live.last_heartbeat)
    else:
        leader = bool(_get(node, "ManagerStatus", "Leader"))
        reachability = str(_get(node, "ManagerStatus", "Reachability") or "")
        running, heartbeat = _int(_get(node, "Load", "RunningTasks")), None
    nano_cpus = _int(_get(node, "Description", "Resources", "NanoCPUs"))
    return (
        str(node["ID"]),
        _text(_get(node, "Description", "Hostname"), 255),
        _text(_get(node, "Spec", "Role") or "worker", 16),
        _text(_get(node, "Status", "State") or "unknown", 16),
        _text(_get(node, "Spec", "Availability") or "active", 16),
        bool(leader),
        _text(reachability, 16) or None,
        _text(_get(node, "Status", "Addr"), 255),
        nano_cpus,
        Decimal(nano_cpus) / _NANOS_PER_CPU,
        _int(_get(node, "Description", "Resources", "MemoryBytes")),
        _int(running),
        heartbeat,
        _text(_get(node, "Description", "Engine", "EngineVersion"), 64),
        _json(_get(node, "Spec", "Labels")),
        _int(_get(node, "Version", "Index")),
        api_time(_get(node, "CreatedAt")),
        api_time(_get(node, "UpdatedAt")),
    )


def live_row(node_id: str, live: NodeLive) -> Row:
    """``(leader, reachability, running_tasks, last_heartbeat, id)`` for an UPDATE."""
    return (
        live.leader,
        _text(live.reachability, 16) or None,
        _int(live.running_tasks),
        unix_time(live.last_heartbeat),
        node_id,
    )


def service_row(service: Mapping[str, Any]) -> Row:
    """A ``services`` row (:data:`SERVICE_COLUMNS`)."""
    spec = _get(service, "Spec") or {}
    is_global = isinstance(_get(spec, "Mode"), Mapping) and "Global" in spec["Mode"]
    replicas = None if is_global else _int(_get(spec, "Mode", "Replicated", "Replicas") or 1)
    return (
        str(service["ID"]),
        _text(_get(spec, "Name"), 255),
        "global" if is_global else "replicated",
        replicas,
        _text(_get(spec, "TaskTemplate", "ContainerSpec", "Image"), 1024),
        _int(_get(service, "Version", "Index")),
        api_time(_get(service, "CreatedAt")),
        api_time(_get(service, "UpdatedAt")),
        _json(spec),
    )


def service_name(service: Mapping[str, Any]) -> str:
    return str(_get(service, "Spec", "Name") or service["ID"])


def task_row(task: Mapping[str, Any], service_names: Mapping[str, str]) -> Row:
    """A ``tasks`` row (:data:`TASK_COLUMNS`), named as ``service ps`` names
    it: ``service.slot``, ``service.node_id`` for a global service's task."""
    service_id = str(task.get("ServiceID") or "")
    slot = _int(task.get("Slot")) or None
    node_id = str(task.get("NodeID") or "") or None
    service = service_names.get(service_id, service_id)
    status = _get(task, "Status") or {}
    exit_code = _get(status, "ContainerStatus", "ExitCode")
    return (
        str(task["ID"]),
        service_id,
        _text(f"{service}.{slot or node_id or ''}", 320),
        slot,
        node_id,
        _text(_get(task, "Spec", "ContainerSpec", "Image"), 1024),
        _text(task.get("DesiredState"), 16),
        _text(_get(status, "State"), 16),
        api_time(_get(status, "Timestamp")),
        _text(_get(status, "Message"), _TEXT),
        _text(_get(status, "Err"), _TEXT),
        None if _get(status, "ContainerStatus") is None else int(exit_code or 0),
        _int(_get(task, "Version", "Index")),
        api_time(task.get("CreatedAt")),
        api_time(task.get("UpdatedAt")),
    )
