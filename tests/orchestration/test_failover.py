"""Restart state lives in the store: a new leader's orchestrator (nothing in
memory) continues a restart delay and the max-attempts count where the old
one stopped."""

from __future__ import annotations

import time

from swarmkit_py.manager.orchestration import Orchestrator
from swarmkit_py.model.service import parse_service_spec
from swarmkit_py.model.task import task_status
from swarmkit_py.model.times import now
from swarmkit_py.store import Txn

from .harness import SECOND, Sim, spec


async def test_a_new_leader_continues_restart_delay_and_attempts() -> None:
    sim = Sim()
    propose = sim.propose
    policy = {"Condition": "any", "Delay": 30 * SECOND, "MaxAttempts": 1}
    await propose(
        Txn().create(
            "services",
            {
                "ID": "s1",
                "Spec": parse_service_spec(spec(1, TaskTemplate={"RestartPolicy": policy})),
            },
        ),
    )
    first = Orchestrator(sim.store, propose, lambda: True)
    await first.run_pass()
    (task,) = sim.tasks()
    assert task["NodeID"]  # the real (Rust) scheduler placed it
    await propose(
        Txn().patch_task(task["ID"], status=task_status("failed", "", "exit 1", time=now()))
    )
    await first.run_pass()
    restarted = next(t for t in sim.tasks() if t["ID"] != task["ID"])
    assert restarted["DesiredState"] == "ready" and restarted["RestartAt"]
    assert len(restarted["Restarts"]) == 1

    second = Orchestrator(sim.store, propose, lambda: True)
    await second.run_pass()
    held = sim.store.get_task(restarted["ID"])
    assert held is not None and held["DesiredState"] == "ready"  # still waiting out the delay
    assert 25 * SECOND < second._next_timer_ns - time.time_ns() <= 30 * SECOND
    # Its restart used the only attempt: when it fails too, nothing more starts.
    await propose(
        Txn().patch_task(restarted["ID"], status=task_status("failed", "", "exit 1", time=now()))
    )
    third = Orchestrator(sim.store, propose, lambda: True)
    await third.run_pass()
    assert len(sim.tasks()) == 2
    final = sim.store.get_task(restarted["ID"])
    assert final is not None and final["DesiredState"] == "complete"


async def test_a_pass_over_other_services_keeps_a_pending_timer() -> None:
    sim = Sim()
    propose = sim.propose
    policy = {"Condition": "any", "Delay": 30 * SECOND}
    for service_id in ("a", "b"):
        body = spec(1, TaskTemplate={"RestartPolicy": policy})
        body["Name"] = service_id
        await propose(
            Txn().create("services", {"ID": service_id, "Spec": parse_service_spec(body)})
        )
    orchestrator = Orchestrator(sim.store, propose, lambda: True)
    await orchestrator.run_pass()
    (task,) = sim.tasks("a")
    await propose(
        Txn().patch_task(task["ID"], status=task_status("failed", "", "exit 1", time=now()))
    )
    await orchestrator.run_pass()  # a's restart waits 30 s: a timer
    timer = orchestrator._next_timer_ns
    assert timer > time.time_ns()
    # A change to b alone: a partial pass that must not forget a's timer.
    orchestrator._dirty.clear()
    (other,) = sim.tasks("b")
    await propose(
        Txn().patch_task(other["ID"], status=task_status("running", "started", time=now()))
    )
    assert orchestrator._dirty == {"b"} and not orchestrator._all_dirty
    await orchestrator.run_pass()
    assert orchestrator._next_timer_ns == timer
