"""Finding nodes and services the way Docker does: references and list filters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from ..errors import InvalidArgument, NotFound
from ..model import MEMBERSHIPS, ROLES, Node

_T = TypeVar("_T")

#: The filters ``GET /nodes`` accepts.
NODE_FILTERS = ("id", "label", "membership", "name", "node.label", "role")
#: The filters ``GET /services`` accepts.
SERVICE_FILTERS = ("id", "label", "mode", "name")
#: The filters ``GET /tasks`` accepts (``_up-to-date`` is the docker CLI's hidden one).
TASK_FILTERS = ("id", "name", "service", "node", "label", "desired-state", "_up-to-date")


def resolve(
    kind: str,
    ref: str,
    by_id: Callable[[str], _T | None],
    by_name: Callable[[str], list[_T]],
    ids: Iterable[str],
) -> _T:
    """Docker's lookup order: exact ID, then exact name, then unique ID prefix.

    Several matches at one step: InvalidArgument ``<kind> <ref> is ambiguous
    (N matches found)``; none at all: NotFound ``<kind> <ref> not found``.
    """
    if ref:
        found = by_id(ref)
        if found is not None:
            return found
        matches = by_name(ref)
        if not matches:
            prefixed = [i for i in ids if i.startswith(ref)]
            matches = [m for m in (by_id(i) for i in prefixed) if m is not None]
        if len(matches) > 1:
            raise InvalidArgument(f"{kind} {ref} is ambiguous ({len(matches)} matches found)")
        if matches:
            return matches[0]
    raise NotFound(f"{kind} {ref} not found")


def _label_filter(values: list[str]) -> dict[str, str | None]:
    """``key`` (present with any value) or ``key=value`` terms; all must hold."""
    wanted: dict[str, str | None] = {}
    for term in values:
        key, sep, value = term.partition("=")
        wanted[key] = value if sep else None
    return wanted


def _labels_match(labels: Mapping[str, str], wanted: Mapping[str, str | None]) -> bool:
    for key, value in wanted.items():
        if key not in labels or (value is not None and labels[key] != value):
            return False
    return True


def _choices(name: str, values: list[str], allowed: tuple[str, ...]) -> set[str]:
    chosen: set[str] = set()
    for value in values:
        if value.lower() in allowed:
            chosen.add(value.lower())
        elif value:
            raise InvalidArgument(f"Invalid {name} filter: '{value}'")
    return chosen


def check_filters(filters: Mapping[str, Any], accepted: tuple[str, ...]) -> None:
    """InvalidArgument ``invalid filter 'x'`` for a filter name not in ``accepted``."""
    for name, values in filters.items():
        if name not in accepted:
            raise InvalidArgument(f"invalid filter '{name}'")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidArgument(f"invalid filter '{name}': values must be strings")


def node_filter(filters: Mapping[str, list[str]]) -> Callable[[Node], bool]:
    """A predicate for Docker's node filters (different names AND, values of one name OR).

    ``id``: ID prefix; ``name``: prefix of the hostname or spec name; ``role``;
    ``membership`` (``accepted`` / ``pending``); ``node.label``: the node's spec
    labels; ``label``: the engine's labels (``key`` or ``key=value``, all must hold).
    """
    check_filters(filters, NODE_FILTERS)
    ids = [v for v in filters.get("id", []) if v]
    names = [v for v in filters.get("name", []) if v]
    roles = _choices("role", filters.get("role", []), ROLES)
    memberships = _choices("membership", filters.get("membership", []), MEMBERSHIPS)
    engine_labels = _label_filter(filters.get("label", []))
    node_labels = _label_filter(filters.get("node.label", []))

    def matches(node: Node) -> bool:
        if ids and not any(node.id.startswith(p) for p in ids):
            return False
        if names and not any(n.startswith(p) for n in node.names for p in names):
            return False
        if roles and node.spec.role not in roles:
            return False
        if memberships and node.membership not in memberships:
            return False
        if node_labels and not _labels_match(node.spec.labels, node_labels):
            return False
        return not engine_labels or _labels_match(node.description.engine.labels, engine_labels)

    return matches
