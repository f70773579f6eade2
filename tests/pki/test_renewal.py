"""Renewal over mutual TLS, role changes, and recovery from a certificate that expired offline."""

from __future__ import annotations

import asyncio
import random
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pki_helpers import ECHO, RAFT_CALL, Cluster, start_cluster

from swarmkit_py.pki import (
    CertificateExpiredError,
    CertificateRenewer,
    KeyStore,
    NodeRole,
    PermissionDeniedError,
    SwarmCA,
    connect,
    dns_names,
    join,
    renew,
    utc_now,
)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def test_node_renews_between_50_and_80_percent_of_its_life(
    short_lived_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = short_lived_cluster
    credentials = await cluster.join(NodeRole.WORKER)
    issued_at = credentials.certificate.not_valid_before_utc + timedelta(hours=1)
    assert credentials.certificate.not_valid_after_utc - issued_at == timedelta(hours=1)
    clock = FakeClock(issued_at)
    store = KeyStore(tmp_path / "certificates")
    renewer = CertificateRenewer(
        credentials, cluster.address, keystore=store, clock=clock, rng=random.Random(3)
    )
    minute = timedelta(minutes=1)
    assert issued_at + 30 * minute <= renewer.renew_at <= issued_at + 48 * minute

    clock.advance(timedelta(minutes=29))
    assert not renewer.renewal_due()
    assert await renewer.check() is False  # the manager has no reason to ask either
    assert renewer.credentials is credentials

    clock.advance(timedelta(minutes=20))  # 49 minutes: past 80%
    assert renewer.renewal_due()
    assert await renewer.check() is True
    renewed = renewer.credentials
    assert renewed.identity.node_id == credentials.identity.node_id
    assert renewed.identity.role is NodeRole.WORKER
    assert renewed.key_pem != credentials.key_pem  # a fresh key every renewal
    assert renewed.certificate.serial_number != credentials.certificate.serial_number
    assert store.load().chain_pem == renewed.chain_pem
    assert stat.S_IMODE(store.key_path.stat().st_mode) == 0o600
    async with await connect(cluster.address, renewed) as client:
        assert (await client.call(ECHO))["node_id"] == renewed.identity.node_id


async def test_background_loop_renews_when_due(short_lived_cluster: Cluster) -> None:
    credentials = await short_lived_cluster.join()
    clock = FakeClock(credentials.certificate.not_valid_after_utc - timedelta(minutes=5))
    renewed = asyncio.Event()
    renewer = CertificateRenewer(
        credentials, short_lived_cluster.address, clock=clock, on_renewed=lambda _: renewed.set()
    )
    task = asyncio.create_task(renewer.run(poll_interval=0.01))
    try:
        await asyncio.wait_for(renewed.wait(), 10)
    finally:
        task.cancel()
    assert renewer.credentials.certificate != credentials.certificate


async def test_promote_and_demote_change_the_certificate_ou(cluster: Cluster) -> None:
    credentials = await cluster.join(NodeRole.WORKER)
    node_id = credentials.identity.node_id
    renewer = CertificateRenewer(credentials, cluster.address)
    worker_connection = await connect(cluster.address, credentials)

    await cluster.ca.set_role(node_id, NodeRole.MANAGER)
    assert await renewer.check() is True
    manager_credentials = renewer.credentials
    assert manager_credentials.identity.role is NodeRole.MANAGER
    assert dns_names(manager_credentials.certificate) == ["swarm-manager", node_id, "swarm-ca"]
    async with await connect(cluster.address, manager_credentials) as client:
        assert (await client.call(RAFT_CALL))["from"] == node_id
    with pytest.raises(PermissionDeniedError, match="not part of OUs"):
        await worker_connection.call(RAFT_CALL)  # the old worker certificate stays a worker
    await worker_connection.close()

    await cluster.ca.set_role(node_id, NodeRole.WORKER)
    assert await renewer.check() is True
    demoted = renewer.credentials
    assert demoted.identity.role is NodeRole.WORKER
    async with await connect(cluster.address, demoted) as client:
        with pytest.raises(PermissionDeniedError, match="not part of OUs"):
            await client.call(RAFT_CALL)
    assert await renewer.check() is False  # nothing left to change


async def test_expired_node_is_told_to_rejoin_and_can_recover_its_id() -> None:
    clock = FakeClock()
    ca = SwarmCA.init_cluster(node_cert_validity=timedelta(hours=1), clock=clock)
    cluster = await start_cluster(ca)
    try:
        worker_token = str(ca.join_tokens.worker)
        clock.now = utc_now() - timedelta(hours=3)  # the node joined 3 hours ago, then went off
        credentials = await join(cluster.address, worker_token)
        node_id = credentials.identity.node_id
        clock.now = utc_now()  # back to the present: the node's certificate has expired

        with pytest.raises(CertificateExpiredError) as raised:
            CertificateRenewer(credentials, cluster.address)
        message = str(raised.value)
        assert f"node {node_id} expired at" in message
        assert "Rejoin the swarm with a join token" in message
        assert f"--recover {node_id}" in message
        with pytest.raises(CertificateExpiredError):
            await renew(cluster.address, credentials)

        # Recovery needs a valid token and the node's own key.
        with pytest.raises(PermissionDeniedError, match="not signed with the node's key"):
            await join(cluster.address, worker_token, recover_node_id=node_id)
        recovered = await join(
            cluster.address, worker_token, key=credentials.key, recover_node_id=node_id
        )
        assert recovered.identity.node_id == node_id
        assert recovered.identity.not_after > utc_now()
        async with await connect(cluster.address, recovered) as client:
            assert (await client.call(ECHO))["node_id"] == node_id

        await ca.remove_node(node_id)
        with pytest.raises(PermissionDeniedError, match="was removed"):
            await join(cluster.address, worker_token, key=credentials.key, recover_node_id=node_id)
    finally:
        await cluster.server.close()
