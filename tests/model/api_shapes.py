"""Property names of the Engine API v1.47 definitions we implement (copied from the spec,
checked against it by test_api_shape when the spec file is at hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).parents[1] / "compat" / "docker-engine-api-v1.47.yaml"

NODE = {"ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Description", "Status", "ManagerStatus"}
NODE_SPEC = {"Name", "Labels", "Role", "Availability"}
NODE_DESCRIPTION = {"Hostname", "Platform", "Resources", "Engine", "TLSInfo"}
PLATFORM = {"Architecture", "OS"}
RESOURCES = {"NanoCPUs", "MemoryBytes", "GenericResources"}
ENGINE = {"EngineVersion", "Labels", "Plugins"}
TLS_INFO = {"TrustRoot", "CertIssuerSubject", "CertIssuerPublicKey"}
NODE_STATUS = {"State", "Message", "Addr"}
MANAGER_STATUS = {"Leader", "Reachability", "Addr"}
CLUSTER_INFO = {
    "ID",
    "Version",
    "CreatedAt",
    "UpdatedAt",
    "Spec",
    "TLSInfo",
    "RootRotationInProgress",
    "DataPathPort",
    "DefaultAddrPool",
    "SubnetSize",
}
SWARM_SPEC = {
    "Name",
    "Labels",
    "Orchestration",
    "Raft",
    "Dispatcher",
    "CAConfig",
    "EncryptionConfig",
    "TaskDefaults",
}
RAFT = {
    "SnapshotInterval",
    "KeepOldSnapshots",
    "LogEntriesForSlowFollowers",
    "ElectionTick",
    "HeartbeatTick",
}
CA_CONFIG = {"NodeCertExpiry", "ExternalCAs", "SigningCACert", "SigningCAKey", "ForceRotate"}
JOIN_TOKENS = {"Worker", "Manager"}

#: Our documented extension on nodes.
LOAD = {"RunningTasks", "NanoCPUsUsed", "MemoryBytesUsed"}


def load_spec() -> dict[str, Any] | None:
    if not SPEC_PATH.exists():
        return None
    import yaml

    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return spec
