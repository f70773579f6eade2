"""Go-style durations (`1h30m`, `5s`, `100ms`, `2160h0m0s`), the spelling
docker's flags use; the Engine API carries them as integer nanoseconds."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import click

_UNIT_NANOSECONDS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # micro sign
    "μs": 1_000,  # greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)([a-zµμ]+)")
_MAX = 2**63 - 1


def parse_duration(text: str) -> int:
    """Nanoseconds in a Go duration string; ValueError with the reason if it is not one."""
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    if body == "0":
        return 0
    if not body:
        raise ValueError(f'invalid duration "{text}"')
    total = Decimal(0)
    position = 0
    for match in _PART.finditer(body):
        if match.start() != position:
            break
        number, unit = match.groups()
        if unit not in _UNIT_NANOSECONDS:
            raise ValueError(
                f'invalid duration "{text}": unknown unit "{unit}" (use ns, us, ms, s, m or h; '
                "e.g. 2160h for 90 days)"
            )
        total += Decimal(number) * _UNIT_NANOSECONDS[unit]
        position = match.end()
    if position != len(body):
        raise ValueError(f'invalid duration "{text}": expected e.g. 1h30m, 5s or 100ms')
    if total > _MAX:
        raise ValueError(f'invalid duration "{text}": too long')
    return sign * int(total.to_integral_value())


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A click parameter that accepts a Go duration and yields nanoseconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


DURATION = Duration()
