"""Errors of the PKI. Each carries a stable ``code`` so it can cross the wire and be rebuilt."""

from __future__ import annotations


class PKIError(Exception):
    """Base class of every PKI error; ``str(err)`` is meant for an operator."""

    code = "pki_error"


class InvalidJoinTokenError(PKIError):
    """The join token is malformed (prefix, length or alphabet)."""

    code = "invalid_join_token"


class JoinTokenRejectedError(PKIError):
    """The join token is well formed but is not one of this cluster's tokens."""

    code = "join_token_rejected"


class RootCAMismatchError(PKIError):
    """The root CA a manager served does not match the digest in the join token."""

    code = "root_ca_mismatch"


class InvalidCSRError(PKIError):
    """A certificate signing request could not be parsed, is badly signed or uses a bad key."""

    code = "invalid_csr"


class InvalidCertificateError(PKIError):
    """A certificate (or chain, or key file) is unusable: malformed, wrong subject, bad chain."""

    code = "invalid_certificate"


class CertificateExpiredError(PKIError):
    """The node's certificate has expired, so it cannot renew over mutual TLS."""

    code = "certificate_expired"


class PermissionDeniedError(PKIError):
    """The peer's certificate does not allow the call."""

    code = "permission_denied"


class ExternalCAError(PKIError):
    """The external CA failed to sign, or returned a certificate the policy does not accept."""

    code = "external_ca_error"


class RootRotationError(PKIError):
    """A root CA rotation cannot be started or advanced."""

    code = "root_rotation_error"


class RpcProtocolError(PKIError):
    """A peer sent a malformed frame, an unknown method or bad parameters."""

    code = "bad_request"


class ConnectionRejectedError(PKIError):
    """The TLS handshake with a peer failed (untrusted, expired or missing certificate)."""

    code = "connection_rejected"


ERRORS_BY_CODE: dict[str, type[PKIError]] = {
    cls.code: cls
    for cls in (
        PKIError,
        InvalidJoinTokenError,
        JoinTokenRejectedError,
        RootCAMismatchError,
        InvalidCSRError,
        InvalidCertificateError,
        CertificateExpiredError,
        PermissionDeniedError,
        ExternalCAError,
        RootRotationError,
        RpcProtocolError,
        ConnectionRejectedError,
    )
}


def error_from_code(code: str, message: str) -> PKIError:
    """Rebuild the typed error a peer reported; unknown codes become a plain ``PKIError``."""
    return ERRORS_BY_CODE.get(code, PKIError)(message)
