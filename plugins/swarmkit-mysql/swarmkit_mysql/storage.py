"""``MySQLStorage``: the mysql storage backend as swarmd sees it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swarmkit_py.storage import StorageUnavailable

from .config import MySQLConfig
from .connection import STARTUP_TIMEOUT, Connection, Link, get_lock
from .log import MySQLLogBackend
from .schema import Tables, ensure_schema
from .state import MySQLStateSink

#: How long :meth:`MySQLStorage.wipe` waits for a log that is being closed.
WIPE_LOCK_TIMEOUT = 10


class MySQLStorage:
    """A manager's Raft log and a copy of its applied state in one MySQL or
    MariaDB database (a ``Storage``). Made by :func:`swarmkit_mysql.plugin.mysql_storage`
    from ``--storage-opt`` options; opens no connection until asked to."""

    name = "mysql"

    def __init__(self, config: MySQLConfig) -> None:
        self.config = config

    def check(self) -> None:
        """Reaches the server (a few seconds at most), creates or upgrades the
        schema and refuses a newer one (:class:`StorageUnavailable`)."""
        self._once(lambda conn, attempt: ensure_schema(conn, self.config), "checking the schema")

    def open_log(self, raft_dir: Path, node_id: str) -> MySQLLogBackend:
        """The log of ``node_id``, taken for this process (``raft_dir`` is not used)."""
        log = MySQLLogBackend(self.config, node_id)
        log.open()
        return log

    def state_sink(self, node_id: str) -> MySQLStateSink:
        """Starts the writer of the state tables (it connects on its own thread)."""
        return MySQLStateSink(self.config, node_id)

    def wipe(self, raft_dir: Path, node_id: str) -> None:
        """Empties the log and state tables of this prefix and forgets the
        owner (after the manager was demoted or left). Its log and state sink
        must be closed first; another node's log is refused."""
        t = Tables.of(self.config.prefix)

        def work(conn: Connection, attempt: int) -> None:
            ensure_schema(conn, self.config)
            if not get_lock(conn, self.config.log_lock, WIPE_LOCK_TIMEOUT):
                raise StorageUnavailable(
                    f"cannot wipe the raft log in {self.config.label}: another process has it open"
                )
            with conn.cursor() as cur:
                cur.execute(f"SELECT value FROM {t.meta} WHERE name = 'node_id' FOR UPDATE")
                owner = cur.fetchone()
                if owner is not None and owner[0] != node_id:
                    raise StorageUnavailable(
                        f"{self.config.label} holds the raft log of node {owner[0]}, "
                        f"not of node {node_id}: not wiping it"
                    )
                for table in (*t.raft, *t.state):
                    cur.execute(f"DELETE FROM {table}")
                cur.execute(f"DELETE FROM {t.meta} WHERE name = 'node_id'")
            conn.commit()

        self._once(work, "wiping the raft log")

    def describe(self) -> dict[str, Any]:
        return {"Backend": self.name, "DSN": self.config.dsn.redacted, "Prefix": self.config.prefix}

    def _once(self, work: Callable[[Connection, int], object], what: str) -> None:
        link = Link(self.config, "mysql storage")
        try:
            link.call(work, what, stop=threading.Event(), timeout=STARTUP_TIMEOUT)
        finally:
            link.close()
