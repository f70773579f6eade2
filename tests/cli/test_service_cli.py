"""`swarmctl service ...` against the real server and the fake backend:
docker's flags turned into a ServiceSpec, its columns, task names, log
prefixes and convergence progress."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from swarmkit_py.cli import progress
from swarmkit_py.cli.progress import ProgressOutput, ReplicatedProgress

from .conftest import Daemon
from .test_swarmctl import columns

SECOND = 1_000_000_000
MIB = 1024**2
T0 = 1_700_000_000 * SECOND  # 2023-11-14T22:13:20Z
R = TypeVar("R")


@pytest.fixture(autouse=True)
def fast_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.01)


def on_loop(daemon: Daemon, coroutine: Coroutine[Any, Any, R]) -> R:
    return asyncio.run_coroutine_threadsafe(coroutine, daemon.loop).result(10)


def service_named(daemon: Daemon, name: str) -> dict[str, Any]:
    [found] = [s for s in daemon.backend.services.values() if s["Spec"]["Name"] == name]
    return found


def create(daemon: Daemon, *args: str) -> dict[str, Any]:
    result = daemon.swarmctl("service", "create", "-d", *args)
    assert result.exit_code == 0, result.output
    return daemon.backend.services[result.stdout.strip()]


def test_create_translates_docker_flags_into_the_spec(swarm: Daemon) -> None:
    result = swarm.swarmctl(
        "service", "create", "-d", "--name", "web", "--replicas", "3",
        "-e", "A=1", "--env", "B=2", "-e", "A=3", "--label", "tier=front", "--label", "x",
        "--container-label", "c=d", "--constraint", "node.role==worker",
        "--constraint", "node.labels.zone!=b", "--placement-pref", "spread=node.labels.zone",
        "--replicas-max-per-node", "2", "--reserve-cpu", "0.25", "--reserve-memory", "64MiB",
        "--limit-cpu", "1.5", "--limit-memory", "1G", "--restart-condition", "on-failure",
        "--restart-max-attempts", "3", "--restart-window", "2m", "--update-parallelism", "2",
        "--update-delay", "1m30s", "--update-failure-action", "rollback",
        "--update-max-failure-ratio", "0.25", "--update-order", "start-first",
        "--rollback-monitor", "20s", "--stop-grace-period", "1500ms",
        "-p", "8080:80", "-p", "53:53/udp", "-p", "mode=host,target=9000,published=9001",
        "-w", "/srv", "--entrypoint", "sh -c", "nginx:1", "echo", "hello world",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    service = swarm.backend.services[result.stdout.strip()]
    spec = service["Spec"]
    assert spec["Name"] == "web"
    assert spec["Labels"] == {"tier": "front", "x": ""}
    assert spec["Mode"] == {"Replicated": {"Replicas": 3}}
    template = spec["TaskTemplate"]
    assert template["ContainerSpec"] == {
        "Image": "nginx:1",
        "Args": ["echo", "hello world"],
        "Command": ["sh", "-c"],
        "Env": ["A=3", "B=2"],
        "Labels": {"c": "d"},
        "Dir": "/srv",
        "StopGracePeriod": 1_500_000_000,
    }
    assert template["Placement"] == {
        "Constraints": ["node.role==worker", "node.labels.zone!=b"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
        "MaxReplicas": 2,
    }
    assert template["Resources"] == {
        "Limits": {"NanoCPUs": 1_500_000_000, "MemoryBytes": 1024**3},
        "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 64 * MIB},
    }
    assert template["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 5 * SECOND,  # docker's default, sent once any restart flag is given
        "MaxAttempts": 3,
        "Window": 120 * SECOND,
    }
    assert spec["UpdateConfig"] == {
        "Parallelism": 2,
        "Delay": 90 * SECOND,
        "FailureAction": "rollback",
        "Monitor": 5 * SECOND,
        "MaxFailureRatio": 0.25,
        "Order": "start-first",
    }
    assert spec["RollbackConfig"] == {
        "Parallelism": 1,
        "Delay": 0,
        "FailureAction": "pause",
        "Monitor": 20 * SECOND,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    }
    assert spec["EndpointSpec"] == {
        "Mode": "vip",
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 9000, "PublishedPort": 9001, "PublishMode": "host"},
        ],
    }


def test_create_sends_only_what_flags_say(swarm: Daemon) -> None:
    service = create(swarm, "busybox")
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"] == {"Image": "busybox"}
    assert set(service["Spec"]["TaskTemplate"]) == {"ContainerSpec", "ForceUpdate"}
    assert "UpdateConfig" not in service["Spec"]
    assert "RollbackConfig" not in service["Spec"]
    assert service["Spec"]["EndpointSpec"] == {"Mode": "vip"}
    assert service["Spec"]["Mode"] == {"Replicated": {"Replicas": 1}}  # the daemon's default


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--mode", "global", "--replicas", "2"], "replicas can only be used with replicated"),
        (["--mode", "global", "--replicas-max-per-node", "1"], "replicas-max-per-node can only"),
        (["--reserve-memory", "lots"], "invalid size: 'lots'"),
        (["--limit-cpu", "0.0000000001"], "value is too precise"),
        (["--update-delay", "5"], 'invalid duration "5"'),
        (["-p", "80:80/icmp"], "invalid protocol value 'icmp'"),
        (["-p", "published=80"], "missing mandatory field 'target'"),
        (["--placement-pref", "pack=node.labels.x"], "only spread is supported"),
        (["--mode", "replicated-job"], "'replicated-job' is not one of"),
        (["--update-max-failure-ratio", "2"], "2"),
    ],
)
def test_create_refuses_bad_flags(swarm: Daemon, flags: list[str], message: str) -> None:
    result = swarm.swarmctl("service", "create", "-d", *flags, "nginx")
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert swarm.backend.services == {}


def test_create_waits_for_convergence_like_docker(swarm: Daemon) -> None:
    result = swarm.swarmctl(
        "service", "create", "--name", "web", "--replicas", "2", "--update-monitor", "50ms",
        "nginx",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    service_id = service_named(swarm, "web")["ID"]
    assert result.stdout == (
        f"{service_id}\n"
        "overall progress: 0 out of 2 tasks\n"
        "1/2: running\n"
        "2/2: running\n"
        "overall progress: 2 out of 2 tasks\n"
        "verify: Waiting 1 seconds to verify that tasks are stable...\n"
        f"verify: Service {service_id} converged\n"
    )
    result = swarm.swarmctl("service", "create", "-q", "--update-monitor", "10ms", "busybox")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1


def test_global_progress_is_per_node(swarm: Daemon) -> None:
    result = swarm.swarmctl(
        "service", "create", "--name", "agent", "--mode", "global", "--update-monitor", "10ms",
        "busybox",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    ready = [n["ID"] for n in swarm.backend.nodes.values() if n["Status"]["State"] == "ready"]
    assert "overall progress: 3 out of 3 tasks" in lines
    assert sorted(line for line in lines if ": running" in line) == sorted(
        f"{node_id[:12]}: running" for node_id in ready
    )


def test_a_paused_update_is_an_error(swarm: Daemon) -> None:
    create(swarm, "--name", "web", "nginx:1")
    swarm.backend.next_update_status = {
        "State": "paused",
        "Message": "update paused due to failure or early termination of task x",
    }
    result = swarm.swarmctl("service", "update", "--image", "nginx:2", "web")
    assert result.exit_code == 1
    assert result.stdout == "web\n"
    assert result.stderr == (
        "service update paused: update paused due to failure or early termination of task x\n"
    )


def test_ls_prints_docker_columns(swarm: Daemon) -> None:
    web = create(
        swarm, "--name", "web", "--replicas", "4", "--replicas-max-per-node", "2",
        "-p", "8080:80", "-p", "8081:81", "-p", "53:53/udp", "-p", "mode=host,target=22",
        "docker.io/library/nginx:1.25@sha256:abcd",
    )  # fmt: skip
    agent = create(swarm, "--name", "agent-10", "--mode", "global", "busybox")
    create(swarm, "--name", "agent-9", "--mode", "global", "busybox")
    result = swarm.swarmctl("service", "ls")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert columns(lines[0]) == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert [columns(line)[1] for line in lines[1:]] == ["agent-9", "agent-10", "web"]
    assert columns(lines[2]) == [agent["ID"][:12], "agent-10", "global", "3/3", "busybox"]
    assert columns(lines[3]) == [
        web["ID"][:12], "web", "replicated", "4/4 (max 2 per node)", "nginx:1.25",
        "*:8080-8081->80-81/tcp, *:53->53/udp",
    ]  # fmt: skip
    result = swarm.swarmctl("service", "ls", "-q", "--filter", "mode=global")
    assert sorted(result.stdout.split()) == sorted(
        s["ID"][:12] for s in swarm.backend.services.values() if "Global" in s["Spec"]["Mode"]
    )
    result = swarm.swarmctl("service", "ls", "--format", "json", "-f", "name=web")
    assert json.loads(result.stdout) == {
        "ID": web["ID"][:12],
        "Image": "nginx:1.25",
        "Mode": "replicated",
        "Name": "web",
        "Ports": "*:8080-8081->80-81/tcp, *:53->53/udp",
        "Replicas": "4/4 (max 2 per node)",
    }
    result = swarm.swarmctl("service", "ls", "-f", "colour=red")
    assert result.exit_code == 1 and "invalid filter 'colour'" in result.stderr


def test_ps_names_tasks_by_slot_and_indents_older_ones(swarm: Daemon) -> None:
    create(swarm, "--name", "web", "--replicas", "2", "nginx:1")
    result = swarm.swarmctl("service", "update", "-d", "--image", "nginx:2", "web")
    assert result.exit_code == 0, result.output
    result = swarm.swarmctl("service", "ps", "web")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert columns(lines[0]) == [
        "ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS",
    ]  # fmt: skip
    rows = [columns(line) for line in lines[1:]]
    assert [row[1:5] for row in rows] == [
        ["web.1", "nginx:2", "node-1", "Running"],
        ["\\_ web.1", "nginx:1", "node-1", "Shutdown"],
        ["web.2", "nginx:2", "node-10", "Running"],
        ["\\_ web.2", "nginx:1", "node-10", "Shutdown"],
    ]
    assert lines[2].split("   ")[1].strip(" ").startswith("\\_") and " \\_ web.1" in lines[2]
    assert rows[0][5] == "Running less than a second ago"
    result = swarm.swarmctl("service", "ps", "-q", "-f", "desired-state=running", "web")
    running = sorted(
        t["ID"] for t in swarm.backend.tasks.values() if t["DesiredState"] == "running"
    )
    assert sorted(result.stdout.split()) == running
    result = swarm.swarmctl("service", "ps", "--no-trunc", "-f", "node=self", "web")
    assert [columns(line)[0] for line in result.stdout.splitlines()[1:]] == [
        t["ID"]
        for t in sorted(swarm.backend.tasks.values(), key=lambda t: t["CreatedAt"], reverse=True)
        if t["NodeID"] == swarm.backend.node_id
    ]


def test_ps_of_a_global_service_and_missing_ones(swarm: Daemon) -> None:
    agent = create(swarm, "--name", "agent", "--mode", "global", "busybox")
    task = next(iter(swarm.backend.tasks.values()))
    task["Status"].update(State="failed", Err="task: non-zero exit (137): killed by the OOM killer")
    result = swarm.swarmctl("service", "ps", agent["ID"][:5], "nope")
    assert result.exit_code == 1 and result.stderr == "no such service: nope\n"
    names = [columns(line)[1] for line in result.stdout.splitlines()[1:]]
    assert sorted(names) == sorted(f"agent.{t['NodeID']}" for t in swarm.backend.tasks.values())
    [failed] = [line for line in result.stdout.splitlines() if "Failed" in line]
    assert '"task: non-zero exit (137): ki…"' in failed
    result = swarm.swarmctl("service", "ps", "nope")
    assert (result.exit_code, result.stdout) == (1, "")


def test_update_changes_only_what_flags_say(swarm: Daemon) -> None:
    service = create(
        swarm, "--name", "web", "-e", "A=1", "-e", "B=2", "--label", "keep=1", "--label", "drop=1",
        "--constraint", "node.role==worker", "--placement-pref", "spread=node.labels.zone",
        "--limit-memory", "1G", "--update-monitor", "1s", "-p", "8080:80", "nginx:1",
    )  # fmt: skip
    before = copy.deepcopy(service["Spec"])
    result = swarm.swarmctl(
        "service", "update", "-d", "--env-add", "B=3", "--env-add", "C=4", "--env-rm", "A",
        "--label-add", "new=yes", "--label-rm", "drop", "--constraint-add", "node.labels.a==b",
        "--constraint-rm", "node.role==worker", "--placement-pref-rm", "spread=node.labels.zone",
        "--placement-pref-add", "spread=node.labels.rack", "--reserve-cpu", "2",
        "--restart-delay", "10s", "--update-parallelism", "3", "--publish-add", "8443:443",
        "--publish-rm", "80", "--force", "--args", "-g 'daemon off;'", "web",
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, "web\n"), result.output
    after = swarm.backend.services[service["ID"]]["Spec"]
    expected = copy.deepcopy(before)
    container = expected["TaskTemplate"]["ContainerSpec"]
    container["Env"] = ["B=3", "C=4"]
    container["Args"] = ["-g", "daemon off;"]
    expected["Labels"] = {"keep": "1", "new": "yes"}
    expected["TaskTemplate"]["Placement"] = {
        "Constraints": ["node.labels.a==b"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.rack"}}],
    }
    expected["TaskTemplate"]["Resources"]["Reservations"] = {"NanoCPUs": 2 * SECOND}
    expected["TaskTemplate"]["RestartPolicy"] = {
        "Condition": "any",
        "Delay": 10 * SECOND,
        "MaxAttempts": 0,
    }
    expected["UpdateConfig"]["Parallelism"] = 3
    expected["EndpointSpec"]["Ports"] = [
        {"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 8443, "PublishMode": "ingress"}
    ]
    expected["TaskTemplate"]["ForceUpdate"] = 1
    assert after == expected
    assert swarm.backend.service_updates[-1] == {
        "ID": service["ID"],
        "rollback": False,
        "rebalance": False,
    }
    result = swarm.swarmctl("service", "update", "-d", "--force", "--rebalance", "web")
    assert result.exit_code == 0, result.output
    assert swarm.backend.services[service["ID"]]["Spec"]["TaskTemplate"]["ForceUpdate"] == 2
    assert swarm.backend.service_updates[-1]["rebalance"] is True


def test_update_refusals(swarm: Daemon) -> None:
    create(swarm, "--name", "agent", "--mode", "global", "busybox")
    result = swarm.swarmctl("service", "update", "-d", "--replicas", "3", "agent")
    assert result.exit_code == 2 and "replicas can only be used with replicated mode" in (
        result.stderr
    )
    result = swarm.swarmctl("service", "update", "--rollback", "--image", "x", "agent")
    assert result.exit_code == 2 and "other flags may not be combined with --rollback" in (
        result.stderr
    )
    result = swarm.swarmctl("service", "update", "-d", "--image", "x", "nope")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error response from daemon: service nope not found\n",
    )
    assert swarm.backend.service_updates == []


def test_rollback_through_update_and_rollback(swarm: Daemon) -> None:
    service = create(swarm, "--name", "web", "--update-monitor", "10ms", "nginx:1")
    assert swarm.swarmctl("service", "update", "-d", "--image", "nginx:2", "web").exit_code == 0
    result = swarm.swarmctl("service", "update", "-d", "--rollback", "web")
    assert (result.exit_code, result.stdout) == (0, "web\n"), result.output
    image = swarm.backend.services[service["ID"]]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image == "nginx:1"
    result = swarm.swarmctl("service", "rollback", "web")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "web",
        "rollback: manually requested rollback",
        "overall progress: rolling back update: 0 out of 1 tasks",
        "1/1: running",
        "overall progress: rolling back update: 1 out of 1 tasks",
        "verify: Waiting 1 seconds to verify that tasks are stable...",
        "verify: Service web converged",
    ]
    assert [u["rollback"] for u in swarm.backend.service_updates] == [False, True, True]


def test_scale_refuses_global_services(swarm: Daemon) -> None:
    web = create(swarm, "--name", "web", "nginx")
    create(swarm, "--name", "agent", "--mode", "global", "busybox")
    result = swarm.swarmctl("service", "scale", "-d", "web=3", "agent=2", "nope=1", "web=x")
    assert result.exit_code == 1
    assert result.stdout == "web scaled to 3\n"
    assert result.stderr.splitlines() == [
        "agent: scale can only be used with replicated or replicated-job mode",
        "nope: Error response from daemon: service nope not found",
        "web: invalid replicas value x: expected a whole number",
    ]
    assert swarm.backend.services[web["ID"]]["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
    assert len([t for t in swarm.backend.tasks.values() if t["ServiceID"] == web["ID"]]) == 3
    result = swarm.swarmctl("service", "scale", "web")
    assert result.exit_code == 2 and "invalid scale specifier 'web'" in result.stderr


def test_scale_waits_for_each_service(swarm: Daemon) -> None:
    create(swarm, "--name", "web", "--update-monitor", "10ms", "nginx")
    result = swarm.swarmctl("service", "scale", "web=2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "web scaled to 2"
    assert result.stdout.splitlines()[-1] == "verify: Service web converged"


def test_rm_inspect_and_pretty(swarm: Daemon) -> None:
    service = create(
        swarm, "--name", "web", "--replicas", "2", "--label", "a=b", "--constraint",
        "node.role==worker", "--reserve-memory", "64m", "--limit-cpu", "0.5", "-e", "X=1",
        "--update-delay", "10s", "-p", "8080:80", "nginx", "-g", "daemon off;",
    )  # fmt: skip
    result = swarm.swarmctl("service", "inspect", "web", "nope")
    assert result.exit_code == 1 and result.stderr == "no such service: nope\n"
    [inspected] = json.loads(result.stdout)
    assert inspected["ID"] == service["ID"]
    assert inspected["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"  # defaults
    result = swarm.swarmctl("service", "inspect", "--pretty", "web")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"\nID:\t\t{service['ID']}\nName:\t\tweb\nLabels:\n a=b\nService Mode:\tReplicated\n"
        " Replicas:\t2\nPlacement:\n Constraints:\t[node.role==worker]\nUpdateConfig:\n"
        " Parallelism:\t1\n Delay:\t\t10s\n On failure:\tpause\n Monitoring Period: 5s\n"
        " Max failure ratio: 0\n Update order:      stop-first\nRollbackConfig:\n"
        " Parallelism:\t1\n On failure:\tpause\n Monitoring Period: 5s\n"
        " Max failure ratio: 0\n Rollback order:    stop-first\nContainerSpec:\n"
        " Image:\t\tnginx\n Args:\t\t-g daemon off; \n Env:\t\tX=1 \nResources:\n"
        " Reservations:\n  Memory:\t64MiB\n Limits:\n  CPU:\t\t0.5\nEndpoint Mode:\tvip\n"
        "Ports:\n PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n"
        "  PublishMode = ingress\n"
    )
    result = swarm.swarmctl("service", "rm", "web", "nope")
    assert result.exit_code == 1
    assert result.stdout == "web\n"
    assert result.stderr == "Error response from daemon: service nope not found\n"
    assert swarm.backend.services == {}


def test_logs_are_prefixed_with_the_task_context(swarm: Daemon) -> None:
    service = create(swarm, "--name", "web", "--replicas", "10", "nginx")
    tasks = {t["Slot"]: t for t in swarm.backend.tasks.values()}
    swarm.backend.add_log(tasks[2]["ID"], b"two\n", time_ns=T0)
    swarm.backend.add_log(tasks[10]["ID"], b"ten\n", "stderr", time_ns=T0 + SECOND)
    hostname = {n["ID"]: n["Description"]["Hostname"] for n in swarm.backend.nodes.values()}
    two = f"web.2.{tasks[2]['ID'][:12]}@{hostname[tasks[2]['NodeID']]} "  # padded to "10"
    ten = f"web.10.{tasks[10]['ID'][:12]}@{hostname[tasks[10]['NodeID']]}"
    result = swarm.swarmctl("service", "logs", "web")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{two}    | two\n"
    assert result.stderr == f"{ten}    | ten\n"
    result = swarm.swarmctl("service", "logs", "-t", "--details", "--tail", "1", service["ID"])
    assert result.stdout == f"2023-11-14T22:13:20.000000000Z {two}    |  two\n"
    result = swarm.swarmctl("service", "logs", "--no-task-ids", "--since", "1700000000.5", "web")
    assert (result.stdout, result.stderr) == (
        "",
        f"web.10@{hostname[tasks[10]['NodeID']]}    | ten\n",
    )
    result = swarm.swarmctl("service", "logs", "--no-trunc", tasks[2]["ID"])
    assert result.stdout == (f"web.2.{tasks[2]['ID']}@{hostname[tasks[2]['NodeID']]}    | two\n")
    result = swarm.swarmctl("service", "logs", "--raw", "-t", "--details", "web")
    assert result.stdout == (
        f"2023-11-14T22:13:20.000000000Z com.docker.swarm.node.id={tasks[2]['NodeID']},"
        f"com.docker.swarm.service.id={service['ID']},com.docker.swarm.task.id={tasks[2]['ID']}"
        " two\n"
    )
    result = swarm.swarmctl("service", "logs", "nope")
    assert (result.exit_code, result.stderr) == (1, "no such task or service: nope\n")
    result = swarm.swarmctl("service", "logs", "--tail", "some", "web")
    assert result.exit_code == 2


def test_node_ps_shares_the_task_table(swarm: Daemon) -> None:
    create(swarm, "--name", "web", "--replicas", "3", "nginx")
    result = swarm.swarmctl("node", "ps", "node-10")
    [row] = [columns(line) for line in result.stdout.splitlines()[1:]]
    assert row[1:5] == ["web.2", "nginx", "node-10", "Running"]


def test_progress_on_a_terminal_rewrites_lines_in_place(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = ProgressOutput(terminal=True, width=120)
    updater = ReplicatedProgress(out)
    service = {"Spec": {"Mode": {"Replicated": {"Replicas": 2}}}}

    def task(slot: int, state: str, error: str = "") -> dict[str, Any]:
        return {"Slot": slot, "NodeID": "n1", "DesiredState": "running",
                "Status": {"State": state, "Err": error}}  # fmt: skip

    assert not updater.update(service, [task(1, "new"), task(2, "failed", "no suitable node")],
                              {"n1"}, False)  # fmt: skip
    assert updater.update(service, [task(1, "running"), task(2, "running")], {"n1"}, False)
    written = capsys.readouterr().out
    bar = "[" + "=" * 50 + ">]"
    assert written.startswith(
        "overall progress: 0 out of 2 tasks\n1/2:\n2/2:\n"
        f"\x1b[2A\r\x1b[2K1/2: new       [=====>{' ' * 45}]\r\x1b[2B"
        "\x1b[1A\r\x1b[2K2/2: no suitable node\r\x1b[1B"
    )
    assert f"\x1b[2A\r\x1b[2K1/2: running   {bar}\r\x1b[2B" in written
    assert written.endswith("\x1b[3A\r\x1b[2Koverall progress: 2 out of 2 tasks\r\x1b[3B")


def test_docker_style_flag_values() -> None:
    from swarmkit_py.cli.service_spec import parse_cpus, parse_memory, parse_ports

    assert parse_memory("64MiB") == parse_memory("64m") == 64 * MIB
    assert parse_memory("1.5g") == 1536 * MIB
    assert parse_memory("100") == 100
    assert parse_cpus("1/4") == 250_000_000
    assert parse_ports("8000-8001:80-81/udp") == [
        {"Protocol": "udp", "TargetPort": 80, "PublishedPort": 8000, "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 81, "PublishedPort": 8001, "PublishMode": "ingress"},
    ]
    assert parse_ports("80") == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 0, "PublishMode": "ingress"}
    ]
    with pytest.raises(ValueError, match="invalid ranges"):
        parse_ports("8000-8002:80-81")
    with pytest.raises(ValueError, match="hostip is not supported"):
        parse_ports("127.0.0.1:80:80")
