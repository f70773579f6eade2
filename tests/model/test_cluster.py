"""The cluster object: defaults, JSON shape of GET /swarm, and swarm spec validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swarmkit_py.errors import InvalidArgument
from swarmkit_py.model import (
    HOUR,
    SECOND,
    CAConfig,
    Cluster,
    ExternalCA,
    JoinTokens,
    LogDriver,
    SwarmSpec,
    TaskDefaults,
    TLSInfo,
    Version,
    parse_swarm_spec,
)
from swarmkit_py.pki import generate_id

from . import api_shapes


def cluster() -> Cluster:
    return Cluster(
        id=generate_id(),
        version=Version(7),
        created_at="2016-08-18T10:44:24.496525531Z",
        updated_at="2016-08-18T10:44:24.496525531Z",
        tls_info=TLSInfo("root-pem", "subj", "key"),
    )


def test_defaults_are_dockers() -> None:
    api = cluster().to_api()
    spec = api["Spec"]
    assert spec["Name"] == "default"
    assert spec["Orchestration"] == {"TaskHistoryRetentionLimit": 5}
    assert spec["Raft"] == {
        "SnapshotInterval": 10000,
        "KeepOldSnapshots": 0,
        "LogEntriesForSlowFollowers": 500,
        "ElectionTick": 10,
        "HeartbeatTick": 1,
    }
    assert spec["Dispatcher"] == {"HeartbeatPeriod": 5_000_000_000}
    assert spec["CAConfig"]["NodeCertExpiry"] == 90 * 24 * 3600 * 10**9
    assert spec["CAConfig"]["ExternalCAs"] == []
    assert spec["EncryptionConfig"] == {"AutoLockManagers": False}
    assert spec["TaskDefaults"] == {}
    assert api["DefaultAddrPool"] == ["10.0.0.0/8"]
    assert api["SubnetSize"] == 24
    assert api["DataPathPort"] == 4789
    assert api["RootRotationInProgress"] is False


def test_get_swarm_body_is_cluster_info_plus_join_tokens() -> None:
    info = cluster().to_api()
    assert set(info) == api_shapes.CLUSTER_INFO
    swarm = cluster().to_api(JoinTokens("SWMTKN-1-w", "SWMTKN-1-m"))
    assert set(swarm) == api_shapes.CLUSTER_INFO | {"JoinTokens"}
    assert swarm["JoinTokens"] == {"Worker": "SWMTKN-1-w", "Manager": "SWMTKN-1-m"}
    assert set(swarm["JoinTokens"]) == api_shapes.JOIN_TOKENS
    json.dumps(swarm)


def test_swarm_spec_keys_are_the_engine_apis() -> None:
    spec = cluster().to_api()["Spec"]
    assert set(spec) == api_shapes.SWARM_SPEC
    assert set(spec["Raft"]) == api_shapes.RAFT
    assert set(cluster().to_api()["TLSInfo"]) == api_shapes.TLS_INFO
    # The signing key is never shown; the cert only when set.
    assert set(spec["CAConfig"]) == api_shapes.CA_CONFIG - {"SigningCACert", "SigningCAKey"}


def test_signing_key_is_stored_but_never_shown() -> None:
    c = cluster()
    c.spec.ca_config = CAConfig(signing_ca_cert="CERT", signing_ca_key="KEY")
    assert c.to_api()["Spec"]["CAConfig"]["SigningCACert"] == "CERT"
    assert "SigningCAKey" not in c.to_api()["Spec"]["CAConfig"]
    assert Cluster.from_api(c.to_store()).spec.ca_config.signing_ca_key == "KEY"


def test_store_form_round_trips_to_an_equal_cluster() -> None:
    c = cluster()
    c.spec.labels = {"env": "prod"}
    c.spec.ca_config.external_cas = [ExternalCA(url="https://ca", options={"k": "v"})]
    c.spec.task_defaults = TaskDefaults(LogDriver("json-file", {"max-size": "10m"}))
    c.root_rotation_in_progress = True
    assert Cluster.from_api(c.to_store()) == c
    assert Cluster.from_api(json.loads(json.dumps(c.to_api(JoinTokens())))) == c


def test_parse_swarm_spec_keeps_base_values_for_missing_fields() -> None:
    base = SwarmSpec()
    base.dispatcher.heartbeat_period = 9 * SECOND
    parsed = parse_swarm_spec({"Orchestration": {"TaskHistoryRetentionLimit": 2}}, base)
    assert parsed.orchestration.task_history_retention_limit == 2
    assert parsed.dispatcher.heartbeat_period == 9 * SECOND
    assert parsed.raft.election_tick == 10


def test_parse_swarm_spec_accepts_what_docker_cli_sends() -> None:
    body = cluster().to_api()["Spec"]
    body["CAConfig"]["NodeCertExpiry"] = 2 * HOUR
    assert parse_swarm_spec(body).ca_config.node_cert_expiry == 2 * HOUR


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": "other"}, "modification of cluster name is not allowed"),
        ({"CAConfig": {"NodeCertExpiry": HOUR - 1}}, "minimum certificate expiry time is: 1h0m0s"),
        ({"Dispatcher": {"HeartbeatPeriod": -1}}, "heartbeat time period cannot be a negative"),
        ({"Raft": {"ElectionTick": 1, "HeartbeatTick": 1}}, "must be greater than HeartbeatTick"),
        ({"Raft": {"SnapshotInterval": -5}}, r"Spec\.Raft\.SnapshotInterval"),
        ({"Labels": {"a": 1}}, "label 'a' must be a string"),
        ({"CAConfig": {"ExternalCAs": [{"Protocol": "acme"}]}}, 'only "cfssl" is supported'),
        ({"EncryptionConfig": {"AutoLockManagers": "yes"}}, "expected a boolean"),
    ],
)
def test_invalid_swarm_specs_are_refused_with_dockers_messages(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_swarm_spec(body)
