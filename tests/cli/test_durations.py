from __future__ import annotations

import pytest

from swarmkit_py.cli.durations import parse_duration

SECOND = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("5s", 5 * SECOND),
        ("100ms", 100_000_000),
        ("1h30m", 5400 * SECOND),
        ("2160h", 2160 * 3600 * SECOND),
        ("2160h0m0s", 2160 * 3600 * SECOND),
        ("1.5h", 5400 * SECOND),
        (".5s", SECOND // 2),
        ("1us", 1000),
        ("1µs", 1000),
        ("3ns", 3),
        ("-1s", -SECOND),
        ("2562047h", 2_562_047 * 3600 * SECOND),
    ],
)
def test_go_durations_become_nanoseconds(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("90d", 'unknown unit "d"'),
        ("5", "expected e.g. 1h30m"),
        ("h", "expected e.g. 1h30m"),
        ("1h x", "expected e.g. 1h30m"),
        ("", "invalid duration"),
        ("9999999999h", "too long"),
    ],
)
def test_other_spellings_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(text)
