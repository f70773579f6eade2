"""swarmctl as a real process, and the real docker CLI, against the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Daemon

Run = Callable[..., subprocess.CompletedProcess[str]]


def swarmctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarmkit_py.cli.swarmctl", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_swarmctl_process_lists_nodes(swarm: Daemon) -> None:
    done = swarmctl("-H", swarm.host, "node", "ls")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "HOSTNAME", "STATUS"]
    assert lines[1].startswith(f"{swarm.backend.node_id} *   node-1")
    assert len(lines) == 5


def test_swarmctl_process_reads_the_endpoint_from_the_environment(swarm: Daemon) -> None:
    token = swarm.backend.cluster["JoinTokens"]["Worker"]  # type: ignore[index]
    done = swarmctl("swarm", "join-token", "-q", "worker", env={"SWARMKIT_HOST": swarm.host})
    assert (done.returncode, done.stdout) == (0, token + "\n")
    done = swarmctl(
        "swarm", "join-token", "-q", "worker",
        env={"SWARMKIT_HOST": "", "DOCKER_HOST": swarm.host},
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, token + "\n")


def test_swarmctl_process_exit_codes(swarm: Daemon) -> None:
    done = swarmctl("-H", swarm.host, "node", "inspect", "ghost")
    assert done.returncode == 1
    assert done.stderr == "Error response from daemon: node ghost not found\n"
    done = swarmctl("-H", swarm.host, "node", "ls", "--bogus")
    assert done.returncode == 2 and "No such option" in done.stderr


@pytest.fixture
def docker(tmp_path: Path) -> Run:
    """Runs the real docker CLI (skips when it is not installed)."""
    binary = shutil.which("docker")
    if binary is None:
        pytest.skip("docker CLI not on PATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_CONFIG=str(tmp_path / "docker-config"), DOCKER_CLI_HINTS="false")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30, env=env)

    return run


def test_docker_cli_drives_the_server(daemon: Daemon, docker: Run) -> None:
    run = docker
    host = ["-H", daemon.host]

    done = run(*host, "swarm", "init", "--advertise-addr", "10.0.0.1")
    assert done.returncode == 0, done.stderr
    assert f"current node ({daemon.backend.node_id}) is now a manager" in done.stdout
    token = daemon.backend.cluster["JoinTokens"]["Worker"]  # type: ignore[index]
    assert f"docker swarm join --token {token} 10.0.0.1:2377" in done.stdout

    daemon.backend.add_node(
        "node-10", load={"RunningTasks": 2, "NanoCPUsUsed": 10**9, "MemoryBytesUsed": 2**30}
    )
    daemon.backend.add_node("node-2", role="manager", state="down", reachability="unreachable")
    done = run(*host, "node", "update", "--availability", "pause", "node-10")
    assert (done.returncode, done.stdout) == (0, "node-10\n"), done.stderr

    docker_lines = run(*host, "node", "ls").stdout.splitlines()
    assert docker_lines[0] == (
        "ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   "
        "ENGINE VERSION"
    )
    # swarmctl prints docker's columns byte for byte, then its own.
    ours = daemon.swarmctl("node", "ls").stdout.splitlines()
    assert len(ours) == len(docker_lines) == 4
    for theirs, mine in zip(docker_lines, ours, strict=True):
        assert mine.startswith(theirs.rstrip())
    assert "Pause" in docker_lines[3] and "Unreachable" in docker_lines[2]

    done = run(*host, "info", "--format", "{{json .Swarm}}")
    swarm_info = json.loads(done.stdout)
    assert swarm_info["NodeID"] == daemon.backend.node_id
    assert swarm_info["Managers"] == 2 and swarm_info["Nodes"] == 3

    done = run(*host, "swarm", "join-token", "-q", "worker")
    assert done.stdout == token + "\n"

    done = run(*host, "node", "inspect", "ghost")
    assert done.returncode == 1
    assert "Error response from daemon: node ghost not found" in done.stderr

    ours_pretty = daemon.swarmctl("node", "inspect", "--pretty", "self").stdout
    theirs_pretty = run(*host, "node", "inspect", "--pretty", "self").stdout
    assert ours_pretty.rstrip("\n") == theirs_pretty.rstrip("\n")
