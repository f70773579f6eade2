"""(a) WAL append of 256-byte entries with group commit, beside a plain
write+fdatasync loop at the same batch sizes, in the same run.

The WAL pays for framing, a CRC32C per record and protobuf encoding per entry;
the plain loop writes the same payload bytes and syncs the same way. The two
alternate round by round (the plain write runs in the untimed setup of each
WAL round and is timed on its own), so disk noise hits both alike. Target: the
WAL reaches at least 80% of the plain loop's entries/s.

The WAL zero-fills its segments ahead of time, so its fdatasync commits no
file-system metadata; the plain loop extends its file. A third column shows a
plain loop into a zero-filled file too, the physical floor of this disk.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py import _core

ENTRY = b"e" * 256
ROUNDS = 400


@pytest.mark.parametrize("batch", [1, 16, 64, 256])
def test_wal_append_vs_plain_fdatasync(
    benchmark: Any, tmp_path: Path, batch: int, record: Callable[..., None]
) -> None:
    log = _core.FileLog(tmp_path / "wal")
    payloads = [ENTRY] * batch
    fd = os.open(tmp_path / "plain.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    buf = ENTRY * batch
    plain: list[float] = []
    floor: list[float] = []
    pre_fd = os.open(tmp_path / "prealloc.log", os.O_RDWR | os.O_CREAT, 0o600)
    zeros = b"\0" * (1 << 20)
    for _ in range((len(buf) * (ROUNDS + 20)) // len(zeros) + 1):
        os.write(pre_fd, zeros)
    os.fsync(pre_fd)
    offset = 0

    def plain_write() -> None:
        nonlocal offset
        start = time.perf_counter()
        os.write(fd, buf)
        os.fdatasync(fd)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        os.pwrite(pre_fd, buf, offset)
        os.fdatasync(pre_fd)
        floor.append(time.perf_counter() - start)
        offset += len(buf)

    try:
        benchmark.pedantic(
            log.append, args=(payloads,), setup=plain_write, rounds=ROUNDS, warmup_rounds=10
        )
    finally:
        os.close(fd)
        os.close(pre_fd)
    wal_rate = batch / benchmark.stats.stats.median
    plain_rate = batch / statistics.median(plain[10:])
    floor_rate = batch / statistics.median(floor[10:])
    benchmark.extra_info.update(
        wal_entries_per_s=wal_rate,
        plain_entries_per_s=plain_rate,
        prealloc_plain_entries_per_s=floor_rate,
    )
    record(
        suite="wal",
        batch=batch,
        wal_entries_per_s=wal_rate,
        plain_entries_per_s=plain_rate,
        wal_to_plain=wal_rate / plain_rate,
        prealloc_plain_entries_per_s=floor_rate,
        wal_to_prealloc_plain=wal_rate / floor_rate,
    )
