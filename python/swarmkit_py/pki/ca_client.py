"""The node side of the CA calls: fetch and check the root, join, renew, ask for status."""

from __future__ import annotations

from datetime import datetime

from .ca import utc_now
from .ca_server import (
    GET_ROOT_CA,
    ISSUE_NODE_CERTIFICATE,
    NODE_CERTIFICATE_STATUS,
    RENEW_NODE_CERTIFICATE,
)
from .ca_service import CertificateStatus
from .certs import (
    NodeKey,
    NodeRole,
    chains_to,
    create_csr,
    generate_node_key,
    load_certificates,
    public_key_fingerprint,
)
from .errors import CertificateExpiredError, InvalidCertificateError, RootCAMismatchError
from .keystore import NodeCredentials
from .rpc import Params, RpcClient
from .tls import CA_CALL_SERVER_NAME, MANAGER_SERVER_NAME, client_context, unverified_client_context
from .tokens import JoinToken, ca_digest, parse_join_token

Address = tuple[str, int]


async def fetch_root_ca(address: Address, token: JoinToken) -> bytes:
    """Fetch the manager's root CA bundle without trusting it, then check it against the token.

    Raises :class:`RootCAMismatchError` if the digest differs: the manager is not the one the
    token was made for (or someone is in between).
    """
    async with await RpcClient.connect(address, unverified_client_context()) as client:
        answer = await client.call(GET_ROOT_CA)
    bundle = answer.get("certificate")
    if not isinstance(bundle, bytes):
        raise RootCAMismatchError("remote CA does not match fingerprint: no CA certificate served")
    if not token.matches_ca(bundle):
        raise RootCAMismatchError(
            f"remote CA does not match fingerprint. Expected: {token.digest}, "
            f"got: {ca_digest(bundle)}. Check the join token and the manager address"
        )
    load_certificates(bundle)  # a bundle must at least parse
    return bundle


def _credentials_from_answer(
    answer: Params, key: NodeKey, trusted_roots_pem: bytes
) -> NodeCredentials:
    chain_pem = answer.get("certificate_chain")
    trust_bundle = answer.get("trust_bundle")
    if not isinstance(chain_pem, bytes) or not isinstance(trust_bundle, bytes):
        raise InvalidCertificateError("the manager answered without a certificate chain")
    credentials = NodeCredentials(key, chain_pem, trust_bundle)
    chain = credentials.chain
    if not chains_to(chain[0], chain[1:], load_certificates(trusted_roots_pem)):
        raise InvalidCertificateError("the issued certificate does not chain to the swarm's root")
    if public_key_fingerprint(credentials.certificate) != public_key_fingerprint(key.public_key()):
        raise InvalidCertificateError("the issued certificate is not for this node's key")
    return credentials


async def join(
    address: Address,
    token: str,
    *,
    key: NodeKey | None = None,
    recover_node_id: str | None = None,
) -> NodeCredentials:
    """Join a swarm: check the manager's CA against the token, then get a node certificate.

    ``recover_node_id`` (with the node's existing ``key``) asks for a new certificate under an
    existing node ID, for a node whose certificate expired.
    """
    parsed = parse_join_token(token)  # a malformed token fails before any network traffic
    root_bundle = await fetch_root_ca(address, parsed)
    key = key or generate_node_key()
    csr_pem = create_csr(key)
    params: Params = {"token": token, "csr": csr_pem}
    if recover_node_id is not None:
        params["recover_node_id"] = recover_node_id
    context = client_context(root_bundle)
    async with await RpcClient.connect(address, context, CA_CALL_SERVER_NAME) as client:
        answer = await client.call(ISSUE_NODE_CERTIFICATE, params)
    return _credentials_from_answer(answer, key, root_bundle)


def check_credentials(credentials: NodeCredentials, now: datetime) -> None:
    """Refuse, with what to do, credentials a manager would refuse: expired, or not chaining to
    the roots the node trusts."""
    identity = credentials.identity
    if identity.not_after <= now:
        raise CertificateExpiredError(
            f"the certificate of node {identity.node_id} expired at "
            f"{identity.not_after.isoformat()} (perhaps while the node was offline), so it "
            "cannot be renewed over mutual TLS. Rejoin the swarm with a join token from a "
            "manager (`swarmctl swarm join-token worker`); the node keeps its ID: "
            f"`swarmctl swarm join --token <token> --recover {identity.node_id} <manager>`"
        )
    chain = credentials.chain
    if not chains_to(chain[0], chain[1:], credentials.roots):
        raise InvalidCertificateError(
            f"the certificate of node {identity.node_id} was not issued by the swarm's root CA "
            "this node trusts; rejoin the swarm with a join token"
        )


async def connect(
    address: Address, credentials: NodeCredentials, *, now: datetime | None = None
) -> RpcClient:
    """A mutual-TLS connection to a manager with the node's credentials (checked first)."""
    check_credentials(credentials, now or utc_now())
    context = client_context(credentials.root_bundle_pem, credentials)
    return await RpcClient.connect(address, context, MANAGER_SERVER_NAME)


async def renew(
    address: Address, credentials: NodeCredentials, *, now: datetime | None = None
) -> NodeCredentials:
    """Renew over mutual TLS with a fresh key; the CA decides the role."""
    key = generate_node_key()
    identity = credentials.identity
    csr_pem = create_csr(key, node_id=identity.node_id, cluster_id=identity.cluster_id)
    async with await connect(address, credentials, now=now) as client:
        answer = await client.call(RENEW_NODE_CERTIFICATE, {"csr": csr_pem})
    # The new chain may come from a new root (rotation): accept it if it chains to a root we
    # trust, possibly through the cross-signed intermediate sent with it.
    return _credentials_from_answer(answer, key, credentials.root_bundle_pem)


async def certificate_status(
    address: Address, credentials: NodeCredentials, *, now: datetime | None = None
) -> CertificateStatus:
    """Ask a manager whether this node should renew now."""
    async with await connect(address, credentials, now=now) as client:
        answer = await client.call(NODE_CERTIFICATE_STATUS)
    return CertificateStatus(
        renew=bool(answer.get("renew")),
        reason=str(answer.get("reason", "")),
        desired_role=NodeRole(str(answer.get("desired_role"))),
        trust_bundle_pem=bytes(answer.get("trust_bundle") or credentials.root_bundle_pem),
    )
