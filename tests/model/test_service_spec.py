"""Service specs: Docker-like checking of request bodies, and the settings read from them."""

from __future__ import annotations

from typing import Any

import pytest

from swarmkit_py.errors import InvalidArgument
from swarmkit_py.model import (
    Constraint,
    Placement,
    RestartPolicy,
    UpdateConfig,
    check_spec_change,
    deep_copy,
    host_ports,
    insert_defaults,
    is_global,
    parse_service_spec,
    placement,
    replicas,
    reservations,
    restart_policy,
    stop_grace_period_ns,
    update_config,
)
from swarmkit_py.model.times import SECOND

BASE: dict[str, Any] = {
    "Name": "web",
    "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.25"}},
}

#: Roughly what ``docker service create`` sends.
CLI_BODY: dict[str, Any] = {
    "Name": "web",
    "Labels": {"team": "blue"},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "nginx:1.25@sha256:" + "a" * 64,
            "Labels": {"x": "y"},
            "Command": ["nginx"],
            "Args": ["-g", "daemon off;"],
            "Env": ["A=1", "B"],
            "Init": False,
            "StopGracePeriod": 20 * SECOND,
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 2 * SECOND, "Retries": 3},
            "Mounts": [{"Type": "volume", "Source": "data", "Target": "/data"}],
            "DNSConfig": {},
            "Isolation": "default",
        },
        "Resources": {
            "Limits": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 512 << 20},
            "Reservations": {"NanoCPUs": 500_000_000, "MemoryBytes": 128 << 20},
        },
        "RestartPolicy": {"Condition": "on-failure", "Delay": 3 * SECOND, "MaxAttempts": 4},
        "Placement": {
            "Constraints": ["node.role==worker", "node.labels.zone!=west"],
            "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.Rack"}}],
            "MaxReplicas": 2,
            "Platforms": [{"Architecture": "amd64", "OS": "linux"}],
        },
        "Networks": [{"Target": "backend", "Aliases": ["api"]}],
        "LogDriver": {"Name": "json-file", "Options": {"max-size": "10m"}},
        "ForceUpdate": 0,
        "Runtime": "container",
    },
    "Mode": {"Replicated": {"Replicas": 3}},
    "UpdateConfig": {
        "Parallelism": 2,
        "Delay": 10 * SECOND,
        "FailureAction": "rollback",
        "Monitor": 15 * SECOND,
        "MaxFailureRatio": 0.25,
        "Order": "start-first",
    },
    "RollbackConfig": {"Parallelism": 1, "FailureAction": "continue", "Order": "stop-first"},
    "EndpointSpec": {
        "Mode": "vip",
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "host"},
        ],
    },
}


def body_with(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``base`` (default ``BASE``) with the dotted ``path`` set to ``value``."""
    body = deep_copy(base if base is not None else BASE)
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return body


def refused(body: object) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse_service_spec(body)
    assert caught.value.http_status == 400
    return caught.value.message


# --- Valid specs ---------------------------------------------------------------------


def test_a_full_cli_spec_round_trips_unchanged() -> None:
    body = deep_copy(CLI_BODY)
    assert parse_service_spec(body) == CLI_BODY
    assert body == CLI_BODY  # the request body is not modified


def test_the_result_is_a_copy() -> None:
    body = deep_copy(CLI_BODY)
    spec = parse_service_spec(body)
    spec["TaskTemplate"]["ContainerSpec"]["Env"].append("C=3")
    assert body["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1", "B"]


def test_defaults_are_not_filled_in_except_the_mode() -> None:
    spec = parse_service_spec(BASE)
    assert spec == {**BASE, "Mode": {"Replicated": {"Replicas": 1}}}


@pytest.mark.parametrize(
    ("mode", "stored"),
    [
        ({}, {"Replicated": {"Replicas": 1}}),
        ({"Replicated": {}}, {"Replicated": {"Replicas": 1}}),
        ({"Replicated": {"Replicas": 0}}, {"Replicated": {"Replicas": 0}}),
        ({"Replicated": {"Replicas": 5}}, {"Replicated": {"Replicas": 5}}),
        ({"Global": {}}, {"Global": {}}),
        ({"global": {}, "Replicated": None}, {"Global": {}}),
    ],
)
def test_mode_is_stored_as_docker_shows_it(mode: dict[str, Any], stored: dict[str, Any]) -> None:
    assert parse_service_spec(body_with("Mode", mode))["Mode"] == stored


def test_keys_match_without_regard_to_case_and_unknown_keys_are_dropped() -> None:
    body = {
        "name": "web",
        "TASKTEMPLATE": {"containerSpec": {"image": "nginx", "Bogus": 1}, "Extra": {}},
        "Whatever": [1, 2],
        "Labels": None,
    }
    assert parse_service_spec(body) == {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}},
        "Mode": {"Replicated": {"Replicas": 1}},
    }


def test_port_protocol_and_publish_mode_are_stored_lowercased() -> None:
    port = {"Protocol": "UDP", "TargetPort": 53, "PublishMode": "Host"}
    spec = parse_service_spec(body_with("EndpointSpec", {"Ports": [port]}))
    assert spec["EndpointSpec"]["Ports"] == [
        {"Protocol": "udp", "TargetPort": 53, "PublishMode": "host"}
    ]


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "library/nginx:latest",
        "registry.example.com:5000/team/app:v1.2-rc_3",
        "localhost/app",
        "[::1]:5000/app:1",
        "app@sha256:" + "0123456789abcdef" * 4,
    ],
)
def test_valid_image_references_are_accepted(image: str) -> None:
    parse_service_spec(body_with("TaskTemplate.ContainerSpec.Image", image))


@pytest.mark.parametrize("name", ["web", "a", "my-web_2", "A1", "x" * 63, ""])
def test_valid_service_names_are_accepted(name: str) -> None:
    parse_service_spec(body_with("Name", name))


# --- Refused specs -------------------------------------------------------------------


def go_error(kind: str, struct: str, path: str, go_type: str) -> str:
    return (
        f"invalid JSON: json: cannot unmarshal {kind} into Go struct field "
        f"{struct}.{path} of type {go_type}"
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "TaskTemplate.RestartPolicy.Delay",
            1.5,
            go_error(
                "number 1.5", "RestartPolicy", "TaskTemplate.RestartPolicy.Delay", "time.Duration"
            ),
        ),
        (
            "TaskTemplate.RestartPolicy.Window",
            "5s",
            go_error(
                "string", "RestartPolicy", "TaskTemplate.RestartPolicy.Window", "time.Duration"
            ),
        ),
        (
            "TaskTemplate.RestartPolicy.MaxAttempts",
            -1,
            go_error(
                "number -1", "RestartPolicy", "TaskTemplate.RestartPolicy.MaxAttempts", "uint64"
            ),
        ),
        (
            "Mode.Replicated.Replicas",
            -1,
            go_error("number -1", "ReplicatedService", "Mode.Replicated.Replicas", "uint64"),
        ),
        (
            "Mode.Replicated.Replicas",
            True,
            go_error("bool", "ReplicatedService", "Mode.Replicated.Replicas", "uint64"),
        ),
        (
            "Mode.Replicated.Replicas",
            2.0,
            go_error("number 2.0", "ReplicatedService", "Mode.Replicated.Replicas", "uint64"),
        ),
        (
            "UpdateConfig.Monitor",
            "5s",
            go_error("string", "UpdateConfig", "UpdateConfig.Monitor", "time.Duration"),
        ),
        (
            "RollbackConfig.Parallelism",
            -2,
            go_error("number -2", "UpdateConfig", "RollbackConfig.Parallelism", "uint64"),
        ),
        (
            "UpdateConfig.MaxFailureRatio",
            "half",
            go_error("string", "UpdateConfig", "UpdateConfig.MaxFailureRatio", "float32"),
        ),
        (
            "TaskTemplate.ContainerSpec.StopGracePeriod",
            0.5,
            go_error(
                "number 0.5",
                "ContainerSpec",
                "TaskTemplate.ContainerSpec.StopGracePeriod",
                "time.Duration",
            ),
        ),
        (
            "TaskTemplate.ContainerSpec.Command",
            "nginx -g",
            go_error("string", "ContainerSpec", "TaskTemplate.ContainerSpec.Command", "[]string"),
        ),
        (
            "TaskTemplate.ContainerSpec.Args",
            ["a", 1],
            go_error("number", "ContainerSpec", "TaskTemplate.ContainerSpec.Args", "string"),
        ),
        (
            "TaskTemplate.ContainerSpec.Env",
            {"A": "1"},
            go_error("object", "ContainerSpec", "TaskTemplate.ContainerSpec.Env", "[]string"),
        ),
        (
            "TaskTemplate.Resources.Reservations.MemoryBytes",
            True,
            go_error(
                "bool", "Resources", "TaskTemplate.Resources.Reservations.MemoryBytes", "int64"
            ),
        ),
        (
            "TaskTemplate.Placement.MaxReplicas",
            -1,
            go_error("number -1", "Placement", "TaskTemplate.Placement.MaxReplicas", "uint64"),
        ),
        ("Labels", {"a": 1}, go_error("number", "ServiceSpec", "Labels", "string")),
        (
            "TaskTemplate.ContainerSpec.Labels",
            ["a"],
            go_error(
                "array", "ContainerSpec", "TaskTemplate.ContainerSpec.Labels", "map[string]string"
            ),
        ),
        ("Name", 7, go_error("number", "ServiceSpec", "Name", "string")),
        ("Mode", "global", go_error("string", "ServiceSpec", "Mode", "swarm.ServiceMode")),
        (
            "EndpointSpec.Ports",
            [{"TargetPort": "80"}],
            go_error("string", "PortConfig", "EndpointSpec.Ports.TargetPort", "uint32"),
        ),
    ],
)
def test_wrong_json_types_fail_like_gos_decoder(path: str, value: Any, message: str) -> None:
    assert refused(body_with(path, value)) == message


@pytest.mark.parametrize("body", [[BASE], "spec", 3, True])
def test_a_body_that_is_not_an_object_is_refused(body: object) -> None:
    assert "into Go value of type swarm.ServiceSpec" in refused(body)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("Name", "a.b", "name must be valid as a DNS name component"),
        ("Name", "-web", "name must be valid as a DNS name component"),
        ("Name", "web-", "name must be valid as a DNS name component"),
        ("Name", "web app", "name must be valid as a DNS name component"),
        ("Name", "x" * 64, "name must be 63 characters or fewer"),
        ("Mode", {"Replicated": {}, "Global": {}}, "must specify only one service mode"),
        ("Mode", {"ReplicatedJob": {}}, "job services are not supported"),
        ("Mode", {"GlobalJob": {}}, "job services are not supported"),
        ("Mode", {"Relpicated": {"Replicas": 2}}, 'invalid Mode: unknown key "Relpicated"'),
        ("TaskTemplate", {}, "ContainerSpec: image reference must be provided"),
        ("TaskTemplate.ContainerSpec", {}, "ContainerSpec: image reference must be provided"),
        ("TaskTemplate.ContainerSpec.Image", "", "ContainerSpec: image reference must be provided"),
        (
            "TaskTemplate.ContainerSpec.Image",
            "Nginx",
            'ContainerSpec: "Nginx" is not a valid repository/tag',
        ),
        (
            "TaskTemplate.ContainerSpec.Image",
            "nginx:",
            'ContainerSpec: "nginx:" is not a valid repository/tag',
        ),
        ("TaskTemplate.Runtime", "plugin", 'unsupported runtime "plugin"'),
        ("TaskTemplate.ContainerSpec.Env", ["=x"], 'invalid environment variable "=x"'),
        ("TaskTemplate.ContainerSpec.Env", [""], 'invalid environment variable ""'),
        (
            "TaskTemplate.ContainerSpec.StopGracePeriod",
            -1,
            "ContainerSpec: StopGracePeriod cannot be negative",
        ),
        (
            "TaskTemplate.ContainerSpec.Mounts",
            [{"Target": "/d"}, {"Target": "/d"}],
            "ContainerSpec: duplicate mount point: /d",
        ),
        (
            "TaskTemplate.ContainerSpec.Healthcheck",
            {"Interval": 1000},
            "ContainerSpec: Interval in HealthConfig cannot be less than 1ms",
        ),
        (
            "TaskTemplate.Resources.Limits.NanoCPUs",
            -1,
            "invalid cpu value -1e-09: Must be at least 0.001",
        ),
        (
            "TaskTemplate.Resources.Reservations.NanoCPUs",
            500_000,
            "invalid cpu value 0.0005: Must be at least 0.001",
        ),
        (
            "TaskTemplate.Resources.Reservations.MemoryBytes",
            -5,
            "invalid memory value -5: Must be at least 4MiB",
        ),
        ("TaskTemplate.Resources.SwapBytes", 1 << 30, "memory swap provided, but no memory-limit"),
        ("TaskTemplate.RestartPolicy.Condition", "always", 'invalid RestartCondition: "always"'),
        ("TaskTemplate.RestartPolicy.Condition", "Any", 'invalid RestartCondition: "Any"'),
        ("TaskTemplate.RestartPolicy.Delay", -1, "TaskSpec: restart-delay cannot be negative"),
        ("TaskTemplate.RestartPolicy.Window", -1, "TaskSpec: restart-window cannot be negative"),
        (
            "TaskTemplate.Placement.Constraints",
            ["node.labels.x~=y"],
            'invalid constraint "node.labels.x~=y": constraint expected one operator from ==, !=',
        ),
        (
            "TaskTemplate.Placement.Preferences",
            [{"Spread": {"SpreadDescriptor": "node.hostname"}}],
            'invalid placement preference "node.hostname"',
        ),
        (
            "TaskTemplate.Placement.Preferences",
            [{"Pack": {"SpreadDescriptor": "node.labels.zone"}}],
            "invalid placement preference: only",
        ),
        ("UpdateConfig.FailureAction", "retry", "unrecognized update failure action retry"),
        ("RollbackConfig.FailureAction", "rollback", "unrecognized rollback failure action"),
        ("UpdateConfig.Order", "random", "unrecognized update order random"),
        ("RollbackConfig.Order", "Start-First", "unrecognized rollback order Start-First"),
        ("UpdateConfig.Delay", -1, "TaskSpec: update-delay cannot be negative"),
        ("UpdateConfig.Monitor", -1, "TaskSpec: update-monitor cannot be negative"),
        ("RollbackConfig.Delay", -1, "TaskSpec: rollback-delay cannot be negative"),
        (
            "UpdateConfig.MaxFailureRatio",
            1.5,
            "TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1",
        ),
        (
            "UpdateConfig.MaxFailureRatio",
            -0.1,
            "TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1",
        ),
        ("EndpointSpec.Mode", "rr", 'invalid resolution mode: "rr"'),
        ("EndpointSpec.Ports", [{"TargetPort": 80, "Protocol": "http"}], 'invalid Protocol "http"'),
        (
            "EndpointSpec.Ports",
            [{"TargetPort": 80, "PublishMode": "routed"}],
            'invalid PublishMode "routed"',
        ),
        ("EndpointSpec.Ports", [{"PublishedPort": 80}], "invalid TargetPort 0"),
        ("EndpointSpec.Ports", [{"TargetPort": 65536}], "invalid TargetPort 65536"),
        (
            "EndpointSpec.Ports",
            [{"TargetPort": 80, "PublishedPort": 70000}],
            "invalid PublishedPort 70000",
        ),
        (
            "EndpointSpec.Ports",
            [{"TargetPort": 80, "PublishedPort": 80}, {"TargetPort": 81, "PublishedPort": 80}],
            "EndpointSpec: duplicate published ports provided",
        ),
        (
            "EndpointSpec",
            {"Mode": "dnsrr", "Ports": [{"TargetPort": 80, "PublishedPort": 80}]},
            "EndpointSpec: port published with ingress mode can't be used with dnsrr mode",
        ),
    ],
)
def test_invalid_specs_are_refused_with_dockers_message(
    path: str, value: Any, message: str
) -> None:
    assert message in refused(body_with(path, value))


def test_same_published_port_on_different_protocols_is_allowed() -> None:
    ports = [
        {"TargetPort": 53, "PublishedPort": 53, "Protocol": "tcp"},
        {"TargetPort": 53, "PublishedPort": 53, "Protocol": "udp"},
        {"TargetPort": 80},
        {"TargetPort": 81},
    ]
    parse_service_spec(body_with("EndpointSpec.Ports", ports))


def test_dnsrr_is_allowed_with_host_mode_ports() -> None:
    endpoint = {"Mode": "dnsrr", "Ports": [{"TargetPort": 80, "PublishMode": "host"}]}
    parse_service_spec(body_with("EndpointSpec", endpoint))


def test_changing_the_mode_or_name_on_update_is_refused() -> None:
    replicated = parse_service_spec(BASE)
    scaled = parse_service_spec(body_with("Mode", {"Replicated": {"Replicas": 9}}))
    global_ = parse_service_spec(body_with("Mode", {"Global": {}}))
    check_spec_change(replicated, scaled)
    check_spec_change(global_, global_)
    with pytest.raises(InvalidArgument, match="service mode change is not allowed"):
        check_spec_change(replicated, global_)
    with pytest.raises(InvalidArgument, match="service mode change is not allowed"):
        check_spec_change(global_, replicated)
    with pytest.raises(InvalidArgument, match="renaming services is not supported"):
        check_spec_change(replicated, parse_service_spec(body_with("Name", "api")))


# --- Effective settings --------------------------------------------------------------


def test_settings_of_a_bare_spec_are_dockers_defaults() -> None:
    spec = parse_service_spec(BASE)
    assert restart_policy(spec) == RestartPolicy("any", 5 * SECOND, 0, 0)
    assert update_config(spec) == UpdateConfig(1, 0, "pause", 5 * SECOND, 0.0, "stop-first")
    assert update_config(spec, rollback=True) == update_config(spec)
    assert stop_grace_period_ns(spec) == 10 * SECOND
    assert replicas(spec) == 1 and not is_global(spec)
    assert reservations(spec) == (0, 0)
    assert placement(spec) == Placement((), (), 0, ())
    assert host_ports(spec) == []


def test_settings_of_a_full_spec_are_read_from_it() -> None:
    spec = parse_service_spec(CLI_BODY)
    assert restart_policy(spec) == RestartPolicy("on-failure", 3 * SECOND, 4, 0)
    assert update_config(spec) == UpdateConfig(
        2, 10 * SECOND, "rollback", 15 * SECOND, 0.25, "start-first"
    )
    assert update_config(spec, rollback=True) == UpdateConfig(
        1, 0, "continue", 5 * SECOND, 0.0, "stop-first"
    )
    assert stop_grace_period_ns(spec) == 20 * SECOND
    assert replicas(spec) == 3
    assert reservations(spec) == (500_000_000, 128 << 20)
    assert placement(spec) == Placement(
        constraints=(
            Constraint("node.role", "==", "worker"),
            Constraint("node.labels.zone", "!=", "west"),
        ),
        preferences=("node.labels.rack",),
        max_replicas=2,
        platforms=(("linux", "amd64"),),
    )
    assert host_ports(spec) == [("udp", 53)]


def test_an_update_config_sent_without_fields_takes_dockers_zero_values() -> None:
    spec = parse_service_spec(body_with("UpdateConfig", {"Monitor": 0, "Delay": 2 * SECOND}))
    # Parallelism 0 updates every task at once; a zero monitor means the 5 s default.
    assert update_config(spec) == UpdateConfig(
        0, 2 * SECOND, "pause", 5 * SECOND, 0.0, "stop-first"
    )


def test_explicit_zero_durations_are_kept() -> None:
    body = body_with("TaskTemplate.RestartPolicy", {"Delay": 0, "Condition": "none"})
    body["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] = 0
    spec = parse_service_spec(body)
    assert restart_policy(spec) == RestartPolicy("none", 0, 0, 0)
    assert stop_grace_period_ns(spec) == 0


def test_a_global_service_has_no_replica_count() -> None:
    spec = parse_service_spec(body_with("Mode", {"Global": {}}))
    assert is_global(spec) and replicas(spec) is None


def test_host_ports_skip_ingress_and_unpublished_ports() -> None:
    ports = [
        {"TargetPort": 80, "PublishedPort": 8080},
        {"TargetPort": 81, "PublishMode": "host"},
        {"TargetPort": 82, "PublishedPort": 9090, "PublishMode": "HOST"},
        {"TargetPort": 83, "PublishedPort": 9091, "PublishMode": "host", "Protocol": "sctp"},
    ]
    spec = parse_service_spec(body_with("EndpointSpec.Ports", ports))
    assert host_ports(spec) == [("tcp", 9090), ("sctp", 9091)]


def test_insert_defaults_fills_what_dockerd_shows() -> None:
    body = body_with("EndpointSpec", {"Ports": [{"TargetPort": 80}]})
    spec = parse_service_spec(body)
    shown = insert_defaults(spec)
    assert shown == {
        "Name": "web",
        "Labels": {},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "nginx:1.25",
                "StopGracePeriod": 10 * SECOND,
                "DNSConfig": {},
                "Isolation": "default",
            },
            "Resources": {},
            "RestartPolicy": {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0},
            "Placement": {},
            "ForceUpdate": 0,
            "Runtime": "container",
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "UpdateConfig": {
            "Parallelism": 1,
            "FailureAction": "pause",
            "Monitor": 5 * SECOND,
            "MaxFailureRatio": 0,
            "Order": "stop-first",
        },
        "RollbackConfig": {
            "Parallelism": 1,
            "FailureAction": "pause",
            "Monitor": 5 * SECOND,
            "MaxFailureRatio": 0,
            "Order": "stop-first",
        },
        "EndpointSpec": {
            "Mode": "vip",
            "Ports": [{"TargetPort": 80, "Protocol": "tcp", "PublishMode": "ingress"}],
        },
    }
    assert spec == parse_service_spec(body)  # the stored spec is untouched
    # The settings read from the filled-in spec are the same as from the stored one.
    assert restart_policy(shown) == restart_policy(spec)
    assert update_config(shown) == update_config(spec)
    assert stop_grace_period_ns(shown) == stop_grace_period_ns(spec)


def test_insert_defaults_keeps_values_that_were_set() -> None:
    shown = insert_defaults(parse_service_spec(CLI_BODY))
    assert shown["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 3 * SECOND,
        "MaxAttempts": 4,
    }
    assert shown["UpdateConfig"] == CLI_BODY["UpdateConfig"]
    assert shown["RollbackConfig"]["Monitor"] == 5 * SECOND
    assert shown["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 20 * SECOND
