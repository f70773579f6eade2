"""The Rust scheduler places every task exactly where the plain-Python reference does,
and gives the same reasons, on random clusters and groups."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmkit_py import scheduler
from swarmkit_py.scheduler import SchedGroup, SchedNode, Strategy, reference
from swarmkit_py.scheduler.types import per_node

SERVICES = ["s1", "s2", "s3"]
IPS = [
    "10.0.0.1",
    "10.0.1.9",
    "10.0.1.200",
    "192.168.1.2",
    "01.2.3.4",
    "fd00::5",
    "::ffff:10.0.0.1",
    "fe80::1%eth0",
    "bad",
    "",
]
ATTRIBUTE_VALUES = {
    "node.labels.zone": ["a", "b", "c", "", "z", "Z", "é", "\U0001f600"],
    "node.labels.rack": ["r1", "r2", "r10"],
    "node.ip": IPS,
    "node.platform.os": ["linux", "Linux", "windows", "", "ünix", "ÜNIX"],
    "node.platform.arch": ["amd64", "x86_64", "X86_64", "arm64", "aarch64", "AArch64", "386", ""],
    "node.role": ["manager", "worker"],
}
CONSTRAINT_VALUES = {
    **ATTRIBUTE_VALUES,
    "node.ip": [
        *IPS,
        "10.0.0.0/16",
        "10.0.1.0/24",
        "10.0.1.9/32",
        "10.0.0.0/0",
        "10.0.0.0/033",
        "10.0.0.0/40",
        "10.0.0.0/",
        "10.0.0.0/8/1",
        "fd00::/8",
        "::/0",
        "::ffff:10.0.0.0/120",
    ],
    "node.labels.missing": ["", "x"],
}
PREFERENCE_KEYS = [
    "node.labels.zone",
    "node.labels.rack",
    "node.platform.os",
    "node.labels.missing",
]
PORTS = st.tuples(st.sampled_from(["tcp", "udp", "TCP"]), st.sampled_from([80, 443]))
SMALL = st.integers(min_value=0, max_value=4)
EXPLANATIONS = [
    "load too high on {count} {nodes}",
    "{count}{count} {nodes}{nodes}",
    "{{count}} {node} {nodes",
    "plain text",
    "é {nodes} \U0001f600",
]
SCORES = st.one_of(st.integers(-3, 3), st.sampled_from([-(2**63), 2**63 - 1, 2**62, -(2**62)]))


@st.composite
def nodes(draw: st.DrawFn, max_size: int = 8) -> list[SchedNode]:
    count = draw(st.integers(min_value=0, max_value=max_size))
    out = []
    for k in range(count):
        keys = draw(st.sets(st.sampled_from(sorted(ATTRIBUTE_VALUES))))
        total_cpus = draw(st.sampled_from([0, 3, 7, 10]))
        total_memory = draw(st.sampled_from([0, 3, 7, 10]))
        out.append(
            SchedNode(
                id="dup" if draw(st.integers(0, 9)) == 0 else f"n{k}",
                ready=draw(st.integers(0, 6)) > 0,
                nano_cpus=total_cpus - draw(st.integers(-2, 5)),
                memory_bytes=total_memory - draw(st.integers(-2, 5)),
                total_nano_cpus=total_cpus,
                total_memory_bytes=total_memory,
                attributes={key: draw(st.sampled_from(ATTRIBUTE_VALUES[key])) for key in keys},
                tasks=draw(SMALL),
                service_tasks=draw(st.dictionaries(st.sampled_from(SERVICES), SMALL)),
                service_failures=draw(
                    st.dictionaries(st.sampled_from(SERVICES), st.integers(0, 7))
                ),
                host_ports=draw(st.sets(PORTS, max_size=2)),
            )
        )
    return out


@st.composite
def constraints(draw: st.DrawFn) -> tuple[str, str, str]:
    key = draw(st.sampled_from(sorted(CONSTRAINT_VALUES)))
    op = draw(st.sampled_from(["==", "!="]))
    return key, op, draw(st.sampled_from(CONSTRAINT_VALUES[key]))


platforms = st.tuples(
    st.sampled_from(["", "linux", "LINUX", "windows", "ünix"]),
    st.sampled_from(["", "amd64", "x86_64", "arm64", "AARCH64", "386"]),
)


@st.composite
def plugin_fields(draw: st.DrawFn, node_count: int) -> dict[str, object]:
    """What placement plugins said: none, one value for every node, or one per node."""
    explanations = draw(st.lists(st.sampled_from(EXPLANATIONS), max_size=3))
    # Mostly allowed; now and then a filter beyond the explanations (a default text).
    verdicts = st.one_of(st.just(0), st.integers(0, len(explanations) + 1))
    shape = draw(st.sampled_from(["none", "one", "each"]))
    failures = {
        "none": [],
        "one": [draw(verdicts)],
        "each": draw(st.lists(verdicts, min_size=node_count, max_size=node_count)),
    }[shape]
    shape = draw(st.sampled_from(["none", "one", "each"]))
    scores = {
        "none": [],
        "one": [draw(SCORES)],
        "each": draw(st.lists(SCORES, min_size=node_count, max_size=node_count)),
    }[shape]
    return {
        "plugin_failures": failures,
        "plugin_explanations": explanations,
        "scores": scores,
    }


@st.composite
def groups(draw: st.DrawFn, node_count: int, max_count: int = 8) -> list[SchedGroup]:
    return [
        SchedGroup(
            service_id=draw(st.sampled_from(SERVICES)),
            count=draw(st.integers(0, max_count)),
            nano_cpus=draw(st.sampled_from([0, 0, 1, 2, 3])),
            memory_bytes=draw(st.sampled_from([0, 0, 1, 2, 5])),
            constraints=draw(st.lists(constraints(), max_size=3)),
            platforms=draw(st.lists(platforms, max_size=2)),
            host_ports=draw(st.lists(PORTS, max_size=2)),
            max_replicas=draw(st.sampled_from([0, 0, 1, 2, 3])),
            preferences=draw(st.lists(st.sampled_from(PREFERENCE_KEYS), max_size=2)),
            node=draw(st.one_of(st.none(), st.sampled_from(["n0", "n1", "dup", "gone"]))),
            **draw(st.one_of(st.just({}), plugin_fields(node_count))),  # type: ignore[arg-type]
        )
        for _ in range(draw(st.integers(1, 4)))
    ]


@st.composite
def requests(
    draw: st.DrawFn, max_nodes: int = 8, max_count: int = 8
) -> tuple[list[SchedNode], list[SchedGroup]]:
    cluster = draw(nodes(max_nodes))
    return cluster, draw(groups(len(cluster), max_count))


strategies = st.sampled_from(["spread", "binpack"])


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), strategies)
def test_rust_places_and_explains_like_the_reference(
    request: tuple[list[SchedNode], list[SchedGroup]], strategy: Strategy
) -> None:
    cluster, batch = request
    assert scheduler.schedule(cluster, batch, strategy) == reference.schedule(
        cluster, batch, strategy
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(max_nodes=40, max_count=60), strategies)
def test_rust_agrees_with_the_reference_on_larger_batches(
    request: tuple[list[SchedNode], list[SchedGroup]], strategy: Strategy
) -> None:
    cluster, batch = request
    assert scheduler.schedule(cluster, batch, strategy) == reference.schedule(
        cluster, batch, strategy
    )


@settings(max_examples=300, deadline=None)
@given(requests(), strategies)
def test_a_group_is_either_fully_placed_or_explained(
    request: tuple[list[SchedNode], list[SchedGroup]], strategy: Strategy
) -> None:
    cluster, batch = request
    ids = {n.id for n in cluster}
    for group, result in zip(batch, scheduler.schedule(cluster, batch, strategy), strict=True):
        assert set(result.node_ids) <= ids
        if group.node is not None:
            assert set(result.node_ids) <= {group.node}
        # Every task sits on a node (some node of that ID) that the plugins allow.
        allowed = {n.id for k, n in enumerate(cluster) if per_node(group.plugin_failures, k) == 0}
        assert set(result.node_ids) <= allowed
        if len(result.node_ids) == group.count:
            assert result.reason == ""
        else:
            assert len(result.node_ids) < group.count
            assert result.reason.startswith("no suitable node")
