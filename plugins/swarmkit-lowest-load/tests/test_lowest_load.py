"""swarmkit-lowest-load: its scores and filter, its registration through
swarmkit-py's plugin manager, and the placements the leader makes with it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import swarmkit_lowest_load as plugin

from swarmkit_py.manager.orchestration.scheduling import PlacementPlugins, schedule_pending
from swarmkit_py.model import Node, NodeDescription, NodeLoad, NodeStatus, Resources
from swarmkit_py.plugins import Plugins
from swarmkit_py.plugins.builtins import BuiltinScheduler
from swarmkit_py.scheduler import SchedGroup
from swarmkit_py.store.txn import PatchTask

CPU = 10**9
GROUP = SchedGroup("web", 1)


def node(node_id: str, running: int = 0, cpus_used: float = 0.0, cpus: int = 4) -> Node:
    return Node(
        id=node_id,
        description=NodeDescription(hostname=node_id, resources=Resources(cpus * CPU, 8 << 30)),
        status=NodeStatus(state="ready"),
        load=NodeLoad(running_tasks=running, nano_cpus_used=int(cpus_used * CPU)),
    )


def pending(count: int, service: str = "web") -> list[dict[str, Any]]:
    return [
        {
            "ID": f"{service}.{k}",
            "ServiceID": service,
            "DesiredState": "running",
            "Status": {"State": "pending"},
            "Spec": {"ContainerSpec": {"Image": "busybox"}},
        }
        for k in range(count)
    ]


def loaded_plugins() -> Plugins:
    """swarmkit-py's plugin manager with this plugin, as an entry point would load it."""
    return Plugins(load_entry_points=False, extra=[plugin])


def place(nodes: list[Node], tasks: list[dict[str, Any]]) -> tuple[Counter[str], set[str]]:
    """What the leader writes: tasks per node, and the reasons of those left pending."""
    placement = PlacementPlugins.from_plugins(loaded_plugins())
    txns = schedule_pending(tasks, nodes, {}, 0, BuiltinScheduler("spread").schedule, placement)
    patches = [op for txn in txns for op in txn.ops if isinstance(op, PatchTask)]
    placed = Counter(str(op.node_id) for op in patches if op.node_id)
    reasons = {str((op.status or {}).get("Err")) for op in patches if not op.node_id}
    return placed, reasons


def test_fewer_running_tasks_score_lower_than_any_cpu_use() -> None:
    score = plugin.LowestLoad().score
    idle, busy_cpu, one_task = node("a"), node("b", cpus_used=40), node("c", running=1)
    assert score(GROUP, idle) == 0
    assert score(GROUP, busy_cpu) == plugin.CPU_STEPS - 1  # capped below one task
    assert score(GROUP, one_task) == plugin.CPU_STEPS
    # Equal tasks: CPU use in tenths of the node's CPUs decides.
    assert score(GROUP, node("d", 2, cpus_used=1)) < score(GROUP, node("e", 2, cpus_used=2))
    assert score(GROUP, node("f", 2, cpus_used=1)) == score(GROUP, node("g", 2, cpus_used=1.05))


def test_cpu_limit_refuses_nodes_above_their_share() -> None:
    limit = plugin.CpuLimit(0.5)
    assert limit.allows(GROUP, node("a", cpus_used=2))
    assert not limit.allows(GROUP, node("b", cpus_used=2.1))
    assert limit.allows(GROUP, node("c", cpus_used=9, cpus=0))  # reports no CPUs: no judgement
    assert limit.explanation == "CPU use above 50% on {count} {nodes}"


def test_registers_the_scorer_and_the_filter_only_with_a_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(plugin.MAX_CPU_ENV, raising=False)
    assert [p.name for p in loaded_plugins().placement] == ["lowest-load"]
    monkeypatch.setenv(plugin.MAX_CPU_ENV, "0.75")
    plugins = loaded_plugins()
    assert [p.name for p in plugins.placement] == ["lowest-load", "cpu-limit"]
    (info,) = [p for p in plugins.describe() if p["Name"] == "swarmkit_lowest_load"]
    assert info["Provides"] == ["placement:lowest-load", "placement:cpu-limit"]
    assert info["Errors"] == []


def test_a_bad_threshold_is_reported_by_name_and_the_scorer_still_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(plugin.MAX_CPU_ENV, "lots")
    plugins = loaded_plugins()
    assert [p.name for p in plugins.placement] == ["lowest-load"]
    (info,) = [p for p in plugins.describe() if p["Name"] == "swarmkit_lowest_load"]
    assert info["Errors"] == [
        "register_placement_plugins: SWARMKIT_LOWEST_LOAD_MAX_CPU='lots': "
        "give a share of the node's CPUs, e.g. 0.8"
    ]


def test_the_leader_places_a_batch_on_the_least_loaded_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(plugin.MAX_CPU_ENV, raising=False)
    nodes = [node("a", running=3), node("b", running=1), node("c", running=1, cpus_used=1)]
    placed, reasons = place(nodes, pending(4))
    # Plain spread would put one task on each node, then one more on a; the score keeps
    # every task off a (3 running) and c (as many running as b, more CPU use).
    assert placed == {"b": 4}
    assert reasons == set()


def test_the_leader_explains_tasks_the_cpu_limit_keeps_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(plugin.MAX_CPU_ENV, "0.8")
    nodes = [node("a", cpus_used=3.5), node("b", cpus_used=3.9), node("c", cpus_used=1)]
    placed, _ = place(nodes, pending(2))
    assert placed == {"c": 2}
    nodes[2] = node("c", cpus_used=3.3)
    placed, reasons = place(nodes, pending(1))
    assert placed == {}
    assert reasons == {"no suitable node (CPU use above 80% on 3 nodes)"}
