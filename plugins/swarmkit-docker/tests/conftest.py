from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException
from swarmkit_docker import DockerRuntime
from swarmkit_docker.container import DATA_DIR_LABEL
from swarmkit_docker.testing import docker_client


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    """The real engine (a failure without one, unless SWARMKIT_SKIP_DOCKER=1)."""
    c = docker_client()
    yield c
    c.close()


@pytest.fixture
def data_dir(tmp_path: Path, client: docker.DockerClient) -> Iterator[Path]:
    """A node's data directory; the containers made for it are removed afterwards."""
    path = (tmp_path / "node").resolve()
    path.mkdir()
    yield path
    for row in client.api.containers(all=True, filters={"label": f"{DATA_DIR_LABEL}={path}"}):
        with contextlib.suppress(DockerException):
            client.api.remove_container(row["Id"], force=True, v=True)


@pytest.fixture
async def runtime(data_dir: Path) -> AsyncIterator[DockerRuntime]:
    yield DockerRuntime(data_dir)
