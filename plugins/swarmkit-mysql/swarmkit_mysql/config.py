"""The ``--storage-opt`` options of the mysql storage, checked."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from swarmkit_py.storage import StorageConfigError

from .dsn import DSN, FORM, parse_dsn

DEFAULT_PASSWORD_ENV = "SWARMKIT_MYSQL_PASSWORD"
OPTIONS = ("dsn", "prefix", "password_env")
#: Table names are at most 64 characters; the longest suffix is 20.
MAX_PREFIX_LENGTH = 40
_PREFIX = re.compile(r"[A-Za-z0-9_]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# MySQL limits user-lock names to 64 characters.
_MAX_LOCK_NAME = 64


@dataclass(frozen=True)
class MySQLConfig:
    """What the options say: the server (with the password in force), the
    table prefix, and where the password came from."""

    dsn: DSN
    prefix: str = ""
    password_env: str = DEFAULT_PASSWORD_ENV

    @classmethod
    def from_options(
        cls, options: Mapping[str, str], environ: Mapping[str, str] | None = None
    ) -> MySQLConfig:
        """Checks ``options``; the password is taken from the environment
        variable ``password_env`` when the DSN has none."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise StorageConfigError(
                f"unknown mysql storage option {', '.join(unknown)} "
                f"(the options are {', '.join(OPTIONS)})"
            )
        if not options.get("dsn"):
            raise StorageConfigError(f"the mysql storage needs --storage-opt dsn={FORM}")
        dsn = parse_dsn(options["dsn"])
        prefix = options.get("prefix", "")
        if not _PREFIX.fullmatch(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
            raise StorageConfigError(
                f'invalid prefix "{prefix}": letters, digits and _ only, '
                f"at most {MAX_PREFIX_LENGTH} characters"
            )
        password_env = options.get("password_env", DEFAULT_PASSWORD_ENV)
        if not _ENV_NAME.fullmatch(password_env):
            raise StorageConfigError(
                f'invalid password_env "{password_env}": not an environment variable name'
            )
        if not dsn.password:
            env = os.environ if environ is None else environ
            dsn = dsn.with_password(env.get(password_env, ""))
        return cls(dsn=dsn, prefix=prefix, password_env=password_env)

    @property
    def label(self) -> str:
        """How messages name this storage: the database, server and prefix."""
        where = f"the database {self.dsn.database} at {self.dsn.address}"
        return f"{where} (table prefix {self.prefix})" if self.prefix else where

    @property
    def log_lock(self) -> str:
        """The lock the process that has the Raft log open holds."""
        return self._lock_name("swarmkit")

    @property
    def schema_lock(self) -> str:
        """The lock held while the schema is created or migrated."""
        return self._lock_name("swarmkit-schema")

    def _lock_name(self, purpose: str) -> str:
        name = f"{purpose}:{self.dsn.database}.{self.prefix}"
        if len(name) <= _MAX_LOCK_NAME:
            return name
        return f"{purpose}:{hashlib.sha1(name.encode()).hexdigest()[:32]}"

    def scrub(self, text: str) -> str:
        return self.dsn.scrub(text)
