"""swarmkit-mysql: the ``mysql`` storage backend for swarmkit-py
(``swarmd --storage mysql --storage-opt dsn=mysql://user@host/db``).

A manager's Raft log (hard state, entries, snapshot) lives in a MySQL or
MariaDB database, with plain tables of the applied cluster state beside it
for operators' SQL. See docs/storage.md.
"""

from __future__ import annotations

from .config import DEFAULT_PASSWORD_ENV, MySQLConfig
from .dsn import DSN, parse_dsn
from .log import MySQLLogBackend
from .plugin import mysql_storage
from .schema import SCHEMA_VERSION
from .state import MySQLStateSink
from .storage import MySQLStorage

__all__ = [
    "DEFAULT_PASSWORD_ENV",
    "DSN",
    "SCHEMA_VERSION",
    "MySQLConfig",
    "MySQLLogBackend",
    "MySQLStateSink",
    "MySQLStorage",
    "mysql_storage",
    "parse_dsn",
]
