"""Readers for Engine API JSON that check types and name the offending field.

A missing key or a JSON ``null`` means "use the default"; a value of the wrong
type raises :class:`~swarmkit_py.errors.InvalidArgument`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ..errors import InvalidArgument

Json = dict[str, Any]
_T = TypeVar("_T", bound=str)


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _wrong(where: str, expected: str, value: object) -> InvalidArgument:
    return InvalidArgument(f"invalid {where}: expected {expected}, got {_type_name(value)}")


def as_object(value: object, where: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object (``None``: empty)."""
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):  # dict: the fast path
        raise _wrong(where, "an object", value)
    return value


def obj(d: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    """The object at ``key``, or ``None`` if absent or null."""
    value = d.get(key)
    if value is None:
        return None
    if type(value) is not dict and not isinstance(value, Mapping):
        raise _wrong(f"{where}.{key}", "an object", value)
    return value


def string(d: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = d.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _wrong(f"{where}.{key}", "a string", value)
    return value


def integer(
    d: Mapping[str, Any], key: str, where: str, default: int = 0, minimum: int | None = None
) -> int:
    value = d.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(f"{where}.{key}", "an integer", value)
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"invalid {where}.{key}: {value} is less than {minimum}")
    return value


def boolean(d: Mapping[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = d.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _wrong(f"{where}.{key}", "a boolean", value)
    return value


def labels(
    d: Mapping[str, Any], key: str, where: str, default: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A ``str -> str`` map (a fresh dict, safe to keep)."""
    value = d.get(key)
    if value is None:
        return dict(default or {})
    if type(value) is not dict and not isinstance(value, Mapping):
        raise _wrong(f"{where}.{key}", "an object of strings", value)
    for name, text in value.items():
        if not isinstance(name, str):
            raise InvalidArgument(f"invalid {where}.{key}: label names must be strings")
        if not isinstance(text, str):
            raise InvalidArgument(
                f"invalid {where}.{key}: the value of label {name!r} must be a string, "
                f"not {_type_name(text)}"
            )
    return dict(value)


def string_list(
    d: Mapping[str, Any], key: str, where: str, default: list[str] | None = None
) -> list[str]:
    value = d.get(key)
    if value is None:
        return list(default or [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _wrong(f"{where}.{key}", "an array of strings", value)
    return list(value)


def object_list(d: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = d.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong(f"{where}.{key}", "an array", value)
    return [as_object(item, f"{where}.{key}[{i}]") for i, item in enumerate(value)]


def choice(
    d: Mapping[str, Any],
    key: str,
    where: str,
    allowed: tuple[_T, ...],
    default: _T | None = None,
) -> _T:
    """One of ``allowed`` (matched without regard to case, as Docker does).

    With ``default=None`` the key is required; otherwise a missing or empty value
    takes the default.
    """
    value = d.get(key)
    if (value is None or value == "") and default is not None:
        return default
    if value is not None and not isinstance(value, str):
        raise _wrong(f"{where}.{key}", "a string", value)
    text = (value or "").lower()
    for option in allowed:
        if option == text:
            return option
    names = ", ".join(f'"{option}"' for option in allowed)
    raise InvalidArgument(f'invalid {key}: "{value or ""}" (must be one of {names})')
