"""The entry point (``swarmkit_py`` group): registers the ``mysql`` storage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swarmkit_py.plugins import hookimpl

from .config import MySQLConfig
from .storage import MySQLStorage


def mysql_storage(options: Mapping[str, str]) -> MySQLStorage:
    """``swarmd --storage mysql --storage-opt dsn=... [--storage-opt prefix=...]``:
    checks the options (:class:`StorageConfigError`), connects to nothing."""
    return MySQLStorage(MySQLConfig.from_options(options))


@hookimpl
def register_storages(register: Any) -> None:
    register("mysql", mysql_storage)
