"""Rolling updates and rollbacks, pass by pass."""

from __future__ import annotations

from typing import Any

from .harness import SECOND, Sim, spec


def _update_cfg(**cfg: Any) -> dict[str, Any]:
    base = {"Parallelism": 1, "Delay": 0, "Monitor": 2 * SECOND, "FailureAction": "pause"}
    base.update(cfg)
    return base


def _commands(sim: Sim) -> list[str]:
    return sorted(t["Spec"]["ContainerSpec"]["Command"][0] for t in sim.running())


def test_stop_first_update_replaces_one_slot_at_a_time() -> None:
    sim = Sim()
    sim.create_service(spec(3, UpdateConfig=_update_cfg()))
    sim.converge()
    sim.update_spec(spec(3, command="sleep2", UpdateConfig=_update_cfg()))
    seen_in_flight = []
    for _ in range(20):
        sim.orchestrate()
        new = [
            t
            for t in sim.tasks()
            if t["Spec"]["ContainerSpec"]["Command"][0] == "sleep2"
            and t["Status"]["State"] != "running"
        ]
        seen_in_flight.append(len(new))
        sim.schedule_round_robin()
        sim.agents()
        sim.now += SECOND
    assert max(seen_in_flight) == 1  # parallelism 1
    assert _commands(sim) == ["sleep2"] * 3
    assert sim.service()["UpdateStatus"]["State"] == "completed"
    # Slots kept their numbers; the old tasks are history.
    assert sorted(t["Slot"] for t in sim.running()) == [1, 2, 3]
    assert len(sim.tasks()) == 6


def test_start_first_keeps_the_running_count() -> None:
    sim = Sim()
    cfg = _update_cfg(Order="start-first", Parallelism=2)
    sim.create_service(spec(2, UpdateConfig=cfg))
    sim.converge()
    sim.update_spec(spec(2, command="sleep2", UpdateConfig=cfg))
    for _ in range(10):
        sim.orchestrate()
        sim.schedule_round_robin()
        sim.agents()
        assert len(sim.running()) >= 2
        sim.now += SECOND
    assert _commands(sim) == ["sleep2"] * 2


def test_failing_update_pauses() -> None:
    sim = Sim()
    sim.create_service(spec(3, UpdateConfig=_update_cfg()))
    sim.converge()
    sim.update_spec(spec(3, command="broken", UpdateConfig=_update_cfg()))
    sim.converge(10, fail_command="broken")
    status = sim.service()["UpdateStatus"]
    assert status["State"] == "paused"
    assert "update paused due to failure" in status["Message"]
    # One slot was tried; the other two still run the old command.
    assert _commands(sim).count("sleep") == 2


def test_failing_update_rolls_back() -> None:
    sim = Sim()
    cfg = _update_cfg(FailureAction="rollback")
    sim.create_service(spec(3, UpdateConfig=cfg))
    sim.converge()
    sim.update_spec(spec(3, command="broken", UpdateConfig=cfg))
    sim.converge(20, fail_command="broken")
    service = sim.service()
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Command"][0] == "sleep"
    assert _commands(sim) == ["sleep"] * 3


def test_failure_ratio_and_continue() -> None:
    sim = Sim()
    cfg = _update_cfg(FailureAction="continue", Parallelism=0)
    sim.create_service(spec(4, UpdateConfig=cfg))
    sim.converge()
    sim.update_spec(spec(4, command="broken", UpdateConfig=cfg))
    sim.converge(10, fail_command="broken")
    # continue: every slot gets the new (failing) spec; the update does not pause.
    assert sim.service()["UpdateStatus"]["State"] in ("updating", "completed")
    current = [t for t in sim.tasks() if t["DesiredState"] in ("running", "ready")]
    assert all(t["Spec"]["ContainerSpec"]["Command"][0] == "broken" for t in current)


def test_update_delay_spaces_batches() -> None:
    sim = Sim()
    cfg = _update_cfg(Delay=5 * SECOND)
    sim.create_service(spec(2, UpdateConfig=cfg))
    sim.converge()
    sim.update_spec(spec(2, command="sleep2", UpdateConfig=cfg))
    sim.converge(3)
    assert _commands(sim) == ["sleep", "sleep2"]
    sim.converge(6)
    assert _commands(sim) == ["sleep2", "sleep2"]
