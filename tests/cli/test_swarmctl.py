"""swarmctl through click's runner against the real server and the fake
backend: docker's flags, texts, columns and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from swarmkit_py.cli.swarmctl import cli

from .conftest import Daemon

HOUR = 3600 * 1_000_000_000


def columns(line: str) -> list[str]:
    """Cells of a table line (columns are at least three spaces apart)."""
    return [cell for cell in (part.strip() for part in line.split("   ")) if cell]


def test_swarm_init_prints_the_join_command(daemon: Daemon) -> None:
    result = daemon.swarmctl(
        "swarm", "init", "--advertise-addr", "10.0.0.1", "--cert-expiry", "2160h",
        "--dispatcher-heartbeat", "1m30s", "--availability", "drain",
        "--external-ca", "protocol=cfssl,url=https://ca.example:8888",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    node_id = daemon.backend.node_id
    token = daemon.backend.cluster["JoinTokens"]["Worker"]  # type: ignore[index]
    assert result.stdout == (
        f"Swarm initialized: current node ({node_id}) is now a manager.\n\n"
        "To add a worker to this swarm, run the following command:\n\n"
        f"    swarmctl swarm join --token {token} 10.0.0.1:2377\n\n"
        "To add a manager to this swarm, run 'swarmctl swarm join-token manager' and follow "
        "the instructions.\n"
    )
    spec = daemon.backend.cluster["Spec"]  # type: ignore[index]
    assert spec["CAConfig"]["NodeCertExpiry"] == 2160 * HOUR
    assert spec["CAConfig"]["ExternalCAs"] == [
        {"Protocol": "cfssl", "URL": "https://ca.example:8888", "Options": {}}
    ]
    assert spec["Dispatcher"]["HeartbeatPeriod"] == 90 * 1_000_000_000
    assert daemon.backend.nodes[node_id]["Spec"]["Availability"] == "drain"


def test_bad_flag_values_are_usage_errors(daemon: Daemon) -> None:
    result = daemon.swarmctl("swarm", "init", "--cert-expiry", "90d")
    assert result.exit_code == 2
    assert 'unknown unit "d"' in result.stderr
    result = daemon.swarmctl("swarm", "init", "--availability", "sometimes")
    assert result.exit_code == 2
    result = daemon.swarmctl("swarm", "init", "--external-ca", "url=ftp://x")
    assert result.exit_code == 2
    result = daemon.swarmctl("node", "ls", "--filter", "role")
    assert result.exit_code == 2 and "bad format of filter" in result.stderr
    assert daemon.backend.cluster is None


def test_daemon_errors_are_printed_like_docker(swarm: Daemon) -> None:
    result = swarm.swarmctl("swarm", "init")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "Error response from daemon: This node is already part of a swarm."
    )


def test_node_ls_shows_docker_columns_and_our_load(swarm: Daemon) -> None:
    result = swarm.swarmctl("node", "ls")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert columns(lines[0]) == [
        "ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION",
        "TASKS", "CPU", "MEMORY",
    ]  # fmt: skip
    rows = {columns(line)[1]: columns(line) for line in lines[1:]}
    assert [columns(line)[1] for line in lines[1:]] == ["node-1", "node-2", "node-3", "node-10"]
    assert rows["node-1"][0] == f"{swarm.backend.node_id} *"
    assert rows["node-1"][2:6] == ["Ready", "Active", "Leader", "0.1.0"]
    assert rows["node-2"][2:5] == ["Down", "Active", "0.1.0"]
    assert rows["node-3"][4] == "Unreachable"
    assert rows["node-10"][-4:] == ["0.1.0", "3", "1.5/4", "512MiB/8GiB"]
    assert lines[0].index("HOSTNAME") == lines[1].index("node-1")


def test_node_ls_quiet_filters_and_json(swarm: Daemon) -> None:
    result = swarm.swarmctl("node", "ls", "-q", "--filter", "role=manager")
    managers = {n["ID"] for n in swarm.backend.nodes.values() if n["Spec"]["Role"] == "manager"}
    assert set(result.stdout.split()) == managers and len(managers) == 2

    result = swarm.swarmctl("node", "ls", "--format", "json", "-f", "node.label=zone=a")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["Hostname"], r["Status"], r["Tasks"], r["Self"]) for r in rows] == [
        ("node-10", "Ready", "3", False)
    ]


def test_node_inspect_json_pretty_and_missing(swarm: Daemon) -> None:
    result = swarm.swarmctl("node", "inspect", "self", "node-10")
    nodes = json.loads(result.stdout)
    assert [n["Description"]["Hostname"] for n in nodes] == ["node-1", "node-10"]
    assert result.stdout.startswith("[\n    {\n")

    result = swarm.swarmctl("node", "inspect", "--pretty", "self")
    assert f"ID:\t\t\t{swarm.backend.node_id}\n" in result.stdout
    assert "Manager Status:\n Address:\t\t10.0.0.1:2377\n" in result.stdout
    assert " Leader:\t\tYes\n" in result.stdout
    assert " CPUs:\t\t\t4\n Memory:\t\t8GiB\n" in result.stdout

    result = swarm.swarmctl("node", "inspect", "node-10", "ghost")
    assert result.exit_code == 1
    assert [n["Description"]["Hostname"] for n in json.loads(result.stdout)] == ["node-10"]
    assert result.stderr == "Error response from daemon: node ghost not found\n"


def test_promote_demote_and_update(swarm: Daemon) -> None:
    result = swarm.swarmctl("node", "promote", "node-10")
    assert result.stdout == "Node node-10 promoted to a manager in the swarm.\n"
    node = next(
        n for n in swarm.backend.nodes.values() if n["Description"]["Hostname"] == "node-10"
    )
    assert node["Spec"]["Role"] == "manager" and node["ManagerStatus"]
    result = swarm.swarmctl("node", "promote", "node-10")
    assert result.stdout == f"Node {node['ID']} is already a manager.\n"
    result = swarm.swarmctl("node", "demote", "node-10")
    assert result.stdout == "Manager node-10 demoted in the swarm.\n"

    result = swarm.swarmctl(
        "node", "update", "--availability", "drain", "--label-add", "rack=r1",
        "--label-rm", "zone", "node-10",
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, "node-10\n")
    assert node["Spec"]["Availability"] == "drain"
    assert node["Spec"]["Labels"] == {"rack": "r1"}
    result = swarm.swarmctl("node", "update", "--label-rm", "zone", "node-10")
    assert (result.exit_code, result.stderr) == (1, "key zone doesn't exist in node's labels\n")


def test_demoting_the_last_manager_is_refused(daemon: Daemon) -> None:
    assert daemon.swarmctl("swarm", "init").exit_code == 0
    result = daemon.swarmctl("node", "demote", "self")
    assert result.exit_code == 1
    assert "attempting to demote the last manager" in result.stderr


def test_node_rm_reports_each_failure(swarm: Daemon) -> None:
    result = swarm.swarmctl("node", "rm", "node-10", "node-2")
    assert result.exit_code == 1
    assert result.stdout == "node-2\n"
    assert "is not down and can't be removed" in result.stderr
    result = swarm.swarmctl("node", "rm", "--force", "node-10")
    assert (result.exit_code, result.stdout) == (0, "node-10\n")


def test_node_ps_prints_the_task_table(swarm: Daemon) -> None:
    result = swarm.swarmctl("node", "ps")
    assert result.exit_code == 0, result.output
    assert columns(result.stdout.splitlines()[0]) == [
        "ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS",
    ]  # fmt: skip
    service = {
        "ID": "s" * 25,
        "Version": {"Index": 1},
        "Spec": {
            "Name": "web",
            "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1@sha256:00"}},
            "Mode": {"Replicated": {"Replicas": 1}},
        },
    }
    swarm.backend.services[service["ID"]] = service
    task = swarm.backend.add_task(service, swarm.backend.node_id, slot=1)
    task["Status"]["Timestamp"] = "2020-01-01T00:00:00.5Z"
    lines = swarm.swarmctl("node", "ps", "self").stdout.splitlines()
    cells = columns(lines[1])
    assert cells[:5] == [task["ID"][:12], "web.1", "nginx:1", "node-1", "Running"]
    assert cells[5].startswith("Running ") and cells[5].endswith(" years ago")


def test_join_tokens_and_rotation(swarm: Daemon) -> None:
    tokens = swarm.backend.cluster["JoinTokens"]  # type: ignore[index]
    result = swarm.swarmctl("swarm", "join-token", "-q", "manager")
    assert result.stdout == f"{tokens['Manager']}\n"
    result = swarm.swarmctl("swarm", "join-token", "worker")
    assert result.stdout == (
        "To add a worker to this swarm, run the following command:\n\n"
        f"    swarmctl swarm join --token {tokens['Worker']} 10.0.0.1:2377\n\n"
    )
    old = tokens["Worker"]
    result = swarm.swarmctl("swarm", "join-token", "--rotate", "worker")
    new = swarm.backend.cluster["JoinTokens"]["Worker"]  # type: ignore[index]
    assert new != old
    assert result.stdout.startswith("Successfully rotated worker join token.\n\n")
    assert new in result.stdout
    assert swarm.swarmctl("swarm", "join-token", "admin").exit_code == 2


def test_swarm_update_reads_modifies_and_writes(swarm: Daemon) -> None:
    before = swarm.backend.cluster["Version"]["Index"]  # type: ignore[index]
    result = swarm.swarmctl(
        "swarm", "update", "--dispatcher-heartbeat", "1h30m", "--task-history-limit", "10",
        "--autolock=true", "--cert-expiry", "100ms",
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, "Swarm updated.\n")
    cluster = swarm.backend.cluster
    assert cluster is not None and cluster["Version"]["Index"] > before
    assert cluster["Spec"]["Dispatcher"]["HeartbeatPeriod"] == 90 * 60 * 1_000_000_000
    assert cluster["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 10
    assert cluster["Spec"]["EncryptionConfig"]["AutoLockManagers"] is True
    assert cluster["Spec"]["CAConfig"]["NodeCertExpiry"] == 100_000_000
    assert cluster["Spec"]["Raft"]["SnapshotInterval"] == 10000  # untouched fields kept
    assert swarm.swarmctl("swarm", "update").exit_code == 2


def test_swarm_ca_shows_and_rotates_the_root(swarm: Daemon) -> None:
    root = swarm.backend.cluster["TLSInfo"]["TrustRoot"]  # type: ignore[index]
    result = swarm.swarmctl("swarm", "ca")
    assert result.stdout == root.strip() + "\n"
    result = swarm.swarmctl("swarm", "ca", "--rotate", "-q")
    assert result.exit_code == 0, result.output
    assert swarm.backend.ca_rotations == 1
    new_root = swarm.backend.cluster["TLSInfo"]["TrustRoot"]  # type: ignore[index]
    assert new_root != root and result.stdout == new_root.strip() + "\n"
    assert swarm.swarmctl("swarm", "ca", "--cert-expiry", "1h").exit_code == 2


def test_swarm_inspect_prints_the_swarm_object(swarm: Daemon) -> None:
    result = swarm.swarmctl("swarm", "inspect")
    [swarm_object] = json.loads(result.stdout)
    assert swarm_object["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
    result = swarm.swarmctl("swarm", "inspect", "--format", "json")
    assert len(result.stdout.splitlines()) == 1
    assert json.loads(result.stdout)["ID"] == swarm_object["ID"]


def test_join_and_leave(daemon: Daemon) -> None:
    result = daemon.swarmctl(
        "swarm", "join", "--token", "SWMTKN-1-abc-worker", "--availability", "pause",
        "10.0.0.1:2377",
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, "This node joined a swarm as a worker.\n")
    result = daemon.swarmctl("node", "ls")
    assert result.exit_code == 1
    assert "Worker nodes can't be used to view or modify cluster state" in result.stderr
    result = daemon.swarmctl("swarm", "leave")
    assert (result.exit_code, result.stdout) == (0, "Node left the swarm.\n")
    result = daemon.swarmctl("swarm", "leave")
    assert result.exit_code == 1


def test_leaving_as_a_manager_needs_force(swarm: Daemon) -> None:
    result = swarm.swarmctl("swarm", "leave")
    assert result.exit_code == 1 and "Use `--force`" in result.stderr
    result = swarm.swarmctl("swarm", "leave", "--force")
    assert result.stdout == "Node left the swarm.\n"


def test_no_endpoint_and_no_daemon(tmp_path: Path) -> None:
    runner = CliRunner(env={"SWARMKIT_HOST": None, "DOCKER_HOST": None})
    result = runner.invoke(cli, ["node", "ls"])
    assert result.exit_code == 1 and "pass -H" in result.stderr
    host = f"unix://{tmp_path}/nobody.sock"
    result = runner.invoke(cli, ["-H", host, "node", "ls"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Cannot connect to the swarmkit daemon at {host}.")
    result = CliRunner(env={"SWARMKIT_HOST": None, "DOCKER_HOST": host}).invoke(cli, ["node", "ls"])
    assert f"daemon at {host}" in result.stderr
