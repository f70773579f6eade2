"""Go-style durations (`1h30m`, `5s`, `100ms`, `2160h0m0s`), the spelling
docker's flags use; the Engine API carries them as integer nanoseconds. Also
docker's `--since` times, absolute or a duration ago."""

from __future__ import annotations

import re
import time
from datetime import datetime
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


def parse_since(text: str, now_ns: int | None = None) -> int:
    """Docker's `--since`/`--until`: a duration ago (`42m`), Unix seconds
    (`1700000000.5`), an RFC 3339 time, or a local date or time without zone
    (`2024-01-02`, `2024-01-02T15:04:05`); as Unix nanoseconds."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    if text != "0":
        try:
            return now_ns - parse_duration(text)
        except ValueError:
            pass
    if re.fullmatch(r"\d+(\.\d{1,9})?", text):
        seconds, _, fraction = text.partition(".")
        return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f'failed to parse value as time or duration: "{text}" (e.g. 42m, '
            "2013-01-02T13:23:37Z or 1700000000)"
        ) from None
    whole = int(moment.timestamp())  # local time when no zone is given, like docker
    digits = re.search(r"\.(\d+)", text.partition("T")[2])
    return whole * 1_000_000_000 + int((digits.group(1) if digits else "0")[:9].ljust(9, "0"))
