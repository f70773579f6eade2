"""The real `docker` CLI and the Docker SDK for Python against real `swarmd`
processes on loopback, started outside any swarm: the tests form the swarm
with `docker swarm init` / `join` (or the SDK's) themselves."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from swarmkit_py.testing.local_swarm import LocalSwarm

T = TypeVar("T")

#: Docker's answer on a worker, and on a node outside any swarm.
NOT_A_MANAGER = (
    "Error response from daemon: This node is not a swarm manager. Worker nodes can't be used to "
    "view or modify cluster state. Please run this command on a manager node or promote the "
    "current node to a manager.\n"
)
NOT_IN_A_SWARM = (
    'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or '
    '"docker swarm join" to connect this node to swarm and try again.\n'
)
TOKEN = re.compile(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}")
NODE_ID = re.compile(r"[0-9a-z]{25}")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def wait_for(probe: Callable[[], T], ok: Callable[[T], bool], what: str, timeout: float = 30) -> T:
    """Calls `probe` until `ok` holds for its answer; returns that answer."""
    deadline = time.monotonic() + timeout
    last = probe()
    while not ok(last):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
        time.sleep(0.2)
        last = probe()
    return last


def table(text: str) -> list[dict[str, str]]:
    """Rows of a docker table (columns found from the header's positions)."""
    lines = text.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    names = [lines[0][s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [
        {name: line[s:e].strip() for name, (s, e) in zip(names, bounds, strict=True)}
        for line in lines[1:]
        if line.strip()
    ]


@dataclass
class DockerCLI:
    """Runs the docker CLI against one swarmd of `swarm` (by index)."""

    swarm: LocalSwarm
    binary: str
    env: dict[str, str]

    def addr(self, node: int) -> str:
        return self.swarm.nodes[node].addr

    def run(self, node: int, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-H", self.swarm.nodes[node].host, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )

    def start(self, node: int, *args: str) -> subprocess.Popen[str]:
        """The command running in the background, its stdout a pipe."""
        return subprocess.Popen(
            [self.binary, "-H", self.swarm.nodes[node].host, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )

    def ok(self, node: int, *args: str, timeout: float = 60) -> str:
        """The command's stdout; fails the test unless it exits 0."""
        done = self.run(node, *args, timeout=timeout)
        assert done.returncode == 0, f"docker {' '.join(args)} on node{node}: {done.stderr}"
        return done.stdout

    def fails(self, node: int, *args: str) -> str:
        """The command's stderr; fails the test unless it exits 1."""
        done = self.run(node, *args)
        assert done.returncode == 1, f"docker {' '.join(args)} on node{node}: {done.stdout}"
        return done.stderr

    def on_a_terminal(self, node: int, *args: str, timeout: float = 60) -> str:
        """The command's output with a pseudo-terminal as stdout (progress bars
        drawn in place), ANSI control sequences removed; fails unless it exits 0."""
        controller, terminal = pty.openpty()
        try:
            process = subprocess.Popen(
                [self.binary, "-H", self.swarm.nodes[node].host, *args],
                stdin=subprocess.DEVNULL,
                stdout=terminal,
                stderr=terminal,
                env=self.env,
            )
        finally:
            os.close(terminal)
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the terminal's other end is closed
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            os.close(controller)
            if process.poll() is None:
                process.kill()
                process.wait()
        text = _ANSI.sub("", b"".join(chunks).decode(errors="replace"))
        assert code == 0, f"docker {' '.join(args)} on node{node}: {text}"
        return text

    def node_ls(self, node: int) -> dict[str, dict[str, str]]:
        """`docker node ls` rows by hostname."""
        return {row["HOSTNAME"]: row for row in table(self.ok(node, "node", "ls"))}

    def init(self, node: int = 1, *flags: str) -> str:
        """`docker swarm init` with this node's loopback address and a fast
        heartbeat (promotions, demotions and departures are noticed in time)."""
        address = self.addr(node)
        return self.ok(
            node, "swarm", "init", "--advertise-addr", address, "--listen-addr", address,
            "--dispatcher-heartbeat", "500ms", *flags,
        )  # fmt: skip

    def join(self, node: int, token: str, *flags: str, via: int = 1) -> str:
        address = self.addr(node)
        return self.ok(
            node, "swarm", "join", "--token", token, "--advertise-addr", address,
            "--listen-addr", address, *flags, self.addr(via),
        )  # fmt: skip


@pytest.fixture
def docker_binary() -> str:
    binary = shutil.which("docker")
    if binary is None:
        pytest.fail(
            "the docker CLI is not on PATH: tests/compat drive the real docker client "
            "(Debian's docker.io or Docker's docker-ce-cli package; no engine is needed)"
        )
    return binary


@pytest.fixture
async def daemons(tmp_path: Path) -> AsyncIterator[LocalSwarm]:
    """Three swarmd processes on loopback, each outside any swarm."""
    swarm = LocalSwarm(tmp_path, managers=1, workers=2)
    try:
        await swarm.start(form=False)
        yield swarm
    finally:
        await swarm.stop()


@pytest.fixture
def docker(daemons: LocalSwarm, docker_binary: str, tmp_path: Path) -> DockerCLI:
    """The docker CLI with a private config and no hints, aimed at `daemons`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_CONFIG=str(tmp_path / "docker-config"), DOCKER_CLI_HINTS="false")
    return DockerCLI(daemons, docker_binary, env)
