"""Placement constraints: parsing as swarmkit does, node attributes, and matching."""

from __future__ import annotations

import pytest

from swarmkit_py.errors import InvalidArgument
from swarmkit_py.model import (
    Constraint,
    EngineDescription,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    Platform,
    matches,
    node_attributes,
    parse_constraint,
    parse_constraints,
    platform_matches,
)


def test_equal_and_not_equal_constraints_parse_with_spaces_trimmed() -> None:
    assert parse_constraint("node.labels.zone==east") == Constraint(
        "node.labels.zone", "==", "east"
    )
    assert parse_constraint("  node.role != manager ") == Constraint("node.role", "!=", "manager")


def test_keys_are_lowercased_and_values_kept_as_written() -> None:
    constraint = parse_constraint("Node.Hostname==Web-1")
    assert constraint == Constraint("node.hostname", "==", "Web-1")
    assert constraint.as_tuple() == ("node.hostname", "==", "web-1")
    assert str(constraint) == "node.hostname==Web-1"


@pytest.mark.parametrize(
    "text",
    [
        "node.id==abc123",
        "node.hostname!=host-1",
        "node.role==worker",
        "node.ip==10.0.0.7",
        "node.ip!=10.0.0.0/24",
        "node.ip==2001:db8::/32",
        "node.platform.os==linux",
        "node.platform.arch==x86_64",
        "node.labels.disk==ssd",
        "engine.labels.storage==fast disk",
        "node.labels.rack==r1.a_b-c",
    ],
)
def test_every_documented_key_is_accepted(text: str) -> None:
    assert str(parse_constraint(text)).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("node.labels.x~=y", "constraint expected one operator from ==, !="),
        ("node.labels.x", "constraint expected one operator from ==, !="),
        ("=y", "constraint expected one operator from ==, !="),
        ("==y", "key '' is invalid"),
        ("x==y", "key 'x' is invalid"),
        ("9node==y", "key '9node' is invalid"),
        ("node.labels.x==", "value '' is invalid"),
        ("node.labels.x==a!=b", "value 'a!=b' is invalid"),
        ("node.labels.x==<5", "value '<5' is invalid"),
        ("node.name==web", "key 'node.name' is not one of node.id"),
        ("node.labels.==x", "key 'node.labels.' is not one of"),
        ("node.ip==not-an-ip", "value 'not-an-ip' is not an IP address or a CIDR network"),
        ("node.ip==10.0.0.0/33", "is not an IP address or a CIDR network"),
        ("node.role==boss", "value 'boss' is not a role (manager or worker)"),
    ],
)
def test_malformed_constraints_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_constraint(text)
    assert caught.value.message.startswith(f'invalid constraint "{text}": ')
    assert reason in caught.value.message
    assert caught.value.http_status == 400


def test_parse_constraints_reads_a_list_and_refuses_anything_else() -> None:
    assert parse_constraints(None) == []
    assert parse_constraints(["node.role==manager", "node.labels.a!=b"]) == [
        Constraint("node.role", "==", "manager"),
        Constraint("node.labels.a", "!=", "b"),
    ]
    with pytest.raises(InvalidArgument):
        parse_constraints("node.role==manager")
    with pytest.raises(InvalidArgument, match="expected a string"):
        parse_constraints([3])


def labelled_node() -> Node:
    return Node(
        id="NodeID1",
        spec=NodeSpec("", {"Zone": "East", "disk": "SSD"}, "manager", "active"),
        description=NodeDescription(
            hostname="Web-1",
            platform=Platform("x86_64", "Linux"),
            engine=EngineDescription("27.0.0", {"storage": "Fast"}),
        ),
        status=NodeStatus("ready", "", "10.0.0.7"),
    )


def test_node_attributes_are_the_constraint_keys_lowercased() -> None:
    assert node_attributes(labelled_node()) == {
        "node.id": "nodeid1",
        "node.hostname": "web-1",
        "node.role": "manager",
        "node.ip": "10.0.0.7",
        "node.platform.os": "linux",
        "node.platform.arch": "x86_64",
        "node.labels.zone": "east",
        "node.labels.disk": "ssd",
        "engine.labels.storage": "fast",
    }


def holds(*texts: str) -> bool:
    return matches(parse_constraints(list(texts)), node_attributes(labelled_node()))


def test_all_constraints_must_hold() -> None:
    assert holds("node.role==manager", "node.labels.zone==east")
    assert not holds("node.role==manager", "node.labels.zone==west")
    assert holds()


def test_matching_ignores_case_of_keys_and_values() -> None:
    assert holds("NODE.HOSTNAME==WEB-1", "node.labels.ZONE==EAST", "engine.labels.storage==fast")
    assert not holds("node.hostname!=web-1")


def test_a_missing_label_compares_as_empty() -> None:
    assert holds("node.labels.gpu!=true")
    assert not holds("node.labels.gpu==true")
    assert not holds("engine.labels.gpu==yes")


def test_node_ip_matches_an_address_or_a_network() -> None:
    assert holds("node.ip==10.0.0.7")
    assert not holds("node.ip==10.0.0.8")
    assert holds("node.ip==10.0.0.0/24", "node.ip!=10.0.1.0/24")
    assert holds("node.ip==10.0.0.9/8")  # host bits are ignored, as Go's ParseCIDR does
    assert not holds("node.ip==2001:db8::/32")
    assert holds("node.ip==::ffff:10.0.0.7")


def test_node_ip_never_matches_a_node_without_an_address() -> None:
    attributes = {"node.ip": ""}
    assert not matches([parse_constraint("node.ip==10.0.0.0/8")], attributes)
    assert matches([parse_constraint("node.ip!=10.0.0.0/8")], attributes)


def test_platforms_treat_x86_64_as_amd64_and_aarch64_as_arm64() -> None:
    attributes = node_attributes(labelled_node())
    assert platform_matches([], attributes)
    assert platform_matches([("linux", "amd64")], attributes)
    assert platform_matches([("windows", "amd64"), ("", "")], attributes)
    assert not platform_matches([("windows", "amd64")], attributes)
    assert not platform_matches([("linux", "arm64")], attributes)
    arm = {"node.platform.os": "linux", "node.platform.arch": "aarch64"}
    assert platform_matches([("linux", "arm64")], arm)
