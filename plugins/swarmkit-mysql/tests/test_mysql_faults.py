"""When the server goes away: writes wait and then complete, nothing that was
acknowledged is lost (clean stop or SIGKILL), ``interrupt`` ends the wait,
start-up gives up quickly, and no message ever shows the password."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from swarmkit_mysql import MySQLConfig, MySQLStorage

from swarmkit_py.raft.local_cluster import free_ports
from swarmkit_py.storage import HardState, LogRecord, StorageUnavailable
from swarmkit_py.testing.mariadb import MariaDB

NOWHERE = Path("/nonexistent")


def storage_on(server: MariaDB, database: str = "swarm", **options: str) -> MySQLStorage:
    return MySQLStorage(MySQLConfig.from_options({"dsn": server.dsn(database), **options}))


class Writer(threading.Thread):
    """Appends one entry at a time (with its hard state), as the Raft thread does."""

    def __init__(self, storage: MySQLStorage) -> None:
        super().__init__(daemon=True)
        self.log = storage.open_log(NOWHERE, "n1")
        self.log.recover()
        self.acknowledged = 0
        self.error: BaseException | None = None
        self.finish = threading.Event()

    def run(self) -> None:
        try:
            while not self.finish.is_set():
                index = self.acknowledged + 1
                self.log.append([LogRecord(index, 1, b"x" * index)], HardState(1, 1, index))
                self.acknowledged = index
        except BaseException as e:
            self.error = e

    def wait_for(self, acknowledged: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.acknowledged < acknowledged:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {self.acknowledged} appends in {timeout} s"
            time.sleep(0.01)


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_appends_wait_for_a_restarted_server_and_none_that_returned_is_lost(
    private_mariadb: MariaDB, outage: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "swarmkit_mysql")
    storage = storage_on(private_mariadb)
    writer = Writer(storage)
    writer.start()
    writer.wait_for(50, timeout=30)
    if outage == "stop":
        private_mariadb.stop()
    else:
        private_mariadb.kill()
    during = writer.acknowledged
    time.sleep(1.0)
    assert writer.acknowledged == during, "an append returned while the server was down"
    assert writer.is_alive() and writer.error is None
    private_mariadb.start()
    writer.wait_for(during + 50, timeout=30)
    writer.finish.set()
    writer.join(timeout=30)
    assert writer.error is None
    acknowledged = writer.acknowledged
    writer.log.close()

    log = storage.open_log(NOWHERE, "n1")
    recovered = log.recover()
    log.close()
    assert recovered.hard_state is not None and recovered.hard_state.commit >= acknowledged
    stored = {e.index: e.data for e in recovered.entries}
    assert all(stored.get(i) == b"x" * i for i in range(1, acknowledged + 1))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("appending to the raft log" in w and "retrying" in w for w in warnings)
    assert any("succeeded after" in w for w in warnings)
    assert not any(private_mariadb.password in r.getMessage() for r in caplog.records)


def test_interrupt_makes_an_append_that_waits_for_the_server_raise_promptly(
    private_mariadb: MariaDB,
) -> None:
    storage = storage_on(private_mariadb)
    log = storage.open_log(NOWHERE, "n1")
    log.recover()
    private_mariadb.stop()
    outcome: list[BaseException | None] = []

    def append() -> None:
        try:
            log.append([LogRecord(1, 1, b"x")], None)
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=append, daemon=True)
    thread.start()
    time.sleep(0.5)
    assert not outcome, "the append returned with the server down"
    started = time.monotonic()
    log.interrupt()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2.0
    assert outcome and isinstance(outcome[0], StorageUnavailable)
    assert "stopped while waiting for the MySQL server" in str(outcome[0])
    log.close()


def test_an_unreachable_server_at_start_is_reported_quickly_without_the_password() -> None:
    port = free_ports(1)[0]
    secret = "unreachable-Secret-123"
    storage = MySQLStorage(
        MySQLConfig.from_options({"dsn": f"mysql://swarm:{secret}@127.0.0.1:{port}/db"})
    )
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as error:
        storage.open_log(NOWHERE, "n1")
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert message.startswith(
        f"cannot reach the MySQL server at 127.0.0.1:{port} "
        f"(mysql://swarm:***@127.0.0.1:{port}/db): (2003)"
    )
    assert secret not in message
    with pytest.raises(StorageUnavailable, match="cannot reach the MySQL server"):
        storage.check()


def test_a_wrong_password_is_reported_without_it(
    mariadb: MariaDB, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wrong-Password-456"
    bad = dsn.replace(f":{mariadb.password}@", f":{wrong}@")
    storage = MySQLStorage(MySQLConfig.from_options({"dsn": bad}))
    for attempt in (storage.check, lambda: storage.open_log(NOWHERE, "n1")):
        with pytest.raises(StorageUnavailable) as error:
            attempt()
        assert "(1045) Access denied for user 'swarmkit'" in str(error.value)
        assert wrong not in str(error.value) and mariadb.password not in str(error.value)
        assert error.value.__cause__ is None and error.value.__suppress_context__
    assert not any(wrong in r.getMessage() for r in caplog.records)


def test_a_database_with_a_newer_schema_is_refused(mariadb: MariaDB, dsn: str) -> None:
    storage = MySQLStorage(MySQLConfig.from_options({"dsn": dsn}))
    storage.check()
    conn = mariadb.connect(storage.config.dsn.database)
    with conn.cursor() as cur:
        cur.execute("UPDATE meta SET value = '3' WHERE name = 'schema_version'")
    conn.close()
    expected = (
        f"the database {storage.config.dsn.database} at 127.0.0.1:{mariadb.port} has schema "
        "version 3; this swarmkit-mysql supports up to 1: upgrade swarmkit-py"
    )
    with pytest.raises(StorageUnavailable) as error:
        storage.check()
    assert str(error.value) == expected
    with pytest.raises(StorageUnavailable) as error:
        storage.open_log(NOWHERE, "n1")
    assert str(error.value) == expected


def test_a_missing_table_is_an_error_not_a_wait(mariadb: MariaDB, storage: MySQLStorage) -> None:
    log = storage.open_log(NOWHERE, "n1")
    log.recover()
    conn = mariadb.connect(storage.config.dsn.database)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE raft_entries")
    conn.close()
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=r"appending to the raft log .* failed: \(1146\)"):
        log.append([LogRecord(1, 1, b"x")], None)
    assert time.monotonic() - started < 2
    log.close()


def test_a_lost_session_that_still_holds_the_lock_is_taken_over_by_its_owner(
    mariadb: MariaDB, storage: MySQLStorage
) -> None:
    log = storage.open_log(NOWHERE, "n1")
    log.recover()
    # The client loses its connection while the server keeps the session (and
    # the lock): as after a network cut the server has not noticed yet.
    connection = log._link.connection
    assert connection is not None
    log._link._conn = None
    log.append([LogRecord(1, 1, b"x")], None)
    connection.close()
    assert log.recover().entries == [LogRecord(1, 1, b"x")]
    with pytest.raises(StorageUnavailable, match="in use by another process"):
        storage.open_log(NOWHERE, "n1")
    log.close()
