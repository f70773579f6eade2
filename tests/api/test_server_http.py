"""The HTTP surface itself, driven with raw requests: status codes, headers,
error bodies, version prefixes, filters and hostile input."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import aiohttp
import pytest

from swarmkit_py.api.server import MAX_BODY_BYTES, serve
from swarmkit_py.errors import InvalidArgument

from .conftest import Running


async def call(
    http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    async with http.request(method, path, **kwargs) as response:
        text = await response.text()
        body: Any = text
        if response.content_type == "application/json":
            body = json.loads(text)
        return response.status, body, dict(response.headers)


async def test_ping_answers_ok_with_docker_headers(http: aiohttp.ClientSession) -> None:
    for path in ("/_ping", "/v1.47/_ping", "/v1.24/_ping"):
        status, body, headers = await call(http, "GET", path)
        assert (status, body) == (200, "OK")
        assert headers["Api-Version"] == "1.47"
        assert headers["Swarm"] == "inactive"
        assert headers["Docker-Experimental"] == "false"
        assert headers["OSType"] == "linux"
        assert headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
        assert headers["Pragma"] == "no-cache"
        assert headers["Server"].startswith("swarmkit-py/")
    status, body, headers = await call(http, "HEAD", "/_ping")
    assert (status, body, headers["Swarm"]) == (200, "", "inactive")


async def test_ping_reports_the_swarm_role(in_swarm: Running, http: aiohttp.ClientSession) -> None:
    _, _, headers = await call(http, "HEAD", "/_ping")
    assert headers["Swarm"] == "active/manager"


async def test_version_and_info_come_from_the_backend(http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, "GET", "/v1.47/version")
    assert status == 200 and body["ApiVersion"] == "1.47"
    status, body, _ = await call(http, "GET", "/info")
    assert status == 200 and body["Swarm"]["LocalNodeState"] == "inactive"


async def test_too_new_api_version_is_refused_like_docker(http: aiohttp.ClientSession) -> None:
    status, body, headers = await call(http, "GET", "/v1.99/nodes")
    assert status == 400
    assert body == {
        "message": "client version 1.99 is too new. Maximum supported API version is 1.47"
    }
    assert headers["Api-Version"] == "1.47"
    status, _, _ = await call(http, "GET", "/v1.48/_ping")
    assert status == 400


async def test_unknown_paths_answer_page_not_found(http: aiohttp.ClientSession) -> None:
    for method, path in [
        ("GET", "/nope"),
        ("GET", "/v1.47/containers/json"),
        ("GET", "/vX/nodes"),
        ("PUT", "/nodes/abc"),
    ]:
        status, body, headers = await call(http, method, path)
        assert (status, body) == (404, {"message": "page not found"}), path
        assert headers["Api-Version"] == "1.47"


async def test_cluster_calls_outside_a_swarm_answer_503(http: aiohttp.ClientSession) -> None:
    for path in ("/swarm", "/nodes", "/nodes/abc"):
        status, body, _ = await call(http, "GET", path)
        assert status == 503
        assert body["message"].startswith("This node is not a swarm manager.")


async def test_swarm_init_answers_the_node_id_as_a_json_string(
    running: Running, http: aiohttp.ClientSession
) -> None:
    status, body, headers = await call(
        http, "POST", "/v1.47/swarm/init", json={"ListenAddr": "0.0.0.0:2377", "Spec": {}}
    )
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert body == running.backend.node_id and len(body) == 25
    status, body, _ = await call(http, "POST", "/swarm/init", json={})
    assert status == 503 and "already part of a swarm" in body["message"]


async def test_swarm_update_checks_the_version(
    in_swarm: Running, http: aiohttp.ClientSession
) -> None:
    _, swarm, _ = await call(http, "GET", "/swarm")
    version = swarm["Version"]["Index"]
    spec = swarm["Spec"]

    status, body, _ = await call(http, "POST", "/swarm/update", json=spec)
    assert status == 400 and "invalid swarm version ''" in body["message"]
    status, body, _ = await call(http, "POST", "/swarm/update?version=abc", json=spec)
    assert status == 400 and "invalid swarm version 'abc'" in body["message"]

    spec["Dispatcher"]["HeartbeatPeriod"] = 10_000_000_000
    status, body, _ = await call(
        http, "POST", f"/swarm/update?version={version}&rotateWorkerToken=true", json=spec
    )
    assert (status, body) == (200, "")
    _, updated, _ = await call(http, "GET", "/swarm")
    assert updated["Version"]["Index"] > version
    assert updated["Spec"]["Dispatcher"]["HeartbeatPeriod"] == 10_000_000_000
    assert updated["JoinTokens"]["Worker"] != swarm["JoinTokens"]["Worker"]
    assert updated["JoinTokens"]["Manager"] == swarm["JoinTokens"]["Manager"]

    status, body, _ = await call(http, "POST", f"/swarm/update?version={version}", json=spec)
    assert (status, body) == (500, {"message": "update out of sequence"})


async def test_boolean_parameters_take_go_spellings_only(
    in_swarm: Running, http: aiohttp.ClientSession
) -> None:
    _, swarm, _ = await call(http, "GET", "/swarm")
    version = swarm["Version"]["Index"]
    status, body, _ = await call(
        http, "POST", f"/swarm/update?version={version}&rotateManagerToken=maybe", json={}
    )
    assert status == 400 and "invalid value for rotateManagerToken" in body["message"]
    status, body, _ = await call(http, "POST", "/swarm/leave?force=yes please")
    assert status == 400 and "invalid value for force" in body["message"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "invalid JSON"),
        (b"", "request body is empty"),
        (b"[1, 2]", "SwarmSpec must be an object"),
        (b'{"Dispatcher": {"HeartbeatPeriod": "5s"}}', "SwarmSpec.Dispatcher.HeartbeatPeriod"),
        (b'{"Orchestration": {"TaskHistoryRetentionLimit": true}}', "must be an integer"),
        (b'{"Raft": {"SnapshotInterval": -1}}', "out of range"),
        (b'{"Raft": {"SnapshotInterval": 1e400}}', "must be an integer"),
        (b'{"Labels": {"a": 1}}', "SwarmSpec.Labels.a must be a string"),
        (b'{"CAConfig": {"ExternalCAs": [{"Protocol": "acme"}]}}', "invalid Protocol"),
        (b'{"Raft": {"ElectionTick": NaN}}', "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
async def test_bad_bodies_answer_400_with_the_reason(
    in_swarm: Running, http: aiohttp.ClientSession, body: bytes, expected: str
) -> None:
    _, swarm, _ = await call(http, "GET", "/swarm")
    status, answer, _ = await call(
        http, "POST", f"/swarm/update?version={swarm['Version']['Index']}", data=body
    )
    assert status == 400, answer
    assert expected in answer["message"]


async def test_null_fields_mean_not_set(in_swarm: Running, http: aiohttp.ClientSession) -> None:
    _, swarm, _ = await call(http, "GET", "/swarm")
    spec = {**swarm["Spec"], "Orchestration": None, "Labels": None}
    status, _, _ = await call(
        http, "POST", f"/swarm/update?version={swarm['Version']['Index']}", json=spec
    )
    assert status == 200
    assert "Orchestration" not in in_swarm.backend.cluster["Spec"]  # type: ignore[index]


async def test_a_huge_body_is_refused_and_the_server_lives_on(
    in_swarm: Running, http: aiohttp.ClientSession
) -> None:
    huge = b'{"Name": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    status, body, _ = await call(http, "POST", "/swarm/update?version=1", data=huge)
    assert status == 413 and "larger than the limit" in body["message"]
    status, _, _ = await call(http, "GET", "/_ping")
    assert status == 200


async def test_node_list_filters_in_both_docker_forms(
    in_swarm: Running, http: aiohttp.ClientSession
) -> None:
    for filters in ({"role": {"manager": True}}, {"role": ["manager"]}):
        status, nodes, _ = await call(
            http, "GET", "/nodes", params={"filters": json.dumps(filters)}
        )
        assert status == 200
        assert sorted(n["Description"]["Hostname"] for n in nodes) == ["node-1", "node-3"]
    status, nodes, _ = await call(http, "GET", "/v1.41/nodes")
    assert status == 200 and len(nodes) == 4


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ('{"colour": ["red"]}', "invalid filter 'colour'"),
        ("{nope", "invalid filters"),
        ('["role"]', "expected a JSON object"),
        ('{"role": [1]}', "invalid filter 'role'"),
        ('{"role": {"manager": "yes"}}', "invalid filter 'role'"),
    ],
)
async def test_bad_filters_answer_400(
    in_swarm: Running, http: aiohttp.ClientSession, filters: str, expected: str
) -> None:
    status, body, _ = await call(http, "GET", "/nodes", params={"filters": filters})
    assert status == 400 and expected in body["message"]


async def test_node_inspect_by_id_name_or_prefix(
    in_swarm: Running, http: aiohttp.ClientSession
) -> None:
    node_id = in_swarm.backend.node_id
    for ref in (node_id, "node-1", node_id[:10]):
        status, node, _ = await call(http, "GET", f"/v1.47/nodes/{ref}")
        assert status == 200 and node["ID"] == node_id
    status, body, _ = await call(http, "GET", "/nodes/no-such-node")
    assert (status, body) == (404, {"message": "node no-such-node not found"})


async def test_node_update_needs_the_version_and_a_full_spec(
    in_swarm: Running, http: aiohttp.ClientSession
) -> None:
    _, node, _ = await call(http, "GET", "/nodes/node-10")
    spec = {**node["Spec"], "Availability": "drain"}
    status, body, _ = await call(http, "POST", "/nodes/node-10/update", json=spec)
    assert status == 400 and "invalid node version" in body["message"]
    status, body, _ = await call(
        http, "POST", "/nodes/node-10/update?version=1", json={"Availability": "drain"}
    )
    assert status == 400 and "invalid Role" in body["message"]
    status, body, _ = await call(
        http, "POST", "/nodes/node-10/update?version=1", json={**spec, "Role": "boss"}
    )
    assert status == 400 and "invalid Role: 'boss'" in body["message"]

    version = node["Version"]["Index"]
    status, body, _ = await call(
        http, "POST", f"/v1.47/nodes/node-10/update?version={version}", json=spec
    )
    assert (status, body) == (200, "")
    _, updated, _ = await call(http, "GET", "/nodes/node-10")
    assert updated["Spec"]["Availability"] == "drain"
    status, body, _ = await call(
        http, "POST", f"/nodes/node-10/update?version={version}", json=spec
    )
    assert (status, body["message"]) == (500, "update out of sequence")


async def test_node_remove_honours_force(in_swarm: Running, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, "DELETE", "/nodes/node-10")
    assert status == 400 and "is not down and can't be removed" in body["message"]
    status, body, _ = await call(http, "DELETE", "/nodes/node-10?force=banana")
    assert status == 400 and "invalid value for force" in body["message"]
    status, body, _ = await call(http, "DELETE", "/nodes/node-10?force=True")
    assert (status, body) == (200, "")
    status, _, _ = await call(http, "DELETE", "/v1.47/nodes/node-2")
    assert status == 200
    status, _, _ = await call(http, "GET", "/nodes/node-2")
    assert status == 404


async def test_unexpected_backend_failures_answer_500_and_are_logged(
    running: Running, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    running.backend.info = broken  # type: ignore[method-assign]
    status, body, _ = await call(http, "GET", "/info")
    assert (status, body) == (500, {"message": "disk on fire"})
    assert "GET /info failed" in caplog.text


async def test_tasks_of_a_node(in_swarm: Running, http: aiohttp.ClientSession) -> None:
    node_id = in_swarm.backend.node_id
    spec = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}}}
    await in_swarm.backend.service_create(spec)
    [mine] = [t["ID"] for t in in_swarm.backend.tasks.values() if t["NodeID"] == node_id]
    filters = json.dumps({"node": [node_id]})
    status, tasks, _ = await call(http, "GET", "/tasks", params={"filters": filters})
    assert status == 200 and [t["ID"] for t in tasks] == [mine]
    status, tasks, _ = await call(http, "GET", "/v1.47/tasks")
    assert status == 200 and [t["ID"] for t in tasks] == [mine]


async def test_hostile_requests_never_take_the_server_down(
    in_swarm: Running, http: aiohttp.ClientSession
) -> None:
    hostile = [
        ("GET", "/nodes/%00%ff%2F..%2F"),
        ("GET", "/nodes?filters=" + "%7B" * 3000),
        ("GET", "/v1.47" * 200 + "/nodes"),
        ("GET", "/v99999999999999999999999.1/_ping"),
        ("POST", "/nodes/x/update?version=99999999999999999999999999"),
        ("POST", "/swarm/join"),
    ]
    for method, path in hostile:
        status, _, _ = await call(http, method, path)
        assert 400 <= status < 500, path
    status, _, _ = await call(http, "GET", "/_ping")
    assert status == 200


async def test_socket_is_private_and_a_live_socket_is_not_stolen(running: Running) -> None:
    mode = stat.S_IMODE(os.stat(running.socket_path).st_mode)
    assert mode & 0o007 == 0
    with pytest.raises(InvalidArgument, match="another process is serving"):
        await serve(running.backend, running.socket_path)
