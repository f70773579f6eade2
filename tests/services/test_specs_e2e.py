"""Bad service specs get Docker's status codes and messages and create nothing;
rebalancing spreads tasks anew without dropping below the desired count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.errors import InvalidArgument, NameConflict, OutOfSequence, SwarmError
from swarmkit_py.testing.local_swarm import LocalSwarm

from .conftest import api, running_tasks, sleeper, wait_spread, wait_until


@pytest.fixture
async def one_node(tmp_path: Path) -> Any:
    swarm = LocalSwarm(tmp_path, managers=1, workers=0)
    try:
        await swarm.start()
        yield swarm
    finally:
        await swarm.stop()


BAD_SPECS: list[tuple[dict[str, Any], type[SwarmError], str]] = [
    (sleeper("neg", -1), InvalidArgument, "Replicas of type uint64"),
    ({**sleeper("mode"), "Mode": {"Sideways": {}}}, InvalidArgument, "Sideways"),
    (
        sleeper("constraint", 1, TaskTemplate={"Placement": {"Constraints": ["node.labels.x~=y"]}}),
        InvalidArgument,
        "constraint expected one operator from ==, !=",
    ),
    (
        sleeper("duration", 1, TaskTemplate={"RestartPolicy": {"Delay": 1.5}}),
        InvalidArgument,
        "cannot unmarshal number 1.5",
    ),
    (
        sleeper(
            "huge",
            1,
            TaskTemplate={"Resources": {"Reservations": {"NanoCPUs": 10**15}}},
        ),
        InvalidArgument,
        "no suitable node",
    ),
    ({**sleeper("noimage"), "TaskTemplate": {"ContainerSpec": {}}}, InvalidArgument, "image"),
]


async def test_bad_specs_are_refused_and_create_nothing(one_node: LocalSwarm) -> None:
    async with api(one_node) as client:
        for spec, error, message in BAD_SPECS:
            with pytest.raises(error) as caught:
                await client.service_create(spec)
            assert message in str(caught.value), (spec["Name"], str(caught.value))
            assert caught.value.http_status == 400
        assert await client.services_list() == []
        assert await client.tasks_list() == []

        await client.service_create(sleeper("dup", 1))
        with pytest.raises(NameConflict) as conflict:
            await client.service_create(sleeper("dup", 2))
        assert conflict.value.http_status == 409 and "already exists" in str(conflict.value)
        svc = await client.service_inspect("dup")
        with pytest.raises(OutOfSequence):
            await client.service_update("dup", svc["Version"]["Index"] - 1, svc["Spec"])
        glob = sleeper("dup", None)
        with pytest.raises(InvalidArgument) as mode_change:
            await client.service_update("dup", svc["Version"]["Index"], glob)
        assert "mode change" in str(mode_change.value)
        with pytest.raises(SwarmError) as no_previous:
            await client.service_update("dup", svc["Version"]["Index"], svc["Spec"], rollback=True)
        assert "previous spec" in str(no_previous.value)
        assert [s["Spec"]["Name"] for s in await client.services_list()] == ["dup"]
        await wait_until(lambda: client.tasks_list({"service": ["dup"]}), lambda ts: len(ts) == 1)


async def test_rebalance_moves_tasks_to_a_new_node_without_dropping_below_desired(
    tmp_path: Path,
) -> None:
    swarm = LocalSwarm(tmp_path, managers=1, workers=1)
    try:
        await swarm.start()
        async with api(swarm) as client:
            await client.service_create(sleeper("even", 6))
            await wait_spread(client, "even", lambda c: c == {"node1": 3, "node2": 3})
            await swarm.add_node("worker")
            await swarm.wait_nodes_ready(3)
            # Like Docker, a joining node gets nothing by itself...
            await wait_spread(client, "even", lambda c: c == {"node1": 3, "node2": 3})
            svc = await client.service_inspect("even")
            await client.service_update("even", svc["Version"]["Index"], svc["Spec"],
                                        rebalance=True)  # fmt: skip
            # ...and with --rebalance the spread evens out, never below 6 running.
            lowest = 6

            async def watch() -> Any:
                nonlocal lowest
                tasks = await running_tasks(client, "even")
                lowest = min(lowest, len(tasks))
                names = {n["ID"]: n["Description"]["Hostname"] for n in await client.nodes_list()}
                return sorted(names[t["NodeID"]] for t in tasks)

            await wait_until(
                watch,
                lambda hosts: hosts == ["node1", "node1", "node2", "node2", "node3", "node3"],
                what="an even spread",
            )
            assert lowest == 6
    finally:
        await swarm.stop()
