"""An in-memory `SwarmBackend`: a small, correct model of one node's view of
a swarm, so the HTTP layer, the client and swarmctl are tested against real
behaviour (versions, out-of-sequence updates, role rules, not-in-swarm
errors) without a cluster.

Services are orchestrated at once: a create or update makes the tasks its spec
asks for, in `task_state` (running unless a test says otherwise), spread over
the ready, active nodes; replaced tasks stay as shut-down history."""

from __future__ import annotations

import asyncio
import copy
import secrets
import string
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from swarmkit_py.errors import (
    AlreadyInSwarm,
    FailedPrecondition,
    InvalidArgument,
    NameConflict,
    NotFound,
    NotInSwarm,
    NotManager,
    OutOfSequence,
    SwarmError,
)
from swarmkit_py.logs import LogLine, LogMessage, LogOptions, Stream

Json = dict[str, Any]

ENGINE_VERSION = "0.1.0"
SECOND = 1_000_000_000
DEFAULT_SPEC: Json = {
    "Name": "default",
    "Labels": {},
    "Orchestration": {"TaskHistoryRetentionLimit": 5},
    "Raft": {
        "SnapshotInterval": 10000,
        "KeepOldSnapshots": 0,
        "LogEntriesForSlowFollowers": 500,
        "ElectionTick": 10,
        "HeartbeatTick": 1,
    },
    "Dispatcher": {"HeartbeatPeriod": 5 * SECOND},
    "CAConfig": {"NodeCertExpiry": 2160 * 3600 * SECOND},
    "TaskDefaults": {},
    "EncryptionConfig": {"AutoLockManagers": False},
}


def new_id() -> str:
    alphabet = string.digits + string.ascii_lowercase
    return "".join(secrets.choice(alphabet) for _ in range(25))


def now() -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed, as Go writes times."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return stamp + "Z"


def fake_root(serial: int) -> str:
    body = secrets.token_hex(24)
    return f"-----BEGIN CERTIFICATE-----\nFAKE{serial}{body}\n-----END CERTIFICATE-----\n"


def join_token() -> str:
    return f"SWMTKN-1-{new_id()}{new_id()}-{new_id()}"


class FakeBackend:
    """One node, outside a swarm until `swarm_init` or `swarm_join`."""

    def __init__(self, hostname: str = "node-1") -> None:
        self.hostname = hostname
        self.index = 0
        self.node_id = ""
        self.cluster: Json | None = None
        self.nodes: dict[str, Json] = {}
        self.ca_rotations = 0
        self.services: dict[str, Json] = {}
        self.tasks: dict[str, Json] = {}
        self.logs: list[LogMessage] = []
        #: The state new tasks are created in.
        self.task_state = "running"
        #: Set on the service by the next update instead of "updating".
        self.next_update_status: Json | None = None
        #: Raised by log streams once they have sent the lines there are.
        self.log_error: SwarmError | None = None
        #: What each service update asked for (ID, rollback, rebalance).
        self.service_updates: list[Json] = []
        #: Log streams following right now.
        self.follow_streams = 0

    # -- helpers for tests -------------------------------------------------

    def _next_index(self) -> int:
        self.index += 1
        return self.index

    def add_node(
        self,
        hostname: str,
        role: str = "worker",
        state: str = "ready",
        availability: str = "active",
        load: Json | None = None,
        reachability: str = "reachable",
        labels: dict[str, str] | None = None,
    ) -> Json:
        """A node of the swarm as if it had joined (the test's helper)."""
        node_id = new_id()
        stamp = now()
        node: Json = {
            "ID": node_id,
            "Version": {"Index": self._next_index()},
            "CreatedAt": stamp,
            "UpdatedAt": stamp,
            "Spec": {"Labels": labels or {}, "Role": role, "Availability": availability},
            "Description": {
                "Hostname": hostname,
                "Platform": {"Architecture": "x86_64", "OS": "linux"},
                "Resources": {"NanoCPUs": 4 * SECOND, "MemoryBytes": 8 * 1024**3},
                "Engine": {"EngineVersion": ENGINE_VERSION, "Plugins": []},
                "TLSInfo": copy.deepcopy(self.cluster["TLSInfo"]) if self.cluster else {},
            },
            "Status": {"State": state, "Addr": "127.0.0.1"},
        }
        if role == "manager":
            node["ManagerStatus"] = {
                "Leader": False,
                "Reachability": reachability,
                "Addr": "127.0.0.1:2377",
            }
        if load is not None:
            node["Load"] = load
        self.nodes[node_id] = node
        return node

    def _require_manager(self) -> Json:
        if self.cluster is None:
            raise NotInSwarm()
        me = self.nodes.get(self.node_id)
        if me is None or me["Spec"]["Role"] != "manager":
            raise NotManager()
        return self.cluster

    def _resolve(self, ref: str) -> Json:
        self._require_manager()
        if ref in self.nodes:
            return self.nodes[ref]
        by_name = [
            n
            for n in self.nodes.values()
            if ref in (n["Spec"].get("Name"), n["Description"]["Hostname"])
        ]
        if len(by_name) == 1:
            return by_name[0]
        by_prefix = [n for n in self.nodes.values() if n["ID"].startswith(ref)]
        if len(by_prefix) == 1:
            return by_prefix[0]
        if len(by_prefix) > 1 or len(by_name) > 1:
            raise InvalidArgument(f"node {ref} is ambiguous ({len(by_prefix)} matches found)")
        raise NotFound(f"node {ref} not found")

    # -- SwarmBackend ------------------------------------------------------------

    def swarm_header(self) -> str:
        if self.cluster is None:
            return "inactive"
        return f"active/{self.nodes[self.node_id]['Spec']['Role']}"

    async def version(self) -> Json:
        return {
            "Platform": {"Name": "swarmkit-py"},
            "Version": ENGINE_VERSION,
            "ApiVersion": "1.47",
            "MinAPIVersion": "1.24",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": "6.0.0",
        }

    async def info(self) -> Json:
        swarm: Json = {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        }
        if self.cluster is not None:
            me = self.nodes[self.node_id]
            managers = [n for n in self.nodes.values() if n["Spec"]["Role"] == "manager"]
            is_manager = me["Spec"]["Role"] == "manager"
            swarm.update(
                NodeID=self.node_id,
                NodeAddr="127.0.0.1",
                LocalNodeState="active",
                ControlAvailable=is_manager,
                RemoteManagers=[
                    {"NodeID": n["ID"], "Addr": n["ManagerStatus"]["Addr"]} for n in managers
                ],
            )
            if is_manager:
                cluster = {k: v for k, v in self.cluster.items() if k != "JoinTokens"}
                swarm.update(Nodes=len(self.nodes), Managers=len(managers), Cluster=cluster)
        return {
            "ID": "FAKE:NODE",
            "Name": self.hostname,
            "ServerVersion": ENGINE_VERSION,
            "OSType": "linux",
            "OperatingSystem": "fake",
            "Architecture": "x86_64",
            "NCPU": 4,
            "MemTotal": 8 * 1024**3,
            "Swarm": swarm,
        }

    async def swarm_inspect(self) -> Json:
        return copy.deepcopy(self._require_manager())

    async def swarm_init(self, request: Json) -> str:
        if self.cluster is not None:
            raise AlreadyInSwarm()
        spec = copy.deepcopy(DEFAULT_SPEC)
        for section, value in request.get("Spec", {}).items():
            if isinstance(value, dict) and isinstance(spec.get(section), dict):
                spec[section].update(value)
            else:
                spec[section] = value
        stamp = now()
        self.cluster = {
            "ID": new_id(),
            "Version": {"Index": self._next_index()},
            "CreatedAt": stamp,
            "UpdatedAt": stamp,
            "Spec": spec,
            "TLSInfo": {
                "TrustRoot": fake_root(0),
                "CertIssuerSubject": "c3Vi",
                "CertIssuerPublicKey": "a2V5",
            },
            "RootRotationInProgress": False,
            "DataPathPort": 4789,
            "DefaultAddrPool": ["10.0.0.0/8"],
            "SubnetSize": 24,
            "JoinTokens": {"Worker": join_token(), "Manager": join_token()},
        }
        me = self.add_node(
            self.hostname, role="manager", availability=request.get("Availability") or "active"
        )
        me["ManagerStatus"]["Leader"] = True
        addr = request.get("AdvertiseAddr") or "127.0.0.1"
        me["ManagerStatus"]["Addr"] = addr if ":" in addr else f"{addr}:2377"
        self.node_id = me["ID"]
        return self.node_id

    async def swarm_join(self, request: Json) -> None:
        if self.cluster is not None:
            raise AlreadyInSwarm()
        token = request.get("JoinToken", "")
        if not token.startswith("SWMTKN-1-"):
            raise InvalidArgument("invalid join token")
        if not request.get("RemoteAddrs"):
            raise InvalidArgument("at least 1 RemoteAddr is required to join")
        await self.swarm_init({"Availability": request.get("Availability")})
        if token.endswith("-worker"):
            me = self.nodes[self.node_id]
            me["Spec"]["Role"] = "worker"
            del me["ManagerStatus"]

    async def swarm_leave(self, force: bool) -> None:
        if self.cluster is None:
            raise NotInSwarm("This node is not part of a swarm")
        if self.nodes[self.node_id]["Spec"]["Role"] == "manager" and not force:
            raise FailedPrecondition(
                "You are attempting to leave the swarm on a node that is participating as a "
                "manager. Removing the last manager erases all current state of the swarm. Use "
                "`--force` to ignore this message."
            )
        self.cluster, self.node_id, self.nodes = None, "", {}

    async def swarm_update(
        self,
        version: int,
        spec: Json,
        rotate_worker_token: bool,
        rotate_manager_token: bool,
        rotate_manager_unlock_key: bool,
    ) -> None:
        cluster = self._require_manager()
        if version != cluster["Version"]["Index"]:
            raise OutOfSequence()
        old_rotation = cluster["Spec"].get("CAConfig", {}).get("ForceRotate", 0)
        cluster["Spec"] = copy.deepcopy(spec)
        if rotate_worker_token:
            cluster["JoinTokens"]["Worker"] = join_token()
        if rotate_manager_token:
            cluster["JoinTokens"]["Manager"] = join_token()
        cluster["Version"]["Index"] = self._next_index()
        cluster["UpdatedAt"] = now()
        if spec.get("CAConfig", {}).get("ForceRotate", 0) > old_rotation:
            await self.swarm_ca_rotate()

    async def swarm_ca_rotate(self) -> None:
        cluster = self._require_manager()
        self.ca_rotations += 1
        cluster["TLSInfo"]["TrustRoot"] = fake_root(self.ca_rotations)
        cluster["Version"]["Index"] = self._next_index()

    async def nodes_list(self, filters: dict[str, list[str]]) -> list[Json]:
        self._require_manager()

        def matches(node: Json) -> bool:
            spec, description = node["Spec"], node["Description"]
            checks: dict[str, Callable[[str], bool]] = {
                "id": lambda v: node["ID"].startswith(v),
                "name": lambda v: (
                    description["Hostname"].startswith(v) or (spec.get("Name") or "").startswith(v)
                ),
                "role": lambda v: spec["Role"] == v,
                "membership": lambda v: v == "accepted",
                "node.label": lambda v: _label_matches(spec.get("Labels") or {}, v),
                "label": lambda v: _label_matches(description["Engine"].get("Labels") or {}, v),
            }
            return all(any(checks[key](v) for v in values) for key, values in filters.items())

        return [copy.deepcopy(n) for n in self.nodes.values() if matches(n)]

    async def node_inspect(self, node_ref: str) -> Json:
        return copy.deepcopy(self._resolve(node_ref))

    async def node_update(self, node_ref: str, version: int, spec: Json) -> None:
        node = self._resolve(node_ref)
        if version != node["Version"]["Index"]:
            raise OutOfSequence()
        managers = [n for n in self.nodes.values() if n["Spec"]["Role"] == "manager"]
        if spec["Role"] == "worker" and node["Spec"]["Role"] == "manager" and len(managers) == 1:
            raise FailedPrecondition("attempting to demote the last manager of the swarm")
        node["Spec"] = copy.deepcopy(spec)
        if spec["Role"] == "manager" and "ManagerStatus" not in node:
            node["ManagerStatus"] = {
                "Leader": False,
                "Reachability": "reachable",
                "Addr": "127.0.0.1:2377",
            }
        if spec["Role"] == "worker":
            node.pop("ManagerStatus", None)
        node["Version"]["Index"] = self._next_index()
        node["UpdatedAt"] = now()

    async def node_remove(self, node_ref: str, force: bool) -> None:
        node = self._resolve(node_ref)
        if node["Spec"]["Role"] == "manager":
            raise FailedPrecondition(
                f"rpc error: code = FailedPrecondition desc = node {node['ID']} is a cluster "
                "manager and is a member of the raft cluster. It must be demoted to worker "
                "before removal"
            )
        if node["Status"]["State"] == "ready" and not force:
            raise FailedPrecondition(
                f"rpc error: code = FailedPrecondition desc = node {node['ID']} is not down and "
                "can't be removed"
            )
        del self.nodes[node["ID"]]

    # -- services: helpers for tests ----------------------------------------------

    def add_task(
        self,
        service: Json,
        node_id: str,
        slot: int = 0,
        state: str | None = None,
        desired: str = "running",
        created: str | None = None,
        error: str = "",
    ) -> Json:
        """A task of `service` on `node_id` as if the orchestrator made it."""
        stamp = created or now()
        task: Json = {
            "ID": new_id(),
            "Version": {"Index": self._next_index()},
            "CreatedAt": stamp,
            "UpdatedAt": stamp,
            "Labels": {},
            "Spec": copy.deepcopy(service["Spec"]["TaskTemplate"]),
            "ServiceID": service["ID"],
            "NodeID": node_id,
            "Status": {
                "Timestamp": stamp,
                "State": state or self.task_state,
                "Message": "started",
                "ContainerStatus": {"ContainerID": "", "PID": 0, "ExitCode": 0},
                "PortStatus": {},
            },
            "DesiredState": desired,
            "ServiceVersion": service["Version"]["Index"],
        }
        if error:
            task["Status"]["Err"] = error
        if slot:
            task["Slot"] = slot
        self.tasks[task["ID"]] = task
        return task

    def add_log(
        self, task_id: str, data: bytes, stream: Stream = "stdout", time_ns: int | None = None
    ) -> LogMessage:
        """A line the task wrote."""
        task = self.tasks[task_id]
        message = LogMessage(
            LogLine(time.time_ns() if time_ns is None else time_ns, stream, data),
            task["NodeID"],
            task["ServiceID"],
            task_id,
        )
        self.logs.append(message)
        return message

    def _placeable_nodes(self) -> list[Json]:
        return [
            n
            for n in self.nodes.values()
            if n["Status"]["State"] == "ready" and n["Spec"]["Availability"] == "active"
        ]

    def _reconcile(self, service: Json) -> None:
        """Make the tasks `service`'s spec asks for; shut down the rest."""
        template = service["Spec"]["TaskTemplate"]
        mode = service["Spec"]["Mode"]
        active = [
            t
            for t in self.tasks.values()
            if t["ServiceID"] == service["ID"] and t["DesiredState"] == "running"
        ]
        nodes = self._placeable_nodes()
        if "Global" in mode:
            wanted: dict[Any, str] = {n["ID"]: n["ID"] for n in nodes}
            key = "NodeID"
        else:
            replicas = mode.get("Replicated", {}).get("Replicas", 1)
            wanted = {
                slot: nodes[(slot - 1) % len(nodes)]["ID"] if nodes else ""
                for slot in range(1, replicas + 1)
            }
            key = "Slot"
        for task in active:
            if task.get(key) not in wanted:
                del self.tasks[task["ID"]]  # scaled down: removed, not kept as history
            elif task["Spec"] != template:
                task["DesiredState"] = "shutdown"
                task["Status"].update(State="shutdown", Timestamp=now())
        running = {
            t.get(key)
            for t in self.tasks.values()
            if t["ServiceID"] == service["ID"] and t["DesiredState"] == "running"
        }
        for item, node_id in wanted.items():
            if item not in running:
                slot = item if key == "Slot" else 0
                self.add_task(service, node_id, slot, state=None if node_id else "pending")

    def _resolve_service(self, ref: str) -> Json:
        self._require_manager()
        if ref in self.services:
            return self.services[ref]
        by_name = [s for s in self.services.values() if s["Spec"]["Name"] == ref]
        if by_name:
            return by_name[0]
        by_prefix = [s for s in self.services.values() if s["ID"].startswith(ref)]
        if len(by_prefix) == 1:
            return by_prefix[0]
        if len(by_prefix) > 1:
            raise InvalidArgument(f"service {ref} is ambiguous ({len(by_prefix)} matches found)")
        raise NotFound(f"service {ref} not found")

    def _resolve_task(self, ref: str) -> Json:
        self._require_manager()
        if ref in self.tasks:
            return self.tasks[ref]
        by_prefix = [t for t in self.tasks.values() if t["ID"].startswith(ref)]
        if len(by_prefix) == 1:
            return by_prefix[0]
        if len(by_prefix) > 1:
            raise InvalidArgument(f"task {ref} is ambiguous ({len(by_prefix)} matches found)")
        raise NotFound(f"task {ref} not found")

    def _status(self, service: Json) -> Json:
        tasks = [t for t in self.tasks.values() if t["ServiceID"] == service["ID"]]
        desired = [t for t in tasks if t["DesiredState"] == "running"]
        mode = service["Spec"]["Mode"]
        return {
            "RunningTasks": sum(1 for t in desired if t["Status"]["State"] == "running"),
            "DesiredTasks": (
                len(desired) if "Global" in mode else mode["Replicated"].get("Replicas", 1)
            ),
            "CompletedTasks": sum(1 for t in tasks if t["Status"]["State"] == "complete"),
        }

    def _endpoint(self, spec: Json) -> Json:
        endpoint_spec = spec.get("EndpointSpec") or {"Mode": "vip"}
        ports = []
        for number, port in enumerate(endpoint_spec.get("Ports") or []):
            ports.append(
                {
                    "Protocol": port.get("Protocol", "tcp"),
                    "TargetPort": port["TargetPort"],
                    "PublishedPort": port.get("PublishedPort") or 30000 + number,
                    "PublishMode": port.get("PublishMode", "ingress"),
                }
            )
        return {"Spec": endpoint_spec, "Ports": ports} if ports else {"Spec": endpoint_spec}

    @staticmethod
    def _check_spec(spec: Json) -> Json:
        spec = copy.deepcopy(spec)
        container = spec.setdefault("TaskTemplate", {}).get("ContainerSpec") or {}
        if not container.get("Image"):
            raise InvalidArgument("ContainerSpec: image reference must be provided")
        mode = spec.setdefault("Mode", {"Replicated": {}})
        if "Replicated" in mode:
            mode["Replicated"].setdefault("Replicas", 1)
        elif "Global" not in mode:
            raise InvalidArgument("unrecognized service mode")
        spec["TaskTemplate"].setdefault("ForceUpdate", 0)
        return spec

    # -- SwarmBackend: services ----------------------------------------------------

    async def services_list(self, filters: dict[str, list[str]], status: bool) -> list[Json]:
        self._require_manager()

        def matches(service: Json) -> bool:
            spec = service["Spec"]
            checks: dict[str, Callable[[str], bool]] = {
                "id": lambda v: service["ID"].startswith(v),
                "name": lambda v: spec["Name"].startswith(v),
                "mode": lambda v: v.capitalize() in spec["Mode"],
                "label": lambda v: _label_matches(spec.get("Labels") or {}, v),
            }
            return all(any(checks[key](v) for v in values) for key, values in filters.items())

        answer = []
        for service in self.services.values():
            if matches(service):
                item = copy.deepcopy(service)
                if status:
                    item["ServiceStatus"] = self._status(service)
                answer.append(item)
        return answer

    async def service_inspect(self, ref: str, insert_defaults: bool) -> Json:
        service = copy.deepcopy(self._resolve_service(ref))
        if insert_defaults:
            spec = service["Spec"]
            defaults = {
                "Parallelism": 1,
                "FailureAction": "pause",
                "Monitor": 5 * SECOND,
                "MaxFailureRatio": 0,
                "Order": "stop-first",
            }
            spec.setdefault("UpdateConfig", dict(defaults))
            spec.setdefault("RollbackConfig", dict(defaults))
            spec.setdefault("EndpointSpec", {"Mode": "vip"})
            template = spec["TaskTemplate"]
            template.setdefault(
                "RestartPolicy", {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0}
            )
            template["ContainerSpec"].setdefault("StopGracePeriod", 10 * SECOND)
        return service

    async def service_create(self, spec: Json) -> Json:
        self._require_manager()
        spec = self._check_spec(spec)
        service_id = new_id()
        spec.setdefault("Name", f"service-{service_id[:6]}")
        if any(s["Spec"]["Name"] == spec["Name"] for s in self.services.values()):
            raise NameConflict(
                "rpc error: code = AlreadyExists desc = name conflicts with an existing object: "
                f"service {spec['Name']} already exists"
            )
        stamp = now()
        service: Json = {
            "ID": service_id,
            "Version": {"Index": self._next_index()},
            "CreatedAt": stamp,
            "UpdatedAt": stamp,
            "Spec": spec,
            "Endpoint": self._endpoint(spec),
        }
        self.services[service_id] = service
        self._reconcile(service)
        return {"ID": service_id, "Warnings": None}

    async def service_update(
        self, ref: str, version: int, spec: Json, *, rollback: bool, rebalance: bool
    ) -> Json:
        service = self._resolve_service(ref)
        if version != service["Version"]["Index"]:
            raise OutOfSequence()
        self.service_updates.append(
            {"ID": service["ID"], "rollback": rollback, "rebalance": rebalance}
        )
        if rollback:
            if "PreviousSpec" not in service:
                raise FailedPrecondition(f"service {service['ID']} does not have a previous spec")
            spec = service["PreviousSpec"]
            status = {"State": "rollback_started", "Message": "manually requested rollback"}
        else:
            spec = self._check_spec(spec)
            status = {"State": "updating", "Message": "update in progress"}
        old_mode = "Global" in service["Spec"]["Mode"]
        if ("Global" in spec["Mode"]) != old_mode:
            raise InvalidArgument("service mode change is not allowed")
        service["PreviousSpec"] = service["Spec"]
        service["Spec"] = copy.deepcopy(spec)
        service["Version"]["Index"] = self._next_index()
        service["UpdatedAt"] = now()
        service["Endpoint"] = self._endpoint(spec)
        # As swarmkit: an update clears the status; the updater sets it when tasks change.
        service.pop("UpdateStatus", None)
        if service["PreviousSpec"]["TaskTemplate"] != spec["TaskTemplate"] or rollback:
            service["UpdateStatus"] = self.next_update_status or {**status, "StartedAt": now()}
            self.next_update_status = None
        self._reconcile(service)
        return {"Warnings": None}

    async def service_remove(self, ref: str) -> None:
        service = self._resolve_service(ref)
        del self.services[service["ID"]]
        for task_id in [t["ID"] for t in self.tasks.values() if t["ServiceID"] == service["ID"]]:
            del self.tasks[task_id]

    def service_logs(self, ref: str, options: LogOptions) -> AsyncIterator[LogMessage]:
        def select() -> set[str]:
            service = self._resolve_service(ref)
            return {t["ID"] for t in self.tasks.values() if t["ServiceID"] == service["ID"]}

        return self._logs(select, options)

    # -- SwarmBackend: tasks -----------------------------------------------------------

    async def tasks_list(self, filters: dict[str, list[str]]) -> list[Json]:
        self._require_manager()
        services = {self._resolve_service(v)["ID"] for v in filters.get("service", [])}
        nodes = {self._resolve(v)["ID"] for v in filters.get("node", [])}

        def name(task: Json) -> str:
            service = self.services[task["ServiceID"]]
            return f"{service['Spec']['Name']}.{task.get('Slot') or task['NodeID']}"

        def matches(task: Json) -> bool:
            service = self.services.get(task["ServiceID"])
            checks: dict[str, Callable[[str], bool]] = {
                "id": lambda v: task["ID"].startswith(v),
                "name": lambda v: name(task).startswith(v),
                "service": lambda v: task["ServiceID"] in services,
                "node": lambda v: task["NodeID"] in nodes,
                "label": lambda v: _label_matches(task.get("Labels") or {}, v),
                "desired-state": lambda v: task["DesiredState"] == v,
                "_up-to-date": lambda v: (
                    service is not None and task["Spec"] == service["Spec"]["TaskTemplate"]
                ),
            }
            return all(any(checks[key](v) for v in values) for key, values in filters.items())

        return [copy.deepcopy(t) for t in self.tasks.values() if matches(t)]

    async def task_inspect(self, task_id: str) -> Json:
        return copy.deepcopy(self._resolve_task(task_id))

    def task_logs(self, task_id: str, options: LogOptions) -> AsyncIterator[LogMessage]:
        return self._logs(lambda: {self._resolve_task(task_id)["ID"]}, options)

    async def _logs(
        self, select: Callable[[], set[str]], options: LogOptions
    ) -> AsyncIterator[LogMessage]:
        task_ids = select()
        sent = len(self.logs)
        lines = [m for m in self.logs if m.task_id in task_ids and options.wants(m.line)]
        if options.tail is not None:
            lines = [
                m
                for m in lines
                if options.tail
                and m in [n for n in lines if n.task_id == m.task_id][-options.tail :]
            ]
        for message in sorted(lines, key=lambda m: m.line.time_ns):
            yield message
        if self.log_error is not None:
            raise self.log_error
        if not options.follow:
            return
        self.follow_streams += 1
        try:
            while True:
                await asyncio.sleep(0.01)
                task_ids = select()
                for message in self.logs[sent:]:
                    if message.task_id in task_ids and options.wants(message.line):
                        yield message
                sent = len(self.logs)
        finally:
            self.follow_streams -= 1


def _label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)
