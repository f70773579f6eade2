"""A container's output, read back from the Docker engine as `LogLine`s.

The engine keeps a container's output until the container is removed, so
logs work while it runs, after it ended, and after swarmd restarted. Each log
message comes as one frame of the multiplexed stream, prefixed (we ask for
`timestamps`) with its RFC 3339 time in nanoseconds. The SDK hands over frame
payloads without their stream, so stdout and stderr are read as two streams
and merged by time.

The engine's `since` and `until` take float seconds, so it is asked for a
slightly wider window and the exact one is applied here. `follow` first sends
what was logged before the call (`tail` applies to it), then what comes until
the container ends.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import docker
from docker.errors import DockerException, NotFound

from swarmkit_py.logs import LogLine, LogOptions, Stream

from .engine import ClosableStream, Engine

log = logging.getLogger(__name__)

#: How much wider than asked the engine's time window is (float seconds lose
#: precision; the exact window is applied to the lines it sends).
WINDOW_MARGIN_NS = 1_000_000

_TIMESTAMP = re.compile(
    rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)"
)


def parse_timestamp(text: bytes) -> int | None:
    """Unix nanoseconds of an RFC 3339 time (`2024-05-01T10:00:00.123456789Z`),
    or None if `text` is not one."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or b"", match.group(8)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if zone != b"Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[:1] == b"+" else -offset
    return seconds * 1_000_000_000 + int(fraction.ljust(9, b"0") or b"0")


def parse_frame(frame: bytes, stream: Stream) -> LogLine:
    """One log message as the engine sends it with `timestamps`: `<time> <data>`."""
    stamp, _, data = frame.partition(b" ")
    time_ns = parse_timestamp(stamp)
    if time_ns is None:  # not timestamped: keep all of it
        return LogLine(time.time_ns(), stream, frame)
    return LogLine(time_ns, stream, data)


def _seconds(ns: int) -> float:
    return ns / 1e9


def _opener(
    container_id: str,
    stream: Stream,
    *,
    follow: bool,
    since_ns: int,
    until_ns: int,
    tail: int | None,
) -> Callable[[docker.DockerClient], ClosableStream]:
    def open_stream(client: docker.DockerClient) -> ClosableStream:
        options: dict[str, Any] = {}
        if since_ns > WINDOW_MARGIN_NS:
            options["since"] = _seconds(since_ns - WINDOW_MARGIN_NS)
        if until_ns:
            options["until"] = _seconds(until_ns + WINDOW_MARGIN_NS)
        stream_object: ClosableStream = client.api.logs(
            container_id,
            stdout=stream == "stdout",
            stderr=stream == "stderr",
            stream=True,
            timestamps=True,
            follow=follow,
            tail="all" if tail is None else tail,
            **options,
        )
        return stream_object

    return open_stream


def _streams(options: LogOptions) -> list[Stream]:
    wanted: list[Stream] = []
    if options.stdout:
        wanted.append("stdout")
    if options.stderr:
        wanted.append("stderr")
    return wanted


async def _read(
    engine: Engine,
    container_id: str,
    options: LogOptions,
    *,
    follow: bool,
    since_ns: int,
    until_ns: int,
) -> AsyncIterator[LogLine]:
    """The wanted lines in `[since_ns, until_ns)` (0: unbounded), as they arrive."""
    streams = _streams(options)
    openers = [
        _opener(
            container_id,
            stream,
            follow=follow,
            since_ns=since_ns,
            until_ns=until_ns,
            tail=None if follow else options.tail,
        )
        for stream in streams
    ]
    try:
        async for index, frame in engine.streams(openers):
            line = parse_frame(frame, streams[index])
            if line.time_ns < since_ns or (until_ns and line.time_ns >= until_ns):
                continue
            if options.wants(line):
                yield line
    except NotFound:
        return  # removed meanwhile: no (more) output
    except DockerException as e:
        log.warning("could not read the logs of container %s: %s", container_id[:12], e)


async def read_logs(
    engine: Engine, container_id: str, options: LogOptions
) -> AsyncIterator[LogLine]:
    """A container's output as `options` asks for it (see the module docstring)."""
    if not _streams(options):
        return
    cut_ns = time.time_ns() if options.follow else 0
    until_ns = options.until_ns
    backlog_until = min(until_ns, cut_ns) if until_ns and cut_ns else until_ns or cut_ns
    lines = [
        line
        async for line in _read(
            engine,
            container_id,
            options,
            follow=False,
            since_ns=options.since_ns,
            until_ns=backlog_until,
        )
    ]
    lines.sort(key=lambda line: line.time_ns)  # stdout and stderr, merged
    for line in deque(lines, maxlen=options.tail) if options.tail is not None else lines:
        yield line
    if not options.follow or (until_ns and until_ns <= cut_ns):
        return
    async for line in _read(
        engine,
        container_id,
        options,
        follow=True,
        since_ns=max(cut_ns, options.since_ns),
        until_ns=until_ns,
    ):
        yield line
