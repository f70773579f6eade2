"""Public key infrastructure of a swarm: root CA, node certificates, join tokens, mutual TLS.

See docs/design/pki.md for the join flow, certificate fields, renewal, rotation and
authorization rules.
"""

from .authz import ANY_NODE, MANAGERS_ONLY, authorize_peer
from .ca import (
    DEFAULT_NODE_CERT_VALIDITY,
    MIN_NODE_CERT_VALIDITY,
    ROOT_CA_COMMON_NAME,
    ROOT_CA_VALIDITY,
    RootCA,
    check_node_cert_validity,
    utc_now,
)
from .ca_client import certificate_status, connect, fetch_root_ca, join, renew
from .ca_server import ManagerServer, ca_methods
from .ca_service import CertificateStatus, IssuedCertificate, SwarmCA
from .ca_state import CAStore, InMemoryCAStore, NodeRecord, RootCAState, RootRotation
from .certs import (
    CA_SERVER_NAME,
    CERT_BACKDATE,
    NodeIdentity,
    NodeRole,
    create_csr,
    dns_names,
    generate_node_key,
    load_csr,
    node_identity,
    renewal_time,
)
from .errors import (
    CertificateExpiredError,
    ConnectionRejectedError,
    ExternalCAError,
    InvalidCertificateError,
    InvalidCSRError,
    InvalidJoinTokenError,
    JoinTokenRejectedError,
    PermissionDeniedError,
    PKIError,
    RootCAMismatchError,
    RootRotationError,
    RpcProtocolError,
)
from .external_ca import ExternalCA, check_issued_certificate, parse_external_ca_spec
from .ids import generate_id, is_valid_id
from .keystore import KeyStore, NodeCredentials
from .renewal import CertificateRenewer, check_not_expired
from .rpc import CallContext, Method, RpcClient, RpcServer
from .tls import client_context, server_context, unverified_client_context
from .tokens import (
    JoinToken,
    JoinTokens,
    ca_digest,
    generate_join_token,
    generate_unlock_key,
    parse_join_token,
    parse_unlock_key,
    tokens_equal,
)

__all__ = [
    "ANY_NODE",
    "CA_SERVER_NAME",
    "CERT_BACKDATE",
    "DEFAULT_NODE_CERT_VALIDITY",
    "MANAGERS_ONLY",
    "MIN_NODE_CERT_VALIDITY",
    "ROOT_CA_COMMON_NAME",
    "ROOT_CA_VALIDITY",
    "CAStore",
    "CallContext",
    "CertificateExpiredError",
    "CertificateRenewer",
    "CertificateStatus",
    "ConnectionRejectedError",
    "ExternalCA",
    "ExternalCAError",
    "InMemoryCAStore",
    "InvalidCSRError",
    "InvalidCertificateError",
    "InvalidJoinTokenError",
    "IssuedCertificate",
    "JoinToken",
    "JoinTokenRejectedError",
    "JoinTokens",
    "KeyStore",
    "ManagerServer",
    "Method",
    "NodeCredentials",
    "NodeIdentity",
    "NodeRecord",
    "NodeRole",
    "PKIError",
    "PermissionDeniedError",
    "RootCA",
    "RootCAMismatchError",
    "RootCAState",
    "RootRotation",
    "RootRotationError",
    "RpcClient",
    "RpcProtocolError",
    "RpcServer",
    "SwarmCA",
    "authorize_peer",
    "ca_digest",
    "ca_methods",
    "certificate_status",
    "check_issued_certificate",
    "check_node_cert_validity",
    "check_not_expired",
    "client_context",
    "connect",
    "create_csr",
    "dns_names",
    "fetch_root_ca",
    "generate_id",
    "generate_join_token",
    "generate_node_key",
    "generate_unlock_key",
    "is_valid_id",
    "join",
    "load_csr",
    "node_identity",
    "parse_external_ca_spec",
    "parse_join_token",
    "parse_unlock_key",
    "renew",
    "renewal_time",
    "server_context",
    "tokens_equal",
    "unverified_client_context",
    "utc_now",
]
