"""The replicated and global orchestrators, the restart supervisor and the
reaper, pass by pass over a real store."""

from __future__ import annotations

from collections import Counter

from swarmkit_py.manager.orchestration.plan import Plan
from swarmkit_py.manager.orchestration.reaper import reap
from swarmkit_py.store import Txn

from .harness import SECOND, Sim, spec


def _per_node(sim: Sim) -> Counter[str]:
    return Counter(t["NodeID"] for t in sim.running())


def test_replicas_get_slots_and_converge() -> None:
    sim = Sim()
    sim.create_service(spec(6))
    sim.converge()
    running = sim.running()
    assert sorted(t["Slot"] for t in running) == [1, 2, 3, 4, 5, 6]
    assert _per_node(sim) == {"n1": 2, "n2": 2, "n3": 2}
    before = {t["ID"] for t in sim.tasks()}
    sim.converge()  # a converged service is left alone
    assert {t["ID"] for t in sim.tasks()} == before


def test_scale_down_takes_non_running_then_most_loaded_nodes() -> None:
    sim = Sim()
    sim.create_service(spec(4))
    sim.converge()
    # A fifth replica that cannot start (no node yet) goes first.
    sim.update_spec(spec(5), state="")
    sim.orchestrate()
    pending = [t for t in sim.tasks() if not t["NodeID"]]
    assert len(pending) == 1
    sim.update_spec(spec(4), state="")
    sim.orchestrate()
    assert sim.store.get_task(pending[0]["ID"])["DesiredState"] == "remove"  # type: ignore[index]
    sim.converge()
    assert sim.store.get_task(pending[0]["ID"]) is None  # reaped
    # 4 running over 3 nodes (2/1/1): scaling to 3 removes one from the node with two.
    crowded = _per_node(sim).most_common(1)[0][0]
    sim.update_spec(spec(3), state="")
    sim.converge()
    assert _per_node(sim) == {"n1": 1, "n2": 1, "n3": 1}
    assert crowded in _per_node(sim)


def test_a_failed_task_is_restarted_in_its_slot_after_the_delay() -> None:
    sim = Sim()
    sim.create_service(spec(1, TaskTemplate={"RestartPolicy": {"Delay": 3 * SECOND}}))
    sim.converge(3)
    (task,) = sim.running()
    sim.kill(task)
    plan = sim.orchestrate()
    old = sim.store.get_task(task["ID"])
    assert old is not None and old["DesiredState"] == "shutdown"
    (new,) = [t for t in sim.tasks() if t["ID"] != task["ID"]]
    assert new["Slot"] == task["Slot"] and new["DesiredState"] == "ready"
    assert new["Restarts"] == [sim.stamp]
    assert plan.wake_ns == sim.now + 3 * SECOND
    sim.now += 2 * SECOND
    sim.orchestrate()
    assert sim.store.get_task(new["ID"])["DesiredState"] == "ready"  # type: ignore[index]
    sim.now += 2 * SECOND
    sim.converge(2)
    assert [t["ID"] for t in sim.running()] == [new["ID"]]


def test_restart_conditions_and_max_attempts() -> None:
    sim = Sim()
    sim.create_service(spec(1, TaskTemplate={"RestartPolicy": {"Condition": "none"}}), "none")
    sim.create_service(
        {**spec(1), "Name": "limited",
         "TaskTemplate": {**spec(1)["TaskTemplate"],
                          "RestartPolicy": {"MaxAttempts": 2, "Delay": 0}}},
        "limited",
    )  # fmt: skip
    sim.converge(3)
    for service_id in ("none", "limited"):
        sim.kill(sim.running(service_id)[0])
    sim.converge(3)
    assert sim.running("none") == []
    (done,) = sim.tasks("none")
    assert done["DesiredState"] == "complete" and done["Status"]["State"] == "failed"
    # The slot stays taken: no new task appears on later passes either.
    sim.converge(3)
    assert len(sim.tasks("none")) == 1
    # Two restarts allowed, then the slot is finished.
    for _ in range(2):
        sim.kill(sim.running("limited")[0])
        sim.converge(3)
    assert sim.running("limited") == []
    assert len(sim.tasks("limited")) == 3


def test_restart_window_forgets_old_restarts() -> None:
    sim = Sim()
    policy = {"MaxAttempts": 1, "Window": 10 * SECOND, "Delay": 0}
    sim.create_service(spec(1, TaskTemplate={"RestartPolicy": policy}))
    sim.converge(2)
    sim.kill(sim.running()[0])
    sim.converge(2)
    sim.now += 20 * SECOND  # the first restart is outside the window now
    sim.kill(sim.running()[0])
    sim.converge(2)
    assert len(sim.running()) == 1


def test_tasks_on_down_or_drained_nodes_are_replaced_at_once() -> None:
    sim = Sim()
    sim.create_service(spec(6, TaskTemplate={"RestartPolicy": {"Delay": 60 * SECOND}}))
    sim.converge()
    sim.set_node("n3", availability="drain")
    sim.converge(3)
    assert _per_node(sim) == {"n1": 3, "n2": 3}
    sim.set_node("n3", availability="active")
    sim.set_node("n2", state="down")
    sim.converge(3)
    assert sum(_per_node(sim).values()) == 6 and "n2" not in _per_node(sim)
    # pause only stops new placements: nothing moves.
    before = {t["ID"] for t in sim.running()}
    sim.set_node("n1", availability="pause")
    sim.converge(3)
    assert {t["ID"] for t in sim.running()} == before


def test_global_service_follows_nodes() -> None:
    sim = Sim()
    sim.create_service(spec(None))
    sim.converge(3)
    assert _per_node(sim) == {"n1": 1, "n2": 1, "n3": 1}
    sim.set_node("n2", availability="drain")
    sim.converge(3)
    assert _per_node(sim) == {"n1": 1, "n3": 1}
    sim.set_node("n2", availability="active")
    sim.converge(3)
    assert _per_node(sim) == {"n1": 1, "n2": 1, "n3": 1}
    # A failed global task restarts on its own node.
    victim = next(t for t in sim.running() if t["NodeID"] == "n1")
    sim.kill(victim)
    sim.converge(3)
    assert _per_node(sim) == {"n1": 1, "n2": 1, "n3": 1}


def test_history_is_trimmed_per_slot() -> None:
    sim = Sim()
    sim.create_service(spec(1))
    sim.converge(2)
    for _ in range(8):
        sim.kill(sim.running()[0])
        sim.converge(2)
    tasks = sim.tasks()
    assert len(tasks) == 1 + 5
    assert len(sim.running()) == 1
    newest_old = max(
        (t for t in tasks if t["DesiredState"] != "running"), key=lambda t: t["CreatedAt"]
    )
    assert newest_old["CreatedAt"] < sim.running()[0]["CreatedAt"]


def test_removed_service_tasks_are_stopped_then_deleted() -> None:
    sim = Sim()
    sim.create_service(spec(3))
    sim.converge()
    sim.apply(Txn().delete("services", "s1"))
    nodes = {n.id: n for n in sim.store.list_nodes()}
    plan = Plan()
    reap(None, sim.tasks(), nodes, 5, plan)
    assert set(plan.desired.values()) == {"remove"} and not plan.deletes
    for txn in plan.task_txns():
        sim.apply(txn)
    sim.agents()
    plan = Plan()
    reap(None, sim.tasks(), nodes, 5, plan)
    assert len(plan.deletes) == 3
