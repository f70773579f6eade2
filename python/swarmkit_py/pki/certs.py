"""Node keys, CSRs, and reading a node's identity and lifetime out of its certificate."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from .errors import InvalidCertificateError, InvalidCSRError
from .ids import is_valid_id

#: NotBefore of node certificates is set this far in the past, for peers whose clocks lag.
CERT_BACKDATE = timedelta(hours=1)
#: Renewal happens at a random point in this share of a certificate's life.
RENEWAL_WINDOW = (0.5, 0.8)

NodeKey = ec.EllipticCurvePrivateKey


class NodeRole(StrEnum):
    """A node's role as written in the OU of its certificate."""

    MANAGER = "swarm-manager"
    WORKER = "swarm-worker"


#: DNS name every manager certificate carries, so a joining node can name the CA it talks to.
CA_SERVER_NAME = "swarm-ca"


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node certificate says its holder is."""

    node_id: str
    role: NodeRole
    cluster_id: str
    not_before: datetime
    not_after: datetime


def generate_node_key() -> NodeKey:
    """A new ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: NodeKey) -> bytes:
    """PKCS#8 PEM of an unencrypted private key."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_node_key(pem: bytes) -> NodeKey:
    """Load an ECDSA private key from PEM; raise :class:`InvalidCertificateError` otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise InvalidCertificateError(f"cannot read the private key: {err}") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidCertificateError("the private key must be an ECDSA key")
    return key


def create_csr(
    key: NodeKey,
    *,
    node_id: str | None = None,
    role: NodeRole | None = None,
    cluster_id: str | None = None,
) -> bytes:
    """A PEM CSR for ``key``. The subject is a hint for external CAs; our CA ignores it."""
    attributes: list[x509.NameAttribute[str]] = []
    if cluster_id:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id))
    if role:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, str(role)))
    if node_id:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, node_id))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM CSR and check its self-signature and key type (ECDSA P-256 or P-384)."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as err:
        raise InvalidCSRError(f"invalid CSR: cannot parse it as PEM: {err}") from err
    try:
        valid = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, TypeError) as err:
        raise InvalidCSRError(f"invalid CSR: {err}") from err
    if not valid:
        raise InvalidCSRError("invalid CSR: its signature does not match its public key")
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1 | ec.SECP384R1
    ):
        raise InvalidCSRError("invalid CSR: the key must be ECDSA on P-256 or P-384")
    return csr


def public_key_fingerprint(public_key: CertificatePublicKeyTypes | x509.Certificate) -> str:
    """Hex SHA-256 of a public key's SubjectPublicKeyInfo (of a certificate's key if given one)."""
    if isinstance(public_key, x509.Certificate):
        public_key = public_key.public_key()
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, in order; raise if there is none or one is malformed."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise InvalidCertificateError(f"cannot read the certificate bundle: {err}") from err
    return certs


def certificates_to_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenated PEM of ``certs``."""
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def _single_name(cert: x509.Certificate, oid: x509.ObjectIdentifier, label: str) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    if len(values) != 1:
        raise InvalidCertificateError(f"node certificate must have exactly one {label}")
    value = values[0].value
    return value if isinstance(value, str) else value.decode()


def node_identity(cert: x509.Certificate) -> NodeIdentity:
    """The node ID (CN), role (OU) and cluster ID (O) of a node certificate."""
    node_id = _single_name(cert, NameOID.COMMON_NAME, "CN (node ID)")
    role_text = _single_name(cert, NameOID.ORGANIZATIONAL_UNIT_NAME, "OU (role)")
    cluster_id = _single_name(cert, NameOID.ORGANIZATION_NAME, "O (cluster ID)")
    try:
        role = NodeRole(role_text)
    except ValueError as err:
        raise InvalidCertificateError(
            f"node certificate has unknown role OU {role_text!r}"
        ) from err
    if not is_valid_id(node_id):
        raise InvalidCertificateError(f"node certificate CN {node_id!r} is not a node ID")
    return NodeIdentity(
        node_id=node_id,
        role=role,
        cluster_id=cluster_id,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def expected_dns_names(node_id: str, role: NodeRole) -> list[str]:
    """The DNS SANs of a node certificate: role, node ID, and ``swarm-ca`` for managers."""
    names = [str(role), node_id]
    if role is NodeRole.MANAGER:
        names.append(CA_SERVER_NAME)
    return names


def dns_names(cert: x509.Certificate) -> list[str]:
    """The DNS subject alternative names of ``cert`` (empty if it has none)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return san.value.get_values_for_type(x509.DNSName)


def renewal_time(cert: x509.Certificate, rng: random.Random | None = None) -> datetime:
    """A random moment between 50% and 80% of the certificate's life.

    The life starts when the certificate was issued: NotBefore plus the 1-hour backdate our CA
    applies (when the certificate is long enough to have been backdated).
    """
    start = cert.not_valid_before_utc
    end = cert.not_valid_after_utc
    if end - start > CERT_BACKDATE:
        start += CERT_BACKDATE
    low, high = RENEWAL_WINDOW
    share = (rng or random.SystemRandom()).uniform(low, high)
    return start + (end - start) * share


def is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True if ``issuer``'s key signed ``cert`` and the names chain."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def chains_to(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
) -> bool:
    """True if ``leaf`` is signed by a root, or by an intermediate a root signed."""
    if any(is_issued_by(leaf, root) for root in roots):
        return True
    return any(
        is_issued_by(leaf, middle) and any(is_issued_by(middle, root) for root in roots)
        for middle in intermediates
    )
