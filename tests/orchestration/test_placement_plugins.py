"""The leader asks the placement plugins about every group before the Rust
scheduler runs: filters keep nodes out (with their own explanation), scorers
steer tasks, and a plugin that raises is reported by name without stopping
scheduling."""

from __future__ import annotations

import itertools
import types
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from swarmkit_py.manager.orchestration import Orchestrator
from swarmkit_py.manager.orchestration.scheduling import PlacementPlugins, schedule_pending
from swarmkit_py.model import Node, NodeLoad
from swarmkit_py.model.service import parse_service_spec
from swarmkit_py.plugins import Plugins, hookimpl
from swarmkit_py.plugins.builtins import BuiltinScheduler
from swarmkit_py.scheduler import SchedGroup
from swarmkit_py.store import Txn

from .harness import Sim, spec


@dataclass
class FewestRunning:
    """Scores a node by the running tasks it reports."""

    name: str = "fewest-running"
    calls: Counter[str] = field(default_factory=Counter)

    def score(self, group: SchedGroup, node: Node) -> int:
        self.calls[node.id] += 1
        return node.load.running_tasks


@dataclass
class Refuse:
    """Refuses the named nodes; raises for the node called "boom"."""

    refused: set[str]
    name: str = "refuse"
    explanation: str = "node on the block list on {count} {nodes}"

    def allows(self, group: SchedGroup, node: Node) -> bool:
        if node.id == "boom":
            raise RuntimeError("cannot judge boom")
        return node.id not in self.refused


class Broken:
    name = "broken"

    def score(self, group: SchedGroup, node: Node) -> int:
        raise ZeroDivisionError("no load yet")


def plugins_with(*placement: object) -> Plugins:
    """A plugin manager where a plugin module named "extra" registers `placement`."""

    def register_placement_plugins(register: Any) -> None:
        for p in placement:
            register(p)

    module = types.ModuleType("extra")
    module.register_placement_plugins = hookimpl(register_placement_plugins)  # type: ignore[attr-defined]
    return Plugins(load_entry_points=False, extra=[module])


def set_load(sim: Sim, node_id: str, running: int) -> None:
    node = sim.store.get_node(node_id)
    assert node is not None
    updated = node.copy()
    updated.load = NodeLoad(running_tasks=running)
    sim.apply(Txn().update("nodes", updated, node.version.index))


def schedule(sim: Sim, plugins: Plugins) -> None:
    """One scheduling pass, as the leader runs it, applied to the store."""
    services = {s["ID"]: s for s in sim.store.list_services()}
    for txn in schedule_pending(
        sim.store.list_tasks(),
        sim.store.list_nodes(),
        services,
        sim.now,
        BuiltinScheduler("spread").schedule,
        PlacementPlugins.from_plugins(plugins),
    ):
        sim.apply(txn)


def placed(sim: Sim) -> Counter[str]:
    return Counter(str(t["NodeID"]) for t in sim.tasks() if t.get("NodeID"))


def test_a_scorer_sends_tasks_to_the_least_loaded_node_before_spreading() -> None:
    sim = Sim(3)
    set_load(sim, "n1", 5)
    set_load(sim, "n2", 1)
    sim.create_service(spec(4))
    sim.orchestrate()
    schedule(sim, plugins_with(FewestRunning()))
    # Spread alone would put 2, 1, 1; the score comes first, so all go to n3.
    assert placed(sim) == {"n3": 4}


def test_a_filter_keeps_nodes_out_and_explains_in_its_own_words() -> None:
    sim = Sim(3)
    sim.create_service(
        spec(3, TaskTemplate={"Resources": {"Reservations": {"NanoCPUs": 3_000_000_000}}})
    )
    sim.orchestrate()
    schedule(sim, plugins_with(Refuse({"n1", "n2"})))
    assert placed(sim) == {"n3": 1}
    reasons = {t["Status"].get("Err") for t in sim.tasks() if not t.get("NodeID")}
    assert reasons == {
        "no suitable node (node on the block list on 2 nodes; insufficient resources on 1 node)"
    }


def test_a_plugin_that_raises_allows_and_scores_zero_and_is_reported_once() -> None:
    sim = Sim(2)
    boom = sim.store.get_node("n2")
    assert boom is not None
    renamed = boom.copy()
    renamed.id = "boom"
    sim.apply(Txn().create("nodes", renamed))
    sim.create_service(spec(6))
    sim.orchestrate()
    plugins = plugins_with(Refuse(set()), Broken())
    schedule(sim, plugins)
    # Spread over all three: "boom" counts as allowed, the broken scorer as 0 everywhere.
    assert placed(sim) == {"n1": 2, "n2": 2, "boom": 2}
    sim.create_service(spec(3, Name="db"), service_id="s2")
    sim.orchestrate()
    schedule(sim, plugins)
    (extra,) = [p for p in plugins.describe() if p["Name"] == "extra"]
    assert extra["Errors"] == ["refuse.allows: cannot judge boom", "broken.score: no load yet"]
    assert extra["Provides"] == ["placement:refuse", "placement:broken"]


def test_each_failing_plugin_is_reported_once_per_pass() -> None:
    sim = Sim(3)
    sim.create_service(spec(3))
    sim.orchestrate()
    reports: list[tuple[object, str, str]] = []
    broken = Broken()
    placement = PlacementPlugins(
        scorers=[broken], report=lambda plugin, where, e: reports.append((plugin, where, str(e)))
    )
    services = {s["ID"]: s for s in sim.store.list_services()}
    txns = schedule_pending(
        sim.store.list_tasks(),
        sim.store.list_nodes(),
        services,
        sim.now,
        BuiltinScheduler("spread").schedule,
        placement,
    )
    assert txns  # scheduling went on: three nodes asked, three failures, one report
    assert reports == [(broken, "broken.score", "no load yet")]


def test_a_global_service_asks_about_each_task_s_own_node_only() -> None:
    sim = Sim(3)
    scorer = FewestRunning()
    sim.create_service(spec(None))
    sim.orchestrate()
    schedule(sim, plugins_with(scorer))
    assert placed(sim) == {"n1": 1, "n2": 1, "n3": 1}
    assert scorer.calls == {"n1": 1, "n2": 1, "n3": 1}


async def test_the_orchestrator_passes_its_placement_plugins_to_the_scheduler() -> None:
    sim = Sim(3)
    set_load(sim, "n1", 2)
    set_load(sim, "n3", 2)
    counter = itertools.count(1_000)

    async def propose(txn: Txn) -> int:
        index = next(counter)
        sim.store.apply(index, txn)
        return index

    await propose(Txn().create("services", {"ID": "s1", "Spec": parse_service_spec(spec(2))}))
    placement = PlacementPlugins.from_plugins(plugins_with(FewestRunning()))
    orchestrator = Orchestrator(sim.store, propose, lambda: True, placement=placement)
    await orchestrator.run_pass()
    assert placed(sim) == {"n2": 2}
