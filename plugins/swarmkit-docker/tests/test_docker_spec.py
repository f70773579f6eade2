"""How a task's spec becomes a container (no engine needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from swarmkit_docker.container import container_name, create_options
from swarmkit_docker.logs import parse_frame, parse_timestamp

from swarmkit_py.runtime import TaskError


def make_task(container: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "ID": "t1abc",
        "ServiceID": "svc9",
        "Slot": 2,
        "NodeID": "node7",
        "Spec": {"ContainerSpec": container, **extra.pop("Spec", {})},
        **extra,
    }


def test_container_spec_maps_to_docker_create_arguments() -> None:
    task = make_task(
        {
            "Image": "busybox:1",
            "Command": ["sh", "-c"],
            "Args": ["echo hi"],
            "Env": ["A=1", "B"],
            "Dir": "/tmp",
            "User": "nobody",
            "Hostname": "web",
            "Labels": {"team": "a"},
            "StopSignal": "SIGINT",
            "Init": True,
        },
        Spec={"Resources": {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20}}},
    )
    options = create_options(task, Path("/data/n1"))
    assert options == {
        "image": "busybox:1",
        "name": "svc9.2.t1abc",
        "detach": True,
        "entrypoint": ["sh", "-c"],
        "command": ["echo hi"],
        "environment": ["A=1", "B"],
        "working_dir": "/tmp",
        "user": "nobody",
        "hostname": "web",
        "stop_signal": "SIGINT",
        "init": True,
        "nano_cpus": 500_000_000,
        "mem_limit": 64 << 20,
        "labels": {
            "team": "a",
            "com.docker.swarm.task.id": "t1abc",
            "com.docker.swarm.task.name": "svc9.2.t1abc",
            "com.docker.swarm.service.id": "svc9",
            "com.docker.swarm.node.id": "node7",
            "com.swarmkit-py.managed": "true",
            "com.swarmkit-py.data-dir": "/data/n1",
        },
    }


def test_names_use_the_service_name_when_the_task_has_it_and_the_node_for_global_tasks() -> None:
    named = make_task({"Image": "x"}, ServiceAnnotations={"Name": "web"})
    assert container_name(named) == "web.2.t1abc"
    labels = create_options(named, Path("/d"))["labels"]
    assert labels["com.docker.swarm.service.name"] == "web"
    global_task = make_task({"Image": "x"})
    del global_task["Slot"]
    assert container_name(global_task) == "svc9.node7.t1abc"


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({}, "the docker runtime needs an image"),
        ({"Image": "x", "Command": "sleep 1"}, "invalid ContainerSpec.Command"),
        ({"Image": "x", "Env": [1]}, "invalid ContainerSpec.Env"),
        ({"Image": "x", "Init": "yes"}, "invalid ContainerSpec.Init"),
        ({"Image": "x", "Labels": {"a": 1}}, "invalid ContainerSpec.Labels"),
    ],
)
def test_specs_that_cannot_run_are_rejected_with_the_reason(
    container: dict[str, Any], message: str
) -> None:
    with pytest.raises(TaskError, match=message):
        create_options(make_task(container), Path("/d"))


def test_negative_limits_are_rejected() -> None:
    task = make_task({"Image": "x"}, Spec={"Resources": {"Limits": {"MemoryBytes": -1}}})
    with pytest.raises(TaskError, match=r"Resources\.Limits\.MemoryBytes"):
        create_options(task, Path("/d"))


def test_docker_log_timestamps_parse_to_unix_nanoseconds() -> None:
    assert parse_timestamp(b"1970-01-01T00:00:01.000000002Z") == 1_000_000_002
    assert parse_timestamp(b"2024-05-01T10:00:00.5+02:00") == 1714550400_500_000_000
    assert parse_timestamp(b"2024-05-01T08:00:00Z") == 1714550400_000_000_000
    assert parse_timestamp(b"yesterday") is None
    line = parse_frame(b"2024-05-01T08:00:00.000000001Z hello world\n", "stderr")
    assert (line.time_ns, line.stream, line.data) == (
        1714550400_000_000_001,
        "stderr",
        b"hello world\n",
    )
