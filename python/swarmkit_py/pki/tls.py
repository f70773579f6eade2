"""``ssl.SSLContext`` factories for node-to-node mutual TLS.

TLS 1.2 or newer; in TLS 1.2 only ECDHE key exchange with AEAD ciphers (TLS 1.3 suites are all
AEAD, and the key-exchange group is pinned to an elliptic curve).
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from .certs import CA_SERVER_NAME, NodeRole
from .keystore import NodeCredentials, write_private_file

TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
ECDH_CURVE = "prime256v1"
#: Name a client checks in a manager's certificate for ordinary calls.
MANAGER_SERVER_NAME = str(NodeRole.MANAGER)
#: Name a joining node checks in a manager's certificate for the CA calls.
CA_CALL_SERVER_NAME = CA_SERVER_NAME


def harden(context: ssl.SSLContext) -> ssl.SSLContext:
    """TLS 1.2 or newer, ECDHE with AEAD ciphers only: every TLS endpoint of a node."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.set_ecdh_curve(ECDH_CURVE)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


def _load_chain(context: ssl.SSLContext, credentials: NodeCredentials) -> None:
    # ssl can only load a key and chain from files: stage them in a private temp directory.
    with tempfile.TemporaryDirectory(prefix="swarmkit-tls-") as directory:
        cert_file = Path(directory) / "chain.pem"
        key_file = Path(directory) / "key.pem"
        write_private_file(cert_file, credentials.chain_pem)
        write_private_file(key_file, credentials.key_pem)
        context.load_cert_chain(cert_file, key_file)


def server_context(credentials: NodeCredentials) -> ssl.SSLContext:
    """A manager's listening context: presents its chain, verifies client certificates if sent.

    A client certificate is optional at the TLS layer because a joining node has none yet; each
    call then decides, through :mod:`swarmkit_py.pki.authz`, whether it needs one.
    """
    context = harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    _load_chain(context, credentials)
    context.load_verify_locations(cadata=credentials.root_bundle_pem.decode())
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context(
    root_bundle_pem: bytes, credentials: NodeCredentials | None = None
) -> ssl.SSLContext:
    """A context that verifies the server against ``root_bundle_pem`` and, given credentials,
    presents them as the client certificate."""
    context = harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.load_verify_locations(cadata=root_bundle_pem.decode())
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if credentials is not None:
        _load_chain(context, credentials)
    return context


def unverified_client_context() -> ssl.SSLContext:
    """The context a joining node uses to fetch the root CA before it can trust anything.

    The server is not verified here; the caller must check what it fetched against the digest in
    the join token before relying on it.
    """
    context = harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
