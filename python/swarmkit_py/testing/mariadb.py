"""A private MariaDB server for tests and local experiments: its own data
directory, unix socket and loopback port, nothing of the system's touched.

    server = MariaDB(base_dir)       # a free port unless one is given
    server.start()                   # installs the data directory the first time
    dsn = server.dsn("manager1")     # creates the database; mysql://swarmkit:...@127.0.0.1:PORT/manager1
    server.kill(); server.start()    # SIGKILL, then recovery on the same data directory
    server.close()                   # clean shutdown, base_dir removed

In pytest, :func:`running_mariadb` makes a fixture of it; a machine without
mariadb-server fails the test (it never skips), saying to run scripts/setup.sh.
``python -m swarmkit_py.testing.mariadb start|stop|kill|status|dsn`` (or
``scripts/mariadb.sh``) drives one by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pymysql

from swarmkit_py.raft.local_cluster import free_ports

#: The account :meth:`MariaDB.dsn` hands out (all privileges; its password is
#: random per instance and kept in ``base_dir/instance.json``).
USER = "swarmkit"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
_NOT_INSTALLED = "mariadb-server is not installed: run ./scripts/setup.sh"
# sun_path holds 108 bytes; pytest's temporary directories can be longer.
_MAX_SOCKET_PATH = 100


class MariaDBError(RuntimeError):
    """The server could not be installed, started or stopped (the message says why)."""


class MariaDBNotInstalled(MariaDBError):
    """``mariadbd`` or ``mariadb-install-db`` is missing."""


def _program(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or next(
            (f"{d}/{name}" for d in _SBIN_DIRS if os.access(f"{d}/{name}", os.X_OK)), None
        )
        if found:
            return found
    raise MariaDBNotInstalled(f"{_NOT_INSTALLED} (no {' or '.join(names)} found)")


def _is_mariadbd(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    program = cmdline.split(b"\0", 1)[0]
    return program.endswith((b"mariadbd", b"mysqld"))


class MariaDB:
    """One private ``mariadbd`` under ``base_dir`` (see the module docstring)."""

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.datadir = self.base_dir / "data"
        self.pid_file = self.base_dir / "mariadbd.pid"
        self.log_file = self.base_dir / "mariadbd.err"
        self._instance_file = self.base_dir / "instance.json"
        self.socket = self.base_dir / "mariadbd.sock"
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha1(str(self.base_dir).encode()).hexdigest()[:16]
            self.socket = Path("/tmp") / f"swarmkit-mariadb-{digest}.sock"
        saved = self._load_instance()
        self._port_chosen = port is None and "port" not in saved
        self.port: int = port or int(str(saved.get("port", 0))) or free_ports(1, HOST)[0]
        self.user = USER
        self.password: str = str(saved.get("password", "")) or secrets.token_urlsafe(18)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where this start's part of the error log begins

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Installs the data directory if there is none, starts the server and
        waits until it answers (and the ``swarmkit`` account exists). Does
        nothing if it already runs."""
        if self.running:
            return
        mariadbd = _program("mariadbd", "mysqld")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not (self.datadir / "mysql").is_dir():
            self._install()
        self._save_instance()
        for _attempt in range(3):
            self._spawn(mariadbd)
            try:
                self._wait_ready(time.monotonic() + timeout)
                break
            except MariaDBError:
                # Only a port we chose ourselves may be changed: nobody has a DSN yet.
                if not (self._port_chosen and self._port_taken()):
                    raise
                self.port = free_ports(1, HOST)[0]
                self._save_instance()
        else:
            raise MariaDBError(f"mariadbd found no free port: see {self.log_file}")
        self._port_chosen = False
        self._ensure_account()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Clean shutdown (SIGTERM, then waits until the process is gone)."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: the server dies as in a crash (InnoDB recovers at the next start)."""
        self._signal(signal.SIGKILL, STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stops the server (killing it if it will not stop) and removes ``base_dir``."""
        try:
            self.stop()
        except MariaDBError:
            self.kill()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    def __enter__(self) -> MariaDB:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The running server's process ID, if it runs."""
        if self._process is not None:
            return self._process.pid if self._process.poll() is None else None
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_mariadbd(pid) else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    # -- databases ---------------------------------------------------------

    def connect(self, database: str | None = None) -> pymysql.Connection:
        """An administrator (root) connection over the unix socket, autocommit on."""
        return pymysql.connect(
            unix_socket=str(self.socket),
            user="root",
            database=database,
            autocommit=True,
            connect_timeout=5,
        )

    def dsn(self, database: str) -> str:
        """``mysql://swarmkit:<password>@127.0.0.1:<port>/<database>``, the
        database created if missing."""
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{_identifier(database)}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        return f"mysql://{self.user}:{self.password}@{HOST}:{self.port}/{database}"

    def drop_database(self, database: str) -> None:
        """Drops it (an error after 10 s if a forgotten open transaction still uses it)."""
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 10")
            cur.execute(f"DROP DATABASE IF EXISTS `{_identifier(database)}`")

    # -- internals ---------------------------------------------------------

    def _load_instance(self) -> dict[str, object]:
        try:
            loaded = json.loads(self._instance_file.read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _save_instance(self) -> None:
        self._instance_file.write_text(json.dumps({"port": self.port, "password": self.password}))
        self._instance_file.chmod(0o600)

    def _root_options(self) -> list[str]:
        # As root mariadbd refuses to run unless told which user to be.
        return ["--user=root"] if os.geteuid() == 0 else []

    def _install(self) -> None:
        install = _program("mariadb-install-db", "mysql_install_db")
        _program("mariadbd", "mysqld")
        shutil.rmtree(self.datadir, ignore_errors=True)
        result = subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                "--innodb-log-file-size=48M",
                *self._root_options(),
            ],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()[-2000:]
            raise MariaDBError(f"mariadb-install-db failed in {self.datadir}:\n{output}")

    def _spawn(self, mariadbd: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self._process = subprocess.Popen(
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                f"--bind-address={HOST}",
                "--skip-networking=0",
                f"--pid-file={self.pid_file}",
                f"--log-error={self.log_file}",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=48M",
                # Durability is what the tests check: every commit is on disk.
                "--innodb-flush-log-at-trx-commit=1",
                "--max-connections=500",
                *self._root_options(),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Not in the terminal's process group: Ctrl-C on a test run does
            # not take the server down under the test's feet.
            start_new_session=True,
        )

    def _wait_ready(self, deadline: float) -> None:
        last_error = ""
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise MariaDBError(
                    f"mariadbd exited with status {self._process.returncode}:\n{self._log_tail()}"
                )
            try:
                pymysql.connect(
                    host=HOST, port=self.port, user="root", connect_timeout=2, read_timeout=2
                ).close()
                return
            except pymysql.MySQLError as e:
                last_error = str(e)
            time.sleep(0.1)
        self._signal(signal.SIGKILL, STOP_TIMEOUT)
        raise MariaDBError(
            f"mariadbd did not answer on {HOST}:{self.port} within the time allowed "
            f"({last_error}):\n{self._log_tail()}"
        )

    def _port_taken(self) -> bool:
        return "already have another server running on port" in self._log_tail()

    def _log_tail(self) -> str:
        try:
            with self.log_file.open("rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-20:])

    def _ensure_account(self) -> None:
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE USER IF NOT EXISTS '{USER}'@'%%' IDENTIFIED BY %s", (self.password,)
            )
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'")

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        pid = self.pid
        if pid is None:
            self._process = None
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None:
                if self._process.poll() is not None:
                    break
            elif not _is_mariadbd(pid):
                break
            time.sleep(0.05)
        else:
            raise MariaDBError(f"mariadbd (pid {pid}) did not stop within {timeout:.0f} s")
        self._process = None


def _identifier(name: str) -> str:
    if not name or not all(c.isalnum() or c in "_-" for c in name) or len(name) > 64:
        raise ValueError(f"unsuitable database name {name!r} (letters, digits, _ and -)")
    return name


def running_mariadb(base_dir: Path) -> Iterator[MariaDB]:
    """For a pytest fixture (``yield from running_mariadb(path)``): a started
    server, closed afterwards. Where mariadb-server is missing or will not
    start, the test fails with the reason (never skips)."""
    import pytest

    server = MariaDB(base_dir)
    try:
        server.start()
    except MariaDBError as e:
        server.close()
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    """``start|stop|kill|status|dsn DATABASE`` on one instance (``--dir``)."""
    parser = argparse.ArgumentParser(prog="mariadb.sh", description=main.__doc__)
    parser.add_argument("command", choices=["start", "stop", "kill", "status", "dsn", "remove"])
    parser.add_argument("database", nargs="?", default="swarmkit")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("SWARMKIT_MARIADB_DIR", "/tmp/swarmkit-mariadb")),
        help="the instance's directory (default $SWARMKIT_MARIADB_DIR or /tmp/swarmkit-mariadb)",
    )
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    server = MariaDB(args.dir, args.port)
    try:
        if args.command == "start":
            server.start()
            print(f"mariadbd running (pid {server.pid}) in {server.base_dir}")
            print(f"dsn: {server.dsn(args.database)}")
            print(f"admin: mariadb --socket={server.socket} -uroot")
        elif args.command == "stop":
            server.stop()
        elif args.command == "kill":
            server.kill()
        elif args.command == "remove":
            server.close()
        elif args.command == "dsn":
            print(server.dsn(args.database))
        elif not server.datadir.is_dir():
            print(f"no server in {server.base_dir}")
            return 3
        else:
            state = f"running (pid {server.pid})" if server.running else "stopped"
            print(f"{state}: {server.base_dir}, port {server.port}")
            return 0 if server.running else 3
    except MariaDBError as e:
        print(f"mariadb: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
