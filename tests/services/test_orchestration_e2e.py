"""Services on a loopback swarm of real swarmd processes, with the process
runtime: spread, scale, drain, constraints, preferences, restarts and
rolling updates, through the Engine API."""

from __future__ import annotations

import os
import signal

from swarmkit_py.testing.local_swarm import LocalSwarm

from .conftest import api, running_tasks, sleeper, wait_spread, wait_until

SECOND = 1_000_000_000


async def test_spread_scale_and_drain(swarm3: LocalSwarm) -> None:
    async with api(swarm3, 2) as client:  # a follower: writes are forwarded
        created = await client.service_create(sleeper("web", 6))
        assert created["ID"]
        assert await wait_spread(client, "web", lambda c: sum(c.values()) == 6) == {
            "node1": 2,
            "node2": 2,
            "node3": 2,
        }
        listed = await client.services_list({"name": ["web"]}, status=True)
        assert listed[0]["ServiceStatus"]["RunningTasks"] == 6
        assert listed[0]["ServiceStatus"]["DesiredTasks"] == 6

        async def scale(n: int) -> None:
            svc = await client.service_inspect("web")
            spec = svc["Spec"]
            spec["Mode"]["Replicated"]["Replicas"] = n
            await client.service_update("web", svc["Version"]["Index"], spec)

        await scale(9)
        await wait_spread(client, "web", lambda c: c == {"node1": 3, "node2": 3, "node3": 3})
        await scale(3)
        await wait_spread(client, "web", lambda c: c == {"node1": 1, "node2": 1, "node3": 1})
        # Drain: the node's task moves at once.
        await swarm3.swarmctl(1, "node", "update", "--availability", "drain", "node3")
        final = await wait_spread(
            client, "web", lambda c: sum(c.values()) == 3 and "node3" not in c
        )
        assert sorted(final.values()) == [1, 2]
        # Scaled-down and drained tasks are gone or shut down, never running.
        node3 = (await client.node_inspect("node3"))["ID"]
        tasks = await client.tasks_list({"service": ["web"], "node": [node3]})
        assert [t for t in tasks if t["DesiredState"] == "running"] == []


async def test_constraints_preferences_and_pending_reasons(swarm3: LocalSwarm) -> None:
    await swarm3.swarmctl(1, "node", "update", "--label-add", "zone=a", "node1")
    await swarm3.swarmctl(1, "node", "update", "--label-add", "zone=a", "node2")
    await swarm3.swarmctl(1, "node", "update", "--label-add", "zone=b", "node3")
    async with api(swarm3) as client:
        await client.service_create(
            sleeper("in-a", 4, TaskTemplate={"Placement": {"Constraints": ["node.labels.zone==a"]}})
        )
        assert await wait_spread(client, "in-a", lambda c: sum(c.values()) == 4) == {
            "node1": 2,
            "node2": 2,
        }
        prefs = {"Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]}
        await client.service_create(sleeper("by-zone", 4, TaskTemplate={"Placement": prefs}))
        # Half the tasks per zone: zone b has one node, so it gets two.
        counts = await wait_spread(client, "by-zone", lambda c: sum(c.values()) == 4)
        assert counts["node3"] == 2 and counts["node1"] + counts["node2"] == 2
        await client.service_create(
            sleeper(
                "nowhere", 1, TaskTemplate={"Placement": {"Constraints": ["node.labels.zone==c"]}}
            )
        )

        async def pending() -> list[dict[str, object]]:
            return await client.tasks_list({"service": ["nowhere"]})

        tasks = await wait_until(
            pending,
            lambda ts: bool(ts) and ts[0]["Status"].get("Err", "").startswith("no suitable"),  # type: ignore[index,union-attr]
            what="a pending reason",
        )
        assert tasks[0]["Status"]["State"] == "pending"  # type: ignore[index]
        assert tasks[0]["Status"]["Err"] == (  # type: ignore[index]
            "no suitable node (scheduling constraints not satisfied on 3 nodes)"
        )


async def test_killed_task_process_is_restarted_and_failures_show_their_reason(
    swarm3: LocalSwarm,
) -> None:
    async with api(swarm3) as client:
        await client.service_create(sleeper("victim", 1))
        (task,) = await wait_until(
            lambda: running_tasks(client, "victim"), lambda ts: len(ts) == 1, what="a task"
        )
        pid = task["Status"]["ContainerStatus"]["PID"]
        assert pid > 0
        os.kill(pid, signal.SIGKILL)
        (new,) = await wait_until(
            lambda: running_tasks(client, "victim"),
            lambda ts: len(ts) == 1 and ts[0]["ID"] != task["ID"],
            what="the replacement",
        )
        assert new["Slot"] == task["Slot"]
        old = await client.task_inspect(task["ID"])
        assert old["Status"]["State"] == "failed" and old["DesiredState"] == "shutdown"
        assert old["Status"]["ContainerStatus"]["ExitCode"] == 137
        assert "non-zero exit (137)" in old["Status"]["Err"]

        # A command that does not exist: rejected, with the reason in the task.
        await client.service_create(
            sleeper(
                "no-such-cmd",
                1,
                TaskTemplate={
                    "ContainerSpec": {"Image": "busybox", "Command": ["no-such-command-xyz"]},
                    "RestartPolicy": {"Condition": "on-failure", "MaxAttempts": 2, "Delay": 0},
                },
            )
        )
        tasks = await wait_until(
            lambda: client.tasks_list({"service": ["no-such-cmd"]}),
            lambda ts: len(ts) == 3 and all(t["Status"]["State"] == "rejected" for t in ts),
            what="three rejected attempts",
        )
        assert "executable file not found" in tasks[0]["Status"]["Err"]


async def test_rolling_update_pauses_or_rolls_back_on_failure(swarm3: LocalSwarm) -> None:
    update = {"Parallelism": 1, "Monitor": 2 * SECOND, "FailureAction": "pause"}
    broken = {"Image": "busybox", "Command": ["sh", "-c", "exit 3"]}
    async with api(swarm3) as client:
        await client.service_create(sleeper("paused", 3, UpdateConfig=update))
        await client.service_create(
            sleeper("rolled", 3, UpdateConfig={**update, "FailureAction": "rollback"})
        )
        for name in ("paused", "rolled"):
            await wait_spread(client, name, lambda c: sum(c.values()) == 3)
        for name in ("paused", "rolled"):
            svc = await client.service_inspect(name)
            spec = svc["Spec"]
            spec["TaskTemplate"]["ContainerSpec"] = broken
            await client.service_update(name, svc["Version"]["Index"], spec)

        paused = await wait_until(
            lambda: client.service_inspect("paused"),
            lambda s: s.get("UpdateStatus", {}).get("State") == "paused",
            what="the update to pause",
        )
        assert "update paused due to failure" in paused["UpdateStatus"]["Message"]
        # Only the first slot was tried: two tasks still run the old command.
        running = await running_tasks(client, "paused")
        assert len(running) == 2
        assert all(t["Spec"]["ContainerSpec"]["Command"][0] == "sleep" for t in running)

        rolled = await wait_until(
            lambda: client.service_inspect("rolled"),
            lambda s: s.get("UpdateStatus", {}).get("State") == "rollback_completed",
            timeout=60,
            what="the rollback to complete",
        )
        assert rolled["Spec"]["TaskTemplate"]["ContainerSpec"]["Command"][0] == "sleep"
        await wait_spread(client, "rolled", lambda c: sum(c.values()) == 3)
        # A manual rollback of the paused service brings it back too.
        svc = await client.service_inspect("paused")
        await client.service_update("paused", svc["Version"]["Index"], svc["Spec"], rollback=True)
        await wait_until(
            lambda: client.service_inspect("paused"),
            lambda s: s.get("UpdateStatus", {}).get("State") == "rollback_completed",
            timeout=60,
            what="the manual rollback",
        )
        await wait_spread(client, "paused", lambda c: sum(c.values()) == 3)


async def test_leader_kill_does_not_stop_reconciliation(swarm3: LocalSwarm) -> None:
    async with api(swarm3) as client:
        await client.service_create(sleeper("steady", 3))
        await wait_spread(client, "steady", lambda c: sum(c.values()) == 3)
        rows = await swarm3.node_ls(1)
    leader = next(int(r["Hostname"][-1]) for r in rows if r["ManagerStatus"] == "Leader")
    survivor = 1 if leader != 1 else 2
    swarm3.kill(leader)
    async with api(swarm3, survivor) as client:
        # The dead leader's task is replaced once its node is down; a killed
        # task on a survivor restarts; scaling works through the new leader.
        await wait_until(
            lambda: running_tasks(client, "steady"),
            lambda ts: len(ts) == 3,
            timeout=60,
            what="three running tasks after the leader died",
        )
        names = {n["ID"]: n["Description"]["Hostname"] for n in await client.nodes_list({})}
        victim = next(
            t
            for t in await running_tasks(client, "steady")
            if names[t["NodeID"]] != f"node{leader}"
        )
        os.kill(victim["Status"]["ContainerStatus"]["PID"], signal.SIGKILL)
        await wait_until(
            lambda: running_tasks(client, "steady"),
            lambda ts: (
                len(ts) == 3
                and victim["ID"] not in {t["ID"] for t in ts}
                and all(names[t["NodeID"]] != f"node{leader}" for t in ts)
            ),
            timeout=60,
            what="reconciliation under the new leader",
        )
        svc = await client.service_inspect("steady")
        svc["Spec"]["Mode"]["Replicated"]["Replicas"] = 4
        await client.service_update("steady", svc["Version"]["Index"], svc["Spec"])
        await wait_spread(client, "steady", lambda c: sum(c.values()) == 4, timeout=60)


async def test_service_logs_come_from_the_nodes(swarm3: LocalSwarm) -> None:
    from swarmkit_py.logs import LogOptions

    async with api(swarm3, 3) as client:
        await client.service_create(
            sleeper(
                "talker",
                3,
                TaskTemplate={
                    "ContainerSpec": {
                        "Image": "busybox",
                        "Command": ["sh", "-c", "echo hello from a task; sleep 3600"],
                    }
                },
            )
        )
        await wait_spread(client, "talker", lambda c: sum(c.values()) == 3)

        async def collect() -> list[str]:
            return [
                m.line.data.decode()
                async for m in client.service_logs("talker", LogOptions(follow=False))
            ]

        lines = await wait_until(collect, lambda ls: len(ls) == 3, what="three log lines")
        assert all(line.startswith("hello from") for line in lines)
