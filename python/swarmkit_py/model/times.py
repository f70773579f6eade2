"""Times and durations as the Engine API writes them.

Times are RFC 3339 strings in UTC with nine fractional digits
(``2016-08-18T10:44:24.496525531Z``); durations are integer nanoseconds.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from ..errors import InvalidArgument

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def format_time(unix_ns: int) -> str:
    """Nanoseconds since the Unix epoch as ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ``."""
    seconds, nanos = divmod(unix_ns, SECOND)
    moment = _EPOCH + timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def parse_time(text: str) -> int:
    """An RFC 3339 time (any offset, 0 to 9 fractional digits) as Unix nanoseconds."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidArgument(f"invalid time {text!r}: expected RFC 3339, e.g. {now()!r}")
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError as exc:
        raise InvalidArgument(f"invalid time {text!r}: {exc}") from None
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        moment = moment - offset if sign == "+" else moment + offset
    delta = moment - _EPOCH
    whole = (delta.days * 86_400 + delta.seconds) * SECOND
    return whole + int((fraction or "0").ljust(9, "0"))


def normalize_time(text: str) -> str:
    """``text`` rewritten in the canonical UTC nanosecond form."""
    return format_time(parse_time(text))


def now() -> str:
    """The current wall-clock time in the Engine API's format."""
    return format_time(time.time_ns())


def format_duration(nanos: int) -> str:
    """A duration the way Go prints it (``1h0m0s``, ``5s``, ``1.5ms``), for messages."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < SECOND:
        for unit, size in (("ms", MILLISECOND), ("µs", MICROSECOND), ("ns", NANOSECOND)):
            if nanos >= size:
                return f"{sign}{_decimal(nanos, size)}{unit}"
    hours, rest = divmod(nanos, HOUR)
    minutes, rest = divmod(rest, MINUTE)
    text = f"{_decimal(rest, SECOND)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")
