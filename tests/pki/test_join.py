"""Joining over real TLS on loopback: happy paths and every bad input, which changes nothing."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import msgpack
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pki_helpers import ECHO, RAFT_CALL, Cluster, openssl

from swarmkit_py.pki import (
    ConnectionRejectedError,
    InvalidCSRError,
    InvalidJoinTokenError,
    JoinToken,
    JoinTokenRejectedError,
    NodeRole,
    PermissionDeniedError,
    RootCAMismatchError,
    RpcClient,
    RpcProtocolError,
    client_context,
    connect,
    create_csr,
    fetch_root_ca,
    generate_node_key,
    join,
    unverified_client_context,
)
from swarmkit_py.pki.ca_server import ISSUE_NODE_CERTIFICATE
from swarmkit_py.pki.tls import CA_CALL_SERVER_NAME


def node_count(cluster: Cluster) -> int:
    return len(cluster.ca.store.list_nodes())


async def issue_raw(cluster: Cluster, params: dict[str, object]) -> dict[str, object]:
    """Call IssueNodeCertificate directly, bypassing the client-side checks of join()."""
    context = client_context(cluster.ca.root_bundle_pem)
    async with await RpcClient.connect(cluster.address, context, CA_CALL_SERVER_NAME) as client:
        return await client.call(ISSUE_NODE_CERTIFICATE, params)


async def test_join_as_worker_gets_worker_certificate_and_can_call(cluster: Cluster) -> None:
    before = node_count(cluster)
    credentials = await join(cluster.address, str(cluster.ca.join_tokens.worker))
    identity = credentials.identity
    assert identity.role is NodeRole.WORKER
    assert identity.cluster_id == cluster.ca.cluster_id
    assert credentials.root_bundle_pem == cluster.ca.root_bundle_pem
    assert cluster.ca.store.get_node(identity.node_id) is not None
    assert node_count(cluster) == before + 1
    async with await connect(cluster.address, credentials) as client:
        answer = await client.call(ECHO, {"x": 1})
        assert answer == {"node_id": identity.node_id, "role": "swarm-worker", "echo": {"x": 1}}
        with pytest.raises(PermissionDeniedError, match="not part of OUs: \\['swarm-manager'\\]"):
            await client.call(RAFT_CALL)
        # The connection survives a refused call.
        assert (await client.call(ECHO))["node_id"] == identity.node_id


async def test_join_as_manager_gets_manager_certificate_and_raft_access(
    cluster: Cluster, tmp_path: Path
) -> None:
    credentials = await join(cluster.address, str(cluster.ca.join_tokens.manager))
    identity = credentials.identity
    assert identity.role is NodeRole.MANAGER
    (tmp_path / "root.pem").write_bytes(credentials.root_bundle_pem)
    (tmp_path / "node.pem").write_bytes(credentials.chain_pem)
    assert "node.pem: OK" in openssl(
        "verify", "-CAfile", tmp_path / "root.pem", tmp_path / "node.pem"
    )
    text = openssl(
        "x509", "-in", tmp_path / "node.pem", "-noout", "-subject", "-ext", "subjectAltName"
    )
    subject = f"O = {cluster.ca.cluster_id}, OU = swarm-manager, CN = {identity.node_id}"
    assert f"subject={subject}" in text
    assert f"DNS:swarm-manager, DNS:{identity.node_id}, DNS:swarm-ca" in text
    async with await connect(cluster.address, credentials) as client:
        assert (await client.call(RAFT_CALL))["accepted"] is True
        assert (await client.call("ca.GetUnlockKey"))["unlock_key"].startswith("SWMKEY-1-")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("SWMTKN-2-" + "0" * 50 + "-" + "0" * 25, "must start with 'SWMTKN-1-'"),
        ("SWMTKN-1-" + "0" * 50 + "-" + "0" * 20, "expected 85 characters, got 80"),
        ("SWMTKN-1-" + "0" * 50 + "-" + "0" * 24 + "Z", "only contain 0-9 and a-z"),
    ],
)
async def test_malformed_token_is_refused_by_client_and_server(
    cluster: Cluster, token: str, message: str
) -> None:
    before = node_count(cluster)
    with pytest.raises(InvalidJoinTokenError, match=message):
        await join(cluster.address, token)
    with pytest.raises(InvalidJoinTokenError, match=message):
        await issue_raw(cluster, {"token": token, "csr": create_csr(generate_node_key())})
    assert node_count(cluster) == before


async def test_token_for_another_ca_is_refused_before_sending_a_csr(cluster: Cluster) -> None:
    before = node_count(cluster)
    real = cluster.ca.join_tokens.worker
    other_digest = "1" + real.digest[1:] if real.digest[0] != "1" else "2" + real.digest[1:]
    token = JoinToken(other_digest, real.secret)
    with pytest.raises(RootCAMismatchError, match="remote CA does not match fingerprint"):
        await join(cluster.address, str(token))
    with pytest.raises(RootCAMismatchError, match="remote CA does not match fingerprint"):
        await fetch_root_ca(cluster.address, token)
    assert node_count(cluster) == before


async def test_wrong_secret_is_refused_and_creates_no_node(cluster: Cluster) -> None:
    before = node_count(cluster)
    real = cluster.ca.join_tokens.worker
    wrong = JoinToken(real.digest, "0" * 25)
    with pytest.raises(
        JoinTokenRejectedError, match=r"^A valid join token is necessary to join this cluster$"
    ):
        await join(cluster.address, str(wrong))
    assert node_count(cluster) == before


async def test_csr_with_bad_signature_is_refused_and_creates_no_node(cluster: Cluster) -> None:
    before = node_count(cluster)
    csr = x509.load_pem_x509_csr(create_csr(generate_node_key()))
    der = bytearray(csr.public_bytes(Encoding.DER))
    der[-3] ^= 0x01
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(Encoding.PEM)
    token = str(cluster.ca.join_tokens.worker)
    with pytest.raises(InvalidCSRError, match="signature does not match its public key"):
        await issue_raw(cluster, {"token": token, "csr": tampered})
    with pytest.raises(InvalidCSRError, match="cannot parse"):
        await issue_raw(cluster, {"token": token, "csr": b"not a csr"})
    with pytest.raises(RpcProtocolError, match="'csr' must be bytes"):
        await issue_raw(cluster, {"token": token, "csr": 12})
    assert node_count(cluster) == before


async def test_the_joining_node_checks_the_managers_name(cluster: Cluster) -> None:
    # A worker certificate cannot pose as a manager: it lacks the swarm-manager/swarm-ca names.
    worker = await cluster.join(NodeRole.WORKER)
    assert "swarm-ca" not in worker.certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)
    context = client_context(cluster.ca.root_bundle_pem)
    with pytest.raises(ConnectionRejectedError, match=r"cannot verify the manager's certificate"):
        await RpcClient.connect(cluster.address, context, "swarm-elsewhere")


async def _raw_exchange(cluster: Cluster, frames: list[bytes]) -> list[dict[str, object]]:
    reader, writer = await asyncio.open_connection(
        *cluster.address, ssl=unverified_client_context(), server_hostname=""
    )
    answers = []
    try:
        for frame in frames:
            writer.write(frame)
            await writer.drain()
            try:
                header = await reader.readexactly(4)
            except asyncio.IncompleteReadError:
                break
            (length,) = struct.unpack(">I", header)
            answers.append(msgpack.unpackb(await reader.readexactly(length), raw=False))
    finally:
        writer.close()
    return answers


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


async def test_malformed_frames_get_errors_and_the_server_keeps_serving(cluster: Cluster) -> None:
    answers = await _raw_exchange(
        cluster,
        [
            _frame(b"\xc1\xc1\xc1"),  # not msgpack
            _frame(msgpack.packb([1, 2, 3])),  # not a map
            _frame(msgpack.packb({"id": "x", "method": "ca.GetRootCACertificate"})),
            _frame(msgpack.packb({"id": 4, "method": "no.Such"})),
            _frame(msgpack.packb({"id": 5, "method": ECHO, "params": {}})),  # needs a cert
            _frame(msgpack.packb({"id": 6, "method": "ca.GetRootCACertificate"})),
            struct.pack(">I", 1 << 30),  # absurd length: answered, then closed
        ],
    )
    codes = [answer["error"]["code"] if not answer["ok"] else "ok" for answer in answers]  # type: ignore[index]
    assert codes == ["bad_request"] * 4 + ["permission_denied", "ok", "bad_request"]
    assert "frame too large" in answers[-1]["error"]["message"]  # type: ignore[index]
    # Still alive for well-behaved clients.
    credentials = await cluster.join()
    assert credentials.identity.role is NodeRole.WORKER


async def test_plaintext_client_does_not_hurt_the_server(cluster: Cluster) -> None:
    reader, writer = await asyncio.open_connection(*cluster.address)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    await writer.drain()
    await reader.read()  # the server answers with a TLS alert or nothing, then closes
    writer.close()
    await asyncio.sleep(0.05)
    assert any(
        "WRONG_VERSION" in r or "http" in r.lower() or "SSL" in r
        for r in cluster.server.rpc.rejected_handshakes
    )
    assert (await cluster.join()).identity.role is NodeRole.WORKER
