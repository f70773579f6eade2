"""Fixtures for the PKI tests: a real manager listening on loopback TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pki_helpers import Cluster, start_cluster

from swarmkit_py.pki import SwarmCA


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    cluster = await start_cluster(SwarmCA.init_cluster(autolock=True))
    try:
        yield cluster
    finally:
        await cluster.server.close()


@pytest.fixture
async def short_lived_cluster() -> AsyncIterator[Cluster]:
    """Node certificates valid one hour (the minimum)."""
    cluster = await start_cluster(SwarmCA.init_cluster(node_cert_validity=timedelta(hours=1)))
    try:
        yield cluster
    finally:
        await cluster.server.close()
