"""Placement constraints (``node.labels.zone==east``) and the node attributes they match.

Parsing follows swarmkit's ``constraint.Parse`` (the same key and value patterns and
messages) and is stricter where swarmkit would accept a constraint no node can ever
satisfy: unknown keys, a ``node.ip`` that is neither an address nor a CIDR, and a
``node.role`` other than manager or worker are refused up front.

Keys and values compare without regard to case; a constraint on an attribute a node
lacks compares with ``""``. The attribute map (:func:`node_attributes`) is what the
scheduler's ``SchedNode.attributes`` holds.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidArgument
from .node import Node

Operator = Literal["==", "!="]

#: Operators in the order swarmkit looks for them.
OPERATORS: tuple[Operator, ...] = ("==", "!=")
#: Keys a constraint may name besides the label prefixes.
CONSTRAINT_KEYS = (
    "node.id",
    "node.hostname",
    "node.role",
    "node.ip",
    "node.platform.os",
    "node.platform.arch",
)
NODE_LABEL_PREFIX = "node.labels."
ENGINE_LABEL_PREFIX = "engine.labels."
LABEL_PREFIXES = (NODE_LABEL_PREFIX, ENGINE_LABEL_PREFIX)

# swarmkit's patterns; Go's RE2 ``\s`` is ASCII whitespace only.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9\-_.]+")
_VALUE = re.compile(r"[A-Za-z0-9:\-_\t\n\f\r \.\*\(\)\?\+\[\]\\\^\$\|/]+")
# Architecture names Docker treats as the same (``PlatformFilter``).
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Constraint:
    """One ``key op value`` expression; ``key`` is lowercased, ``value`` as written."""

    key: str
    op: Operator
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"

    def as_tuple(self) -> tuple[str, str, str]:
        """``(key, op, value)`` lowercased, as the scheduler's ``SchedGroup`` takes it."""
        return (self.key, self.op, self.value.lower())

    def holds(self, attributes: Mapping[str, str]) -> bool:
        """Whether a node with these attributes satisfies the constraint."""
        actual = attributes.get(self.key, "")
        if self.key == "node.ip":
            equal = _ip_matches(self.value, actual)
        else:
            equal = self.value.lower() == actual.lower()
        return equal if self.op == "==" else not equal


def parse_constraint(text: object) -> Constraint:
    """A constraint from ``key==value`` or ``key!=value`` (spaces around either side ignored)."""
    if not isinstance(text, str):
        raise InvalidArgument(f"invalid constraint: expected a string, got {type(text).__name__}")
    for op in OPERATORS:
        if op in text:
            raw_key, raw_value = text.split(op, 1)
            return _checked(text, raw_key.strip(), op, raw_value.strip())
    raise _invalid(text, "constraint expected one operator from ==, !=")


def parse_constraints(texts: object) -> list[Constraint]:
    """Every constraint of a ``Placement.Constraints`` list (``None``: none)."""
    if texts is None:
        return []
    if not isinstance(texts, list):
        raise InvalidArgument("invalid Placement.Constraints: expected an array of strings")
    return [parse_constraint(text) for text in texts]


def _checked(text: str, key: str, op: Operator, value: str) -> Constraint:
    if not _KEY.fullmatch(key):
        raise _invalid(text, f"key '{key}' is invalid")
    if not _VALUE.fullmatch(value):
        raise _invalid(text, f"value '{value}' is invalid")
    key = key.lower()
    if key not in CONSTRAINT_KEYS and not _label_key(key):
        known = ", ".join(CONSTRAINT_KEYS)
        raise _invalid(
            text,
            f"key '{key}' is not one of {known}, node.labels.<name>, engine.labels.<name>",
        )
    if key == "node.ip" and _ip_or_network(value) is None:
        raise _invalid(text, f"value '{value}' is not an IP address or a CIDR network")
    if key == "node.role" and value.lower() not in ("manager", "worker"):
        raise _invalid(text, f"value '{value}' is not a role (manager or worker)")
    return Constraint(key, op, value)


def _invalid(text: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f'invalid constraint "{text}": {reason}')


def _label_key(key: str) -> bool:
    return any(key.startswith(prefix) and len(key) > len(prefix) for prefix in LABEL_PREFIXES)


def _ip_or_network(text: str) -> _IPAddress | _IPNetwork | None:
    try:
        return _unmapped(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        # Go's ParseCIDR accepts host bits ("10.0.0.7/24" is 10.0.0.0/24).
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _unmapped(address: _IPAddress) -> _IPAddress:
    """An IPv4-mapped IPv6 address as its IPv4 address (Go's ``IP.Equal`` does so)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ip_matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is the address ``expected`` names or lies in its network."""
    wanted = _ip_or_network(expected)
    try:
        node_ip = _unmapped(ipaddress.ip_address(actual))
    except ValueError:
        return False
    if isinstance(wanted, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return node_ip.version == wanted.version and node_ip in wanted
    return wanted is not None and node_ip == wanted


def node_attributes(node: Node) -> dict[str, str]:
    """The node's constraint keys and lowercased values (``SchedNode.attributes``).

    Label names are lowercased too, so ``node.labels.Zone`` and ``node.labels.zone``
    name the same attribute. Architectures are kept as reported (``x86_64`` stays
    ``x86_64``); :func:`platform_matches` treats the aliases as equal.
    """
    description = node.description
    attributes = {
        "node.id": node.id.lower(),
        "node.hostname": description.hostname.lower(),
        "node.role": node.spec.role.lower(),
        "node.ip": node.status.addr.lower(),
        "node.platform.os": description.platform.os.lower(),
        "node.platform.arch": description.platform.architecture.lower(),
    }
    for name, value in node.spec.labels.items():
        attributes[NODE_LABEL_PREFIX + name.lower()] = value.lower()
    for name, value in description.engine.labels.items():
        attributes[ENGINE_LABEL_PREFIX + name.lower()] = value.lower()
    return attributes


def matches(constraints: Iterable[Constraint], attributes: Mapping[str, str]) -> bool:
    """Whether every constraint holds for a node with these attributes."""
    return all(constraint.holds(attributes) for constraint in constraints)


def normalize_arch(architecture: str) -> str:
    """An architecture name lowercased, ``x86_64`` as ``amd64`` and ``aarch64`` as ``arm64``."""
    lowered = architecture.lower()
    return _ARCH_ALIASES.get(lowered, lowered)


def platform_matches(platforms: Sequence[tuple[str, str]], attributes: Mapping[str, str]) -> bool:
    """Whether the node runs one of ``platforms`` (``(os, architecture)``; ``""`` is any).

    No platforms means any node will do, as in Docker's platform filter.
    """
    if not platforms:
        return True
    node_os = attributes.get("node.platform.os", "").lower()
    node_arch = normalize_arch(attributes.get("node.platform.arch", ""))
    return any(
        (not os or os.lower() == node_os) and (not arch or normalize_arch(arch) == node_arch)
        for os, arch in platforms
    )
