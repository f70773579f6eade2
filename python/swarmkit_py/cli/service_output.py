"""How `swarmctl service` shows services: docker's `service ls` row
(MODE, REPLICAS with `(max N per node)`, ingress PORTS as ranges) and
`service inspect --pretty` text (tabs included)."""

from __future__ import annotations

from typing import Any

from ..model.times import format_duration
from .output import ago, bytes_size, short_image, truncate_id

Json = dict[str, Any]


def service_mode(spec: Json) -> str:
    mode = spec.get("Mode") or {}
    for key, name in (
        ("Global", "global"),
        ("Replicated", "replicated"),
        ("ReplicatedJob", "replicated job"),
        ("GlobalJob", "global job"),
    ):
        if key in mode:
            return name
    return ""


def replicas(service: Json) -> str:
    """`running/desired`, with ` (max N per node)` for a replicated service
    with a per-node limit, from `ServiceStatus` (`?status=true`)."""
    status = service.get("ServiceStatus") or {}
    running, desired = status.get("RunningTasks", 0), status.get("DesiredTasks", 0)
    spec = service.get("Spec", {})
    if service_mode(spec) == "replicated":
        max_replicas = ((spec.get("TaskTemplate") or {}).get("Placement") or {}).get("MaxReplicas")
        if max_replicas:
            return f"{running}/{desired} (max {max_replicas} per node)"
    return f"{running}/{desired}"


def ingress_ports(ports: list[Json]) -> str:
    """Docker's PORTS column: ingress ports only, consecutive ones as ranges
    (`*:8080-8081->80-81/tcp, *:53->53/udp`)."""
    ordered = sorted(
        ports, key=lambda p: (str(p.get("Protocol", "")), int(p.get("PublishedPort") or 0))
    )
    shown: list[str] = []
    current: list[Any] | None = None  # [published start, end, target start, end, protocol]

    def flush() -> None:
        if current is not None and current[0] > 0:
            published = (
                str(current[0]) if current[1] == current[0] else f"{current[0]}-{current[1]}"
            )
            target = str(current[2]) if current[3] == current[2] else f"{current[2]}-{current[3]}"
            shown.append(f"*:{published}->{target}/{current[4]}")

    for port in ordered:
        if (port.get("PublishMode") or "ingress") != "ingress":
            continue
        published, target = int(port.get("PublishedPort") or 0), int(port.get("TargetPort") or 0)
        protocol = port.get("Protocol") or "tcp"
        if (
            current is None
            or protocol != current[4]
            or published - current[1] not in (0, 1)  # (docker compares unsigned)
            or target - current[3] not in (0, 1)
            or (current[3] != current[2] and target <= current[3])
        ):
            flush()
            current = [published, published, target, target, protocol]
            continue
        current[1], current[3] = published, target
    flush()
    return ", ".join(shown)


def service_row(service: Json) -> dict[str, str]:
    """One `service ls` row in docker's field names."""
    spec = service.get("Spec", {})
    image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
    return {
        "ID": truncate_id(str(service.get("ID", ""))),
        "Name": str(spec.get("Name", "")),
        "Mode": service_mode(spec),
        "Replicas": replicas(service),
        "Image": short_image(str(image)),
        "Ports": ingress_ports((service.get("Endpoint") or {}).get("Ports") or []),
    }


def _go_list(items: list[Any]) -> str:
    return "[" + " ".join(str(item) for item in items) + "]"


def _number(value: Any) -> str:
    return f"{float(value):g}"


def _config_lines(title: str, order_label: str, config: Json) -> list[str]:
    lines = [f"{title}:", f" Parallelism:\t{config.get('Parallelism', 0)}"]
    if config.get("Delay", 0) > 0:
        lines.append(f" Delay:\t\t{format_duration(config['Delay'])}")
    lines.append(f" On failure:\t{config.get('FailureAction', '')}")
    if config.get("Monitor", 0) > 0:
        lines.append(f" Monitoring Period: {format_duration(config['Monitor'])}")
    lines.append(f" Max failure ratio: {_number(config.get('MaxFailureRatio', 0))}")
    lines.append(f" {order_label}{config.get('Order', '')}")
    return lines


def service_pretty(service: Json) -> str:
    """`service inspect --pretty`: docker's template, field by field."""
    spec = service.get("Spec", {})
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    lines = ["", f"ID:\t\t{service.get('ID', '')}", f"Name:\t\t{spec.get('Name', '')}"]
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" {k}{'=' + v if v else ''}" for k, v in sorted(spec["Labels"].items())]
    if "Global" in mode:
        lines.append("Service Mode:\tGlobal")
    elif "Replicated" in mode:
        lines.append("Service Mode:\tReplicated")
        if mode["Replicated"].get("Replicas") is not None:
            lines.append(f" Replicas:\t{mode['Replicated']['Replicas']}")
    else:
        lines.append("Service Mode:")
    status = service.get("UpdateStatus") or {}
    if status.get("State"):
        lines += ["UpdateStatus:", f" State:\t\t{status['State']}"]
        if status.get("StartedAt"):
            lines.append(f" Started:\t{ago(str(status['StartedAt']))}")
        if status["State"] == "completed" and status.get("CompletedAt"):
            lines.append(f" Completed:\t{ago(str(status['CompletedAt']))}")
        lines.append(f" Message:\t{status.get('Message', '')}")
    placement = template.get("Placement") or {}
    lines.append("Placement:")
    if placement.get("Constraints"):
        lines.append(f" Constraints:\t{_go_list(placement['Constraints'])}")
    preferences = [
        "spread=" + p["Spread"].get("SpreadDescriptor", "")
        for p in placement.get("Preferences") or []
        if p.get("Spread")
    ]
    if preferences:
        lines.append(f" Preferences:   {_go_list(preferences)}")
    if placement.get("MaxReplicas"):
        lines.append(f" Max Replicas Per Node:   {placement['MaxReplicas']}")
    if spec.get("UpdateConfig"):
        lines += _config_lines("UpdateConfig", "Update order:      ", spec["UpdateConfig"])
    if spec.get("RollbackConfig"):
        lines += _config_lines("RollbackConfig", "Rollback order:    ", spec["RollbackConfig"])
    lines += ["ContainerSpec:", f" Image:\t\t{container.get('Image', '')}"]
    if container.get("Args"):
        lines.append(" Args:\t\t" + "".join(f"{arg} " for arg in container["Args"]))
    if container.get("Env"):
        lines.append(" Env:\t\t" + "".join(f"{env} " for env in container["Env"]))
    if container.get("Dir"):
        lines.append(f" Dir:\t\t{container['Dir']}")
    if "Init" in container:
        lines.append(f" Init:\t\t{str(bool(container['Init'])).lower()}")
    if container.get("User"):
        lines.append(f" User: {container['User']}")
    log_driver = template.get("LogDriver")
    if log_driver is not None:
        lines.append("Log Driver:")
        if log_driver.get("Name"):
            lines.append(f" Name:\t\t{log_driver['Name']}")
        if log_driver.get("Options"):
            lines.append(" LogOpts:")
            lines += [
                f"  {k}{':       ' + v if v else ''}"
                for k, v in sorted(log_driver["Options"].items())
            ]
        lines.append("")
    resources = template.get("Resources")
    if resources is not None:
        lines.append("Resources:")
        for section, title in (("Reservations", "Reservations"), ("Limits", "Limits")):
            part = resources.get(section) or {}
            cpu, memory = part.get("NanoCPUs", 0), part.get("MemoryBytes", 0)
            if cpu > 0 or memory > 0 or part.get("Pids", 0) > 0:
                lines.append(f" {title}:")
                if cpu > 0:
                    lines.append(f"  CPU:\t\t{_number(cpu / 1e9)}")
                if memory:
                    lines.append(f"  Memory:\t{bytes_size(memory)}")
        pids = (resources.get("Limits") or {}).get("Pids", 0)
        if pids > 0:
            lines.append(f"  PIDs:\t\t{pids}")
    networks = [n.get("Target", "") for n in template.get("Networks") or []]
    if networks:
        lines.append("Networks:" + "".join(f" {n}" for n in networks))
    lines.append(f"Endpoint Mode:\t{(spec.get('EndpointSpec') or {}).get('Mode', '')}")
    ports = (service.get("Endpoint") or {}).get("Ports") or []
    if ports:
        lines.append("Ports:")
        for port in ports:
            lines += [
                f" PublishedPort = {port.get('PublishedPort', 0)}",
                f"  Protocol = {port.get('Protocol', '')}",
                f"  TargetPort = {port.get('TargetPort', 0)}",
                f"  PublishMode = {port.get('PublishMode', '')}",
            ]
    return "\n".join(lines)
