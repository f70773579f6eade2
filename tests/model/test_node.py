"""The node object: JSON shape, round trips, and Docker-like validation of node specs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swarmkit_py.errors import InvalidArgument
from swarmkit_py.model import (
    EngineDescription,
    EnginePlugin,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeLoad,
    NodeSpec,
    NodeStatus,
    Platform,
    Resources,
    TLSInfo,
    Version,
    deep_copy,
    parse_node_spec,
)
from swarmkit_py.pki import generate_id

from . import api_shapes


def full_manager() -> Node:
    return Node(
        id=generate_id(),
        version=Version(42),
        created_at="2016-08-18T10:44:24.496525531Z",
        updated_at="2017-08-09T07:09:37.632105588Z",
        spec=NodeSpec("my-node", {"zone": "a"}, "manager", "drain"),
        description=NodeDescription(
            hostname="host-1",
            platform=Platform("x86_64", "linux"),
            resources=Resources(4_000_000_000, 8_272_408_576),
            engine=EngineDescription("27.0.0", {"disk": "ssd"}, [EnginePlugin("Log", "gelf")]),
            tls_info=TLSInfo("-----BEGIN CERTIFICATE-----\n", "MBMx", "MFkw"),
        ),
        status=NodeStatus("ready", "", "172.17.0.2"),
        manager_status=ManagerStatus(True, "reachable", "10.0.0.46:2377"),
        raft_id=0x1234,
        load=NodeLoad(3, 1_500_000_000, 1 << 30),
    )


def test_node_json_has_exactly_the_engine_api_keys_plus_load() -> None:
    api = full_manager().to_api()
    assert set(api) == api_shapes.NODE | {"Load"}
    assert set(api["Spec"]) == api_shapes.NODE_SPEC
    assert set(api["Description"]) == api_shapes.NODE_DESCRIPTION
    assert set(api["Description"]["Platform"]) == api_shapes.PLATFORM
    # GenericResources is not implemented yet.
    assert set(api["Description"]["Resources"]) == api_shapes.RESOURCES - {"GenericResources"}
    assert set(api["Description"]["Engine"]) == api_shapes.ENGINE
    assert set(api["Description"]["TLSInfo"]) == api_shapes.TLS_INFO
    assert set(api["Status"]) == api_shapes.NODE_STATUS
    assert set(api["ManagerStatus"]) == api_shapes.MANAGER_STATUS
    assert set(api["Load"]) == api_shapes.LOAD
    json.dumps(api)  # plain JSON types only


def test_node_json_values_use_docker_names_and_units() -> None:
    api = full_manager().to_api()
    assert api["Version"] == {"Index": 42}
    assert api["Spec"] == {
        "Name": "my-node",
        "Labels": {"zone": "a"},
        "Role": "manager",
        "Availability": "drain",
    }
    assert api["Description"]["Resources"] == {"NanoCPUs": 4_000_000_000, "MemoryBytes": 8272408576}
    assert api["Description"]["Engine"]["Plugins"] == [{"Type": "Log", "Name": "gelf"}]
    assert api["ManagerStatus"] == {
        "Leader": True,
        "Reachability": "reachable",
        "Addr": "10.0.0.46:2377",
    }
    assert api["CreatedAt"] == "2016-08-18T10:44:24.496525531Z"


def test_worker_json_has_no_manager_status() -> None:
    node = full_manager()
    node.manager_status = None
    assert "ManagerStatus" not in node.to_api()


def test_raft_id_is_kept_in_the_store_form_but_not_shown_to_docker_clients() -> None:
    node = full_manager()
    assert "RaftID" not in node.to_api()
    assert node.to_store()["RaftID"] == 0x1234
    assert Node.from_api(node.to_store()).raft_id == 0x1234


def test_store_form_round_trips_to_an_equal_node() -> None:
    node = full_manager()
    assert Node.from_api(node.to_store()) == node
    assert Node.from_api(json.loads(json.dumps(node.to_store()))) == node


def test_api_form_round_trips_everything_docker_shows() -> None:
    node = full_manager()
    again = Node.from_api(node.to_api())
    assert again.to_api() == node.to_api()


def test_from_api_fills_missing_optional_fields_with_defaults() -> None:
    node = Node.from_api({"ID": "abc", "Spec": {"Role": "manager"}, "ManagerStatus": None})
    assert node.spec.availability == "active"
    assert node.status.state == "unknown"
    assert node.manager_status is None
    assert node.version.index == 0
    assert node.membership == "accepted"


def test_unset_times_are_shown_as_go_zero_time() -> None:
    node = Node(id="abc")
    assert node.to_api()["CreatedAt"] == "0001-01-01T00:00:00Z"
    assert Node.from_api(node.to_api()).created_at == ""


def test_from_api_rejects_wrong_types_naming_the_field() -> None:
    with pytest.raises(InvalidArgument, match=r"Node\.Status\.Addr"):
        Node.from_api({"ID": "abc", "Status": {"Addr": 7}})
    with pytest.raises(InvalidArgument, match="ID is required"):
        Node.from_api({"Spec": {}})


def test_deep_copy_is_independent_of_the_original() -> None:
    node = full_manager()
    for copy in (node.copy(), deep_copy(node)):
        copy.spec.labels["zone"] = "b"
        copy.description.engine.plugins.clear()
        assert node.spec.labels == {"zone": "a"}
        assert node.description.engine.plugins


def spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Name": "n", "Labels": {}, "Role": "worker", "Availability": "active"}
    body.update(overrides)
    return body


def test_parse_node_spec_accepts_docker_values_in_any_case() -> None:
    parsed = parse_node_spec(spec(Role="Manager", Availability="PAUSE", Labels={"a": "b"}))
    assert parsed == NodeSpec("n", {"a": "b"}, "manager", "pause")


def test_unknown_availability_is_refused_naming_the_allowed_values() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_node_spec(spec(Availability="sleepy"))
    assert err.value.message == (
        'invalid Availability: "sleepy" (must be one of "active", "pause", "drain")'
    )
    assert err.value.http_status == 400


def test_unknown_role_is_refused_naming_the_allowed_values() -> None:
    with pytest.raises(InvalidArgument, match=r'invalid Role: "boss" \(must be one of "worker"'):
        parse_node_spec(spec(Role="boss"))


def test_missing_role_is_refused_rather_than_demoting_the_node() -> None:
    body = spec()
    del body["Role"]
    with pytest.raises(InvalidArgument, match='invalid Role: ""'):
        parse_node_spec(body)


@pytest.mark.parametrize("labels", [{"a": 1}, {"a": None}, ["a=b"], "a=b"])
def test_labels_must_map_strings_to_strings(labels: object) -> None:
    with pytest.raises(InvalidArgument, match="Labels"):
        parse_node_spec(spec(Labels=labels))


def test_node_spec_body_must_be_an_object() -> None:
    for body in (None, [], "spec"):
        with pytest.raises(InvalidArgument):
            parse_node_spec(body)
