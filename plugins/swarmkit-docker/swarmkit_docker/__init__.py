"""swarmkit-docker: the `docker` runtime for swarmkit-py (`swarmd --runtime docker`).

Each task runs as a container on the node's local Docker engine; see
`swarmkit_docker.runtime`. Installed, this package registers the runtime
through the `swarmkit_py` entry-point group.
"""

from __future__ import annotations

from typing import Any

from swarmkit_py.plugins import hookimpl

from .engine import ENGINE_HOST_ENV, Engine, EngineUnavailable
from .runtime import DockerHandle, DockerRuntime

__all__ = [
    "ENGINE_HOST_ENV",
    "DockerHandle",
    "DockerRuntime",
    "Engine",
    "EngineUnavailable",
    "register_runtimes",
]


@hookimpl
def register_runtimes(register: Any) -> None:
    register("docker", DockerRuntime)
