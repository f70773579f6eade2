"""The property names our tests compare with are the Engine API spec's own."""

from __future__ import annotations

from typing import Any

import pytest

from . import api_shapes

SPEC = api_shapes.load_spec()
pytestmark = pytest.mark.skipif(SPEC is None, reason="Engine API spec file not available")


def properties(definition: str) -> set[str]:
    assert SPEC is not None
    body: dict[str, Any] = SPEC["definitions"][definition]
    return set(body["properties"])


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("Node", api_shapes.NODE),
        ("NodeSpec", api_shapes.NODE_SPEC),
        ("NodeDescription", api_shapes.NODE_DESCRIPTION),
        ("Platform", api_shapes.PLATFORM),
        ("ResourceObject", api_shapes.RESOURCES),
        ("EngineDescription", api_shapes.ENGINE),
        ("TLSInfo", api_shapes.TLS_INFO),
        ("NodeStatus", api_shapes.NODE_STATUS),
        ("ManagerStatus", api_shapes.MANAGER_STATUS),
        ("ClusterInfo", api_shapes.CLUSTER_INFO),
        ("SwarmSpec", api_shapes.SWARM_SPEC),
        ("JoinTokens", api_shapes.JOIN_TOKENS),
    ],
)
def test_expected_key_sets_match_the_spec(definition: str, expected: set[str]) -> None:
    assert properties(definition) == expected


def test_nested_swarm_spec_key_sets_match_the_spec() -> None:
    assert SPEC is not None
    spec = SPEC["definitions"]["SwarmSpec"]["properties"]
    assert set(spec["Raft"]["properties"]) == api_shapes.RAFT
    assert set(spec["CAConfig"]["properties"]) == api_shapes.CA_CONFIG
