"""Crashes against the durable log: torn tails are repaired, corruption in the
middle stops the node with a clear error, nothing acknowledged is lost."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swarmkit_py import _core
from swarmkit_py.raft.local_cluster import LocalCluster

from .conftest import load_until_acked


def segments(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "wal").glob("*.wal"))


def records_end(segment: Path) -> int:
    """Where the records of a (zero-preallocated) segment end."""
    return len(segment.read_bytes().rstrip(b"\0"))


def tear_tail(segment: Path, nbytes: int) -> None:
    """Zeroes the last `nbytes` of the records, as a crash mid-write leaves them."""
    end = records_end(segment)
    with segment.open("r+b") as f:
        f.seek(end - nbytes)
        f.write(b"\0" * nbytes)


def flip_byte(segment: Path, at: int) -> bytes:
    data = bytearray(segment.read_bytes())
    data[at] ^= 0x55
    segment.write_bytes(bytes(data))
    return bytes(data)


def test_wal_torn_tail_recovers_every_complete_record(tmp_path: Path) -> None:
    log = _core.FileLog(str(tmp_path))
    for batch in range(10):
        log.append([bytes([batch]) * 256 for _ in range(10)])
    del log
    seg = segments(tmp_path)[-1]
    size = seg.stat().st_size
    # Tear the middle of the last batch's second-to-last entry.
    tear_tail(seg, 300)
    log = _core.FileLog(str(tmp_path))
    assert seg.stat().st_size == size, "the preallocated segment keeps its size"
    # The store reopened without error; the next append continues right after
    # the last complete record (the last batch lost its final two entries).
    assert log.append([b"next"]) == 99


def test_wal_corrupted_mid_file_refuses_to_open_naming_file_and_offset(tmp_path: Path) -> None:
    log = _core.FileLog(str(tmp_path))
    for batch in range(10):
        log.append([bytes([batch]) * 256 for _ in range(10)])
    del log
    seg = segments(tmp_path)[-1]
    flip_byte(seg, records_end(seg) // 2)
    with pytest.raises(_core.RaftStorageError) as e:
        _core.FileLog(str(tmp_path))
    msg = str(e.value)
    assert "corrupt raft log" in msg and seg.name in msg and "offset" in msg


def run_node(c: LocalCluster, node_id: int) -> subprocess.CompletedProcess[str]:
    """Runs a node in the foreground until it exits."""
    args = c.command(node_id, bootstrap=False)
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


async def test_node_with_torn_wal_tail_restarts_and_catches_up(cluster: LocalCluster) -> None:
    leader = await cluster.wait_leader()
    victim = next(i for i in (1, 2, 3) if i != leader)
    await load_until_acked(cluster, 500, 8, "a")
    cluster.kill(victim)
    seg = segments(cluster.nodes[victim].data_dir)[-1]
    tear_tail(seg, 7)
    acked = await load_until_acked(cluster, 300, 8, "b")
    await cluster.restart(victim)
    await cluster.wait_applied(victim, max(acked))
    entries = {i: v for i, v in (await cluster.entries(victim))["entries"]}
    assert all(entries.get(i) == v for i, v in acked.items())


async def test_node_with_corrupt_wal_refuses_to_start_with_a_clear_error(
    cluster: LocalCluster,
) -> None:
    await load_until_acked(cluster, 500, 8, "a")
    leader = await cluster.wait_leader()
    victim = next(i for i in (1, 2, 3) if i != leader)
    cluster.kill(victim)
    seg = segments(cluster.nodes[victim].data_dir)[-1]
    data = flip_byte(seg, records_end(seg) // 3)
    result = run_node(cluster, victim)
    assert result.returncode != 0
    assert "corrupt raft log" in result.stderr
    assert seg.name in result.stderr and "offset" in result.stderr
    # Nothing was changed on disk by the refusal.
    assert seg.read_bytes() == data
