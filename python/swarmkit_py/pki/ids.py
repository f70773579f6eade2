"""Identifiers of nodes and clusters: 25 characters of base 36, about 128 bits of randomness."""

from __future__ import annotations

import secrets
import string

ID_LENGTH = 25
BASE36_ALPHABET = string.digits + string.ascii_lowercase
_BASE36_SET = frozenset(BASE36_ALPHABET)


def to_base36(value: int, width: int) -> str:
    """Write a non-negative integer in base 36, left-padded with zeros to ``width``."""
    if value < 0:
        raise ValueError("base-36 values must be non-negative")
    digits: list[str] = []
    while value:
        value, digit = divmod(value, 36)
        digits.append(BASE36_ALPHABET[digit])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError(f"value needs {len(text)} base-36 digits, more than {width}")
    return text.rjust(width, "0")


def is_base36(text: str) -> bool:
    """True if ``text`` is non-empty and uses only ``[0-9a-z]``."""
    return bool(text) and all(char in _BASE36_SET for char in text)


def generate_id() -> str:
    """A new random node, cluster or object ID (128 random bits in 25 base-36 characters)."""
    return to_base36(int.from_bytes(secrets.token_bytes(16), "big"), ID_LENGTH)


def is_valid_id(text: str) -> bool:
    """True if ``text`` has the shape of an ID made by :func:`generate_id`."""
    return len(text) == ID_LENGTH and is_base36(text)
