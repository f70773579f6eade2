"""An in-memory `SwarmBackend`: a small, correct model of one node's view of
a swarm, so the HTTP layer, the client and swarmctl are tested against real
behaviour (versions, out-of-sequence updates, role rules, not-in-swarm
errors) without a cluster."""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from swarmkit_py.errors import (
    AlreadyInSwarm,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotInSwarm,
    NotManager,
    OutOfSequence,
)

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
        self.tasks: dict[str, list[Json]] = {}
        self.ca_rotations = 0

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

    async def node_tasks(self, node_ref: str) -> list[Json]:
        return copy.deepcopy(self.tasks.get(self._resolve(node_ref)["ID"], []))


def _label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)
