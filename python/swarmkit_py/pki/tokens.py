"""Join tokens (``SWMTKN-1-...``) and autolock unlock keys (``SWMKEY-1-...``).

A join token carries the digest of the root CA bundle (so a joining node can check the CA it is
served without trusting it) and a secret (so the manager can check the node may join, and as
which role). See docs/design/pki.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace

from .errors import InvalidJoinTokenError
from .ids import is_base36, to_base36

JOIN_TOKEN_PREFIX = "SWMTKN-1-"
DIGEST_LENGTH = 50
SECRET_LENGTH = 25
JOIN_TOKEN_LENGTH = len(JOIN_TOKEN_PREFIX) + DIGEST_LENGTH + 1 + SECRET_LENGTH  # 85
UNLOCK_KEY_PREFIX = "SWMKEY-1-"
UNLOCK_KEY_BYTES = 32


def ca_digest(root_bundle_pem: bytes) -> str:
    """The 50-character base-36 SHA-256 of the root CA PEM bundle, as a join token carries it."""
    value = int.from_bytes(hashlib.sha256(root_bundle_pem).digest(), "big")
    return to_base36(value, DIGEST_LENGTH)


@dataclass(frozen=True)
class JoinToken:
    """A parsed join token. ``str(token)`` is its wire form."""

    digest: str
    secret: str

    def __str__(self) -> str:
        return f"{JOIN_TOKEN_PREFIX}{self.digest}-{self.secret}"

    def __repr__(self) -> str:  # never print the secret by accident
        return f"JoinToken(digest={self.digest!r}, secret=<hidden>)"

    def matches_ca(self, root_bundle_pem: bytes) -> bool:
        """True if this token's digest is the digest of ``root_bundle_pem``."""
        return hmac.compare_digest(self.digest, ca_digest(root_bundle_pem))


def generate_join_token(root_bundle_pem: bytes) -> JoinToken:
    """A new token for the CA ``root_bundle_pem`` with a fresh 16-byte secret."""
    secret = to_base36(int.from_bytes(secrets.token_bytes(16), "big"), SECRET_LENGTH)
    return JoinToken(digest=ca_digest(root_bundle_pem), secret=secret)


def parse_join_token(text: str) -> JoinToken:
    """Parse ``SWMTKN-1-<digest>-<secret>``; raise :class:`InvalidJoinTokenError` saying why not."""
    if not text.startswith(JOIN_TOKEN_PREFIX):
        raise InvalidJoinTokenError(
            f"invalid join token: it must start with {JOIN_TOKEN_PREFIX!r}; "
            "get one with `swarmctl swarm join-token worker|manager` on a manager"
        )
    if len(text) != JOIN_TOKEN_LENGTH:
        raise InvalidJoinTokenError(
            f"invalid join token: expected {JOIN_TOKEN_LENGTH} characters, got {len(text)}; "
            "check that it was copied whole"
        )
    body = text[len(JOIN_TOKEN_PREFIX) :]
    digest, separator, secret = body[:DIGEST_LENGTH], body[DIGEST_LENGTH], body[DIGEST_LENGTH + 1 :]
    if separator != "-":
        raise InvalidJoinTokenError(
            "invalid join token: expected SWMTKN-1-<50-character digest>-<25-character secret>"
        )
    if not (is_base36(digest) and is_base36(secret)):
        raise InvalidJoinTokenError(
            "invalid join token: the digest and the secret may only contain 0-9 and a-z"
        )
    # 36**25 > 2**128 and 36**50 > 2**256: reject values no encoder could have produced.
    if int(secret, 36) >= 1 << 128 or int(digest, 36) >= 1 << 256:
        raise InvalidJoinTokenError("invalid join token: the digest or secret is out of range")
    return JoinToken(digest=digest, secret=secret)


def tokens_equal(presented: str, expected: JoinToken) -> bool:
    """Compare a presented token with a cluster token in constant time (whole string)."""
    return hmac.compare_digest(presented.encode(), str(expected).encode())


@dataclass(frozen=True)
class JoinTokens:
    """The cluster's pair of join tokens."""

    worker: JoinToken
    manager: JoinToken

    @classmethod
    def generate(cls, root_bundle_pem: bytes) -> JoinTokens:
        """A fresh pair for the CA ``root_bundle_pem``."""
        return cls(
            worker=generate_join_token(root_bundle_pem),
            manager=generate_join_token(root_bundle_pem),
        )

    def rotated(self, role: str, root_bundle_pem: bytes) -> JoinTokens:
        """A copy with the ``worker`` or ``manager`` token replaced; the other is kept."""
        if role == "worker":
            return replace(self, worker=generate_join_token(root_bundle_pem))
        if role == "manager":
            return replace(self, manager=generate_join_token(root_bundle_pem))
        raise ValueError(f"unknown join token role {role!r}: use 'worker' or 'manager'")


def generate_unlock_key() -> str:
    """A new autolock unlock key: ``SWMKEY-1-`` and 32 random bytes in unpadded base64."""
    raw = base64.b64encode(secrets.token_bytes(UNLOCK_KEY_BYTES)).rstrip(b"=").decode()
    return UNLOCK_KEY_PREFIX + raw


def parse_unlock_key(text: str) -> bytes:
    """The 32 key bytes of an unlock key; raise ``ValueError`` if it is malformed."""
    if not text.startswith(UNLOCK_KEY_PREFIX):
        raise ValueError(f"invalid unlock key: it must start with {UNLOCK_KEY_PREFIX!r}")
    encoded = text[len(UNLOCK_KEY_PREFIX) :]
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as err:
        raise ValueError("invalid unlock key: not base64") from err
    if len(raw) != UNLOCK_KEY_BYTES:
        raise ValueError(f"invalid unlock key: expected {UNLOCK_KEY_BYTES} bytes, got {len(raw)}")
    return raw
