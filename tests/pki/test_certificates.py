"""Root CA and node certificates: fields as specified, checked with the openssl CLI."""

from __future__ import annotations

import random
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pki_helpers import openssl, pem

from swarmkit_py.pki import (
    CERT_BACKDATE,
    InvalidCertificateError,
    InvalidCSRError,
    KeyStore,
    NodeCredentials,
    NodeRole,
    RootCA,
    SwarmCA,
    create_csr,
    generate_id,
    generate_node_key,
    load_csr,
    node_identity,
    renewal_time,
)
from swarmkit_py.pki.ca_state import RootCAState, RootRotation
from swarmkit_py.pki.certs import key_to_pem

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _sign(root: RootCA, role: NodeRole, **kwargs: object) -> tuple[str, str, x509.Certificate]:
    node_id, cluster_id = generate_id(), generate_id()
    csr = load_csr(create_csr(generate_node_key()))
    cert = root.sign_node_certificate(
        csr,
        node_id=node_id,
        role=role,
        cluster_id=cluster_id,
        **kwargs,  # type: ignore[arg-type]
    )
    return node_id, cluster_id, cert


def test_root_ca_is_p256_swarm_ca_valid_20_years() -> None:
    root = RootCA.create(now=NOW)
    cert = root.cert
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    assert cert.subject.rfc4514_string() == "CN=swarm-ca"
    assert cert.not_valid_after_utc - NOW == timedelta(days=7300)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize("role", [NodeRole.WORKER, NodeRole.MANAGER])
def test_node_certificate_verifies_and_reads_as_specified_with_openssl(
    tmp_path: Path, role: NodeRole
) -> None:
    root = RootCA.create()
    node_id, cluster_id, cert = _sign(root, role)
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    (tmp_path / "node.pem").write_bytes(pem(cert))
    out = openssl(
        "verify", "-CAfile", tmp_path / "root.pem", "-purpose", "sslclient", tmp_path / "node.pem"
    )
    assert "node.pem: OK" in out
    openssl(
        "verify", "-CAfile", tmp_path / "root.pem", "-purpose", "sslserver", tmp_path / "node.pem"
    )
    text = openssl(
        "x509",
        "-in",
        tmp_path / "node.pem",
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints",
    )
    assert f"subject=O = {cluster_id}, OU = {role}, CN = {node_id}" in text
    expected_sans = f"DNS:{role}, DNS:{node_id}"
    if role is NodeRole.MANAGER:
        expected_sans += ", DNS:swarm-ca"
    assert expected_sans in text
    assert "Digital Signature, Key Encipherment" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    assert "CA:FALSE" in text


def test_validity_is_90_days_by_default_backdated_one_hour() -> None:
    root = RootCA.create(now=NOW)
    _, _, cert = _sign(root, NodeRole.WORKER, now=NOW)
    assert cert.not_valid_before_utc == NOW - CERT_BACKDATE
    assert cert.not_valid_after_utc == NOW + timedelta(days=90)
    _, _, short = _sign(root, NodeRole.WORKER, now=NOW, validity=timedelta(hours=1))
    assert short.not_valid_after_utc == NOW + timedelta(hours=1)


def test_validity_below_one_hour_is_refused() -> None:
    with pytest.raises(ValueError, match="minimum is 1:00:00"):
        SwarmCA.init_cluster(node_cert_validity=timedelta(minutes=59))
    with pytest.raises(ValueError, match="too short"):
        _sign(RootCA.create(), NodeRole.WORKER, validity=timedelta(minutes=30))


def test_only_the_public_key_is_taken_from_the_csr() -> None:
    root = RootCA.create()
    key = generate_node_key()
    csr_pem = create_csr(key, node_id="attacker", role=NodeRole.MANAGER, cluster_id="evil")
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swarm-ca")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("swarm-manager")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    csr_with_extensions = builder.sign(key, hashes.SHA256())
    for csr in (load_csr(csr_pem), csr_with_extensions):
        node_id = generate_id()
        cert = root.sign_node_certificate(
            csr, node_id=node_id, role=NodeRole.WORKER, cluster_id="cluster1"
        )
        identity = node_identity(cert)
        assert (identity.node_id, identity.role, identity.cluster_id) == (
            node_id,
            NodeRole.WORKER,
            "cluster1",
        )
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["swarm-worker", node_id]
        assert cert.public_key() == key.public_key()
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_csr_with_bad_signature_or_garbage_is_refused() -> None:
    csr_pem = create_csr(generate_node_key())
    csr = x509.load_pem_x509_csr(csr_pem)
    der = bytearray(csr.public_bytes(Encoding.DER))
    der[-3] ^= 0x01  # inside the signature value
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(Encoding.PEM)
    with pytest.raises(InvalidCSRError, match="signature does not match"):
        load_csr(tampered)
    with pytest.raises(InvalidCSRError, match="cannot parse"):
        load_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")


def test_user_supplied_root_ca_files_sign_node_certificates(tmp_path: Path) -> None:
    # The user's root, made with the openssl CLI.
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        tmp_path / "ca-key.pem",
        "-out",
        tmp_path / "ca.pem",
        "-days",
        "3650",
        "-subj",
        "/CN=My Corp Swarm Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    root = RootCA.from_files(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    _, _, cert = _sign(root, NodeRole.MANAGER)
    (tmp_path / "node.pem").write_bytes(pem(cert))
    assert "OK" in openssl("verify", "-CAfile", tmp_path / "ca.pem", tmp_path / "node.pem")
    with pytest.raises(InvalidCertificateError, match="does not match the certificate"):
        RootCA.from_pem(root.cert_pem, RootCA.create().key_pem())
    with pytest.raises(InvalidCertificateError, match="not a CA"):
        RootCA.from_pem(pem(cert))


def test_renewal_time_is_between_50_and_80_percent_of_life() -> None:
    root = RootCA.create(now=NOW)
    _, _, cert = _sign(root, NodeRole.WORKER, now=NOW, validity=timedelta(days=90))
    rng = random.Random(7)
    times = [renewal_time(cert, rng) for _ in range(500)]
    life = timedelta(days=90)
    assert min(times) >= NOW + life * 0.5
    assert max(times) <= NOW + life * 0.8
    assert max(times) - min(times) > life * 0.25  # really spread, not a fixed point


def test_keystore_writes_private_files_and_reads_them_back(tmp_path: Path) -> None:
    root = RootCA.create()
    key = generate_node_key()
    cert = root.sign_node_certificate(
        load_csr(create_csr(key)), node_id=generate_id(), role=NodeRole.WORKER, cluster_id="c1"
    )
    store = KeyStore(tmp_path / "certificates")
    credentials = NodeCredentials(key, pem(cert), root.cert_pem)
    store.save(credentials)
    for path in (store.key_path, store.cert_path, store.root_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(store.directory.glob(".*tmp*"))
    loaded = store.load()
    assert loaded.certificate == cert and key_to_pem(loaded.key) == key_to_pem(key)
    # A key that does not match the certificate (interrupted renewal) is reported.
    store.key_path.write_bytes(key_to_pem(generate_node_key()))
    with pytest.raises(InvalidCertificateError, match="does not match"):
        store.load()


def test_root_state_bundles_during_rotation() -> None:
    old, new = RootCA.create(), RootCA.create()
    state = RootCAState(old, RootRotation(old, new, old.cross_sign(new), batch_size=2))
    assert state.signing_root is new
    assert state.root_bundle_pem == old.cert_pem
    assert state.trust_bundle_pem == old.cert_pem + new.cert_pem
    assert b"BEGIN CERTIFICATE" in state.intermediates_pem
