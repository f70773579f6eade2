"""An external CA: node certificates signed by a real `cfssl serve` process over HTTPS."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pki_helpers import ECHO, RAFT_CALL, openssl, pem, start_cluster

from swarmkit_py.pki import (
    ExternalCA,
    ExternalCAError,
    NodeRole,
    RootCA,
    SwarmCA,
    connect,
    generate_node_key,
    join,
    parse_external_ca_spec,
    renew,
    utc_now,
)
from swarmkit_py.pki.certs import key_to_pem

CFSSL_CONFIG = {
    "signing": {
        "default": {
            "usages": ["signing", "key encipherment", "server auth", "client auth"],
            "expiry": "2160h",
        }
    }
}


@dataclass
class Cfssl:
    root: RootCA
    url: str
    trust: ssl.SSLContext


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tls_server_certificate(root: RootCA, directory: Path) -> None:
    """cfssl's own HTTPS certificate, for 127.0.0.1, issued by the swarm root."""
    assert root.key is not None
    key = generate_node_key()
    now = utc_now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cfssl")]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    (directory / "tls.pem").write_bytes(pem(cert))
    (directory / "tls-key.pem").write_bytes(key_to_pem(key))


@pytest.fixture
async def cfssl(tmp_path: Path) -> AsyncIterator[Cfssl]:
    binary = shutil.which("cfssl")
    assert binary, "cfssl is not installed: the project setup installs Debian's golang-cfssl"
    root = RootCA.create()
    (tmp_path / "ca.pem").write_bytes(root.cert_pem)
    (tmp_path / "ca-key.pem").write_bytes(root.key_pem())
    (tmp_path / "config.json").write_text(json.dumps(CFSSL_CONFIG))
    _tls_server_certificate(root, tmp_path)
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        "serve",
        "-address",
        "127.0.0.1",
        "-port",
        str(port),
        "-ca",
        str(tmp_path / "ca.pem"),
        "-ca-key",
        str(tmp_path / "ca-key.pem"),
        "-config",
        str(tmp_path / "config.json"),
        "-tls-cert",
        str(tmp_path / "tls.pem"),
        "-tls-key",
        str(tmp_path / "tls-key.pem"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(tmp_path / "cfssl.log").open("wb"),
    )
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                assert process.returncode is None, (tmp_path / "cfssl.log").read_text()
                await asyncio.sleep(0.05)
        else:
            pytest.fail("cfssl serve did not start: " + (tmp_path / "cfssl.log").read_text())
        trust = ssl.create_default_context(cadata=root.cert_pem.decode())
        yield Cfssl(root, f"https://127.0.0.1:{port}", trust)
    finally:
        process.terminate()
        await process.wait()


async def test_cluster_with_certificates_signed_by_cfssl(cfssl: Cfssl, tmp_path: Path) -> None:
    external = parse_external_ca_spec(f"protocol=cfssl,url={cfssl.url}", cfssl.trust)
    assert external.sign_url == cfssl.url + "/api/v1/cfssl/sign"
    # The manager has the root certificate but not its key: cfssl signs everything.
    ca = SwarmCA.init_cluster(root=RootCA(cfssl.root.cert), external_ca=external)
    cluster = await start_cluster(ca)
    try:
        manager = cluster.server.credentials
        worker = await cluster.join(NodeRole.WORKER)
        second_manager = await cluster.join(NodeRole.MANAGER)
        (tmp_path / "root.pem").write_bytes(cfssl.root.cert_pem)
        for credentials in (manager, worker, second_manager):
            identity = credentials.identity
            assert identity.cluster_id == ca.cluster_id
            leaf = tmp_path / f"{identity.node_id}.pem"
            leaf.write_bytes(pem(credentials.certificate))
            assert "OK" in openssl("verify", "-CAfile", tmp_path / "root.pem", leaf)
            text = openssl("x509", "-in", leaf, "-noout", "-subject", "-ext", "subjectAltName")
            assert f"O = {ca.cluster_id}, OU = {identity.role}, CN = {identity.node_id}" in text
            assert f"DNS:{identity.role}, DNS:{identity.node_id}" in text
            # cfssl's profile decides the validity: 2160h.
            life = identity.not_after - identity.not_before
            assert timedelta(days=89) < life < timedelta(days=91)
        log = (tmp_path / "cfssl.log").read_text()
        assert log.count("signed certificate") >= 3

        async with await connect(cluster.address, second_manager) as client:
            assert (await client.call(RAFT_CALL))["accepted"] is True
        renewed = await renew(cluster.address, worker)
        assert renewed.identity.node_id == worker.identity.node_id
        async with await connect(cluster.address, renewed) as client:
            assert (await client.call(ECHO))["node_id"] == worker.identity.node_id
    finally:
        await cluster.server.close()


async def test_certificates_from_the_wrong_external_ca_are_refused(cfssl: Cfssl) -> None:
    # The cluster's root is not the one cfssl signs with: nothing it signs is accepted.
    own_root = RootCA.create()
    local = SwarmCA.init_cluster(root=own_root)
    manager = await local.issue_local()
    ca = SwarmCA(local.store, external_ca=ExternalCA(cfssl.url, cfssl.trust))
    cluster = await start_cluster(ca, manager)
    try:
        before = len(ca.store.list_nodes())
        with pytest.raises(ExternalCAError, match="does not chain to the cluster's root CA"):
            await join(cluster.address, str(ca.join_tokens.worker))
        assert len(ca.store.list_nodes()) == before
    finally:
        await cluster.server.close()


async def test_unreachable_external_ca_is_reported_and_creates_no_node(cfssl: Cfssl) -> None:
    ca = SwarmCA.init_cluster(
        root=RootCA(cfssl.root.cert), external_ca=ExternalCA(cfssl.url, cfssl.trust)
    )
    cluster = await start_cluster(ca)
    try:
        ca.external_ca = ExternalCA(f"https://127.0.0.1:{_free_port()}")  # cfssl went away
        before = len(ca.store.list_nodes())
        with pytest.raises(ExternalCAError, match="cannot reach the external CA"):
            await join(cluster.address, str(ca.join_tokens.worker))
        assert len(ca.store.list_nodes()) == before
    finally:
        await cluster.server.close()
