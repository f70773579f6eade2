"""`swarmctl service ...` against real daemons: create shows progress until the
tasks run, ls/ps/logs/scale/update/rollback/rm behave like docker's."""

from __future__ import annotations

import json

from swarmkit_py.testing.local_swarm import LocalSwarm

from ..runtime import alive
from .conftest import api, running_tasks, wait_until


async def test_service_commands_end_to_end(swarm3: LocalSwarm) -> None:
    r = await swarm3.swarmctl(
        1, "service", "create", "--name", "web", "--replicas", "3",
        "--update-monitor", "1s", "busybox", "sh", "-c", "echo up; sleep 3600",
    )  # fmt: skip
    assert "overall progress: 3 out of 3 tasks" in r.stdout
    assert "converged" in r.stdout
    service_id = r.stdout.strip().splitlines()[0]
    ls = (await swarm3.swarmctl(2, "service", "ls")).stdout.splitlines()
    assert ls[0].split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert ls[1].split()[1:4] == ["web", "replicated", "3/3"]
    assert service_id.startswith(ls[1].split()[0])
    ps = (await swarm3.swarmctl(3, "service", "ps", "web")).stdout.splitlines()
    assert ps[0].split()[:4] == ["ID", "NAME", "IMAGE", "NODE"]
    assert sorted(line.split()[1] for line in ps[1:]) == ["web.1", "web.2", "web.3"]
    assert all("Running" in line for line in ps[1:])

    logs = await wait_until(
        lambda: swarm3.swarmctl(1, "service", "logs", "web"),
        lambda r: r.stdout.count("| up") == 3,
        what="three log lines",
    )
    assert all(line.startswith("web.") for line in logs.stdout.splitlines())

    r = await swarm3.swarmctl(1, "service", "scale", "web=5")
    assert "web scaled to 5" in r.stdout
    await swarm3.swarmctl(1, "service", "update", "-d", "--env-add", "COLOR=blue", "web")
    async with api(swarm3) as client:
        await wait_until(
            lambda: running_tasks(client, "web"),
            lambda ts: (
                len(ts) == 5
                and all("COLOR=blue" in (t["Spec"]["ContainerSpec"].get("Env") or []) for t in ts)
            ),
            timeout=60,
            what="the update to reach every task",
        )
        await swarm3.swarmctl(1, "service", "rollback", "-d", "web")
        await wait_until(
            lambda: running_tasks(client, "web"),
            lambda ts: len(ts) == 5 and all(not t["Spec"]["ContainerSpec"].get("Env") for t in ts),
            timeout=60,
            what="the rollback to reach every task",
        )
        pids = [t["Status"]["ContainerStatus"]["PID"] for t in await running_tasks(client, "web")]
        inspect = json.loads((await swarm3.swarmctl(1, "service", "inspect", "web")).stdout)
        assert inspect[0]["Spec"]["Name"] == "web"
        await swarm3.swarmctl(1, "service", "rm", "web")
        await wait_until(
            lambda: client.tasks_list({}),
            lambda ts: ts == [],
            timeout=30,
            what="the tasks to be removed",
        )
    assert not any(alive(pid) for pid in pids)
    r = await swarm3.swarmctl(1, "service", "ps", "web", check=False)
    assert r.returncode == 1 and "no such service: web" in r.stderr
