"""The Raft log of one manager in MySQL: hard state, entries, and the
snapshot in chunks, each write one transaction.

Every write is idempotent (a delete of what it replaces, then the insert), so
when the connection is lost -- even during COMMIT, when nobody can tell
whether the transaction committed -- it is simply run again on a new
connection: running it twice leaves the same rows as running it once.
"""

from __future__ import annotations

import itertools
import logging
import threading

from swarmkit_py.storage import (
    HardState,
    LogRecord,
    RecoveredLog,
    SnapshotRecord,
    StorageUnavailable,
)

from .config import MySQLConfig
from .connection import STARTUP_TIMEOUT, Connection, Link, get_lock
from .schema import Tables, ensure_schema

log = logging.getLogger("swarmkit_mysql")

#: Snapshot data is stored in rows of at most this many bytes, so a snapshot
#: of any size fits through the server's ``max_allowed_packet`` (16 MiB by default).
SNAPSHOT_CHUNK = 1 << 20
#: Entries deleted per statement by :meth:`MySQLLogBackend.compact`.
COMPACT_BATCH = 10_000
# Our own session from before a lost connection may still hold the lock if
# the server did not notice the loss; it is recognized by its connection ID
# on a server that has not restarted since (start times this close).
_SAME_SERVER_START = 2.0
_RELOCK_TIMEOUT = 10
_ONE_PER_MANAGER = "give each manager its own database or --storage-opt prefix=..."


class MySQLLogBackend:
    """The durable Raft log of the manager ``node_id`` (a ``LogBackend``).

    :meth:`open` (done by ``MySQLStorage.open_log``) takes the log: it records
    ``node_id`` as the owner and holds a server lock on the connection, so no
    other process writes the same tables. Writes retry after a lost connection
    until :meth:`interrupt`; a start-up call gives up after a few seconds."""

    def __init__(self, config: MySQLConfig, node_id: str) -> None:
        self.config = config
        self.node_id = node_id
        self._tables = Tables.of(config.prefix)
        self._stop = threading.Event()
        #: (connection ID, server start time) of the session that took the lock.
        self._lock_session: tuple[int, float] | None = None
        self._last_index = 0
        self._link = Link(config, f"raft log of node {node_id}", on_connect=self._take_lock)

    # -- LogBackend ----------------------------------------------------------

    def open(self) -> None:
        """Connects, creates or upgrades the schema, takes the lock and checks
        that the log is this node's. Raises :class:`StorageUnavailable`."""

        def work(conn: Connection, attempt: int) -> None:
            ensure_schema(conn, self.config)
            with conn.cursor() as cur:
                cur.execute("SELECT @@innodb_flush_log_at_trx_commit")
                row = cur.fetchone()
                if row and int(row[0]) != 1:
                    log.warning(
                        "%s: innodb_flush_log_at_trx_commit is %s, not 1: a crash of the "
                        "MySQL server can lose committed Raft entries",
                        self.config.label,
                        row[0],
                    )
            self._claim(conn)
            with conn.cursor() as cur:
                cur.execute(f"SELECT COALESCE(MAX(idx), 0) FROM {self._tables.entries}")
                row = cur.fetchone()
            self._last_index = int(row[0]) if row else 0
            conn.commit()

        try:
            self._link.call(work, "opening the raft log", stop=self._stop, timeout=STARTUP_TIMEOUT)
        except BaseException:
            self._link.close()
            raise

    def recover(self) -> RecoveredLog:
        t = self._tables

        def work(conn: Connection, attempt: int) -> RecoveredLog:
            # One transaction: a consistent view of all three.
            with conn.cursor() as cur:
                cur.execute(f"SELECT term, vote, commit_index FROM {t.hard_state} WHERE id = 1")
                row = cur.fetchone()
                hard_state = HardState(*map(int, row)) if row else None
                snapshot = self._read_snapshot(conn)
                cur.execute(f"SELECT idx, term, data FROM {t.entries} ORDER BY idx")
                entries = [LogRecord(int(i), int(term), bytes(d)) for i, term, d in cur.fetchall()]
            conn.commit()
            return RecoveredLog(hard_state, snapshot, entries)

        recovered = self._link.call(
            work, "reading the raft log", stop=self._stop, timeout=STARTUP_TIMEOUT
        )
        self._check_contiguous(recovered)
        self._last_index = recovered.entries[-1].index if recovered.entries else 0
        return recovered

    def append(self, entries: list[LogRecord], hard_state: HardState | None) -> None:
        if not entries and hard_state is None:
            return
        t = self._tables
        rows = [(e.index, e.term, e.data) for e in entries]
        first = entries[0].index if entries else 0

        def work(conn: Connection, attempt: int) -> None:
            with conn.cursor() as cur:
                # Raft's truncation; after a failed attempt also what that
                # attempt may have committed.
                if rows and (first <= self._last_index or attempt > 0):
                    cur.execute(f"DELETE FROM {t.entries} WHERE idx >= %s", (first,))
                if rows:
                    cur.executemany(
                        f"INSERT INTO {t.entries} (idx, term, data) VALUES (%s, %s, %s)", rows
                    )
                if hard_state is not None:
                    cur.execute(
                        f"INSERT INTO {t.hard_state} (id, term, vote, commit_index) "
                        "VALUES (1, %s, %s, %s) ON DUPLICATE KEY UPDATE term = VALUES(term), "
                        "vote = VALUES(vote), commit_index = VALUES(commit_index)",
                        tuple(hard_state),
                    )
            conn.commit()

        self._link.call(work, "appending to the raft log", stop=self._stop)
        if entries:
            self._last_index = entries[-1].index

    def save_snapshot(self, snapshot: SnapshotRecord, discard_log: bool) -> None:
        t = self._tables
        data = memoryview(snapshot.data)
        offsets = range(0, len(data), SNAPSHOT_CHUNK)

        def work(conn: Connection, attempt: int) -> None:
            with conn.cursor() as cur:
                cur.execute(f"DELETE FROM {t.snapshot_chunks}")
                for seq, offset in enumerate(offsets):
                    chunk = bytes(data[offset : offset + SNAPSHOT_CHUNK])
                    cur.execute(
                        f"INSERT INTO {t.snapshot_chunks} (seq, data) VALUES (%s, %s)",
                        (seq, chunk),
                    )
                cur.execute(
                    f"INSERT INTO {t.snapshot} (id, idx, term, size, chunks, saved_at) "
                    "VALUES (1, %s, %s, %s, %s, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE "
                    "idx = VALUES(idx), term = VALUES(term), size = VALUES(size), "
                    "chunks = VALUES(chunks), saved_at = VALUES(saved_at)",
                    (snapshot.index, snapshot.term, len(data), len(offsets)),
                )
                if discard_log:
                    cur.execute(f"DELETE FROM {t.entries}")
            conn.commit()

        self._link.call(work, "saving a raft snapshot", stop=self._stop)
        if discard_log:
            self._last_index = 0

    def compact(self, first_index: int) -> None:
        t = self._tables

        def work(conn: Connection, attempt: int) -> None:
            # In bounded steps, each its own transaction: a step that is lost
            # is simply done again.
            with conn.cursor() as cur:
                while True:
                    deleted = cur.execute(
                        f"DELETE FROM {t.entries} WHERE idx < %s ORDER BY idx LIMIT %s",
                        (first_index, COMPACT_BATCH),
                    )
                    conn.commit()
                    if deleted < COMPACT_BATCH:
                        return

        self._link.call(work, "compacting the raft log", stop=self._stop)

    def interrupt(self) -> None:
        self._stop.set()
        self._link.abort()

    def close(self) -> None:
        # Ending the session releases the lock.
        self._link.close()

    # -- internals -----------------------------------------------------------

    def _take_lock(self, conn: Connection) -> None:
        """On every new connection: the server lock that keeps other processes out."""
        lock = self.config.log_lock
        if get_lock(conn, lock, 0):
            self._lock_session = self._session(conn)
            return
        with conn.cursor() as cur:
            cur.execute("SELECT IS_USED_LOCK(%s)", (lock,))
            row = cur.fetchone()
        holder = row[0] if row else None
        if holder is not None and self._lock_session is not None:
            previous_id, previous_start = self._lock_session
            _, server_start = self._session(conn)
            if holder == previous_id and abs(server_start - previous_start) < _SAME_SERVER_START:
                log.warning(
                    "raft log of node %s: ending our previous MySQL session %s, "
                    "which still holds the log's lock",
                    self.node_id,
                    holder,
                )
                with conn.cursor() as cur:
                    cur.execute(f"KILL CONNECTION {int(holder)}")
                if get_lock(conn, lock, _RELOCK_TIMEOUT):
                    self._lock_session = self._session(conn)
                    return
        raise StorageUnavailable(
            f"the raft log in {self.config.label} is in use by another process "
            f"(MySQL connection {holder}); {_ONE_PER_MANAGER}"
        )

    @staticmethod
    def _session(conn: Connection) -> tuple[int, float]:
        """This connection's ID and when the server started (by its own clock)."""
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Uptime'")  # MySQL and MariaDB alike
            uptime = cur.fetchone()
            cur.execute("SELECT CONNECTION_ID(), UNIX_TIMESTAMP(NOW(6))")
            row = cur.fetchone()
        if row is None or uptime is None:
            return 0, 0.0
        return int(row[0]), float(row[1]) - float(uptime[1])

    def _claim(self, conn: Connection) -> None:
        """Records this node as the log's owner, or refuses another node's log."""
        t = self._tables
        with conn.cursor() as cur:
            cur.execute(f"SELECT value FROM {t.meta} WHERE name = 'node_id' FOR UPDATE")
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    f"INSERT INTO {t.meta} (name, value) VALUES ('node_id', %s)", (self.node_id,)
                )
            elif row[0] != self.node_id:
                raise StorageUnavailable(
                    f"{self.config.label} holds the raft log of node {row[0]}; {_ONE_PER_MANAGER}"
                )

    def _read_snapshot(self, conn: Connection) -> SnapshotRecord | None:
        t = self._tables
        with conn.cursor() as cur:
            cur.execute(f"SELECT idx, term, size, chunks FROM {t.snapshot} WHERE id = 1")
            row = cur.fetchone()
            if row is None:
                return None
            index, term, size, chunks = map(int, row)
            data = bytearray()
            cur.execute(f"SELECT seq, data FROM {t.snapshot_chunks} ORDER BY seq")
            seqs = 0
            while (chunk := cur.fetchone()) is not None:
                if int(chunk[0]) != seqs:
                    break
                data += chunk[1]
                seqs += 1
        if seqs != chunks or len(data) != size:
            raise StorageUnavailable(
                f"the raft snapshot in {self.config.label} is damaged: {seqs} of {chunks} "
                f"chunks, {len(data)} of {size} bytes; the tables were changed outside "
                "swarmkit (restore the database, or remove this manager and join it again)"
            )
        return SnapshotRecord(index, term, bytes(data))

    def _check_contiguous(self, recovered: RecoveredLog) -> None:
        entries = recovered.entries
        for before, after in itertools.pairwise(entries):
            if after.index != before.index + 1:
                raise StorageUnavailable(
                    f"the raft log in {self.config.label} has a gap: entry {after.index} "
                    f"follows {before.index}; the tables were changed outside swarmkit "
                    "(restore the database, or remove this manager and join it again)"
                )
        snapshot = recovered.snapshot
        if snapshot is not None and entries and entries[0].index > snapshot.index + 1:
            raise StorageUnavailable(
                f"the raft log in {self.config.label} starts at entry {entries[0].index}, "
                f"after the snapshot's {snapshot.index} + 1; the tables were changed outside "
                "swarmkit (restore the database, or remove this manager and join it again)"
            )
