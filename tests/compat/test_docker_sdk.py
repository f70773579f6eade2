"""The Docker SDK for Python (the `docker` package, 7.x) manages a swarm of
swarmd processes: the same scenario as the CLI's, through the SDK's models."""

from __future__ import annotations

import re
from collections.abc import Iterator

import docker
import pytest
from docker.models.services import Service

from swarmkit_py.testing.local_swarm import LocalSwarm

from .conftest import NODE_ID, NOT_A_MANAGER, TOKEN, wait_for


@pytest.fixture
def clients(daemons: LocalSwarm) -> Iterator[dict[int, docker.DockerClient]]:
    """An SDK client per daemon, the API version negotiated (the SDK's default)."""
    made = {i: docker.DockerClient(base_url=n.host, timeout=60) for i, n in daemons.nodes.items()}
    try:
        yield made
    finally:
        for client in made.values():
            client.close()


def running(service: Service, count: int) -> list[dict[str, object]]:
    """Waits until `count` tasks of the service run; returns them."""
    return wait_for(
        lambda: [
            t
            for t in service.tasks(filters={"desired-state": "running"})
            if t["Status"]["State"] == "running"
        ],
        lambda tasks: len(tasks) == count,
        f"{count} running tasks of {service.name}",
    )


async def test_docker_sdk_forms_a_swarm_and_runs_a_service(
    daemons: LocalSwarm, clients: dict[int, docker.DockerClient]
) -> None:
    c1, c2, c3 = clients[1], clients[2], clients[3]
    addr = {i: n.addr for i, n in daemons.nodes.items()}
    assert c1.ping() is True
    assert c1.api.api_version == "1.47" and c1.version()["ApiVersion"] == "1.47"

    # swarm.init (a spec field in Docker's units: nanoseconds), attrs, update.
    node_id = c1.swarm.init(
        advertise_addr=addr[1], listen_addr=addr[1], dispatcher_heartbeat_period=500_000_000
    )
    assert NODE_ID.fullmatch(node_id) and c1.info()["Swarm"]["NodeID"] == node_id
    tokens = c1.swarm.attrs["JoinTokens"]
    assert TOKEN.fullmatch(tokens["Worker"]) and TOKEN.fullmatch(tokens["Manager"])
    assert c1.swarm.attrs["Spec"]["Dispatcher"]["HeartbeatPeriod"] == 500_000_000
    assert c1.swarm.update(rotate_worker_token=True, task_history_retention_limit=3) is True
    c1.swarm.reload()
    assert c1.swarm.attrs["JoinTokens"]["Worker"] != tokens["Worker"]
    assert c1.swarm.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 3
    tokens = c1.swarm.attrs["JoinTokens"]

    # swarm.join, nodes.list / get / update.
    assert c2.swarm.join(
        remote_addrs=[addr[1]], join_token=tokens["Worker"],
        listen_addr=addr[2], advertise_addr=addr[2],
    ) is True  # fmt: skip
    assert c3.swarm.join(
        remote_addrs=[addr[1]], join_token=tokens["Manager"],
        listen_addr=addr[3], advertise_addr=addr[3],
    ) is True  # fmt: skip
    nodes = {n.attrs["Description"]["Hostname"]: n for n in c1.nodes.list()}
    assert {h: n.attrs["Spec"]["Role"] for h, n in nodes.items()} == {
        "node1": "manager", "node2": "worker", "node3": "manager",
    }  # fmt: skip
    assert nodes["node1"].id == node_id and nodes["node1"].attrs["ManagerStatus"]["Leader"]
    assert len(c3.nodes.list(filters={"role": "manager"})) == 2
    node2 = c1.nodes.get("node2")
    assert node2.update({"Availability": "pause", "Role": "worker", "Labels": {"zone": "b"}})
    node2.reload()
    spec = node2.attrs["Spec"]
    assert (spec["Labels"], spec["Availability"]) == ({"zone": "b"}, "pause")
    node2.update({"Availability": "active", "Role": "worker"})
    with pytest.raises(docker.errors.APIError) as refused:
        c2.nodes.list()
    assert refused.value.status_code == 503
    assert f"Error response from daemon: {refused.value.explanation}\n" == NOT_A_MANAGER

    # services.create (201), tasks, scale.
    service = c1.services.create(
        "busybox",
        ["sh", "-c", "echo hello; sleep 3600"],
        name="web",
        mode=docker.types.ServiceMode("replicated", replicas=3),
        update_config=docker.types.UpdateConfig(monitor=1_000_000_000),
    )
    assert NODE_ID.fullmatch(service.id) and service.name == "web"
    tasks = running(service, 3)
    assert sorted(t["Slot"] for t in tasks) == [1, 2, 3]
    assert [s.name for s in c3.services.list()] == ["web"]
    assert service.scale(5)
    service.reload()
    assert service.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 5}}
    running(service, 5)

    # logs: a generator of each line's bytes; with details, Docker's attributes.
    # The SDK scales by sending back the spec it read with insertDefaults=true:
    # the task template differs, so the 3 first tasks are replaced, as on
    # Docker. 3 + 3 + 2 tasks said hello.
    lines = wait_for(
        lambda: list(service.logs(stdout=True)),
        lambda lines: len(lines) == 8,
        "eight lines of logs",
    )
    assert lines == [b"hello\n"] * 8
    lines = list(service.logs(stdout=True, details=True))
    attributes = re.compile(
        rb"com\.docker\.swarm\.node\.id=([0-9a-z]{25}),com\.docker\.swarm\.service\.id="
        rb"([0-9a-z]{25}),com\.docker\.swarm\.task\.id=([0-9a-z]{25}) hello\n"
    )
    matches = [attributes.fullmatch(line) for line in lines]
    assert all(matches), lines
    assert {m[2].decode() for m in matches if m} == {service.id}
    assert {m[1].decode() for m in matches if m} <= {n.id for n in nodes.values()}

    # update (the SDK sends the whole spec with ?version=), _up-to-date.
    version = service.version
    assert service.update(image="busybox:1.36", fetch_current_spec=True) is not None
    service.reload()
    assert service.version > version
    assert service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:1.36"
    assert service.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 5}}
    wait_for(
        lambda: service.tasks(filters={"desired-state": "running", "_up-to-date": True}),
        lambda tasks: len(tasks) == 5 and all(t["Status"]["State"] == "running" for t in tasks),
        "the update to reach every task",
    )
    up_to_date = service.tasks(filters={"_up-to-date": True})
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in up_to_date} == {"busybox:1.36"}
    current = {t["ID"] for t in up_to_date}
    replaced = [t for t in service.tasks() if t["ID"] not in current]
    assert len(up_to_date) == 5 and len(replaced) == 8
    assert {t["DesiredState"] for t in replaced} == {"shutdown"}
    with pytest.raises(docker.errors.APIError) as stale:
        c1.api.update_service(service.id, version, name="web", mode={"Replicated": {}})
    assert stale.value.explanation == "update out of sequence"

    # remove, leave.
    assert service.remove() is True
    assert c1.services.list() == []
    with pytest.raises(docker.errors.NotFound):
        c1.services.get("web")
    assert c2.swarm.leave() is True
    with pytest.raises(docker.errors.APIError) as refused:
        c1.swarm.leave()
    assert refused.value.status_code == 503
    assert refused.value.explanation == (
        "You are attempting to leave the swarm on a node that is participating as a manager. "
        "The only way to restore a swarm that has lost consensus is to reinitialize it with "
        "`--force-new-cluster`. Use `--force` to suppress this message."
    )
    assert c3.swarm.leave(force=True) is True
    assert c1.swarm.leave(force=True) is True
    assert c1.info()["Swarm"]["LocalNodeState"] == "inactive"
