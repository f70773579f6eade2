"""The --storage-opt options: what is accepted, what is refused and how, and
that the password is never shown."""

from __future__ import annotations

import pytest
from swarmkit_mysql import DSN, MySQLConfig, mysql_storage, parse_dsn

from swarmkit_py.plugins import Plugins
from swarmkit_py.storage import StorageConfigError

SECRET = "s3cr3t-Pa55word"


def test_the_plugin_registers_the_mysql_storage_through_its_entry_point() -> None:
    assert "mysql" in Plugins().storages


def test_a_full_dsn_is_parsed() -> None:
    assert parse_dsn(f"mysql://swarm:{SECRET}@db.example.com:3307/cluster") == DSN(
        "swarm", SECRET, "db.example.com", 3307, "cluster"
    )


def test_the_port_defaults_to_3306_and_ipv6_hosts_take_brackets() -> None:
    assert parse_dsn("mysql://swarm@10.0.0.5/cluster").port == 3306
    dsn = parse_dsn("mariadb://swarm@[::1]:3310/cluster")
    assert (dsn.host, dsn.port, dsn.address) == ("::1", 3310, "[::1]:3310")


def test_percent_encoded_and_awkward_passwords_are_taken_whole() -> None:
    assert parse_dsn("mysql://u:p%40ss%2Fw@h/db").password == "p@ss/w"
    assert parse_dsn("mysql://u:p@ss/w?#@h/db").password == "p@ss/w?#"


@pytest.mark.parametrize(
    ("dsn", "why"),
    [
        ("127.0.0.1:3306/db", "no scheme"),
        (f"postgres://u:{SECRET}@h/db", 'scheme "postgres"'),
        (f"mysql://{SECRET}h/db", "no user"),
        (f"mysql://:{SECRET}@h/db", "no user"),
        (f"mysql://u:{SECRET}@h", "no database"),
        (f"mysql://u:{SECRET}@h/", "no database"),
        (f"mysql://u:{SECRET}@/db", "no host"),
        (f"mysql://u:{SECRET}@h:port/db", 'port "port"'),
        (f"mysql://u:{SECRET}@h:70000/db", 'port "70000"'),
        (f"mysql://u:{SECRET}@h/db?ssl=1", "query parameters"),
        (f"mysql://u:{SECRET}@h/a/b", 'contains "/"'),
        (f"mysql://u:{SECRET}@[::1/db", "unclosed ["),
    ],
)
def test_a_malformed_dsn_is_refused_without_showing_the_password(dsn: str, why: str) -> None:
    with pytest.raises(StorageConfigError) as error:
        mysql_storage({"dsn": dsn})
    assert why in str(error.value)
    assert "expected mysql://user[:password]@host[:port]/database" in str(error.value)
    assert SECRET not in str(error.value)


def test_an_unknown_option_is_refused_with_the_known_ones() -> None:
    with pytest.raises(
        StorageConfigError, match=r"unknown mysql storage option tls \(the options are dsn, prefix"
    ):
        mysql_storage({"dsn": "mysql://u@h/db", "tls": "on"})


def test_the_dsn_is_required() -> None:
    with pytest.raises(StorageConfigError, match="needs --storage-opt dsn=mysql://"):
        mysql_storage({"prefix": "m1_"})


@pytest.mark.parametrize("prefix", ["m-1", "m1.", "sw arm", "x" * 41, "drop;"])
def test_a_prefix_of_anything_but_letters_digits_and_underscores_is_refused(prefix: str) -> None:
    with pytest.raises(StorageConfigError, match="invalid prefix"):
        mysql_storage({"dsn": "mysql://u@h/db", "prefix": prefix})


def test_the_password_comes_from_the_environment_when_the_dsn_has_none() -> None:
    environ = {"SWARMKIT_MYSQL_PASSWORD": SECRET, "OTHER": "other"}
    config = MySQLConfig.from_options({"dsn": "mysql://u@h/db"}, environ)
    assert config.dsn.password == SECRET
    named = MySQLConfig.from_options({"dsn": "mysql://u@h/db", "password_env": "OTHER"}, environ)
    assert named.dsn.password == "other"
    in_dsn = MySQLConfig.from_options({"dsn": "mysql://u:given@h/db"}, environ)
    assert in_dsn.dsn.password == "given"


def test_a_password_env_that_is_no_variable_name_is_refused() -> None:
    with pytest.raises(StorageConfigError, match="invalid password_env"):
        mysql_storage({"dsn": "mysql://u@h/db", "password_env": "1-BAD"})


def test_describe_shows_the_dsn_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    storage = mysql_storage({"dsn": f"mysql://swarm:{SECRET}@127.0.0.1/cluster", "prefix": "m1_"})
    assert storage.describe() == {
        "Backend": "mysql",
        "DSN": "mysql://swarm:***@127.0.0.1:3306/cluster",
        "Prefix": "m1_",
    }
    monkeypatch.setenv("SWARMKIT_MYSQL_PASSWORD", SECRET)
    from_env = mysql_storage({"dsn": "mysql://swarm@127.0.0.1/cluster"})
    assert from_env.describe()["DSN"] == "mysql://swarm:***@127.0.0.1:3306/cluster"
    assert SECRET not in repr(from_env.config)


def test_server_messages_are_scrubbed_of_the_password_plain_or_percent_encoded() -> None:
    config = MySQLConfig.from_options({"dsn": "mysql://u:p%40ss%2Fword@h/db"})
    assert config.scrub("bad p@ss/word and p%40ss%2Fword") == "bad *** and ***"
