"""Join token rotation and root CA rotation, with nodes connected and calling throughout."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pki_helpers import ECHO, Cluster, openssl, pem

from swarmkit_py.pki import (
    CertificateRenewer,
    JoinTokenRejectedError,
    NodeRole,
    RootCAMismatchError,
    RootRotationError,
    RpcClient,
    ca_digest,
    connect,
    join,
)
from swarmkit_py.pki.tls import MANAGER_SERVER_NAME


async def test_rotating_the_worker_token_keeps_joined_nodes_and_manager_token(
    cluster: Cluster,
) -> None:
    old = cluster.ca.join_tokens
    worker = await cluster.join(NodeRole.WORKER)
    connection = await connect(cluster.address, worker)

    new = await cluster.ca.rotate_join_token("worker")
    assert new.manager == old.manager and new.worker != old.worker
    with pytest.raises(JoinTokenRejectedError, match="A valid join token is necessary"):
        await join(cluster.address, str(old.worker))
    assert (await join(cluster.address, str(new.worker))).identity.role is NodeRole.WORKER
    assert (await join(cluster.address, str(old.manager))).identity.role is NodeRole.MANAGER
    # The node that joined with the old token is unaffected, on its open connection and new ones.
    assert (await connection.call(ECHO))["node_id"] == worker.identity.node_id
    await connection.close()
    async with await connect(cluster.address, worker) as client:
        assert (await client.call(ECHO))["node_id"] == worker.identity.node_id

    await cluster.ca.rotate_join_token("manager")
    with pytest.raises(JoinTokenRejectedError):
        await join(cluster.address, str(old.manager))


@dataclass
class ConnectedNode:
    """A node that keeps one connection open and also opens new ones, calling all the time."""

    renewer: CertificateRenewer
    address: tuple[str, int]
    calls_on_open_connection: int = 0
    calls_on_new_connections: int = 0
    failures: list[str] = field(default_factory=list)

    async def traffic(self, stop: asyncio.Event) -> None:
        node_id = self.renewer.credentials.identity.node_id
        long_lived = await connect(self.address, self.renewer.credentials)
        try:
            while not stop.is_set():
                try:
                    answer = await long_lived.call(ECHO)
                    assert answer["node_id"] == node_id
                    self.calls_on_open_connection += 1
                    context = self.renewer.client_context()
                    async with await RpcClient.connect(
                        self.address, context, MANAGER_SERVER_NAME
                    ) as fresh:
                        assert (await fresh.call(ECHO))["node_id"] == node_id
                    self.calls_on_new_connections += 1
                except Exception as err:
                    self.failures.append(repr(err))
                await asyncio.sleep(0.005)
        finally:
            await long_lived.close()


async def test_root_rotation_with_nodes_connected_throughout(
    cluster: Cluster, tmp_path: Path
) -> None:
    ca = cluster.ca
    old_root = ca.store.root_state().root
    old_tokens = ca.join_tokens
    roles = (NodeRole.WORKER,) * 4 + (NodeRole.MANAGER,) * 2
    address = cluster.address
    nodes = [
        ConnectedNode(CertificateRenewer(await cluster.join(role), address), address)
        for role in roles
    ]
    stop = asyncio.Event()
    traffic = [asyncio.create_task(node.traffic(stop)) for node in nodes]
    await asyncio.sleep(0.1)

    await ca.start_root_rotation(batch_size=2)
    with pytest.raises(RootRotationError, match="already in progress"):
        await ca.start_root_rotation()
    rotation = ca.store.root_state().rotation
    assert rotation is not None
    new_root = rotation.new_root
    assert ca.trust_bundle_pem == old_root.cert_pem + new_root.cert_pem
    assert ca.join_tokens == old_tokens  # tokens change only at the end

    # A node joining mid-rotation with the current token gets a new-root certificate that still
    # verifies against the old root through the cross-signed intermediate.
    late = await cluster.join(NodeRole.WORKER)
    (tmp_path / "old.pem").write_bytes(old_root.cert_pem)
    (tmp_path / "chain.pem").write_bytes(late.chain_pem)
    (tmp_path / "leaf.pem").write_bytes(pem(late.certificate))
    (tmp_path / "cross.pem").write_bytes(pem(late.chain[1]))
    assert new_root.issued(late.certificate)
    assert "leaf.pem: OK" in openssl(
        "verify",
        "-CAfile",
        tmp_path / "old.pem",
        "-untrusted",
        tmp_path / "cross.pem",
        tmp_path / "leaf.pem",
    )
    nodes.append(ConnectedNode(CertificateRenewer(late, cluster.address), cluster.address))
    traffic.append(asyncio.create_task(nodes[-1].traffic(stop)))

    manager_id = cluster.server.credentials.identity.node_id
    assert len(ca.nodes_pending_rotation()) == 8  # 7 nodes and this manager
    rounds = 0
    while ca.store.root_state().rotation is not None:
        # One round of what each node's renewal loop does on its own.
        rounds += 1
        assert rounds <= 10
        batch = ca.rotation_batch()
        assert len(batch) <= 2
        if manager_id in batch:
            await cluster.server.renew_own_certificate()
        renewed = [node for node in nodes if await node.renewer.check()]
        # A node leaves the batch once it connects with its new certificate, so no more than
        # two nodes are between an old and a new certificate at any time.
        assert len(renewed) <= 2
        await asyncio.sleep(0.05)  # let traffic run on the new certificates
    assert 4 <= rounds <= 6

    # Finished: only the new root is trusted, every node holds a new-root certificate, and the
    # join tokens are new and carry the new root's digest.
    assert ca.store.root_state().rotation is None
    assert ca.trust_bundle_pem == ca.root_bundle_pem == new_root.cert_pem
    assert new_root.issued(cluster.server.credentials.certificate)
    for node in nodes:
        assert new_root.issued(node.renewer.credentials.certificate)
    tokens = ca.join_tokens
    assert tokens.worker != old_tokens.worker and tokens.manager != old_tokens.manager
    assert tokens.worker.digest == ca_digest(new_root.cert_pem)
    with pytest.raises(RootCAMismatchError, match="remote CA does not match fingerprint"):
        await join(cluster.address, str(old_tokens.worker))
    newcomer = await join(cluster.address, str(tokens.manager))
    assert newcomer.root_bundle_pem == new_root.cert_pem
    (tmp_path / "new.pem").write_bytes(new_root.cert_pem)
    (tmp_path / "newcomer.pem").write_bytes(pem(newcomer.certificate))
    openssl("verify", "-CAfile", tmp_path / "new.pem", tmp_path / "newcomer.pem")

    for node in nodes:  # nodes drop the old root from their trust on their next check
        await node.renewer.check()
        assert node.renewer.credentials.root_bundle_pem == new_root.cert_pem
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*traffic)

    for node in nodes:
        assert node.failures == [], list(cluster.server.rpc.rejected_handshakes)
        assert node.calls_on_open_connection > 10
        assert node.calls_on_new_connections > 10
