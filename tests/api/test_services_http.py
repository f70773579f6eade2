"""The services and tasks endpoints, driven with raw requests: status codes,
filters, versions, and log streams in Docker's multiplexed framing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from swarmkit_py.api.client import APIClient, LogStreamError
from swarmkit_py.errors import NotFound, OutOfSequence, SwarmError
from swarmkit_py.logs import LogOptions

from .conftest import Running
from .test_server_http import call

WEB: dict[str, Any] = {
    "Name": "web",
    "Labels": {"tier": "front"},
    "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1"}},
    "Mode": {"Replicated": {"Replicas": 2}},
}
T0 = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z


def frames(body: bytes) -> list[tuple[int, bytes]]:
    """Docker's multiplexed stream as (stream type, payload) pairs."""
    found = []
    while body:
        header, body = body[:8], body[8:]
        assert len(header) == 8 and header[1:4] == b"\0\0\0", header
        size = int.from_bytes(header[4:], "big")
        assert len(body) >= size
        found.append((header[0], body[:size]))
        body = body[size:]
    return found


async def create(http: aiohttp.ClientSession, spec: dict[str, Any]) -> str:
    status, body, _ = await call(http, "POST", "/v1.47/services/create", json=spec)
    assert status == 201, body
    return str(body["ID"])


@pytest.fixture
async def web(in_swarm: Running, http: aiohttp.ClientSession) -> str:
    return await create(http, WEB)


async def test_create_answers_201_with_id_and_warnings(
    in_swarm: Running, http: aiohttp.ClientSession
) -> None:
    status, body, headers = await call(
        http, "POST", "/services/create", json=WEB, headers={"X-Registry-Auth": "e30="}
    )
    assert status == 201 and set(body) == {"ID", "Warnings"}
    assert headers["Content-Type"] == "application/json"
    assert in_swarm.backend.services[body["ID"]]["Spec"]["Name"] == "web"
    status, body, _ = await call(http, "POST", "/services/create", json=WEB)
    assert status == 409 and "name conflicts" in body["message"]


async def test_create_needs_a_json_object(in_swarm: Running, http: aiohttp.ClientSession) -> None:
    for data in (b"", b"[]", b'"web"', b"{", b'{"Name": 5}', b'{"TaskTemplate": []}'):
        status, body, _ = await call(http, "POST", "/services/create", data=data)
        assert status == 400, data
        assert body["message"].startswith("invalid JSON"), body
    assert in_swarm.backend.services == {}


async def test_list_filters_and_status(web: str, http: aiohttp.ClientSession) -> None:
    other = await create(
        http,
        {"Name": "db", "TaskTemplate": {"ContainerSpec": {"Image": "pg"}}, "Mode": {"Global": {}}},
    )
    status, services, _ = await call(http, "GET", "/services")
    assert status == 200 and {s["ID"] for s in services} == {web, other}
    assert all("ServiceStatus" not in s for s in services)
    for filters, expected in [
        ({"name": ["we"]}, [web]),
        ({"mode": {"global": True}}, [other]),
        ({"id": [web[:5]]}, [web]),
        ({"label": ["tier=front"]}, [web]),
        ({"label": ["tier=back"]}, []),
    ]:
        params = {"filters": json.dumps(filters)}
        status, services, _ = await call(http, "GET", "/services", params=params)
        assert status == 200 and [s["ID"] for s in services] == expected, filters
    status, body, _ = await call(http, "GET", "/services?filters=" + json.dumps({"role": ["x"]}))
    assert (status, body) == (400, {"message": "invalid filter 'role'"})
    status, services, _ = await call(http, "GET", "/services?status=true&filters={}")
    by_id = {s["ID"]: s["ServiceStatus"] for s in services}
    assert by_id[web] == {"RunningTasks": 2, "DesiredTasks": 2, "CompletedTasks": 0}
    assert by_id[other]["DesiredTasks"] == 3  # one per ready, active node
    status, services, _ = await call(http, "GET", "/v1.40/services?status=true")
    assert status == 200 and all("ServiceStatus" not in s for s in services)
    status, body, _ = await call(http, "GET", "/services?status=maybe")
    assert status == 400 and "invalid value for status" in body["message"]


async def test_inspect_by_id_name_or_prefix(web: str, http: aiohttp.ClientSession) -> None:
    for ref in (web, "web", web[:4]):
        status, service, _ = await call(http, "GET", f"/services/{ref}")
        assert status == 200 and service["ID"] == web
        assert "UpdateConfig" not in service["Spec"]
    _, service, _ = await call(http, "GET", "/services/web?insertDefaults=true")
    assert service["Spec"]["UpdateConfig"]["Monitor"] == 5_000_000_000
    status, body, _ = await call(http, "GET", "/services/nope")
    assert (status, body) == (404, {"message": "service nope not found"})


async def test_update_needs_the_version_read(
    in_swarm: Running, web: str, http: aiohttp.ClientSession
) -> None:
    _, service, _ = await call(http, "GET", "/services/web")
    version, spec = service["Version"]["Index"], service["Spec"]
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "nginx:2"
    for query in ("", "?version=", "?version=abc", "?version=-1", "?version=1.5"):
        status, body, _ = await call(http, "POST", f"/services/web/update{query}", json=spec)
        assert status == 400 and body["message"].startswith("invalid service version"), query
    for query in ("&rollback=yes", "&registryAuthFrom=elsewhere", "&rebalance=maybe"):
        status, body, _ = await call(
            http, "POST", f"/services/web/update?version={version}{query}", json=spec
        )
        assert status == 400, query
    status, body, _ = await call(
        http,
        "POST",
        f"/services/web/update?version={version}&registryAuthFrom=spec&rollback=none",
        json=spec,
    )
    assert (status, body) == (200, {"Warnings": None})
    assert in_swarm.backend.services[web]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == (
        "nginx:2"
    )
    assert in_swarm.backend.service_updates[-1] == {
        "ID": web,
        "rollback": False,
        "rebalance": False,
    }
    status, body, _ = await call(http, "POST", f"/services/web/update?version={version}", json=spec)
    assert (status, body["message"]) == (500, "update out of sequence")


async def test_update_rollback_and_rebalance(
    in_swarm: Running, web: str, http: aiohttp.ClientSession
) -> None:
    _, service, _ = await call(http, "GET", "/services/web")
    spec = {**service["Spec"], "Labels": {"tier": "back"}}
    await call(
        http, "POST", f"/services/web/update?version={service['Version']['Index']}", json=spec
    )
    _, service, _ = await call(http, "GET", "/services/web")
    status, _, _ = await call(
        http,
        "POST",
        f"/services/web/update?version={service['Version']['Index']}&rollback=previous&rebalance=1",
        json=service["Spec"],
    )
    assert status == 200
    assert in_swarm.backend.service_updates[-1] == {"ID": web, "rollback": True, "rebalance": True}
    assert in_swarm.backend.services[web]["Spec"]["Labels"] == {"tier": "front"}


async def test_remove(in_swarm: Running, web: str, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, "DELETE", f"/v1.47/services/{web}")
    assert (status, body) == (200, "")
    assert in_swarm.backend.tasks == {}
    status, _, _ = await call(http, "DELETE", "/services/web")
    assert status == 404


async def test_tasks_filters_and_inspect(
    in_swarm: Running, web: str, http: aiohttp.ClientSession
) -> None:
    backend = in_swarm.backend
    _, service, _ = await call(http, "GET", "/services/web")
    spec = service["Spec"]
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "nginx:2"
    await call(
        http, "POST", f"/services/web/update?version={service['Version']['Index']}", json=spec
    )
    old = {t["ID"] for t in backend.tasks.values() if t["DesiredState"] == "shutdown"}
    new = {t["ID"] for t in backend.tasks.values() if t["DesiredState"] == "running"}
    assert len(old) == len(new) == 2

    async def ids(filters: dict[str, Any]) -> set[str]:
        params = {"filters": json.dumps(filters)}
        status, tasks, _ = await call(http, "GET", "/tasks", params=params)
        assert status == 200, tasks
        return {t["ID"] for t in tasks}

    assert await ids({}) == old | new
    assert await ids({"service": ["web"]}) == old | new
    assert await ids({"service": [web], "_up-to-date": ["true"]}) == new
    assert await ids({"desired-state": ["shutdown"]}) == old
    assert await ids({"name": ["web.1"]}) == {t for t in old | new if backend.tasks[t]["Slot"] == 1}
    assert await ids({"node": ["node-1"]}) == {
        t for t in old | new if backend.tasks[t]["NodeID"] == backend.node_id
    }
    some = next(iter(new))
    assert await ids({"id": [some[:8]]}) == {some}
    status, body, _ = await call(http, "GET", "/tasks?filters=" + json.dumps({"runtime": ["x"]}))
    assert (status, body) == (400, {"message": "invalid filter 'runtime'"})
    status, task, _ = await call(http, "GET", f"/tasks/{some}")
    assert status == 200 and task["ID"] == some and task["ServiceID"] == web
    status, _, _ = await call(http, "GET", "/tasks/zzzz")
    assert status == 404


async def read_logs(
    http: aiohttp.ClientSession, path: str, **params: str
) -> tuple[int, bytes, dict[str, str]]:
    async with http.get(path, params=params) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_logs_are_multiplexed_with_timestamps_and_details(
    in_swarm: Running, web: str, http: aiohttp.ClientSession
) -> None:
    backend = in_swarm.backend
    task = next(t for t in backend.tasks.values() if t["Slot"] == 1)
    backend.add_log(task["ID"], b"hello\n", time_ns=T0 + 5)
    backend.add_log(task["ID"], b"oops\n", "stderr", time_ns=T0 + 10**9)
    status, body, headers = await read_logs(
        http, "/v1.47/services/web/logs", stdout="1", stderr="1"
    )
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    assert body[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x06"
    assert frames(body) == [(1, b"hello\n"), (2, b"oops\n")]

    _, body, _ = await read_logs(
        http, "/services/web/logs", stdout="1", stderr="1", timestamps="1", details="1"
    )
    context = (
        f"com.docker.swarm.node.id={task['NodeID']},com.docker.swarm.service.id={web},"
        f"com.docker.swarm.task.id={task['ID']}"
    )
    assert frames(body) == [
        (1, f"2023-11-14T22:13:20.000000005Z {context} hello\n".encode()),
        (2, f"2023-11-14T22:13:21.000000000Z {context} oops\n".encode()),
    ]
    _, body, _ = await read_logs(http, "/services/web/logs", stderr="1")
    assert frames(body) == [(2, b"oops\n")]
    _, body, _ = await read_logs(http, "/services/web/logs", stdout="1", stderr="1", tail="1")
    assert frames(body) == [(2, b"oops\n")]
    for since in ("1700000000.5", "2023-11-14T23:13:20.5+01:00"):
        _, body, _ = await read_logs(
            http, "/services/web/logs", stdout="1", stderr="1", since=since
        )
        assert frames(body) == [(2, b"oops\n")], since
    _, body, _ = await read_logs(
        http, f"/tasks/{task['ID']}/logs", stdout="1", stderr="1", until="1700000000.5"
    )
    assert frames(body) == [(1, b"hello\n")]
    # Clients older than API 1.42 get the same frames labelled as a raw stream.
    _, body, headers = await read_logs(http, "/v1.41/services/web/logs", stdout="1")
    assert headers["Content-Type"] == "application/vnd.docker.raw-stream"
    assert frames(body) == [(1, b"hello\n")]


async def test_log_requests_are_checked_before_streaming(
    web: str, http: aiohttp.ClientSession
) -> None:
    for path, params, expected in [
        ("/services/web/logs", {}, "must specify at least one of 'stdout' or 'stderr'"),
        ("/services/web/logs", {"stdout": "1", "tail": "-1"}, "tail value must be a positive"),
        ("/services/web/logs", {"stdout": "1", "tail": "x"}, "tail value must be a positive"),
        ("/services/web/logs", {"stdout": "1", "since": "yesterday"}, 'invalid value for "since"'),
        ("/services/web/logs", {"stdout": "1", "follow": "often"}, "invalid value for follow"),
    ]:
        status, body, _ = await call(http, "GET", path, params=params)
        assert status == 400 and expected in body["message"], (params, body)
    status, body, _ = await call(http, "GET", "/services/nope/logs", params={"stdout": "1"})
    assert (status, body) == (404, {"message": "service nope not found"})
    status, body, _ = await call(http, "GET", "/tasks/nope/logs", params={"stdout": "1"})
    assert (status, body) == (404, {"message": "task nope not found"})


async def test_a_tty_task_streams_raw_lines(in_swarm: Running, http: aiohttp.ClientSession) -> None:
    spec = {"Name": "tty", "TaskTemplate": {"ContainerSpec": {"Image": "sh", "TTY": True}}}
    await create(http, spec)
    task = next(iter(in_swarm.backend.tasks.values()))
    in_swarm.backend.add_log(task["ID"], b"$ ls\n")
    status, body, headers = await read_logs(http, "/services/tty/logs", stdout="1")
    assert (status, body) == (200, b"$ ls\n")
    assert headers["Content-Type"] == "application/vnd.docker.raw-stream"


async def test_a_failure_mid_stream_is_a_system_error_frame(
    in_swarm: Running, web: str, http: aiohttp.ClientSession
) -> None:
    task = next(iter(in_swarm.backend.tasks.values()))
    in_swarm.backend.add_log(task["ID"], b"before\n")
    in_swarm.backend.log_error = SwarmError("node node-2 is down")
    status, body, _ = await read_logs(http, "/services/web/logs", stdout="1")
    assert status == 200
    assert frames(body) == [(1, b"before\n"), (3, b"Error grabbing logs: node node-2 is down\n")]


async def test_follow_streams_lines_as_they_come_until_the_client_leaves(
    in_swarm: Running, web: str, http: aiohttp.ClientSession
) -> None:
    backend = in_swarm.backend
    task = next(iter(backend.tasks.values()))
    backend.add_log(task["ID"], b"first\n")
    params = {"stdout": "1", "follow": "1"}
    async with http.get("/services/web/logs", params=params) as response:
        assert response.status == 200
        assert await response.content.readexactly(14) == b"\x01\0\0\0\0\0\0\x06first\n"
        await asyncio.sleep(0.05)
        assert not response.content.at_eof()
        backend.add_log(task["ID"], b"second\n")
        frame = await asyncio.wait_for(response.content.readexactly(15), 5)
        assert frame == b"\x01\0\0\0\0\0\0\x07second\n"
    # The client is gone: the stream stops asking the backend for lines.
    streams = backend.follow_streams
    for _ in range(100):
        if backend.follow_streams == 0:
            break
        await asyncio.sleep(0.05)
    assert streams == 1 and backend.follow_streams == 0


async def test_the_client_decodes_log_messages(in_swarm: Running, web: str) -> None:
    backend = in_swarm.backend
    task = next(t for t in backend.tasks.values() if t["Slot"] == 2)
    backend.add_log(task["ID"], b"a b c\n", time_ns=T0 + 123)
    backend.add_log(task["ID"], b"", "stderr", time_ns=T0 + 456)
    async with APIClient.from_host(in_swarm.host) as api:
        messages = [m async for m in api.service_logs("web", LogOptions())]
        assert [(m.line.time_ns, m.line.stream, m.line.data) for m in messages] == [
            (T0 + 123, "stdout", b"a b c\n"),
            (T0 + 456, "stderr", b""),
        ]
        assert {(m.node_id, m.service_id, m.task_id) for m in messages} == {
            (task["NodeID"], web, task["ID"])
        }
        messages = [m async for m in api.task_logs(task["ID"][:10], LogOptions(stderr=False))]
        assert [m.line.data for m in messages] == [b"a b c\n"]
        with pytest.raises(NotFound, match="service nope not found"):
            [m async for m in api.service_logs("nope", LogOptions())]
        backend.log_error = SwarmError("agent gone")
        received = []
        with pytest.raises(LogStreamError, match="Error grabbing logs: agent gone"):
            async for message in api.service_logs("web", LogOptions()):
                received.append(message.line.data)
        assert received == [b"a b c\n", b""]


async def test_the_client_covers_services_and_tasks(in_swarm: Running) -> None:
    async with APIClient.from_host(in_swarm.host) as api:
        created = await api.service_create(WEB)
        [listed] = await api.services_list({"name": ["web"]}, status=True)
        assert listed["ServiceStatus"]["RunningTasks"] == 2
        service = await api.service_inspect("web", insert_defaults=True)
        assert service["ID"] == created["ID"] and "RestartPolicy" in service["Spec"]["TaskTemplate"]
        service = await api.service_inspect("web")
        answer = await api.service_update("web", service["Version"]["Index"], service["Spec"])
        assert answer == {"Warnings": None}
        with pytest.raises(OutOfSequence):
            await api.service_update("web", service["Version"]["Index"], service["Spec"])
        tasks = await api.tasks_list({"service": ["web"]})
        assert len(tasks) == 2
        assert (await api.task_inspect(tasks[0]["ID"]))["ID"] == tasks[0]["ID"]
        await api.service_remove("web")
        with pytest.raises(NotFound):
            await api.service_inspect("web")
