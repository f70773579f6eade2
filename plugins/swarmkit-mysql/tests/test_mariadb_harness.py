"""The MariaDB test harness: a machine without mariadb-server fails the tests
that need it (never skips them) and says how to fix it; a killed server comes
back on the same data directory and port with what was committed."""

from __future__ import annotations

from pathlib import Path

import pytest

import swarmkit_py.testing.mariadb as harness
from swarmkit_py.testing.mariadb import MariaDB, MariaDBNotInstalled, running_mariadb


@pytest.fixture
def no_mariadb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(harness, "_SBIN_DIRS", ())


@pytest.mark.usefixtures("no_mariadb")
def test_a_missing_mariadb_server_is_an_error_that_says_to_run_setup(tmp_path: Path) -> None:
    with pytest.raises(
        MariaDBNotInstalled, match=r"mariadb-server is not installed: run \./scripts/setup\.sh"
    ):
        MariaDB(tmp_path / "db").start()


@pytest.mark.usefixtures("no_mariadb")
def test_the_fixture_helper_fails_the_test_rather_than_skipping_it(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="mariadb-server is not installed"):
        next(running_mariadb(tmp_path / "db"))


def test_a_killed_server_restarts_on_its_data_directory_and_port(
    private_mariadb: MariaDB,
) -> None:
    private_mariadb.dsn("kept")
    with private_mariadb.connect("kept") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (v INT) ENGINE=InnoDB")
        cur.execute("INSERT INTO t VALUES (42)")
    port = private_mariadb.port
    private_mariadb.kill()
    assert not private_mariadb.running
    private_mariadb.start()
    assert private_mariadb.port == port
    with private_mariadb.connect("kept") as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM t")
        assert cur.fetchall() == ((42,),)
