"""The state sink: Engine API objects become rows operators can query, changes
are coalesced, deletes and resets take effect, and a sink whose server went
away catches up."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from swarmkit_mysql import MySQLConfig, MySQLStateSink, MySQLStorage

from swarmkit_py.model import Version
from swarmkit_py.model.node import (
    EngineDescription,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeSpec,
    NodeState,
    NodeStatus,
    Resources,
    Role,
)
from swarmkit_py.model.service import insert_defaults, parse_service_spec
from swarmkit_py.model.task import make_task, task_status
from swarmkit_py.storage import NodeLive, StateChange
from swarmkit_py.testing.mariadb import MariaDB

T0 = "2024-05-01T10:00:00.123456789Z"
T1 = "2024-05-01T10:00:07.500000000Z"
HEARTBEAT = 1714557600.25  # 2024-05-01T10:00:00.25Z


def node(
    node_id: str, hostname: str, role: Role = "worker", index: int = 5, state: NodeState = "ready"
) -> dict[str, Any]:
    return Node(
        id=node_id,
        version=Version(index),
        created_at=T0,
        updated_at=T1,
        spec=NodeSpec(role=role, labels={"zone": "a"}),
        description=NodeDescription(
            hostname=hostname,
            resources=Resources(nano_cpus=2_500_000_000, memory_bytes=4 << 30),
            engine=EngineDescription(engine_version="27.0.1"),
        ),
        status=NodeStatus(state, "", "10.0.0.1"),
        manager_status=ManagerStatus(False, "reachable", "10.0.0.1:2377")
        if role == "manager"
        else None,
    ).to_api()


def service(service_id: str, name: str, mode: dict[str, Any], index: int = 10) -> dict[str, Any]:
    spec = insert_defaults(
        parse_service_spec(
            {"Name": name, "Mode": mode, "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.27"}}}
        )
    )
    return {
        "ID": service_id,
        "Version": {"Index": index},
        "CreatedAt": T0,
        "UpdatedAt": T1,
        "Spec": spec,
    }


def task(
    task_id: str,
    svc: dict[str, Any],
    *,
    slot: int | None,
    node_id: str,
    state: str = "running",
    index: int = 20,
    **status: Any,
) -> dict[str, Any]:
    made = make_task(svc, task_id=task_id, slot=slot, node_id=node_id, time=T0)
    made["Version"] = {"Index": index}
    made["Status"] = task_status(state, status.pop("message", state), time=T1, **status)
    return made


WEB = service("svc-web", "web", {"Replicated": {"Replicas": 2}})
AGENT = service("svc-agent", "agent", {"Global": {}})


def change(obj: dict[str, Any], kind: str = "task") -> StateChange:
    return StateChange(kind, obj["ID"], obj)  # type: ignore[arg-type]


def gone(kind: str, object_id: str) -> StateChange:
    return StateChange(kind, object_id, None)  # type: ignore[arg-type]


def initial_state() -> list[StateChange]:
    return [
        change(node("n1", "manager-1", role="manager"), "node"),
        change(node("n2", "worker-1"), "node"),
        change(WEB, "service"),
        change(AGENT, "service"),
        change(task("t1", WEB, slot=1, node_id="n1")),
        change(task("t2", WEB, slot=2, node_id="n2", state="failed", err="exit 3", exit_code=3)),
        change(task("t3", AGENT, slot=None, node_id="n2")),
    ]


LIVE = {
    "n1": NodeLive(
        leader=True, reachability="reachable", running_tasks=1, last_heartbeat=HEARTBEAT
    ),
    "n2": NodeLive(leader=False, reachability="", running_tasks=1, last_heartbeat=None),
}


def query(server: MariaDB, storage: MySQLStorage, sql: str) -> list[dict[str, Any]]:
    conn = server.connect(storage.config.dsn.database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


@pytest.fixture
def sink(storage: MySQLStorage) -> Iterator[MySQLStateSink]:
    opened = storage.state_sink("n1")
    yield opened
    opened.close()


def test_nodes_services_and_tasks_become_rows(
    mariadb: MariaDB, storage: MySQLStorage, sink: MySQLStateSink
) -> None:
    sink.reset(42, initial_state(), LIVE)
    assert sink.flush(10)
    nodes = query(mariadb, storage, "SELECT * FROM nodes ORDER BY id")
    assert nodes[0] == {
        "id": "n1",
        "hostname": "manager-1",
        "role": "manager",
        "status": "ready",
        "availability": "active",
        "leader": 1,
        "reachability": "reachable",
        "addr": "10.0.0.1",
        "nano_cpus": 2_500_000_000,
        "cpus": Decimal("2.5"),
        "memory_bytes": 4 << 30,
        "running_tasks": 1,
        "last_heartbeat": datetime(2024, 5, 1, 10, 0, 0, 250000),
        "engine_version": "27.0.1",
        "labels": '{"zone":"a"}',
        "version": 5,
        "created_at": datetime(2024, 5, 1, 10, 0, 0, 123456),
        "updated_at": datetime(2024, 5, 1, 10, 0, 7, 500000),
    }
    assert (nodes[1]["role"], nodes[1]["reachability"], nodes[1]["last_heartbeat"]) == (
        "worker",
        None,
        None,
    )
    services = query(mariadb, storage, "SELECT * FROM services ORDER BY name")
    assert [(s["name"], s["mode"], s["replicas"], s["image"]) for s in services] == [
        ("agent", "global", None, "nginx:1.27"),
        ("web", "replicated", 2, "nginx:1.27"),
    ]
    assert json.loads(services[1]["spec"]) == WEB["Spec"]
    tasks = query(mariadb, storage, "SELECT * FROM tasks ORDER BY id")
    assert [(t["name"], t["slot"], t["node_id"], t["state"]) for t in tasks] == [
        ("web.1", 1, "n1", "running"),
        ("web.2", 2, "n2", "failed"),
        ("agent.n2", None, "n2", "running"),
    ]
    assert (tasks[1]["error"], tasks[1]["exit_code"], tasks[0]["exit_code"]) == ("exit 3", 3, None)
    assert (tasks[0]["desired_state"], tasks[0]["image"]) == ("running", "nginx:1.27")
    assert tasks[0]["state_since"] == datetime(2024, 5, 1, 10, 0, 7, 500000)
    info = query(mariadb, storage, "SELECT node_id, applied_index FROM state_info")
    assert info == [{"node_id": "n1", "applied_index": 42}]


def test_the_documented_queries_answer_node_ls_and_service_ps(
    mariadb: MariaDB, storage: MySQLStorage, sink: MySQLStateSink
) -> None:
    sink.reset(42, initial_state(), LIVE)
    assert sink.flush(10)
    node_ls = query(
        mariadb,
        storage,
        """SELECT id, hostname, status, availability,
                  CASE WHEN leader THEN 'Leader' ELSE COALESCE(reachability, '') END
                    AS manager_status,
                  engine_version
           FROM nodes ORDER BY hostname""",
    )
    assert [(n["hostname"], n["manager_status"]) for n in node_ls] == [
        ("manager-1", "Leader"),
        ("worker-1", ""),
    ]
    service_ps = query(
        mariadb,
        storage,
        """SELECT t.id, t.name, t.image, n.hostname AS node, t.desired_state, t.state,
                  t.state_since, t.error
           FROM tasks t JOIN services s ON s.id = t.service_id
           LEFT JOIN nodes n ON n.id = t.node_id
           WHERE s.name = 'web'
           ORDER BY t.name, t.created_at DESC""",
    )
    assert [(t["name"], t["node"], t["state"]) for t in service_ps] == [
        ("web.1", "manager-1", "running"),
        ("web.2", "worker-1", "failed"),
    ]


def test_changes_update_and_delete_rows(
    mariadb: MariaDB, storage: MySQLStorage, sink: MySQLStateSink
) -> None:
    sink.reset(42, initial_state(), LIVE)
    drained = node("n2", "worker-1", index=50)
    drained["Spec"]["Availability"] = "drain"
    sink.apply(
        50,
        [
            change(drained, "node"),
            change(task("t1", WEB, slot=1, node_id="n1", state="shutdown", index=50)),
            gone("task", "t2"),
            gone("service", "svc-agent"),
            gone("task", "t3"),
        ],
        {},
    )
    assert sink.flush(10)
    assert query(mariadb, storage, "SELECT availability FROM nodes WHERE id = 'n2'") == [
        {"availability": "drain"}
    ]
    assert query(mariadb, storage, "SELECT id, state, version FROM tasks") == [
        {"id": "t1", "state": "shutdown", "version": 50}
    ]
    assert query(mariadb, storage, "SELECT name FROM services") == [{"name": "web"}]
    assert query(mariadb, storage, "SELECT applied_index FROM state_info") == [
        {"applied_index": 50}
    ]


@pytest.mark.parametrize("written_between", [True, False])
def test_live_values_update_nodes_and_an_unknown_heartbeat_keeps_the_known_one(
    mariadb: MariaDB, storage: MySQLStorage, sink: MySQLStateSink, written_between: bool
) -> None:
    sink.reset(42, initial_state(), LIVE)
    if written_between:
        assert sink.flush(10)
    # This manager lost the leadership: it no longer hears heartbeats.
    sink.apply(43, [], {"n1": NodeLive(False, "reachable", 3, None)})
    sink.apply(44, [change(node("n1", "manager-1", role="manager", index=44), "node")], {})
    assert sink.flush(10)
    row = query(
        mariadb,
        storage,
        "SELECT leader, running_tasks, last_heartbeat, version FROM nodes WHERE id = 'n1'",
    )
    assert row == [
        {
            "leader": 0,
            "running_tasks": 3,
            "last_heartbeat": datetime(2024, 5, 1, 10, 0, 0, 250000),
            "version": 44,
        }
    ]
    sink.reset(45, initial_state(), {"n1": NodeLive(False, "reachable", 0, None)})
    assert sink.flush(10)
    after_reset = query(mariadb, storage, "SELECT last_heartbeat FROM nodes WHERE id = 'n1'")
    assert after_reset == [{"last_heartbeat": None}]


def test_a_reset_replaces_everything_in_the_tables(
    mariadb: MariaDB, storage: MySQLStorage, sink: MySQLStateSink
) -> None:
    sink.reset(42, initial_state(), LIVE)
    assert sink.flush(10)
    sink.reset(90, [change(WEB, "service"), change(task("t9", WEB, slot=1, node_id="n1"))], {})
    assert sink.flush(10)
    assert query(mariadb, storage, "SELECT id FROM nodes") == []
    assert query(mariadb, storage, "SELECT id FROM services") == [{"id": "svc-web"}]
    assert query(mariadb, storage, "SELECT id, name FROM tasks") == [{"id": "t9", "name": "web.1"}]


def test_many_changes_to_one_object_are_written_as_its_latest_version(
    mariadb: MariaDB, storage: MySQLStorage
) -> None:
    sink = MySQLStateSink(storage.config, "n1", interval=0.5)
    try:
        sink.reset(1, [change(WEB, "service")], {})
        assert sink.flush(10)
        for index in range(2, 1002):
            sink.apply(index, [change(task("t1", WEB, slot=1, node_id="n1", index=index))], {})
        assert sink.backlog <= 1
        assert sink.flush(10)
    finally:
        sink.close()
    assert query(mariadb, storage, "SELECT version FROM tasks") == [{"version": 1001}]


def test_a_sink_whose_server_went_away_keeps_one_entry_per_object_and_catches_up(
    private_mariadb: MariaDB,
) -> None:
    storage = MySQLStorage(MySQLConfig.from_options({"dsn": private_mariadb.dsn("swarm")}))
    sink = storage.state_sink("n1")
    try:
        sink.reset(10, initial_state(), LIVE)
        assert sink.flush(10)
        private_mariadb.stop()
        for index in range(11, 311):
            sink.apply(
                index,
                [change(task(f"t{index % 3}", WEB, slot=1, node_id="n1", index=index))],
                {"n1": NodeLive(True, "reachable", index, HEARTBEAT + index)},
            )
        time.sleep(0.3)
        assert sink.backlog == 4  # three tasks, one node's live values
        assert not sink.flush(0.5)
        private_mariadb.start()
        assert sink.flush(30)
    finally:
        sink.close()
    tasks = query(private_mariadb, storage, "SELECT id, version FROM tasks ORDER BY id")
    assert [(t["id"], t["version"]) for t in tasks] == [
        ("t0", 309),
        ("t1", 310),
        ("t2", 308),
        ("t3", 20),
    ]
    assert query(private_mariadb, storage, "SELECT running_tasks FROM nodes WHERE id = 'n1'") == [
        {"running_tasks": 310}
    ]
    assert query(private_mariadb, storage, "SELECT applied_index FROM state_info") == [
        {"applied_index": 310}
    ]


def test_close_writes_what_is_queued(mariadb: MariaDB, storage: MySQLStorage) -> None:
    sink = storage.state_sink("n1")
    sink.reset(7, initial_state(), LIVE)
    sink.close()
    assert len(query(mariadb, storage, "SELECT id FROM tasks")) == 3
