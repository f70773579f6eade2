"""The LogBackend contract on a real MariaDB: what is written comes back after
the log is opened again, Raft's truncation, snapshots of any size, compaction,
and who may open a log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import swarmkit_mysql.log
import swarmkit_mysql.storage
from swarmkit_mysql import MySQLConfig, MySQLLogBackend, MySQLStorage

from swarmkit_py.storage import (
    HardState,
    LogRecord,
    RecoveredLog,
    SnapshotRecord,
    StorageUnavailable,
)
from swarmkit_py.testing.mariadb import MariaDB


def records(first: int, last: int, term: int = 1) -> list[LogRecord]:
    return [
        LogRecord(i, term, f"entry {i} of term {term}".encode()) for i in range(first, last + 1)
    ]


def reopened(storage: MySQLStorage, log: MySQLLogBackend, node_id: str = "n1") -> RecoveredLog:
    log.close()
    again = storage.open_log(Path("/nonexistent"), node_id)
    try:
        return again.recover()
    finally:
        again.close()


def count(mariadb: MariaDB, storage: MySQLStorage, table: str) -> int:
    conn = mariadb.connect(storage.config.dsn.database)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{storage.config.prefix}{table}`")
            row = cur.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        conn.close()


@pytest.fixture
def log(storage: MySQLStorage, tmp_path: Path) -> Iterator[MySQLLogBackend]:
    opened = storage.open_log(tmp_path, "n1")
    assert opened.recover() == RecoveredLog(None, None, [])
    yield opened
    opened.close()


def test_entries_and_hard_state_come_back_when_the_log_is_opened_again(
    storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    log.append(records(1, 5), HardState(term=1, vote=7, commit=3))
    log.append(records(6, 8), None)
    assert reopened(storage, log) == RecoveredLog(HardState(1, 7, 3), None, records(1, 8))


def test_an_entry_at_a_stored_index_replaces_it_and_every_entry_after_it(
    storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    log.append(records(1, 10, term=1), HardState(1, 1, 4))
    log.append(records(6, 7, term=2), HardState(2, 2, 4))
    recovered = reopened(storage, log)
    assert recovered.entries == records(1, 5, term=1) + records(6, 7, term=2)
    assert recovered.hard_state == HardState(2, 2, 4)


def test_a_hard_state_alone_is_stored_and_an_empty_append_writes_nothing(
    storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    log.append([], None)
    log.append([], HardState(term=3, vote=2, commit=0))
    log.append([], HardState(term=4, vote=0, commit=0))
    assert reopened(storage, log) == RecoveredLog(HardState(4, 0, 0), None, [])


def test_entry_data_comes_back_byte_for_byte(storage: MySQLStorage, log: MySQLLogBackend) -> None:
    odd = [
        LogRecord(1, 1, bytes(range(256)) * 4),
        LogRecord(2, 1, b"'\\\"\x00;--"),
        LogRecord(3, 1, b""),
        LogRecord(4, 1, os.urandom(3 << 20)),  # far past the statement size executemany uses
    ]
    log.append(odd, None)
    assert reopened(storage, log).entries == odd


def test_a_snapshot_larger_than_max_allowed_packet_is_stored_in_chunks(
    mariadb: MariaDB, storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    data = os.urandom(17 << 20)  # the server's max_allowed_packet is 16 MiB
    log.append(records(1, 30), HardState(1, 1, 30))
    log.save_snapshot(SnapshotRecord(20, 1, data), discard_log=False)
    assert count(mariadb, storage, "raft_snapshot_chunks") == 17
    recovered = reopened(storage, log)
    assert recovered.snapshot == SnapshotRecord(20, 1, data)
    assert recovered.entries == records(1, 30)


def test_a_new_snapshot_replaces_the_previous_one(
    mariadb: MariaDB, storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    log.save_snapshot(SnapshotRecord(10, 1, os.urandom(3 << 20)), discard_log=False)
    log.save_snapshot(SnapshotRecord(20, 2, b"small"), discard_log=False)
    assert count(mariadb, storage, "raft_snapshot_chunks") == 1
    assert reopened(storage, log).snapshot == SnapshotRecord(20, 2, b"small")


def test_a_snapshot_installed_from_the_leader_discards_the_whole_log(
    storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    log.append(records(1, 10), HardState(1, 1, 10))
    log.save_snapshot(SnapshotRecord(50, 3, b"state at 50"), discard_log=True)
    log.append(records(51, 52, term=3), HardState(3, 1, 52))
    recovered = reopened(storage, log)
    assert recovered.snapshot == SnapshotRecord(50, 3, b"state at 50")
    assert recovered.entries == records(51, 52, term=3)


def test_compact_drops_the_entries_below_the_first_index(
    storage: MySQLStorage, log: MySQLLogBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(swarmkit_mysql.log, "COMPACT_BATCH", 7)  # several delete steps
    log.append(records(1, 40), None)
    log.save_snapshot(SnapshotRecord(30, 1, b"state at 30"), discard_log=False)
    log.compact(31)
    assert reopened(storage, log).entries == records(31, 40)


def test_a_log_with_a_gap_is_refused_at_recovery(
    mariadb: MariaDB, storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    log.append(records(1, 5), None)
    log.close()
    conn = mariadb.connect(storage.config.dsn.database)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM raft_entries WHERE idx = 3")
    conn.close()
    again = storage.open_log(Path("/nonexistent"), "n1")
    with pytest.raises(StorageUnavailable, match="has a gap: entry 4 follows 2"):
        again.recover()
    again.close()


def test_a_second_process_cannot_open_a_log_that_is_open(
    storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    with pytest.raises(StorageUnavailable) as error:
        storage.open_log(Path("/nonexistent"), "n1")
    assert "is in use by another process" in str(error.value)
    assert "give each manager its own database or --storage-opt prefix=" in str(error.value)
    log.close()
    storage.open_log(Path("/nonexistent"), "n1").close()


def test_another_nodes_log_is_refused_and_a_prefix_gives_each_its_own(
    dsn: str, storage: MySQLStorage, log: MySQLLogBackend
) -> None:
    log.append(records(1, 3), None)
    log.close()
    with pytest.raises(StorageUnavailable) as error:
        storage.open_log(Path("/nonexistent"), "n2")
    assert f"the database {storage.config.dsn.database} at " in str(error.value)
    assert "holds the raft log of node n1; give each manager its own database" in str(error.value)
    second = MySQLStorage(MySQLConfig.from_options({"dsn": dsn, "prefix": "m2_"}))
    other = second.open_log(Path("/nonexistent"), "n2")
    assert other.recover().entries == []
    other.close()


def test_a_wiped_log_is_empty_and_free_for_another_node(
    mariadb: MariaDB,
    storage: MySQLStorage,
    log: MySQLLogBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(swarmkit_mysql.storage, "WIPE_LOCK_TIMEOUT", 1)
    log.append(records(1, 3), HardState(1, 1, 3))
    log.save_snapshot(SnapshotRecord(2, 1, b"x"), discard_log=False)
    with pytest.raises(StorageUnavailable, match="another process has it open"):
        storage.wipe(Path("/nonexistent"), "n1")
    log.close()
    with pytest.raises(StorageUnavailable, match="holds the raft log of node n1, not of node n9"):
        storage.wipe(Path("/nonexistent"), "n9")
    storage.wipe(Path("/nonexistent"), "n1")
    assert count(mariadb, storage, "raft_entries") == 0
    other = storage.open_log(Path("/nonexistent"), "n2")
    assert other.recover() == RecoveredLog(None, None, [])
    other.close()
