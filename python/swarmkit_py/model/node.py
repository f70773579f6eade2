"""The node object: ``GET /nodes/{id}`` in the Engine API's JSON shape.

Besides Docker's fields a node carries our extensions: ``raft_id`` (managers'
Raft member ID) and ``membership`` are kept in the store but not shown by
:meth:`Node.to_api`; ``load`` is shown as ``Load`` (Docker clients ignore it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidArgument
from . import fields as f
from .common import TLSInfo, Version, api_time, deep_copy, time_field

Role = Literal["worker", "manager"]
Availability = Literal["active", "pause", "drain"]
NodeState = Literal["unknown", "down", "ready", "disconnected"]
Reachability = Literal["unknown", "unreachable", "reachable"]
Membership = Literal["pending", "accepted"]

ROLES: tuple[Role, ...] = ("worker", "manager")
AVAILABILITIES: tuple[Availability, ...] = ("active", "pause", "drain")
NODE_STATES: tuple[NodeState, ...] = ("unknown", "down", "ready", "disconnected")
REACHABILITIES: tuple[Reachability, ...] = ("unknown", "unreachable", "reachable")
MEMBERSHIPS: tuple[Membership, ...] = ("pending", "accepted")


@dataclass
class NodeSpec:
    """What users set on a node (``docker node update``)."""

    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    role: Role = "worker"
    availability: Availability = "active"

    def to_api(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Labels": dict(self.labels),
            "Role": self.role,
            "Availability": self.availability,
        }

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "Spec") -> NodeSpec:
        """Lenient: a missing role or availability takes its default."""
        d = f.as_object(d, where)
        return cls(
            name=f.string(d, "Name", where),
            labels=f.labels(d, "Labels", where),
            role=f.choice(d, "Role", where, ROLES, "worker"),
            availability=f.choice(d, "Availability", where, AVAILABILITIES, "active"),
        )


def parse_node_spec(d: object) -> NodeSpec:
    """A ``NodeSpec`` from a request body, checked as Docker checks it.

    Role and Availability are required (an update sends the full spec; a missing
    role must not silently demote a manager) and matched without regard to case.
    """
    if d is None:
        raise InvalidArgument("invalid NodeSpec: a node spec is required")
    spec = f.as_object(d, "NodeSpec")
    return NodeSpec(
        name=f.string(spec, "Name", "Spec"),
        labels=f.labels(spec, "Labels", "Spec"),
        role=f.choice(spec, "Role", "Spec", ROLES),
        availability=f.choice(spec, "Availability", "Spec", AVAILABILITIES),
    )


@dataclass
class Platform:
    architecture: str = ""
    os: str = ""

    def to_api(self) -> dict[str, Any]:
        return {"Architecture": self.architecture, "OS": self.os}

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "Platform") -> Platform:
        d = f.as_object(d, where)
        return cls(f.string(d, "Architecture", where), f.string(d, "OS", where))


@dataclass
class Resources:
    nano_cpus: int = 0
    memory_bytes: int = 0

    def to_api(self) -> dict[str, Any]:
        return {"NanoCPUs": self.nano_cpus, "MemoryBytes": self.memory_bytes}

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "Resources") -> Resources:
        d = f.as_object(d, where)
        return cls(
            f.integer(d, "NanoCPUs", where, minimum=0),
            f.integer(d, "MemoryBytes", where, minimum=0),
        )


@dataclass
class EnginePlugin:
    type: str
    name: str


@dataclass
class EngineDescription:
    engine_version: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    plugins: list[EnginePlugin] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {
            "EngineVersion": self.engine_version,
            "Labels": dict(self.labels),
            "Plugins": [{"Type": p.type, "Name": p.name} for p in self.plugins],
        }

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "Engine") -> EngineDescription:
        d = f.as_object(d, where)
        plugins = [
            EnginePlugin(f.string(p, "Type", where), f.string(p, "Name", where))
            for p in f.object_list(d, "Plugins", where)
        ]
        return cls(f.string(d, "EngineVersion", where), f.labels(d, "Labels", where), plugins)


@dataclass
class NodeDescription:
    """What the node reports about itself."""

    hostname: str = ""
    platform: Platform = field(default_factory=Platform)
    resources: Resources = field(default_factory=Resources)
    engine: EngineDescription = field(default_factory=EngineDescription)
    tls_info: TLSInfo = field(default_factory=TLSInfo)

    def to_api(self) -> dict[str, Any]:
        return {
            "Hostname": self.hostname,
            "Platform": self.platform.to_api(),
            "Resources": self.resources.to_api(),
            "Engine": self.engine.to_api(),
            "TLSInfo": self.tls_info.to_api(),
        }

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "Description") -> NodeDescription:
        d = f.as_object(d, where)
        return cls(
            hostname=f.string(d, "Hostname", where),
            platform=Platform.from_api(f.obj(d, "Platform", where), f"{where}.Platform"),
            resources=Resources.from_api(f.obj(d, "Resources", where), f"{where}.Resources"),
            engine=EngineDescription.from_api(f.obj(d, "Engine", where), f"{where}.Engine"),
            tls_info=TLSInfo.from_api(f.obj(d, "TLSInfo", where), f"{where}.TLSInfo"),
        )


@dataclass
class NodeStatus:
    state: NodeState = "unknown"
    message: str = ""
    addr: str = ""

    def to_api(self) -> dict[str, Any]:
        return {"State": self.state, "Message": self.message, "Addr": self.addr}

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "Status") -> NodeStatus:
        d = f.as_object(d, where)
        return cls(
            state=f.choice(d, "State", where, NODE_STATES, "unknown"),
            message=f.string(d, "Message", where),
            addr=f.string(d, "Addr", where),
        )


@dataclass
class ManagerStatus:
    leader: bool = False
    reachability: Reachability = "unknown"
    addr: str = ""

    def to_api(self) -> dict[str, Any]:
        return {"Leader": self.leader, "Reachability": self.reachability, "Addr": self.addr}

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "ManagerStatus") -> ManagerStatus:
        d = f.as_object(d, where)
        return cls(
            leader=f.boolean(d, "Leader", where),
            reachability=f.choice(d, "Reachability", where, REACHABILITIES, "unknown"),
            addr=f.string(d, "Addr", where),
        )


@dataclass
class NodeLoad:
    """Our extension (``Load``): what runs on the node now."""

    running_tasks: int = 0
    nano_cpus_used: int = 0
    memory_bytes_used: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "RunningTasks": self.running_tasks,
            "NanoCPUsUsed": self.nano_cpus_used,
            "MemoryBytesUsed": self.memory_bytes_used,
        }

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "Load") -> NodeLoad:
        d = f.as_object(d, where)
        return cls(
            f.integer(d, "RunningTasks", where, minimum=0),
            f.integer(d, "NanoCPUsUsed", where, minimum=0),
            f.integer(d, "MemoryBytesUsed", where, minimum=0),
        )


@dataclass
class Node:
    """A member of the swarm, manager or worker."""

    id: str
    version: Version = field(default_factory=Version)
    created_at: str = ""
    updated_at: str = ""
    spec: NodeSpec = field(default_factory=NodeSpec)
    description: NodeDescription = field(default_factory=NodeDescription)
    status: NodeStatus = field(default_factory=NodeStatus)
    #: Docker's manager status; ``None`` for workers.
    manager_status: ManagerStatus | None = None
    #: Our extension: the manager's Raft member ID (0 for workers). Not in ``to_api``.
    raft_id: int = 0
    #: Our extension, for the ``membership`` filter. Not in ``to_api``.
    membership: Membership = "accepted"
    #: Our extension, shown as ``Load``.
    load: NodeLoad = field(default_factory=NodeLoad)
    #: Our extension: the index of the last write that changed ``spec`` (set by
    #: the store). A user's update conflicts only with a newer spec change, not
    #: with the status and load the dispatcher writes. Not in ``to_api``.
    spec_index: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        """The names a user may call the node by: spec name and hostname."""
        return tuple(dict.fromkeys(n for n in (self.spec.name, self.description.hostname) if n))

    def to_api(self) -> dict[str, Any]:
        """The Engine API's ``Node``, plus our ``Load``."""
        out: dict[str, Any] = {
            "ID": self.id,
            "Version": self.version.to_api(),
            "CreatedAt": api_time(self.created_at),
            "UpdatedAt": api_time(self.updated_at),
            "Spec": self.spec.to_api(),
            "Description": self.description.to_api(),
            "Status": self.status.to_api(),
        }
        if self.manager_status is not None:
            out["ManagerStatus"] = self.manager_status.to_api()
        out["Load"] = self.load.to_api()
        return out

    def to_store(self) -> dict[str, Any]:
        """Everything, including the fields ``to_api`` leaves out (for the store)."""
        out = self.to_api()
        out["RaftID"] = self.raft_id
        out["Membership"] = self.membership
        out["SpecIndex"] = self.spec_index
        return out

    @classmethod
    def from_api(cls, d: object, where: str = "Node") -> Node:
        """From ``to_api`` or ``to_store`` output; missing fields take defaults."""
        d = f.as_object(d, where)
        node_id = f.string(d, "ID", where)
        if not node_id:
            raise InvalidArgument(f"invalid {where}: ID is required")
        manager = f.obj(d, "ManagerStatus", where)
        return cls(
            id=node_id,
            version=Version.from_api(f.obj(d, "Version", where), f"{where}.Version"),
            created_at=time_field(d, "CreatedAt", where),
            updated_at=time_field(d, "UpdatedAt", where),
            spec=NodeSpec.from_api(f.obj(d, "Spec", where), f"{where}.Spec"),
            description=NodeDescription.from_api(
                f.obj(d, "Description", where), f"{where}.Description"
            ),
            status=NodeStatus.from_api(f.obj(d, "Status", where), f"{where}.Status"),
            manager_status=None
            if manager is None
            else ManagerStatus.from_api(manager, f"{where}.ManagerStatus"),
            raft_id=f.integer(d, "RaftID", where, minimum=0),
            membership=f.choice(d, "Membership", where, MEMBERSHIPS, "accepted"),
            load=NodeLoad.from_api(f.obj(d, "Load", where), f"{where}.Load"),
            spec_index=f.integer(d, "SpecIndex", where, minimum=0),
        )

    def copy(self) -> Node:
        """A deep copy, safe to change (objects read from the store are shared)."""
        return deep_copy(self)
