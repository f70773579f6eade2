"""Worked examples of the scheduling rules, run on the Rust scheduler and the reference."""

from __future__ import annotations

import copy

import pytest

from swarmkit_py.scheduler import SchedGroup

from .helpers import CPU, GB, IMPLEMENTATIONS, Schedule, node


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def schedule(request: pytest.FixtureRequest) -> Schedule:
    return IMPLEMENTATIONS[request.param]


def test_six_tasks_over_three_nodes_spread_two_each(schedule: Schedule) -> None:
    nodes = [node("a"), node("b"), node("c")]
    [result] = schedule(nodes, [SchedGroup("web", 6)], "spread")
    assert result.node_ids == ["a", "b", "c", "a", "b", "c"]
    assert result.reason == ""


def test_spread_prefers_fewer_tasks_of_the_service_then_fewer_tasks(schedule: Schedule) -> None:
    nodes = [node("a"), node("b"), node("c")]
    nodes[0].service_tasks = {"web": 1}
    nodes[1].tasks = 5
    [result] = schedule(nodes, [SchedGroup("web", 3)], "spread")
    assert result.node_ids == ["c", "b", "a"]


def test_nodes_with_five_recent_failures_go_last(schedule: Schedule) -> None:
    nodes = [node("a"), node("b")]
    nodes[0].service_failures = {"web": 5}
    nodes[1].service_tasks = {"web": 3}
    [result] = schedule(nodes, [SchedGroup("web", 1)], "spread")
    assert result.node_ids == ["b"]


def test_preferences_spread_over_zones_before_nodes(schedule: Schedule) -> None:
    nodes = [node("a1", zone="a"), node("a2", zone="a"), node("b1", zone="b")]
    group = SchedGroup("web", 4, preferences=["node.labels.zone"])
    [result] = schedule(nodes, [group], "spread")
    assert result.node_ids == ["a1", "b1", "a2", "b1"]


def test_nodes_without_the_label_form_one_more_zone(schedule: Schedule) -> None:
    nodes = [node("x"), node("a", zone="a"), node("y")]
    group = SchedGroup("web", 4, preferences=["node.labels.zone"])
    [result] = schedule(nodes, [group], "spread")
    assert result.node_ids == ["x", "a", "y", "a"]


def test_two_preference_levels_balance_zones_then_racks(schedule: Schedule) -> None:
    nodes = [
        node("a-r1", zone="a", rack="r1"),
        node("a-r1b", zone="a", rack="r1"),
        node("a-r2", zone="a", rack="r2"),
        node("b-r1", zone="b", rack="r1"),
    ]
    group = SchedGroup("web", 6, preferences=["node.labels.zone", "node.labels.rack"])
    [result] = schedule(nodes, [group], "spread")
    assert result.node_ids == ["a-r1", "b-r1", "a-r2", "b-r1", "a-r1b", "b-r1"]


def test_binpack_fills_one_node_first(schedule: Schedule) -> None:
    nodes = [node("a"), node("b")]
    group = SchedGroup("web", 6, nano_cpus=CPU, memory_bytes=GB)
    [result] = schedule(nodes, [group], "binpack")
    assert result.node_ids == ["a", "a", "a", "a", "b", "b"]


def test_binpack_prefers_the_fullest_node(schedule: Schedule) -> None:
    nodes = [node("empty"), node("half")]
    nodes[1].nano_cpus, nodes[1].memory_bytes = 2 * CPU, 4 * GB
    [result] = schedule(nodes, [SchedGroup("web", 1, nano_cpus=CPU)], "binpack")
    assert result.node_ids == ["half"]


def test_binpack_free_share_is_floored_per_resource(schedule: Schedule) -> None:
    # a: 10^6/3 + 10^6/3 floors to 666,666, as b's exact 666,666: a tie that position
    # breaks; unfloored, a's 666,666.67 would lose to b.
    a = node("a")
    a.nano_cpus, a.total_nano_cpus, a.memory_bytes, a.total_memory_bytes = 1, 3, 1, 3
    b = node("b")
    b.nano_cpus, b.total_nano_cpus, b.memory_bytes, b.total_memory_bytes = 666_666, 10**6, 0, 0
    [result] = schedule([a, b], [SchedGroup("web", 1)], "binpack")
    assert result.node_ids == ["a"]


def test_constraints_and_resources_reason_counts_nodes_per_first_failing_filter(
    schedule: Schedule,
) -> None:
    nodes = [
        node("m", **{"node.role": "manager"}),
        node("w1", **{"node.role": "worker"}),
        node("w2", **{"node.role": "worker"}),
        node("w3", **{"node.role": "worker"}),
    ]
    nodes[0].memory_bytes = 0
    group = SchedGroup("db", 2, memory_bytes=GB, constraints=[("node.role", "==", "manager")])
    [result] = schedule(nodes, [group], "spread")
    assert result.node_ids == []
    assert result.reason == (
        "no suitable node (scheduling constraints not satisfied on 3 nodes; "
        "insufficient resources on 1 node)"
    )


def test_the_rest_of_a_group_fails_once_resources_run_out(schedule: Schedule) -> None:
    [result] = schedule([node("a")], [SchedGroup("web", 3, nano_cpus=3 * CPU)], "spread")
    assert result.node_ids == ["a"]
    assert result.reason == "no suitable node (insufficient resources on 1 node)"


def test_host_ports_and_max_replicas_limit_tasks_per_node(schedule: Schedule) -> None:
    nodes = [node("a"), node("b"), node("c")]
    nodes[2].ready = False
    ports = SchedGroup("web", 3, host_ports=[("tcp", 80)])
    replicas = SchedGroup("api", 3, max_replicas=1)
    web, api = schedule(nodes, [ports, replicas], "spread")
    assert web.node_ids == ["a", "b"]
    assert web.reason == (
        "no suitable node (host-mode port already in use on 2 nodes; "
        "1 node not available for new tasks)"
    )
    assert api.node_ids == ["a", "b"]
    assert api.reason == (
        "no suitable node (max replicas per node limit exceed on 2 nodes; "
        "1 node not available for new tasks)"
    )


def test_ties_in_reasons_keep_filter_order(schedule: Schedule) -> None:
    nodes = [node("a"), node("b"), node("c", **{"node.platform.os": "linux"}), node("d")]
    nodes[0].ready = nodes[1].ready = False
    nodes[3].host_ports = {("tcp", 80)}
    group = SchedGroup(
        "web", 1, platforms=[("windows", "")], host_ports=[("tcp", 80)], nano_cpus=CPU
    )
    [result] = schedule(nodes, [group], "spread")
    assert result.reason == (
        "no suitable node (2 nodes not available for new tasks; unsupported platform on 2 nodes)"
    )


def test_node_ip_constraints_take_addresses_and_networks(schedule: Schedule) -> None:
    nodes = [
        node("a", **{"node.ip": "10.0.1.5"}),
        node("b", **{"node.ip": "10.0.2.5"}),
        node("c"),
    ]
    groups = [
        SchedGroup("s1", 2, constraints=[("node.ip", "==", "10.0.1.0/24")]),
        SchedGroup("s2", 2, constraints=[("node.ip", "==", "10.0.2.5")]),
        SchedGroup("s3", 2, constraints=[("node.ip", "!=", "10.0.0.0/16")]),
    ]
    results = schedule(nodes, groups, "spread")
    assert [r.node_ids for r in results] == [["a", "a"], ["b", "b"], ["c", "c"]]


def test_a_missing_label_compares_as_empty(schedule: Schedule) -> None:
    nodes = [node("a", zone="eu"), node("b")]
    groups = [
        SchedGroup("s1", 1, constraints=[("node.labels.zone", "==", "")]),
        SchedGroup("s2", 1, constraints=[("node.labels.zone", "!=", "")]),
    ]
    assert [r.node_ids for r in schedule(nodes, groups, "spread")] == [["b"], ["a"]]


def test_platforms_match_aliases_case_and_wildcards(schedule: Schedule) -> None:
    nodes = [
        node("arm", **{"node.platform.os": "linux", "node.platform.arch": "aarch64"}),
        node("x86", **{"node.platform.os": "Linux", "node.platform.arch": "x86_64"}),
    ]
    groups = [
        SchedGroup("s1", 2, platforms=[("", "arm64")]),
        SchedGroup("s2", 2, platforms=[("linux", "AMD64")]),
        SchedGroup("s3", 2, platforms=[("windows", "")]),
    ]
    arm, x86, windows = schedule(nodes, groups, "spread")
    assert arm.node_ids == ["arm", "arm"]
    assert x86.node_ids == ["x86", "x86"]
    assert windows.reason == "no suitable node (unsupported platform on 2 nodes)"


def test_preassigned_groups_consider_their_node_only(schedule: Schedule) -> None:
    nodes = [node("a"), node("b")]
    groups = [
        SchedGroup("agent", 2, max_replicas=1, node="b"),
        SchedGroup("agent", 1, node="gone"),
    ]
    placed, missing = schedule(nodes, groups, "spread")
    assert placed.node_ids == ["b"]
    assert placed.reason == "no suitable node (max replicas per node limit exceed on 1 node)"
    assert missing.reason == "no suitable node"


def test_no_nodes_at_all(schedule: Schedule) -> None:
    assert schedule([], [SchedGroup("web", 1)], "spread")[0].reason == "no suitable node"


def test_later_groups_see_earlier_placements(schedule: Schedule) -> None:
    nodes = [node("a"), node("b")]
    first, second = schedule(
        nodes, [SchedGroup("web", 1), SchedGroup("web", 1, nano_cpus=4 * CPU)], "spread"
    )
    assert first.node_ids == ["a"]
    assert second.node_ids == ["b"]


def test_plugin_filters_refuse_nodes_under_their_own_explanation(schedule: Schedule) -> None:
    nodes = [node("a"), node("b"), node("c"), node("d")]
    nodes[3].memory_bytes = 0
    group = SchedGroup(
        "web",
        2,
        memory_bytes=GB,
        max_replicas=1,
        # d fails resources first, though the second plugin filter refuses it too.
        plugin_failures=[1, 2, 0, 2],
        plugin_explanations=["load too high on {count} {nodes}", "disk full on {count} {nodes}"],
    )
    [result] = schedule(nodes, [group], "spread")
    assert result.node_ids == ["c"]
    assert result.reason == (
        "no suitable node (insufficient resources on 1 node; load too high on 1 node; "
        "disk full on 1 node; max replicas per node limit exceed on 1 node)"
    )


def test_a_plugin_filter_refusing_most_nodes_comes_first(schedule: Schedule) -> None:
    nodes = [node("a"), node("b"), node("c")]
    nodes[0].ready = False
    group = SchedGroup(
        "web", 1, plugin_failures=[1, 1, 1], plugin_explanations=["too hot on {count} {nodes}"]
    )
    [result] = schedule(nodes, [group], "spread")
    assert result.reason == (
        "no suitable node (too hot on 2 nodes; 1 node not available for new tasks)"
    )


def test_scores_rank_after_faulty_nodes_and_before_spread(schedule: Schedule) -> None:
    nodes = [node("a"), node("b"), node("c")]
    nodes[1].service_tasks = {"web": 4}
    nodes[2].service_failures = {"web": 5}
    group = SchedGroup("web", 3, scores=[1, 0, -5])
    # b's lower score beats a's fewer tasks; c's lowest score does not lift a faulty node.
    for strategy in ("spread", "binpack"):
        [result] = schedule(nodes, [group], strategy)
        assert result.node_ids == ["b", "b", "b"]


def test_scores_rank_after_placement_preferences(schedule: Schedule) -> None:
    nodes = [node("a1", zone="a"), node("b1", zone="b")]
    group = SchedGroup("web", 4, preferences=["node.labels.zone"], scores=[0, 9])
    [result] = schedule(nodes, [group], "spread")
    assert result.node_ids == ["a1", "b1", "a1", "b1"]


def test_preference_counts_leave_out_nodes_a_plugin_refuses(schedule: Schedule) -> None:
    # a1's tasks do not count for zone a: the plugin keeps a1 out of the candidates.
    nodes = [node("a1", zone="a"), node("a2", zone="a"), node("b1", zone="b")]
    nodes[0].service_tasks = {"web": 2}
    nodes[2].service_tasks = {"web": 1}
    group = SchedGroup(
        "web",
        1,
        preferences=["node.labels.zone"],
        plugin_failures=[1, 0, 0],
        plugin_explanations=["busy on {count} {nodes}"],
    )
    [result] = schedule(nodes, [group], "spread")
    assert result.node_ids == ["a2"]


def test_a_refusal_without_an_explanation_reads_as_a_plugin_refusal(schedule: Schedule) -> None:
    group = SchedGroup("web", 1, plugin_failures=[2], plugin_explanations=["hot on {count}"])
    [result] = schedule([node("a")], [group], "spread")
    assert result.reason == "no suitable node (refused by a placement plugin on 1 node)"


def test_a_single_plugin_value_applies_to_every_node(schedule: Schedule) -> None:
    nodes = [node("a"), node("b")]
    refused = SchedGroup(
        "web", 1, plugin_failures=[1], plugin_explanations=["busy on {count} {nodes}"]
    )
    preassigned = SchedGroup("agent", 1, node="b", plugin_failures=[0], scores=[7])
    busy, agent = schedule(nodes, [refused, preassigned], "spread")
    assert busy.reason == "no suitable node (busy on 2 nodes)"
    assert agent.node_ids == ["b"]


def test_inputs_are_left_unchanged(schedule: Schedule) -> None:
    nodes = [node("a"), node("b")]
    groups = [SchedGroup("web", 3, nano_cpus=CPU, host_ports=[("udp", 53)])]
    before = copy.deepcopy((nodes, groups))
    schedule(nodes, groups, "binpack")
    assert (nodes, groups) == before


@pytest.mark.parametrize(
    ("groups", "strategy", "message"),
    [
        ([SchedGroup("web", 1)], "random", "unknown scheduling strategy"),
        ([SchedGroup("web", -1)], "spread", "must be >= 0"),
        ([SchedGroup("web", 1, constraints=[("node.role", "=", "x")])], "spread", "== or !="),
        ([SchedGroup("web", 1, scores=[0, 0])], "spread", "scores has 2 entries"),
        ([SchedGroup("web", 1, plugin_failures=[0, 0, 0])], "spread", "give none, one for all"),
    ],
)
def test_bad_requests_are_refused(
    schedule: Schedule, groups: list[SchedGroup], strategy: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        schedule([node("a")], groups, strategy)
