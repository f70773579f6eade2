"""``mysql://user[:password]@host[:port]/database``: parsed, and shown only
with its password replaced by ``***``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from swarmkit_py.storage import StorageConfigError

DEFAULT_PORT = 3306
SCHEMES = ("mysql", "mariadb")
FORM = "mysql://user[:password]@host[:port]/database"
REDACTED = "***"

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)
_HOST = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class DSN:
    """Where the server is and who we are on it. ``repr`` hides the password."""

    user: str
    password: str = field(repr=False)
    host: str
    port: int
    database: str

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port`` for an IPv6 address)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def redacted(self) -> str:
        """The DSN as it may be shown: ``mysql://user:***@host:port/db``."""
        credentials = quote(self.user, safe="")
        if self.password:
            credentials += f":{REDACTED}"
        return f"mysql://{credentials}@{self.address}/{quote(self.database, safe='')}"

    def scrub(self, text: str) -> str:
        """``text`` with the password (also percent-encoded) replaced by ``***``."""
        if not self.password:
            return text
        for secret in {self.password, quote(self.password, safe="")}:
            text = text.replace(secret, REDACTED)
        return text

    def with_password(self, password: str) -> DSN:
        return DSN(self.user, password, self.host, self.port, self.database)


def _malformed(why: str) -> StorageConfigError:
    # Never the DSN itself: it may hold the password.
    return StorageConfigError(f"malformed dsn ({why}); expected {FORM}")


def parse_dsn(text: str) -> DSN:
    """The DSN in ``text``; :class:`StorageConfigError` (without the password) if malformed."""
    match = _SCHEME.fullmatch(text.strip())
    if match is None:
        raise _malformed("no scheme")
    scheme, rest = match.groups()
    if scheme.lower() not in SCHEMES:
        raise _malformed(f'scheme "{scheme}" is not mysql://')
    userinfo, at, location = rest.rpartition("@")
    if not at or not userinfo:
        raise _malformed("no user")
    # The password may hold '/', '?' or '#' (percent-encoded or not), so only
    # what follows the last '@' is taken apart.
    user, _, password = userinfo.partition(":")
    hostport, slash, database = location.partition("/")
    if "?" in location or "#" in location:
        raise _malformed("query parameters are not supported")
    if not slash or not database:
        raise _malformed("no database")
    host, port = _host_port(hostport)
    database = unquote(database)
    if "/" in database:
        raise _malformed(f'database name "{database}" contains "/"')
    user = unquote(user)
    if not user:
        raise _malformed("no user")
    return DSN(user=user, password=unquote(password), host=host, port=port, database=database)


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or not host:
            raise _malformed("unclosed [ in the host")
        port_text = after.removeprefix(":") if after.startswith(":") else None
        if after and port_text is None:
            raise _malformed("text after the IPv6 address")
    else:
        host, colon, port_text_or_empty = text.partition(":")
        port_text = port_text_or_empty if colon else None
        if not host:
            raise _malformed("no host")
        if not _HOST.fullmatch(host):
            raise _malformed(f'host "{host}" is not a host name or address')
    if port_text is None:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _malformed(f'port "{port_text}" is not a number from 1 to 65535')
    return host, int(port_text)
