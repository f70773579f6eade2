"""The root CA: create one, load a user's, sign node certificates under policy, cross-sign."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .certs import (
    CERT_BACKDATE,
    NodeRole,
    expected_dns_names,
    is_issued_by,
    load_certificates,
    public_key_fingerprint,
)
from .errors import InvalidCertificateError, InvalidCSRError

ROOT_CA_COMMON_NAME = "swarm-ca"
ROOT_CA_VALIDITY = timedelta(days=20 * 365)
DEFAULT_NODE_CERT_VALIDITY = timedelta(days=90)
MIN_NODE_CERT_VALIDITY = timedelta(hours=1)

CAKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (the default clock everywhere in the PKI)."""
    return datetime.now(UTC)


def check_node_cert_validity(validity: timedelta) -> timedelta:
    """Return ``validity`` if it is at least one hour, else raise ``ValueError``."""
    if validity < MIN_NODE_CERT_VALIDITY:
        raise ValueError(
            f"node certificate validity {validity} is too short: the minimum is "
            f"{MIN_NODE_CERT_VALIDITY}"
        )
    return validity


def _key_identifier(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


class RootCA:
    """A root certificate and, when this manager signs locally, its private key."""

    def __init__(self, cert: x509.Certificate, key: CAKey | None = None) -> None:
        self.cert = cert
        self.key = key

    @property
    def cert_pem(self) -> bytes:
        """The root certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def can_sign(self) -> bool:
        """True if this CA holds its private key."""
        return self.key is not None

    @property
    def key_fingerprint(self) -> str:
        """SHA-256 of the root's public key, which names the signer of a node certificate."""
        return public_key_fingerprint(self.cert)

    def key_pem(self) -> bytes:
        """The private key in unencrypted PKCS#8 PEM."""
        if self.key is None:
            raise InvalidCertificateError("this root CA has no private key")
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def create(cls, *, now: datetime | None = None) -> RootCA:
        """A new self-signed root: ECDSA P-256, CN ``swarm-ca``, valid 20 years."""
        now = now or utc_now()
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CA_COMMON_NAME)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CERT_BACKDATE)
            .not_valid_after(now + ROOT_CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(_key_identifier(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def from_pem(
        cls, cert_pem: bytes, key_pem: bytes | None = None, *, now: datetime | None = None
    ) -> RootCA:
        """Load a user's root (certificate, and key if this manager signs), checking both."""
        certs = load_certificates(cert_pem)
        if len(certs) != 1:
            raise InvalidCertificateError(
                f"the root CA file must hold exactly one certificate, it holds {len(certs)}"
            )
        cert = certs[0]
        _check_root_certificate(cert, now or utc_now())
        key: CAKey | None = None
        if key_pem is not None:
            try:
                loaded = serialization.load_pem_private_key(key_pem, password=None)
            except (ValueError, TypeError) as err:
                raise InvalidCertificateError(f"cannot read the root CA key: {err}") from err
            if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise InvalidCertificateError("the root CA key must be an ECDSA or RSA key")
            if loaded.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ) != cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ):
                raise InvalidCertificateError("the root CA key does not match the certificate")
            key = loaded
        return cls(cert, key)

    @classmethod
    def from_files(cls, cert_path: str | Path, key_path: str | Path | None = None) -> RootCA:
        """:meth:`from_pem` on the contents of files."""
        key_pem = Path(key_path).read_bytes() if key_path is not None else None
        return cls.from_pem(Path(cert_path).read_bytes(), key_pem)

    def sign_node_certificate(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        node_id: str,
        role: NodeRole,
        cluster_id: str,
        validity: timedelta = DEFAULT_NODE_CERT_VALIDITY,
        now: datetime | None = None,
    ) -> x509.Certificate:
        """Sign a node certificate. Only the CSR's public key is used; this CA sets the rest."""
        if self.key is None:
            raise InvalidCertificateError("this root CA has no private key to sign with")
        if not csr.is_signature_valid:
            raise InvalidCSRError("invalid CSR: its signature does not match its public key")
        check_node_cert_validity(validity)
        now = now or utc_now()
        not_after = min(now + validity, self.cert.not_valid_after_utc)
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise InvalidCSRError("invalid CSR: the key must be ECDSA")
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, str(role)),
                x509.NameAttribute(NameOID.COMMON_NAME, node_id),
            ]
        )
        issuer_key = self.key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CERT_BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(name) for name in expected_dns_names(node_id, role)]
                ),
                critical=False,
            )
            .add_extension(_key_identifier(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    def cross_sign(self, new_root: RootCA, *, now: datetime | None = None) -> x509.Certificate:
        """An intermediate carrying ``new_root``'s subject and key, signed by this root.

        Peers that still trust only this root can verify certificates of the new root through it.
        """
        if self.key is None:
            raise InvalidCertificateError("cross-signing needs the current root's private key")
        now = now or utc_now()
        new_key = new_root.cert.public_key()
        if not isinstance(new_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise InvalidCertificateError("the new root key must be ECDSA or RSA")
        return (
            x509.CertificateBuilder()
            .subject_name(new_root.cert.subject)
            .issuer_name(self.cert.subject)
            .public_key(new_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CERT_BACKDATE)
            .not_valid_after(min(new_root.cert.not_valid_after_utc, self.cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(_key_identifier(new_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )

    def issued(self, cert: x509.Certificate) -> bool:
        """True if this root's key signed ``cert``."""
        return is_issued_by(cert, self.cert)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _check_root_certificate(cert: x509.Certificate, now: datetime) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise InvalidCertificateError("the root CA certificate is not a CA (basicConstraints)")
    if not is_issued_by(cert, cert):
        raise InvalidCertificateError("the root CA certificate is not self-signed")
    if cert.not_valid_after_utc <= now:
        raise InvalidCertificateError(
            f"the root CA certificate expired at {cert.not_valid_after_utc.isoformat()}"
        )
    if cert.not_valid_before_utc > now:
        raise InvalidCertificateError("the root CA certificate is not valid yet")
