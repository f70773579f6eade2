"""Times are RFC 3339 with nine fractional digits in UTC; durations are nanoseconds."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmkit_py.errors import InvalidArgument
from swarmkit_py.model import (
    HOUR,
    MILLISECOND,
    SECOND,
    format_duration,
    format_time,
    normalize_time,
    now,
    parse_time,
)

DOCKER_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")


def test_now_is_utc_with_nanoseconds_like_docker() -> None:
    assert DOCKER_TIME.match(now())


def test_docker_example_time_round_trips_unchanged() -> None:
    text = "2016-08-18T10:44:24.496525531Z"
    assert format_time(parse_time(text)) == text


def test_offsets_and_short_fractions_are_normalized_to_utc_nanoseconds() -> None:
    assert normalize_time("2016-08-18T12:44:24.5+02:00") == "2016-08-18T10:44:24.500000000Z"
    assert normalize_time("2016-08-18T10:44:24Z") == "2016-08-18T10:44:24.000000000Z"


@given(st.integers(min_value=-(10**18), max_value=4 * 10**18))
def test_any_nanosecond_instant_round_trips(nanos: int) -> None:
    assert parse_time(format_time(nanos)) == nanos


@pytest.mark.parametrize("bad", ["", "yesterday", "2016-08-18 10:44:24Z", "2016-13-01T00:00:00Z"])
def test_malformed_times_are_invalid_arguments(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid time"):
        parse_time(bad)


def test_durations_print_like_go() -> None:
    assert format_duration(HOUR) == "1h0m0s"
    assert format_duration(5 * SECOND) == "5s"
    assert format_duration(90 * SECOND) == "1m30s"
    assert format_duration(1500 * MILLISECOND // 1000) == "1.5ms"
    assert format_duration(0) == "0s"
