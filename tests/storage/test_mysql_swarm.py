"""A swarm whose managers keep their Raft logs in MariaDB (the `mysql` storage
plugin), on real swarmd processes and a real mariadbd on loopback:

- kill -9 of every manager, then a restart, brings back every node, service
  and task, and the SQL tables agree with `node ls` and `service ps`;
- restarting (and killing) MariaDB under a running swarm loses no
  acknowledged write while a writer runs throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.api.client import APIClient
from swarmkit_py.errors import SwarmError
from swarmkit_py.testing.local_swarm import LocalSwarm
from swarmkit_py.testing.mariadb import MariaDB, running_mariadb

Json = dict[str, Any]
MANAGERS = 3


@pytest.fixture
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A private server per test: the tests stop and kill it."""
    yield from running_mariadb(tmp_path_factory.mktemp("mariadb"))


def mysql_swarm(base: Path, db: MariaDB, workers: int) -> LocalSwarm:
    """Every node on `--storage mysql`, each manager with its own database.
    The password travels in SWARMKIT_MYSQL_PASSWORD, not on the command line."""
    node_args = {}
    for i in range(1, MANAGERS + workers + 1):
        db.dsn(f"manager{i}")  # creates the database
        dsn = f"mysql://{db.user}@127.0.0.1:{db.port}/manager{i}"
        node_args[i] = ("--storage-opt", f"dsn={dsn}")
    return LocalSwarm(
        base,
        managers=MANAGERS,
        workers=workers,
        extra_args=("--storage", "mysql"),
        node_args=node_args,
        env={"SWARMKIT_MYSQL_PASSWORD": db.password},
    )


@contextlib.asynccontextmanager
async def running(swarm: LocalSwarm) -> AsyncIterator[LocalSwarm]:
    try:
        await swarm.start()
        yield swarm
    finally:
        await swarm.stop()


def sql(db: MariaDB, database: str, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(db.connect(database)) as conn, conn.cursor() as cur:
        cur.execute(query)
        return list(cur.fetchall())


async def node_ls_view(swarm: LocalSwarm, i: int) -> dict[str, tuple[str, ...]]:
    return {
        row["ID"]: (row["Hostname"], row["Status"], row["Availability"], row["ManagerStatus"])
        for row in await swarm.node_ls(i)
    }


def sql_nodes_view(db: MariaDB, database: str) -> dict[str, tuple[str, ...]]:
    rows = sql(db, database, "SELECT id, hostname, status, availability, leader, reachability "
                             "FROM nodes")  # fmt: skip
    out = {}
    for node_id, hostname, status, availability, leader, reachability in rows:
        manager = "Leader" if leader else (reachability or "").capitalize()
        out[node_id] = (hostname, status.capitalize(), availability.capitalize(), manager)
    return out


async def service_ps_view(swarm: LocalSwarm, i: int, service: str) -> set[tuple[str, ...]]:
    out = await swarm.swarmctl(i, "service", "ps", service, "--no-trunc", "--format", "json")
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {
        (r["ID"], r["Name"].strip(), r["Node"], r["DesiredState"].lower(),
         r["CurrentState"].split()[0].lower())
        for r in rows
    }  # fmt: skip


def sql_tasks_view(db: MariaDB, database: str, service: str) -> set[tuple[str, ...]]:
    rows = sql(
        db,
        database,
        "SELECT t.id, t.name, COALESCE(n.hostname, t.node_id, ''), t.desired_state, t.state "
        "FROM tasks t JOIN services s ON s.id = t.service_id "
        "LEFT JOIN nodes n ON n.id = t.node_id "
        f"WHERE s.name = '{service}'",
    )
    return {tuple(str(v) for v in row) for row in rows}


async def tables_agree(swarm: LocalSwarm, db: MariaDB, services: list[str]) -> None:
    """On every manager, its own database answers what `node ls` and
    `service ps` answer (polled: both sides move with heartbeats)."""
    for i in range(1, MANAGERS + 1):
        database = f"manager{i}"
        deadline = time.monotonic() + 30
        while True:
            cli_nodes = await node_ls_view(swarm, i)
            db_nodes = sql_nodes_view(db, database)
            cli_tasks = {s: await service_ps_view(swarm, i, s) for s in services}
            db_tasks = {s: sql_tasks_view(db, database, s) for s in services}
            if cli_nodes == db_nodes and cli_tasks == db_tasks:
                break
            if time.monotonic() > deadline:
                assert db_nodes == cli_nodes, f"manager{i}: nodes table differs from node ls"
                assert db_tasks == cli_tasks, f"manager{i}: tasks table differs from service ps"
            await asyncio.sleep(0.5)


async def running_tasks(swarm: LocalSwarm, i: int) -> list[Json]:
    async with APIClient.from_host(swarm.nodes[i].host, timeout=30) as api:
        tasks = await api.tasks_list({"desired-state": ["running"]})
    return [t for t in tasks if t["Status"]["State"] == "running"]


async def wait_running(swarm: LocalSwarm, count: int, timeout: float = 60) -> list[Json]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await running_tasks(swarm, 1)
            if len(last) == count:
                return list(last)
        except SwarmError as e:
            last = e
        await asyncio.sleep(0.3)
    raise AssertionError(f"expected {count} running tasks; last: {last}")


async def everything(swarm: LocalSwarm, i: int) -> tuple[set[str], set[str], set[str]]:
    async with APIClient.from_host(swarm.nodes[i].host, timeout=30) as api:
        nodes = {n["ID"] for n in await api.nodes_list()}
        services = {s["ID"] for s in await api.services_list()}
        tasks = {t["ID"] for t in await api.tasks_list()}
    return nodes, services, tasks


async def test_kill_9_of_every_manager_loses_nothing_and_sql_agrees(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    swarm = mysql_swarm(tmp_path, mariadb, workers=1)
    async with running(swarm):
        await swarm.swarmctl(1, "service", "create", "--detach", "--name", "web",
                             "--replicas", "4", "busybox", "sleep", "3600")  # fmt: skip
        await swarm.swarmctl(2, "service", "create", "--detach", "--name", "glob",
                             "--mode", "global", "busybox", "sleep", "3600")  # fmt: skip
        await wait_running(swarm, 4 + 4)
        await tables_agree(swarm, mariadb, ["web", "glob"])

        # The logs are in MariaDB, not on disk; the password is nowhere to be seen.
        for i in range(1, MANAGERS + 1):
            raft_dir = swarm.nodes[i].data_dir / "raft"
            assert not (raft_dir / "wal").exists(), f"manager {i} wrote a file WAL"
            count = sql(mariadb, f"manager{i}", "SELECT COUNT(*) FROM raft_entries")[0][0]
            assert count > 0, f"manager {i} has no raft entries in MariaDB"
        async with APIClient.from_host(swarm.nodes[1].host) as api:
            storage = (await api.info())["SwarmkitStorage"]
        assert storage["Backend"] == "mysql"
        assert mariadb.password not in json.dumps(storage)
        for i in swarm.nodes:
            assert mariadb.password not in (tmp_path / f"node{i}.log").read_text()

        before = await everything(swarm, 1)
        for i in range(1, MANAGERS + 1):
            swarm.kill(i)
        await asyncio.gather(*(swarm.restart(i) for i in range(1, MANAGERS + 1)))
        await swarm.wait_nodes_ready(MANAGERS + 1, timeout=60)
        await wait_running(swarm, 4 + 4)
        for i in range(1, MANAGERS + 1):
            nodes, services, tasks = await everything(swarm, i)
            assert nodes == before[0] and services == before[1]
            assert before[2] <= tasks, f"manager {i} lost tasks {before[2] - tasks}"
        await tables_agree(swarm, mariadb, ["web", "glob"])


async def test_restarting_mariadb_under_a_running_swarm_loses_no_acknowledged_write(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    swarm = mysql_swarm(tmp_path, mariadb, workers=0)
    async with running(swarm):
        acked: list[str] = []
        failures: list[str] = []
        stop = asyncio.Event()

        async def writer(w: int) -> None:
            # Each write goes to a different manager: followers forward it.
            n = 0
            while not stop.is_set():
                name = f"w{w}-{n}"
                n += 1
                i = 1 + (n % MANAGERS)
                try:
                    async with APIClient.from_host(swarm.nodes[i].host, timeout=60) as api:
                        await api.service_create(
                            {"Name": name, "Mode": {"Replicated": {"Replicas": 0}},
                             "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
                        )  # fmt: skip
                    acked.append(name)
                except SwarmError as e:  # unknown outcome: not acknowledged
                    failures.append(f"{name}: {e}")
                    await asyncio.sleep(0.2)

        writers = [asyncio.create_task(writer(w)) for w in range(4)]
        try:
            await asyncio.sleep(3)
            marks = [len(acked)]
            for outage in (mariadb.stop, mariadb.kill):
                await asyncio.to_thread(outage)
                await asyncio.sleep(3)
                await asyncio.to_thread(mariadb.start)
                await asyncio.sleep(5)
                marks.append(len(acked))
        finally:
            stop.set()
            await asyncio.gather(*writers)
        print(f"acknowledged writes at each mark: {marks}; failed: {len(failures)}")
        # The swarm carried on after each outage.
        assert marks[0] > 0 and marks[1] > marks[0] and marks[2] > marks[1], (marks, failures)

        async def names_on(i: int) -> set[str]:
            async with APIClient.from_host(swarm.nodes[i].host, timeout=30) as api:
                return {s["Spec"]["Name"] for s in await api.services_list()}

        for i in range(1, MANAGERS + 1):
            missing = set(acked) - await names_on(i)
            assert not missing, f"manager {i} lost acknowledged writes: {sorted(missing)[:5]}"

        # And they are durable in MariaDB: kill -9 every manager and look again.
        for i in range(1, MANAGERS + 1):
            swarm.kill(i)
        await asyncio.gather(*(swarm.restart(i) for i in range(1, MANAGERS + 1)))
        await swarm.wait_nodes_ready(MANAGERS, timeout=60)
        for i in range(1, MANAGERS + 1):
            missing = set(acked) - await names_on(i)
            assert not missing, f"manager {i} lost acknowledged writes after kill -9"

        # The state tables caught up too.
        for i in range(1, MANAGERS + 1):
            deadline = time.monotonic() + 30
            while True:
                names = {r[0] for r in sql(mariadb, f"manager{i}", "SELECT name FROM services")}
                if set(acked) <= names or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert set(acked) <= names, f"manager{i}'s services table misses acknowledged ones"


def test_swarmd_exits_with_a_clear_error_when_the_database_is_unreachable(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from swarmkit_py.raft.local_cluster import free_ports

    (port,) = free_ports(1)
    r = subprocess.run(
        [sys.executable, "-m", "swarmkit_py.daemon", "--data-dir", str(tmp_path),
         "--storage", "mysql", "--storage-opt", f"dsn=mysql://u:hunter2@127.0.0.1:{port}/db"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode != 0
    assert "swarmd: storage mysql: cannot reach the MySQL server at 127.0.0.1" in r.stderr
    assert "hunter2" not in r.stderr + r.stdout
