"""The cluster object: ``GET /swarm`` (with ``JoinTokens``) and ``/info``'s ``Cluster``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument
from . import fields as f
from .common import TLSInfo, Version, api_time, deep_copy, time_field
from .times import HOUR, SECOND, format_duration

DEFAULT_CLUSTER_NAME = "default"
DEFAULT_HEARTBEAT_PERIOD = 5 * SECOND
DEFAULT_NODE_CERT_EXPIRY = 90 * 24 * HOUR
MIN_NODE_CERT_EXPIRY = HOUR
DEFAULT_ADDR_POOL = ("10.0.0.0/8",)
DEFAULT_SUBNET_SIZE = 24
DEFAULT_DATA_PATH_PORT = 4789


@dataclass
class OrchestrationConfig:
    #: Old tasks kept per slot (per node for global services); negative: keep all.
    task_history_retention_limit: int = 5

    def to_api(self) -> dict[str, Any]:
        return {"TaskHistoryRetentionLimit": self.task_history_retention_limit}

    @classmethod
    def from_api(
        cls, d: Mapping[str, Any] | None, where: str, base: OrchestrationConfig | None = None
    ) -> OrchestrationConfig:
        d, b = f.as_object(d, where), base or cls()
        return cls(f.integer(d, "TaskHistoryRetentionLimit", where, b.task_history_retention_limit))


@dataclass
class RaftConfig:
    snapshot_interval: int = 10000
    keep_old_snapshots: int = 0
    log_entries_for_slow_followers: int = 500
    election_tick: int = 10
    heartbeat_tick: int = 1

    def to_api(self) -> dict[str, Any]:
        return {
            "SnapshotInterval": self.snapshot_interval,
            "KeepOldSnapshots": self.keep_old_snapshots,
            "LogEntriesForSlowFollowers": self.log_entries_for_slow_followers,
            "ElectionTick": self.election_tick,
            "HeartbeatTick": self.heartbeat_tick,
        }

    @classmethod
    def from_api(
        cls, d: Mapping[str, Any] | None, where: str, base: RaftConfig | None = None
    ) -> RaftConfig:
        d, b = f.as_object(d, where), base or cls()
        return cls(
            snapshot_interval=f.integer(d, "SnapshotInterval", where, b.snapshot_interval, 0),
            keep_old_snapshots=f.integer(d, "KeepOldSnapshots", where, b.keep_old_snapshots, 0),
            log_entries_for_slow_followers=f.integer(
                d, "LogEntriesForSlowFollowers", where, b.log_entries_for_slow_followers, 0
            ),
            election_tick=f.integer(d, "ElectionTick", where, b.election_tick, 0),
            heartbeat_tick=f.integer(d, "HeartbeatTick", where, b.heartbeat_tick, 0),
        )


@dataclass
class DispatcherConfig:
    #: Nanoseconds between an agent's heartbeats.
    heartbeat_period: int = DEFAULT_HEARTBEAT_PERIOD

    def to_api(self) -> dict[str, Any]:
        return {"HeartbeatPeriod": self.heartbeat_period}

    @classmethod
    def from_api(
        cls, d: Mapping[str, Any] | None, where: str, base: DispatcherConfig | None = None
    ) -> DispatcherConfig:
        d, b = f.as_object(d, where), base or cls()
        return cls(f.integer(d, "HeartbeatPeriod", where, b.heartbeat_period))


@dataclass
class ExternalCA:
    protocol: str = "cfssl"
    url: str = ""
    options: dict[str, str] = field(default_factory=dict)
    ca_cert: str = ""

    def to_api(self) -> dict[str, Any]:
        return {
            "Protocol": self.protocol,
            "URL": self.url,
            "Options": dict(self.options),
            "CACert": self.ca_cert,
        }

    @classmethod
    def from_api(cls, d: Mapping[str, Any], where: str) -> ExternalCA:
        protocol = f.string(d, "Protocol", where, "cfssl") or "cfssl"
        if protocol.lower() != "cfssl":
            raise InvalidArgument(
                f'invalid {where}.Protocol: "{protocol}" (only "cfssl" is supported)'
            )
        return cls(
            protocol="cfssl",
            url=f.string(d, "URL", where),
            options=f.labels(d, "Options", where),
            ca_cert=f.string(d, "CACert", where),
        )


@dataclass
class CAConfig:
    #: Nanoseconds node certificates are valid for.
    node_cert_expiry: int = DEFAULT_NODE_CERT_EXPIRY
    external_cas: list[ExternalCA] = field(default_factory=list)
    signing_ca_cert: str = ""
    #: Accepted from requests and kept in the store, never shown by ``to_api``.
    signing_ca_key: str = ""
    force_rotate: int = 0

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "NodeCertExpiry": self.node_cert_expiry,
            "ExternalCAs": [ca.to_api() for ca in self.external_cas],
        }
        if self.signing_ca_cert:
            out["SigningCACert"] = self.signing_ca_cert
        out["ForceRotate"] = self.force_rotate
        return out

    @classmethod
    def from_api(
        cls, d: Mapping[str, Any] | None, where: str, base: CAConfig | None = None
    ) -> CAConfig:
        d, b = f.as_object(d, where), base or cls()
        if d.get("ExternalCAs") is None:
            external = deep_copy(b.external_cas)
        else:
            listed = f.object_list(d, "ExternalCAs", where)
            external = [ExternalCA.from_api(ca, f"{where}.ExternalCAs") for ca in listed]
        return cls(
            node_cert_expiry=f.integer(d, "NodeCertExpiry", where, b.node_cert_expiry),
            external_cas=external,
            signing_ca_cert=f.string(d, "SigningCACert", where, b.signing_ca_cert),
            signing_ca_key=f.string(d, "SigningCAKey", where, b.signing_ca_key),
            force_rotate=f.integer(d, "ForceRotate", where, b.force_rotate, 0),
        )


@dataclass
class EncryptionConfig:
    auto_lock_managers: bool = False

    def to_api(self) -> dict[str, Any]:
        return {"AutoLockManagers": self.auto_lock_managers}

    @classmethod
    def from_api(
        cls, d: Mapping[str, Any] | None, where: str, base: EncryptionConfig | None = None
    ) -> EncryptionConfig:
        d, b = f.as_object(d, where), base or cls()
        return cls(f.boolean(d, "AutoLockManagers", where, b.auto_lock_managers))


@dataclass
class LogDriver:
    name: str = ""
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskDefaults:
    log_driver: LogDriver | None = None

    def to_api(self) -> dict[str, Any]:
        if self.log_driver is None:
            return {}
        return {"LogDriver": {"Name": self.log_driver.name, "Options": self.log_driver.options}}

    @classmethod
    def from_api(
        cls, d: Mapping[str, Any] | None, where: str, base: TaskDefaults | None = None
    ) -> TaskDefaults:
        d, b = f.as_object(d, where), base or cls()
        driver = f.obj(d, "LogDriver", where)
        if driver is None:
            return cls(deep_copy(b.log_driver))
        return cls(
            LogDriver(
                f.string(driver, "Name", f"{where}.LogDriver"),
                f.labels(driver, "Options", f"{where}.LogDriver"),
            )
        )


@dataclass
class SwarmSpec:
    """What ``docker swarm update`` changes."""

    name: str = DEFAULT_CLUSTER_NAME
    labels: dict[str, str] = field(default_factory=dict)
    orchestration: OrchestrationConfig = field(default_factory=OrchestrationConfig)
    raft: RaftConfig = field(default_factory=RaftConfig)
    dispatcher: DispatcherConfig = field(default_factory=DispatcherConfig)
    ca_config: CAConfig = field(default_factory=CAConfig)
    encryption_config: EncryptionConfig = field(default_factory=EncryptionConfig)
    task_defaults: TaskDefaults = field(default_factory=TaskDefaults)

    def to_api(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Labels": dict(self.labels),
            "Orchestration": self.orchestration.to_api(),
            "Raft": self.raft.to_api(),
            "Dispatcher": self.dispatcher.to_api(),
            "CAConfig": self.ca_config.to_api(),
            "EncryptionConfig": self.encryption_config.to_api(),
            "TaskDefaults": self.task_defaults.to_api(),
        }

    def to_store(self) -> dict[str, Any]:
        out = self.to_api()
        if self.ca_config.signing_ca_key:
            out["CAConfig"]["SigningCAKey"] = self.ca_config.signing_ca_key
        return out

    @classmethod
    def from_api(
        cls, d: Mapping[str, Any] | None, where: str = "Spec", base: SwarmSpec | None = None
    ) -> SwarmSpec:
        """Lenient: anything missing is taken from ``base`` (default: the defaults)."""
        d, b = f.as_object(d, where), base or cls()

        def sub(key: str) -> tuple[Mapping[str, Any] | None, str]:
            return f.obj(d, key, where), f"{where}.{key}"

        return cls(
            name=f.string(d, "Name", where, b.name) or DEFAULT_CLUSTER_NAME,
            labels=f.labels(d, "Labels", where, b.labels),
            orchestration=OrchestrationConfig.from_api(*sub("Orchestration"), b.orchestration),
            raft=RaftConfig.from_api(*sub("Raft"), b.raft),
            dispatcher=DispatcherConfig.from_api(*sub("Dispatcher"), b.dispatcher),
            ca_config=CAConfig.from_api(*sub("CAConfig"), b.ca_config),
            encryption_config=EncryptionConfig.from_api(
                *sub("EncryptionConfig"), b.encryption_config
            ),
            task_defaults=TaskDefaults.from_api(*sub("TaskDefaults"), b.task_defaults),
        )


def parse_swarm_spec(d: object, base: SwarmSpec | None = None) -> SwarmSpec:
    """A ``SwarmSpec`` from a request, checked as Docker checks it.

    Fields the request leaves out keep ``base``'s values (the current spec on
    update, the defaults on init).
    """
    spec = SwarmSpec.from_api(f.as_object(d, "Spec"), "Spec", base)
    if spec.name != DEFAULT_CLUSTER_NAME:
        raise InvalidArgument("modification of cluster name is not allowed")
    if spec.ca_config.node_cert_expiry < MIN_NODE_CERT_EXPIRY:
        raise InvalidArgument(
            f"minimum certificate expiry time is: {format_duration(MIN_NODE_CERT_EXPIRY)}"
        )
    if spec.dispatcher.heartbeat_period < 0:
        raise InvalidArgument("heartbeat time period cannot be a negative duration")
    if spec.raft.heartbeat_tick < 1:
        raise InvalidArgument("invalid Raft.HeartbeatTick: it must be at least 1")
    if spec.raft.election_tick <= spec.raft.heartbeat_tick:
        raise InvalidArgument(
            f"invalid Raft.ElectionTick: {spec.raft.election_tick} must be greater than "
            f"HeartbeatTick ({spec.raft.heartbeat_tick})"
        )
    return spec


# Fields `swarm init` treats as "not set" when zero: the docker CLI sends
# `"Raft": {"ElectionTick": 0, "HeartbeatTick": 0}` and Docker keeps its
# defaults for them (moby's MergeSwarmSpecToGRPC).
_ZERO_MEANS_DEFAULT = {
    "Raft": ("SnapshotInterval", "LogEntriesForSlowFollowers", "HeartbeatTick", "ElectionTick"),
    "Dispatcher": ("HeartbeatPeriod",),
    "CAConfig": ("NodeCertExpiry", "ForceRotate"),
}


def parse_swarm_init_spec(d: object) -> SwarmSpec:
    """The spec of a new swarm: like ``parse_swarm_spec`` over the defaults,
    except that zero numbers and an empty name keep the defaults, as on Docker."""
    request = dict(f.as_object(d, "Spec"))
    if request.get("Name") == "":
        del request["Name"]
    for section, keys in _ZERO_MEANS_DEFAULT.items():
        sub = request.get(section)
        if isinstance(sub, Mapping):
            request[section] = {k: v for k, v in sub.items() if not (k in keys and v == 0)}
    return parse_swarm_spec(request)


@dataclass
class JoinTokens:
    worker: str = ""
    manager: str = ""

    def to_api(self) -> dict[str, Any]:
        return {"Worker": self.worker, "Manager": self.manager}

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "JoinTokens") -> JoinTokens:
        d = f.as_object(d, where)
        return cls(f.string(d, "Worker", where), f.string(d, "Manager", where))


@dataclass
class Cluster:
    """The swarm itself: its spec, CA info and network defaults."""

    id: str
    version: Version = field(default_factory=Version)
    created_at: str = ""
    updated_at: str = ""
    spec: SwarmSpec = field(default_factory=SwarmSpec)
    tls_info: TLSInfo = field(default_factory=TLSInfo)
    root_rotation_in_progress: bool = False
    default_addr_pool: list[str] = field(default_factory=lambda: list(DEFAULT_ADDR_POOL))
    subnet_size: int = DEFAULT_SUBNET_SIZE
    data_path_port: int = DEFAULT_DATA_PATH_PORT

    def to_api(self, join_tokens: JoinTokens | None = None) -> dict[str, Any]:
        """``ClusterInfo`` (for ``/info``); with ``join_tokens``, ``Swarm`` (``GET /swarm``)."""
        out: dict[str, Any] = {
            "ID": self.id,
            "Version": self.version.to_api(),
            "CreatedAt": api_time(self.created_at),
            "UpdatedAt": api_time(self.updated_at),
            "Spec": self.spec.to_api(),
            "TLSInfo": self.tls_info.to_api(),
            "RootRotationInProgress": self.root_rotation_in_progress,
            "DefaultAddrPool": list(self.default_addr_pool),
            "SubnetSize": self.subnet_size,
            "DataPathPort": self.data_path_port,
        }
        if join_tokens is not None:
            out["JoinTokens"] = join_tokens.to_api()
        return out

    def to_store(self) -> dict[str, Any]:
        """Everything, including the signing key ``to_api`` leaves out (for the store)."""
        out = self.to_api()
        out["Spec"] = self.spec.to_store()
        return out

    @classmethod
    def from_api(cls, d: object, where: str = "Cluster") -> Cluster:
        """From ``to_api`` or ``to_store`` output (``JoinTokens`` is ignored)."""
        d = f.as_object(d, where)
        cluster_id = f.string(d, "ID", where)
        if not cluster_id:
            raise InvalidArgument(f"invalid {where}: ID is required")
        return cls(
            id=cluster_id,
            version=Version.from_api(f.obj(d, "Version", where), f"{where}.Version"),
            created_at=time_field(d, "CreatedAt", where),
            updated_at=time_field(d, "UpdatedAt", where),
            spec=SwarmSpec.from_api(f.obj(d, "Spec", where), f"{where}.Spec"),
            tls_info=TLSInfo.from_api(f.obj(d, "TLSInfo", where), f"{where}.TLSInfo"),
            root_rotation_in_progress=f.boolean(d, "RootRotationInProgress", where),
            default_addr_pool=f.string_list(d, "DefaultAddrPool", where, list(DEFAULT_ADDR_POOL)),
            subnet_size=f.integer(d, "SubnetSize", where, DEFAULT_SUBNET_SIZE, 0)
            or DEFAULT_SUBNET_SIZE,
            data_path_port=f.integer(d, "DataPathPort", where, DEFAULT_DATA_PATH_PORT, 0)
            or DEFAULT_DATA_PATH_PORT,
        )

    def copy(self) -> Cluster:
        """A deep copy, safe to change (objects read from the store are shared)."""
        return deep_copy(self)
