"""Authorize a peer from its verified certificate: role (OU), cluster (O), not removed, not expired.

The TLS layer has already checked that the certificate chains to a trusted root; this module
decides whether that node may make a particular call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cryptography import x509

from .certs import NodeIdentity, NodeRole, node_identity
from .errors import InvalidCertificateError, PermissionDeniedError

#: Calls any joined node may make.
ANY_NODE: frozenset[NodeRole] = frozenset({NodeRole.MANAGER, NodeRole.WORKER})
#: Calls only managers may make (Raft, CA signing, unlock key).
MANAGERS_ONLY: frozenset[NodeRole] = frozenset({NodeRole.MANAGER})


def authorize_peer(
    peer_certificate: x509.Certificate | None,
    allowed_roles: frozenset[NodeRole],
    *,
    cluster_id: str,
    is_removed: Callable[[str], bool],
    now: datetime,
) -> NodeIdentity:
    """The identity of a peer allowed to make a call needing one of ``allowed_roles``.

    Raises :class:`PermissionDeniedError` with a message that says what to do.
    """
    if peer_certificate is None:
        raise PermissionDeniedError(
            "Permission denied: this call needs a node certificate; join the swarm first"
        )
    try:
        identity = node_identity(peer_certificate)
    except InvalidCertificateError as err:
        raise PermissionDeniedError(
            f"Permission denied: remote certificate is not a swarm node certificate: {err}"
        ) from err
    if identity.cluster_id != cluster_id:
        raise PermissionDeniedError(
            "Permission denied: remote certificate not part of organization: "
            f"{identity.cluster_id} (this swarm is {cluster_id})"
        )
    if is_removed(identity.node_id):
        raise PermissionDeniedError(
            f"Permission denied: node {identity.node_id} was removed from swarm; "
            "to come back it must leave and join again with a join token"
        )
    if identity.not_after <= now:
        raise PermissionDeniedError(
            f"Permission denied: remote certificate expired at {identity.not_after.isoformat()}"
        )
    if identity.role not in allowed_roles:
        wanted = sorted(str(role) for role in allowed_roles)
        raise PermissionDeniedError(
            f"Permission denied: remote certificate not part of OUs: {wanted} "
            f"(node {identity.node_id} is {identity.role})"
        )
    return identity
