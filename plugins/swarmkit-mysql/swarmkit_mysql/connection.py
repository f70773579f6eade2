"""Connections to the server, which errors mean "the server went away"
(worth a reconnect and a retry), and :class:`Link`, a connection that comes
back after it was lost."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pymysql
from pymysql.constants import CR, ER

from swarmkit_py.storage import StorageUnavailable

from .config import MySQLConfig

log = logging.getLogger("swarmkit_mysql")

T = TypeVar("T")
Connection = pymysql.Connection

#: How long a start-up call (check, open, recover, wipe) keeps trying to reach the server.
STARTUP_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5
#: A statement that gets no answer for this long counts as a lost connection.
IO_TIMEOUT = 60
FIRST_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 2.0
#: At most one warning per outage per this many seconds.
WARNING_INTERVAL = 5.0

# Server errors that end or interrupt a session without saying anything about
# what was asked: the same work may succeed on a new connection.
_TRANSIENT_SERVER_ERRORS = frozenset(
    {
        ER.CON_COUNT_ERROR,  # 1040 too many connections
        ER.SERVER_SHUTDOWN,  # 1053
        ER.NET_READ_ERROR,  # 1158
        ER.NET_READ_INTERRUPTED,  # 1159
        ER.NET_ERROR_ON_WRITE,  # 1160
        ER.NET_WRITE_INTERRUPTED,  # 1161
        ER.LOCK_WAIT_TIMEOUT,  # 1205
        ER.LOCK_DEADLOCK,  # 1213
        1152,  # aborted connection
        1184,  # aborted new connection
        1317,  # query execution was interrupted (shutdown, KILL QUERY)
        1927,  # connection was killed (MariaDB)
        4031,  # disconnected by the server for inactivity (MySQL 8)
    }
)
_TRANSIENT_CLIENT_ERRORS = frozenset(
    {
        CR.CR_CONNECTION_ERROR,  # 2002
        CR.CR_CONN_HOST_ERROR,  # 2003 can't connect
        CR.CR_SERVER_GONE_ERROR,  # 2006
        CR.CR_SERVER_LOST,  # 2013
        CR.CR_SERVER_LOST_EXTENDED,  # 2055
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` means the connection (not the work) failed."""
    if isinstance(error, pymysql.InterfaceError | OSError):
        return True  # the connection is closed or broken
    if isinstance(error, pymysql.MySQLError) and error.args:
        code = error.args[0]
        return code in _TRANSIENT_SERVER_ERRORS or code in _TRANSIENT_CLIENT_ERRORS
    return False


def error_text(error: BaseException, config: MySQLConfig) -> str:
    """``(2003) Can't connect ...``, never with the password in it."""
    if isinstance(error, pymysql.MySQLError) and len(error.args) >= 2:
        text = f"({error.args[0]}) {error.args[1]}"
    else:
        text = str(error) or type(error).__name__
    return config.scrub(text)


def _hint(error: pymysql.MySQLError, config: MySQLConfig) -> str:
    """What to do about a server error an operator can fix."""
    code = error.args[0] if error.args else None
    if code == ER.ACCESS_DENIED_ERROR:
        return f" (check the user and password in the dsn, or in ${config.password_env})"
    if code == ER.BAD_DB_ERROR:
        return f" (create the database {config.dsn.database}, or fix the dsn)"
    if code in (ER.DBACCESS_DENIED_ERROR, ER.TABLEACCESS_DENIED_ERROR, 1227):
        return f" (grant the user all privileges on {config.dsn.database}.*)"
    return ""


def connect(config: MySQLConfig) -> Connection:
    """A new connection (autocommit off) to the DSN's database."""
    dsn = config.dsn
    conn = pymysql.connect(
        host=dsn.host,
        port=dsn.port,
        user=dsn.user,
        password=dsn.password,
        database=dsn.database,
        charset="utf8mb4",
        autocommit=False,
        # The handshake too: something that accepts but never greets (not a
        # MySQL server) must not hold up a start for long.
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=CONNECT_TIMEOUT,
        write_timeout=CONNECT_TIMEOUT,
        # Blobs as _binary'...' literals: no charset conversion of Raft data.
        binary_prefix=True,
    )
    # Statements get longer; PyMySQL applies these before each read and write.
    setattr(conn, "_read_timeout", IO_TIMEOUT)  # noqa: B010
    setattr(conn, "_write_timeout", IO_TIMEOUT)  # noqa: B010
    return conn


def get_lock(conn: Connection, name: str, timeout: float) -> bool:
    """``GET_LOCK(name, timeout)``: a server-wide lock held by this session
    until it is released or the session ends."""
    with conn.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, %s)", (name, timeout))
        row = cur.fetchone()
    return bool(row and row[0] == 1)


class Link:
    """One connection, made on first use and again whenever it is lost.

    :meth:`call` runs a unit of work (a whole transaction, committed by the
    work itself). Work must be idempotent: after a lost connection it is run
    again from the start on a new connection, even if the lost one had
    already committed it. ``on_connect`` runs on every new connection (the log
    takes its lock there)."""

    def __init__(
        self,
        config: MySQLConfig,
        purpose: str,
        on_connect: Callable[[Connection], None] | None = None,
    ) -> None:
        self.config = config
        self.purpose = purpose
        self._on_connect = on_connect
        self._conn: Connection | None = None
        self._conn_lock = threading.Lock()
        self._outage_since: float | None = None
        self._last_warning = 0.0

    @property
    def connection(self) -> Connection | None:
        return self._conn

    def call(
        self,
        work: Callable[[Connection, int], T],
        what: str,
        *,
        stop: threading.Event,
        timeout: float | None = None,
    ) -> T:
        """``work(connection, attempt)``, retried with backoff after a lost
        connection: forever (``timeout=None``) until ``stop`` is set, else for
        ``timeout`` seconds. Raises :class:`StorageUnavailable` when it gives
        up or on an error that a new connection would not cure."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = FIRST_RETRY_DELAY
        attempt = 0
        failure: BaseException
        while True:
            if stop.is_set():
                raise StorageUnavailable(
                    f"{what} in {self.config.label}: stopped while waiting for the MySQL server"
                )
            try:
                result = work(self._connected(), attempt)
            except pymysql.MySQLError as e:
                self.drop()
                if not is_transient(e):
                    raise StorageUnavailable(
                        f"{what} in {self.config.label} failed: {error_text(e, self.config)}"
                        f"{_hint(e, self.config)}"
                    ) from None
                failure = e
            except OSError as e:
                self.drop()
                failure = e
            else:
                self._recovered(what)
                return result
            now = time.monotonic()
            if deadline is not None and now + delay > deadline:
                raise StorageUnavailable(self.unreachable(failure)) from None
            self._warn(what, failure, now)
            stop.wait(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
            attempt += 1

    def unreachable(self, error: BaseException) -> str:
        dsn = self.config.dsn
        return (
            f"cannot reach the MySQL server at {dsn.address} ({dsn.redacted}): "
            f"{error_text(error, self.config)}"
        )

    def abort(self) -> None:
        """From another thread: breaks off a call blocked on the network (it
        then fails as a lost connection)."""
        with self._conn_lock:
            if self._conn is not None:
                _shutdown(self._conn)

    def drop(self) -> None:
        """Forgets the connection (closing it without waiting for the server)."""
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            _shutdown(conn)
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _connected(self) -> Connection:
        if self._conn is not None:
            return self._conn
        conn = connect(self.config)
        try:
            if self._on_connect is not None:
                self._on_connect(conn)
        except BaseException:
            _shutdown(conn)
            with contextlib.suppress(Exception):
                conn.close()
            raise
        with self._conn_lock:
            self._conn = conn
        return conn

    def _warn(self, what: str, error: BaseException, now: float) -> None:
        if self._outage_since is None:
            self._outage_since = now
        if now - self._last_warning < WARNING_INTERVAL:
            return
        self._last_warning = now
        log.warning(
            "%s: %s in %s: %s; retrying (for %.1f s so far)",
            self.purpose,
            what,
            self.config.label,
            error_text(error, self.config),
            now - self._outage_since,
        )

    def _recovered(self, what: str) -> None:
        if self._outage_since is None:
            return
        log.warning(
            "%s: %s in %s succeeded after %.1f s of retries",
            self.purpose,
            what,
            self.config.label,
            time.monotonic() - self._outage_since,
        )
        self._outage_since = None
        self._last_warning = 0.0


def _shutdown(conn: Connection) -> None:
    """Shuts the connection's socket down: a blocked read or write returns at
    once (PyMySQL has no public way to do this from another thread)."""
    sock = getattr(conn, "_sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
