"""A client for an external CA that speaks the CFSSL signing protocol.

Managers forward each node's CSR to ``POST <url>`` (``/api/v1/cfssl/sign`` if the URL has no
path) as ``{"certificate_request", "hosts", "subject"}`` and expect
``{"success": true, "result": {"certificate": PEM}}``. The certificate is only accepted if it
says exactly what this CA's policy would have written (see :func:`check_issued_certificate`).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from cryptography import x509

from .certs import (
    NodeRole,
    chains_to,
    dns_names,
    expected_dns_names,
    load_certificates,
    node_identity,
    public_key_fingerprint,
)
from .errors import ExternalCAError, InvalidCertificateError

CFSSL_SIGN_PATH = "/api/v1/cfssl/sign"


@dataclass(frozen=True)
class ExternalCA:
    """An external CFSSL signer. ``ssl_context`` verifies it when the URL is ``https``."""

    url: str
    ssl_context: ssl.SSLContext | None = None
    profile: str | None = None
    timeout_seconds: float = 15.0

    @property
    def sign_url(self) -> str:
        """The full signing endpoint."""
        parts = urlsplit(self.url)
        if parts.path in ("", "/"):
            parts = parts._replace(path=CFSSL_SIGN_PATH)
        return urlunsplit(parts)

    async def sign(
        self, csr_pem: bytes, *, node_id: str, role: NodeRole, cluster_id: str
    ) -> list[x509.Certificate]:
        """Have the external CA sign ``csr_pem``; return the certificates it answered."""
        body: dict[str, Any] = {
            "certificate_request": csr_pem.decode(),
            "hosts": expected_dns_names(node_id, role),
            "subject": {"CN": node_id, "names": [{"O": cluster_id, "OU": str(role)}]},
        }
        if self.profile:
            body["profile"] = self.profile
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.sign_url, json=body, ssl=self.ssl_context or True) as response,
            ):
                text = await response.text()
                try:
                    answer = await response.json(content_type=None)
                except ValueError as err:
                    raise ExternalCAError(
                        f"external CA at {self.sign_url} answered HTTP {response.status} with "
                        f"something that is not JSON: {text[:200]!r}"
                    ) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ExternalCAError(
                f"cannot reach the external CA at {self.sign_url}: {err or type(err).__name__}"
            ) from err
        if not isinstance(answer, dict) or not answer.get("success"):
            errors = answer.get("errors") if isinstance(answer, dict) else answer
            raise ExternalCAError(f"external CA at {self.sign_url} refused to sign: {errors}")
        result = answer.get("result")
        certificate = result.get("certificate") if isinstance(result, dict) else None
        if not isinstance(certificate, str):
            raise ExternalCAError(f"external CA at {self.sign_url} answered no certificate")
        try:
            return load_certificates(certificate.encode())
        except InvalidCertificateError as err:
            raise ExternalCAError(f"external CA answered an unreadable certificate: {err}") from err


def parse_external_ca_spec(spec: str, ssl_context: ssl.SSLContext | None = None) -> ExternalCA:
    """Parse the ``--external-ca`` flag: ``protocol=cfssl,url=https://...``."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, separator, value = part.partition("=")
        if not separator:
            raise ValueError(f"invalid --external-ca field {part!r}: expected key=value")
        fields[key.strip().lower()] = value.strip()
    protocol = fields.pop("protocol", "cfssl")
    if protocol != "cfssl":
        raise ValueError(f"unsupported external CA protocol {protocol!r}: only 'cfssl' is")
    url = fields.pop("url", "")
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("--external-ca needs url=https://... (or http:// on loopback)")
    return ExternalCA(url=url, ssl_context=ssl_context, profile=fields.pop("profile", None))


def check_issued_certificate(
    chain: Sequence[x509.Certificate],
    *,
    csr: x509.CertificateSigningRequest,
    node_id: str,
    role: NodeRole,
    cluster_id: str,
    roots: Sequence[x509.Certificate],
) -> None:
    """Raise :class:`ExternalCAError` unless ``chain[0]`` is the certificate our policy wants:
    CN = node ID, OU = role, O = cluster, the expected DNS SANs, the CSR's key, and a chain to
    one of ``roots``."""
    if not chain:
        raise ExternalCAError("external CA answered an empty certificate chain")
    leaf = chain[0]
    try:
        identity = node_identity(leaf)
    except InvalidCertificateError as err:
        raise ExternalCAError(f"external CA certificate has the wrong subject: {err}") from err
    if (identity.node_id, identity.role, identity.cluster_id) != (node_id, role, cluster_id):
        raise ExternalCAError(
            "external CA certificate has the wrong subject: got "
            f"CN={identity.node_id} OU={identity.role} O={identity.cluster_id}, wanted "
            f"CN={node_id} OU={role} O={cluster_id}"
        )
    missing = set(expected_dns_names(node_id, role)) - set(dns_names(leaf))
    if missing:
        raise ExternalCAError(f"external CA certificate lacks the DNS names {sorted(missing)}")
    csr_key = csr.public_key()
    leaf_key = leaf.public_key()
    if public_key_fingerprint(leaf_key) != public_key_fingerprint(csr_key):
        raise ExternalCAError("external CA certificate is not for the key in the CSR")
    if not chains_to(leaf, chain[1:], roots):
        raise ExternalCAError("external CA certificate does not chain to the cluster's root CA")
