"""For tests that need a real Docker engine and the test images
(`scripts/test-image.sh`): they fail where there is none, so CI cannot pass
them by accident, unless `SWARMKIT_SKIP_DOCKER=1` says to skip them."""

from __future__ import annotations

import os

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

from .engine import connect

SKIP_ENV = "SWARMKIT_SKIP_DOCKER"
#: Built by scripts/test-image.sh from Debian's busybox-static.
TEST_IMAGE = "swarmkit-test/busybox:latest"
TEST_IMAGE_V2 = "swarmkit-test/busybox:v2"


def docker_client() -> docker.DockerClient:
    """A client of the engine the runtime would use, with the test images
    present; a test failure saying how to fix it otherwise (a skip when
    `SWARMKIT_SKIP_DOCKER=1`)."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: tests that need a Docker engine are skipped")
    try:
        client = connect()
    except DockerException as e:
        pytest.fail(f"{e} (set {SKIP_ENV}=1 to skip the Docker tests)", pytrace=False)
    for image in (TEST_IMAGE, TEST_IMAGE_V2):
        try:
            client.images.get(image)
        except ImageNotFound:
            client.close()
            pytest.fail(f"image {image} is missing: run scripts/test-image.sh", pytrace=False)
    return client
