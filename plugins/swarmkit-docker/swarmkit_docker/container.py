"""What container a task becomes: its name, labels and `containers.create`
arguments, read from the task's `Spec.ContainerSpec` with Docker's meaning.

Honoured: `Image`, `Command` (the entrypoint), `Args` (the command), `Env`,
`Dir`, `User`, `Groups`, `Hostname`, `Labels`, `StopSignal`, `Init`,
`ReadOnly`, `CapabilityAdd`, `CapabilityDrop`, `Sysctls`, and
`Resources.Limits` (`NanoCPUs`, `MemoryBytes`, `Pids`). `StopGracePeriod`
reaches the runtime through the worker's `stop(grace)`. Not honoured (yet):
mounts, networks and published ports, `TTY`, healthchecks, DNS and hosts
settings, Go templates in `Hostname`/`Env`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swarmkit_py.runtime import TaskError

#: Marks every container this runtime made (the sweep looks at no other).
MANAGED_LABEL = "com.swarmkit-py.managed"
#: The data directory of the node whose runtime made it: nodes that share one
#: engine (a loopback test swarm) never touch each other's containers.
DATA_DIR_LABEL = "com.swarmkit-py.data-dir"
#: Docker's own labels on a swarm task's container.
SERVICE_ID_LABEL = "com.docker.swarm.service.id"
SERVICE_NAME_LABEL = "com.docker.swarm.service.name"
NODE_ID_LABEL = "com.docker.swarm.node.id"
TASK_ID_LABEL = "com.docker.swarm.task.id"
TASK_NAME_LABEL = "com.docker.swarm.task.name"

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")

#: ContainerSpec fields passed through as they are: (spec key, create argument, type).
_PLAIN: tuple[tuple[str, str, type], ...] = (
    ("Dir", "working_dir", str),
    ("User", "user", str),
    ("Hostname", "hostname", str),
    ("StopSignal", "stop_signal", str),
    ("Init", "init", bool),
    ("ReadOnly", "read_only", bool),
)
_LISTS = (
    ("Env", "environment"),
    ("Groups", "group_add"),
    ("CapabilityAdd", "cap_add"),
    ("CapabilityDrop", "cap_drop"),
)
_LIMITS = (("NanoCPUs", "nano_cpus"), ("MemoryBytes", "mem_limit"), ("Pids", "pids_limit"))


def container_spec(task: Mapping[str, Any]) -> Mapping[str, Any]:
    """The task's `Spec.ContainerSpec` (empty if it has none)."""
    spec = task.get("Spec")
    container = spec.get("ContainerSpec") if isinstance(spec, Mapping) else None
    return container if isinstance(container, Mapping) else {}


def service_name(task: Mapping[str, Any]) -> str:
    """The service's name if the task carries it (swarmkit's `ServiceAnnotations`)."""
    annotations = task.get("ServiceAnnotations")
    name = annotations.get("Name") if isinstance(annotations, Mapping) else None
    return name if isinstance(name, str) else ""


def container_name(task: Mapping[str, Any]) -> str:
    """`<service>.<slot>.<task id>` as Docker names it (the node ID stands in for
    the slot of a global service; the service ID for a name the task lacks)."""
    service = service_name(task) or str(task.get("ServiceID") or "task")
    slot = task.get("Slot") or task.get("NodeID") or "0"
    name = f"{service}.{slot}.{task.get('ID')}"
    return _NAME_UNSAFE.sub("-", name).lstrip("_.-") or "task"


def task_labels(task: Mapping[str, Any], data_dir: Path) -> dict[str, str]:
    """The container's labels: the spec's, Docker's swarm labels, and ours."""
    labels = _string_map(container_spec(task), "Labels")
    labels[TASK_ID_LABEL] = str(task.get("ID") or "")
    labels[TASK_NAME_LABEL] = container_name(task)
    for label, value in (
        (SERVICE_ID_LABEL, task.get("ServiceID")),
        (SERVICE_NAME_LABEL, service_name(task)),
        (NODE_ID_LABEL, task.get("NodeID")),
    ):
        if isinstance(value, str) and value:
            labels[label] = value
    labels[MANAGED_LABEL] = "true"
    labels[DATA_DIR_LABEL] = str(data_dir)
    return labels


def create_options(task: Mapping[str, Any], data_dir: Path) -> dict[str, Any]:
    """Keyword arguments for `client.containers.create`; TaskError if the spec
    cannot be run."""
    spec = container_spec(task)
    image = spec.get("Image")
    if not isinstance(image, str) or not image:
        raise TaskError("the docker runtime needs an image: set the service's image")
    options: dict[str, Any] = {
        "image": image,
        "name": container_name(task),
        "labels": task_labels(task, data_dir),
        "detach": True,
    }
    command, args = _strings(spec, "Command"), _strings(spec, "Args")
    if command is not None:
        options["entrypoint"] = command
    if args is not None:
        options["command"] = args
    for key, argument, kind in _PLAIN:
        value = spec.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, kind):
            raise TaskError(f"invalid ContainerSpec.{key}: expected a {kind.__name__}")
        options[argument] = value
    for key, argument in _LISTS:
        values = _strings(spec, key)
        if values:
            options[argument] = values
    sysctls = _string_map(spec, "Sysctls")
    if sysctls:
        options["sysctls"] = sysctls
    options.update(_limits(task))
    return options


def _limits(task: Mapping[str, Any]) -> dict[str, int]:
    spec = task.get("Spec")
    resources = spec.get("Resources") if isinstance(spec, Mapping) else None
    limits = resources.get("Limits") if isinstance(resources, Mapping) else None
    if not isinstance(limits, Mapping):
        return {}
    found: dict[str, int] = {}
    for key, argument in _LIMITS:
        value = limits.get(key)
        if value is None or value == 0:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TaskError(f"invalid Resources.Limits.{key}: expected a positive integer")
        found[argument] = value
    return found


def _strings(spec: Mapping[str, Any], key: str) -> list[str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaskError(f"invalid ContainerSpec.{key}: expected a list of strings")
    return list(value)


def _string_map(spec: Mapping[str, Any], key: str) -> dict[str, str]:
    value = spec.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TaskError(f"invalid ContainerSpec.{key}: expected string keys and values")
    return dict(value)
