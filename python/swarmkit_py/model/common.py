"""Pieces shared by several objects: object versions, TLS info, copying."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from . import fields as f
from .times import format_time, parse_time

_T = TypeVar("_T")


def deep_copy(value: _T) -> _T:
    """An independent copy of a model object (or of an API-shaped dict)."""
    return copy.deepcopy(value)


@dataclass
class Version:
    """``ObjectVersion``: the Raft index of the object's last write."""

    index: int = 0

    def to_api(self) -> dict[str, Any]:
        return {"Index": self.index}

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "Version") -> Version:
        return cls(index=f.integer(f.as_object(d, where), "Index", where, minimum=0))


@dataclass
class TLSInfo:
    """The trusted root and the issuer of node certificates."""

    trust_root: str = ""
    cert_issuer_subject: str = ""
    cert_issuer_public_key: str = ""

    def to_api(self) -> dict[str, Any]:
        return {
            "TrustRoot": self.trust_root,
            "CertIssuerSubject": self.cert_issuer_subject,
            "CertIssuerPublicKey": self.cert_issuer_public_key,
        }

    @classmethod
    def from_api(cls, d: Mapping[str, Any] | None, where: str = "TLSInfo") -> TLSInfo:
        d = f.as_object(d, where)
        return cls(
            trust_root=f.string(d, "TrustRoot", where),
            cert_issuer_subject=f.string(d, "CertIssuerSubject", where),
            cert_issuer_public_key=f.string(d, "CertIssuerPublicKey", where),
        )


#: What Go writes for an unset time; ``to_api`` shows an unset ("") time this way.
ZERO_TIME = "0001-01-01T00:00:00Z"
_ZERO_TIME_NS = parse_time(ZERO_TIME)


def api_time(text: str) -> str:
    """A model time for the API: Go's zero time if unset."""
    return text or ZERO_TIME


def time_field(d: Mapping[str, Any], key: str, where: str) -> str:
    """An RFC 3339 time, normalized to UTC nanoseconds ("" if absent or Go's zero time)."""
    text = f.string(d, key, where)
    if not text:
        return ""
    nanos = parse_time(text)
    return "" if nanos == _ZERO_TIME_NS else format_time(nanos)
