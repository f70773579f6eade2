"""Mutual TLS between nodes: protocol settings, and every unacceptable client certificate."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from pki_helpers import ECHO, RAFT_CALL, Cluster

from swarmkit_py.pki import (
    CertificateExpiredError,
    ConnectionRejectedError,
    InvalidCertificateError,
    NodeCredentials,
    NodeRole,
    PermissionDeniedError,
    RpcClient,
    SwarmCA,
    client_context,
    connect,
    create_csr,
    generate_id,
    generate_node_key,
    load_csr,
    renew,
    utc_now,
)
from swarmkit_py.pki.certs import certificates_to_pem
from swarmkit_py.pki.tls import MANAGER_SERVER_NAME


def credentials_signed_by_our_root(
    cluster: Cluster, *, cluster_id: str | None = None, issued_at_offset: timedelta = timedelta()
) -> NodeCredentials:
    """A certificate our root really signed, but for another cluster or back in time."""
    key = generate_node_key()
    cert = cluster.ca.store.root_state().root.sign_node_certificate(
        load_csr(create_csr(key)),
        node_id=generate_id(),
        role=NodeRole.MANAGER,
        cluster_id=cluster_id or cluster.ca.cluster_id,
        validity=timedelta(hours=1),
        now=utc_now() + issued_at_offset,
    )
    return NodeCredentials(key, certificates_to_pem([cert]), cluster.ca.trust_bundle_pem)


async def call_echo(cluster: Cluster, credentials: NodeCredentials | None) -> dict[str, object]:
    context = client_context(cluster.ca.root_bundle_pem, credentials)
    async with await RpcClient.connect(cluster.address, context, MANAGER_SERVER_NAME) as client:
        return await client.call(ECHO)


async def test_certificate_from_another_ca_fails_the_handshake(cluster: Cluster) -> None:
    other = SwarmCA.init_cluster(cluster_id=cluster.ca.cluster_id)  # same cluster ID, other root
    foreign = await other.issue_local(role=NodeRole.MANAGER)
    credentials = NodeCredentials(foreign.key, foreign.chain_pem, cluster.ca.root_bundle_pem)
    # The manager refuses it during the handshake and says why in its log...
    with pytest.raises(ConnectionRejectedError, match="did not accept this node's certificate"):
        await call_echo(cluster, credentials)
    assert any(
        "certificate verify failed: unable to get local issuer certificate" in reason
        for reason in cluster.server.rpc.rejected_handshakes
    )
    # ...and a node using the library's connect() is told precisely before it even tries.
    with pytest.raises(InvalidCertificateError, match="was not issued by the swarm's root CA"):
        await connect(cluster.address, credentials)


async def test_certificate_of_another_cluster_is_denied(cluster: Cluster) -> None:
    credentials = credentials_signed_by_our_root(cluster, cluster_id="othercluster")
    with pytest.raises(PermissionDeniedError, match="not part of organization: othercluster"):
        await call_echo(cluster, credentials)


async def test_expired_certificate_fails_the_handshake(cluster: Cluster) -> None:
    credentials = credentials_signed_by_our_root(cluster, issued_at_offset=-timedelta(hours=3))
    with pytest.raises(ConnectionRejectedError, match="did not accept this node's certificate"):
        await call_echo(cluster, credentials)
    assert any(
        "certificate verify failed: certificate has expired" in reason
        for reason in cluster.server.rpc.rejected_handshakes
    )
    with pytest.raises(CertificateExpiredError, match="Rejoin the swarm with a join token"):
        await connect(cluster.address, credentials)


async def test_removed_node_is_denied_on_open_and_new_connections(cluster: Cluster) -> None:
    credentials = await cluster.join(NodeRole.MANAGER)
    node_id = credentials.identity.node_id
    async with await connect(cluster.address, credentials) as client:
        assert (await client.call(ECHO))["node_id"] == node_id
        await cluster.ca.remove_node(node_id)
        with pytest.raises(PermissionDeniedError, match=f"node {node_id} was removed from swarm"):
            await client.call(RAFT_CALL)
    with pytest.raises(PermissionDeniedError, match="was removed from swarm"):
        await call_echo(cluster, credentials)
    with pytest.raises(PermissionDeniedError, match="was removed from swarm"):
        await renew(cluster.address, credentials)


async def test_worker_certificate_is_denied_manager_only_calls(cluster: Cluster) -> None:
    credentials = await cluster.join(NodeRole.WORKER)
    async with await connect(cluster.address, credentials) as client:
        for method in (RAFT_CALL, "ca.GetUnlockKey"):
            with pytest.raises(PermissionDeniedError, match="not part of OUs"):
                await client.call(method)


async def test_calls_other_than_joining_need_a_client_certificate(cluster: Cluster) -> None:
    for method in (ECHO, RAFT_CALL, "ca.RenewNodeCertificate", "ca.NodeCertificateStatus"):
        context = client_context(cluster.ca.root_bundle_pem)
        async with await RpcClient.connect(cluster.address, context, MANAGER_SERVER_NAME) as client:
            with pytest.raises(PermissionDeniedError, match="needs a node certificate"):
                await client.call(method, {"csr": create_csr(generate_node_key())})


async def s_client(cluster: Cluster, root: Path, *args: str) -> tuple[int, str]:
    host, port = cluster.address
    process = await asyncio.create_subprocess_exec(
        "openssl",
        "s_client",
        "-connect",
        f"{host}:{port}",
        "-CAfile",
        str(root),
        "-verify_return_error",
        "-verify_hostname",
        "swarm-manager",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, output.decode(errors="replace")


async def test_tls_12_uses_ecdhe_with_aead_and_verifies(cluster: Cluster, tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(cluster.ca.root_bundle_pem)
    code, output = await s_client(cluster, root, "-tls1_2")
    assert code == 0, output
    assert "Protocol  : TLSv1.2" in output
    assert "Cipher    : ECDHE-ECDSA-AES" in output and "GCM" in output
    assert "Server Temp Key: ECDH, prime256v1" in output
    assert "Verification: OK" in output
    code, output = await s_client(cluster, root)
    assert code == 0 and "TLSv1.3" in output, output


@pytest.mark.parametrize(
    "args",
    [
        ("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"),
        ("-tls1", "-cipher", "DEFAULT@SECLEVEL=0"),
        ("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA"),  # CBC
        ("-tls1_2", "-cipher", "AES128-GCM-SHA256"),  # no ECDHE
    ],
)
async def test_old_protocols_and_weak_ciphers_are_refused(
    cluster: Cluster, tmp_path: Path, args: tuple[str, ...]
) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(cluster.ca.root_bundle_pem)
    code, output = await s_client(cluster, root, *args)
    assert code != 0, output
    assert "Cipher is (NONE)" in output, output
