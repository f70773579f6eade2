"""The tables, and the migrations that create and upgrade them.

The schema version lives in ``{prefix}meta`` (``schema_version``). Each
migration is a list of statements run in order; DDL commits on its own in
MySQL, so every statement must be safe to run twice (``IF NOT EXISTS``): a
migration cut short runs again from its start next time. A database whose
version is newer than :data:`SCHEMA_VERSION` is refused, never downgraded.
See docs/storage.md for what each column holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmkit_py.storage import StorageUnavailable

from .config import MySQLConfig
from .connection import Connection, get_lock

#: Waiting for another process that is migrating the same tables.
MIGRATION_LOCK_TIMEOUT = 30
_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
#: Every table, without its prefix, in the order of :class:`Tables`' fields.
TABLE_NAMES = (
    "meta",
    "raft_hard_state",
    "raft_entries",
    "raft_snapshot",
    "raft_snapshot_chunks",
    "nodes",
    "services",
    "tasks",
    "state_info",
)


@dataclass(frozen=True)
class Tables:
    """The table names of one prefix, quoted for SQL (``Tables.of("m1_").nodes``
    is the name ``m1_nodes`` in backquotes)."""

    meta: str
    hard_state: str
    entries: str
    snapshot: str
    snapshot_chunks: str
    nodes: str
    services: str
    tasks: str
    state_info: str

    @classmethod
    def of(cls, prefix: str) -> Tables:
        return cls(*(f"`{prefix}{name}`" for name in TABLE_NAMES))

    @property
    def raft(self) -> tuple[str, ...]:
        return (self.hard_state, self.entries, self.snapshot, self.snapshot_chunks)

    @property
    def state(self) -> tuple[str, ...]:
        return (self.nodes, self.services, self.tasks, self.state_info)


def _version_1(t: Tables) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {t.hard_state} (
            id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
            term BIGINT UNSIGNED NOT NULL,
            vote BIGINT UNSIGNED NOT NULL,
            commit_index BIGINT UNSIGNED NOT NULL
        ) {_TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS {t.entries} (
            idx BIGINT UNSIGNED NOT NULL PRIMARY KEY,
            term BIGINT UNSIGNED NOT NULL,
            data LONGBLOB NOT NULL
        ) {_TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS {t.snapshot} (
            id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
            idx BIGINT UNSIGNED NOT NULL,
            term BIGINT UNSIGNED NOT NULL,
            size BIGINT UNSIGNED NOT NULL,
            chunks INT UNSIGNED NOT NULL,
            saved_at DATETIME(6) NOT NULL
        ) {_TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS {t.snapshot_chunks} (
            seq INT UNSIGNED NOT NULL PRIMARY KEY,
            data MEDIUMBLOB NOT NULL
        ) {_TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS {t.nodes} (
            id VARCHAR(64) NOT NULL PRIMARY KEY,
            hostname VARCHAR(255) NOT NULL,
            role VARCHAR(16) NOT NULL,
            status VARCHAR(16) NOT NULL,
            availability VARCHAR(16) NOT NULL,
            leader BOOLEAN NOT NULL,
            reachability VARCHAR(16) NULL,
            addr VARCHAR(255) NOT NULL,
            nano_cpus BIGINT UNSIGNED NOT NULL,
            cpus DECIMAL(20, 9) NOT NULL,
            memory_bytes BIGINT UNSIGNED NOT NULL,
            running_tasks INT UNSIGNED NOT NULL,
            last_heartbeat DATETIME(6) NULL,
            engine_version VARCHAR(64) NOT NULL,
            labels JSON NOT NULL,
            version BIGINT UNSIGNED NOT NULL,
            created_at DATETIME(6) NULL,
            updated_at DATETIME(6) NULL,
            KEY hostname (hostname)
        ) {_TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS {t.services} (
            id VARCHAR(64) NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            mode VARCHAR(16) NOT NULL,
            replicas INT UNSIGNED NULL,
            image VARCHAR(1024) NOT NULL,
            version BIGINT UNSIGNED NOT NULL,
            created_at DATETIME(6) NULL,
            updated_at DATETIME(6) NULL,
            spec JSON NOT NULL,
            KEY name (name)
        ) {_TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS {t.tasks} (
            id VARCHAR(64) NOT NULL PRIMARY KEY,
            service_id VARCHAR(64) NOT NULL,
            name VARCHAR(320) NOT NULL,
            slot INT UNSIGNED NULL,
            node_id VARCHAR(64) NULL,
            image VARCHAR(1024) NOT NULL,
            desired_state VARCHAR(16) NOT NULL,
            state VARCHAR(16) NOT NULL,
            state_since DATETIME(6) NULL,
            message TEXT NOT NULL,
            error TEXT NOT NULL,
            exit_code INT NULL,
            version BIGINT UNSIGNED NOT NULL,
            created_at DATETIME(6) NULL,
            updated_at DATETIME(6) NULL,
            KEY service_slot (service_id, slot),
            KEY node_state (node_id, state)
        ) {_TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS {t.state_info} (
            id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
            node_id VARCHAR(64) NOT NULL,
            applied_index BIGINT UNSIGNED NOT NULL,
            updated_at DATETIME(6) NOT NULL
        ) {_TABLE_OPTIONS}""",
    ]


#: ``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``.
MIGRATIONS = [_version_1]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: Connection, tables: Tables) -> int:
    """The version recorded in the database (0: none yet)."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT value FROM {tables.meta} WHERE name = 'schema_version'")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def ensure_schema(conn: Connection, config: MySQLConfig) -> int:
    """Creates or upgrades the tables of ``config``'s prefix; returns the
    version. Refuses a newer database (:class:`StorageUnavailable`)."""
    tables = Tables.of(config.prefix)
    lock = config.schema_lock
    if not get_lock(conn, lock, MIGRATION_LOCK_TIMEOUT):
        raise StorageUnavailable(
            f"{config.label}: another process has been migrating the schema for "
            f"{MIGRATION_LOCK_TIMEOUT} s; try again later"
        )
    with conn.cursor() as cur:
        try:
            cur.execute(
                f"""CREATE TABLE IF NOT EXISTS {tables.meta} (
                    name VARCHAR(64) NOT NULL PRIMARY KEY,
                    value VARCHAR(255) NOT NULL
                ) {_TABLE_OPTIONS}"""
            )
            version = schema_version(conn, tables)
            if version > SCHEMA_VERSION:
                raise StorageUnavailable(
                    f"{config.label} has schema version {version}; this swarmkit-mysql "
                    f"supports up to {SCHEMA_VERSION}: upgrade swarmkit-py"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step](tables):
                    cur.execute(statement)
                cur.execute(
                    f"INSERT INTO {tables.meta} (name, value) VALUES ('schema_version', %s) "
                    "ON DUPLICATE KEY UPDATE value = VALUES(value)",
                    (str(step + 1),),
                )
                conn.commit()
            conn.commit()
            return SCHEMA_VERSION
        finally:
            cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
            conn.commit()
