"""Task dicts: shape, state order, forward-only status changes, names and up-to-dateness."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from swarmkit_py.errors import InvalidArgument
from swarmkit_py.model import (
    TASK_STATES,
    advance_status,
    deep_copy,
    has_stopped,
    is_terminal,
    is_up_to_date,
    make_task,
    parse_service_spec,
    state_rank,
    task_name,
    task_status,
)

from . import api_shapes

T0 = "2024-05-01T10:00:00.000000000Z"
T1 = "2024-05-01T10:00:01.000000000Z"


def service(mode: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.25", "Env": ["A=1"]}},
    }
    if mode is not None:
        body["Mode"] = mode
    return {"ID": "svc1", "Version": {"Index": 17}, "Spec": parse_service_spec(body)}


def test_states_are_in_docker_order() -> None:
    assert TASK_STATES == (
        "new",
        "pending",
        "assigned",
        "accepted",
        "preparing",
        "ready",
        "starting",
        "running",
        "complete",
        "shutdown",
        "failed",
        "rejected",
        "remove",
        "orphaned",
    )
    assert [state_rank(s) for s in TASK_STATES] == list(range(len(TASK_STATES)))
    assert state_rank("assigned") < state_rank("running") < state_rank("failed")


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(InvalidArgument, match='unknown task state "allocated"'):
        state_rank("allocated")


def test_complete_and_later_states_have_stopped() -> None:
    stopped = [s for s in TASK_STATES if has_stopped(s)]
    assert stopped == ["complete", "shutdown", "failed", "rejected", "remove", "orphaned"]
    assert not is_terminal("running") and is_terminal("failed")


def test_replicated_task_has_the_documented_shape() -> None:
    svc = service()
    task = make_task(svc, task_id="task1", slot=3, time=T0, restarts=[T1])
    assert task == {
        "ID": "task1",
        "Version": {"Index": 0},
        "CreatedAt": T0,
        "UpdatedAt": T0,
        "Labels": {},
        "Spec": svc["Spec"]["TaskTemplate"],
        "ServiceID": "svc1",
        "Slot": 3,
        "NodeID": "",
        "Status": {"Timestamp": T0, "State": "new", "Message": "created"},
        "DesiredState": "running",
        "ServiceVersion": 17,
        "Restarts": [T1],
    }
    # The spec is a copy: changing the service later does not change the task.
    svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"].append("B=2")
    assert task["Spec"]["ContainerSpec"]["Env"] == ["A=1"]


def test_global_task_has_a_node_and_no_slot() -> None:
    task = make_task(service({"Global": {}}), task_id="t", slot=None, node_id="n1", time=T0)
    assert "Slot" not in task
    assert task["NodeID"] == "n1"
    assert task["Restarts"] == []


def test_replicated_task_without_slot_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="slot"):
        make_task(service(), task_id="t", slot=None, time=T0)


def test_task_keys_are_the_engine_api_ones_plus_ours() -> None:
    spec = api_shapes.load_spec()
    if spec is None:
        pytest.skip("Engine API spec file not available")
    task = make_task(service(), task_id="t", slot=1, time=T0)
    ours = {"ServiceVersion", "Restarts"}
    assert set(task) - ours <= set(spec["definitions"]["Task"]["properties"])
    status = task_status("running", "started", "", time=T1, exit_code=0, pid=42, container_id="c")
    assert set(status) <= set(spec["definitions"]["TaskStatus"]["properties"])
    assert set(status["ContainerStatus"]) == {"ContainerID", "PID", "ExitCode"}


def test_task_status_includes_err_and_container_status_only_when_given() -> None:
    assert task_status("pending", "pending task scheduling", time=T0) == {
        "Timestamp": T0,
        "State": "pending",
        "Message": "pending task scheduling",
    }
    failed = task_status("failed", "started", "task: non-zero exit (1)", time=T1, exit_code=1)
    assert failed["Err"] == "task: non-zero exit (1)"
    assert failed["ContainerStatus"] == {"ContainerID": "", "PID": 0, "ExitCode": 1}
    with pytest.raises(InvalidArgument):
        task_status("exploded", "", time=T0)


def task_in(state: str) -> dict[str, Any]:
    task = make_task(service(), task_id="t", slot=1, time=T0)
    task["Status"] = task_status(state, state, time=T0)
    return task


@pytest.mark.parametrize(("old", "new"), list(itertools.product(TASK_STATES, repeat=2)))
def test_status_never_moves_backwards(old: str, new: str) -> None:
    task = task_in(old)
    before = deep_copy(task)
    updated = advance_status(task, task_status(new, "update", time=T1))
    assert task == before  # the input is never changed
    if state_rank(new) < state_rank(old):
        assert updated is None
    else:
        assert updated is not None
        assert updated["Status"]["State"] == new
        assert updated["Status"]["Timestamp"] == T1


def test_an_identical_status_is_ignored_but_new_details_in_the_same_state_are_taken() -> None:
    task = task_in("running")
    assert advance_status(task, deep_copy(task["Status"])) is None
    detailed = task_status("running", "running", time=T0, pid=42, container_id="c1")
    updated = advance_status(task, detailed)
    assert updated is not None and updated["Status"]["ContainerStatus"]["PID"] == 42


def test_task_names_follow_docker() -> None:
    assert task_name("web", {"ID": "abc", "Slot": 3, "NodeID": "n1"}) == "web.3.abc"
    assert task_name("web", {"ID": "abc", "NodeID": "n1"}) == "web.n1.abc"


def test_a_task_is_up_to_date_while_its_spec_equals_the_template() -> None:
    svc = service()
    task = make_task(svc, task_id="t", slot=1, time=T0)
    assert is_up_to_date(task, svc)
    svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] = "nginx:1.26"
    assert not is_up_to_date(task, svc)
