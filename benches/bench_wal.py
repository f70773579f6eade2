"""(a) WAL append of 256-byte entries with group commit, beside a plain
write+fdatasync loop at the same batch sizes, in the same run.

The WAL pays for framing, a CRC32C per record and protobuf encoding per entry;
the plain loop writes the same payload bytes and syncs the same way. The two
alternate round by round (the plain write runs in the untimed setup of each
WAL round and is timed on its own), so disk noise hits both alike. Target: the
WAL reaches at least 80% of the plain loop's entries/s.
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

    def plain_write() -> None:
        start = time.perf_counter()
        os.write(fd, buf)
        os.fdatasync(fd)
        plain.append(time.perf_counter() - start)

    try:
        benchmark.pedantic(
            log.append, args=(payloads,), setup=plain_write, rounds=ROUNDS, warmup_rounds=10
        )
    finally:
        os.close(fd)
    wal_rate = batch / benchmark.stats.stats.median
    plain_rate = batch / statistics.median(plain[10:])
    ratio = wal_rate / plain_rate
    benchmark.extra_info.update(
        wal_entries_per_s=wal_rate, plain_entries_per_s=plain_rate, ratio=ratio
    )
    record(
        suite="wal",
        batch=batch,
        wal_entries_per_s=wal_rate,
        plain_entries_per_s=plain_rate,
        wal_to_plain=ratio,
    )
