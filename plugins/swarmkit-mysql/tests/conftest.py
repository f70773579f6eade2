"""A real MariaDB (started by swarmkit_py.testing.mariadb): one server for the
session, a fresh database per test, and private servers for the tests that
stop or kill theirs. Without mariadb-server the tests fail."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from swarmkit_mysql import MySQLConfig, MySQLStorage

from swarmkit_py.testing.mariadb import MariaDB, running_mariadb

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    yield from running_mariadb(tmp_path_factory.mktemp("mariadb"))


@pytest.fixture
def dsn(mariadb: MariaDB) -> Iterator[str]:
    """A new, empty database on the session's server."""
    name = f"t{next(_databases)}"
    yield mariadb.dsn(name)
    mariadb.drop_database(name)


@pytest.fixture
def storage(dsn: str) -> MySQLStorage:
    return MySQLStorage(MySQLConfig.from_options({"dsn": dsn}))


@pytest.fixture
def private_mariadb(tmp_path: Path) -> Iterator[MariaDB]:
    """A server of this test's own, to stop, kill and restart."""
    yield from running_mariadb(tmp_path / "mariadb")
