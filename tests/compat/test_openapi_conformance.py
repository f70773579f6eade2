"""swarmd's answers checked against Docker's official Engine API spec (v1.47).

Real `swarmd` processes on loopback (two managers, a worker, and a fourth
node outside the swarm) serve the API over plain HTTP; a scripted scenario
calls every endpoint of the swarm subset with realistic requests, including
the documented error answers, and schemathesis checks each answer against
`docker-engine-api-v1.47.yaml` (a copy of Docker's spec beside this file):
the status code is one the operation declares, the Content-Type one it
produces, the headers and the JSON body conform to the response's schema.
Then schemathesis generates requests for the read-only endpoints and checks
the same of every answer, and that none is a 5xx.

Deliberate differences
----------------------
Where the spec is silent or wrong about what dockerd does, or we differ from
dockerd on purpose. `UNDECLARED_STATUSES` and `load_spec()`'s errata below let
exactly these through, and the scenario asserts each of them.

- `GET /nodes`, `GET /services`, `GET /tasks`: a `filters` that is not JSON,
  names an unknown filter or has a value of the wrong shape, and a `status`
  (services) that is not a boolean, answer 400 `{"message": ...}`, as dockerd
  does (`invalid filter ...`). The spec declares only 200, 500 and 503. An
  unknown `role` or `membership` (nodes) or `desired-state` (tasks) is 400
  too (`Invalid role filter: 'king'`), where dockerd answers 500 with the same
  message (a plain error): it is the client's mistake.
- `DELETE /nodes/{id}` without `force` for a node that is not down, or for a
  manager: 400 (`node ... is not down and can't be removed`, `... must be
  demoted to worker before removal`), as dockerd (swarmkit's
  FailedPrecondition). The spec declares no 400 there.
- `GET /services/{id}/logs`, `GET /tasks/{id}/logs` with neither `stdout` nor
  `stderr`: 400 `must specify at least one of 'stdout' or 'stderr'`. The spec
  declares no 400; dockerd answers 500 (`Bad parameters: you must choose at
  least one stream`, a plain error). It is the client's mistake, so 400.
- The log endpoints' errors are `application/json` `{"message": ...}`,
  although the operations `produce` only the two stream types; so are
  dockerd's.
- `POST /services/{id}/update`, `/nodes/{id}/update`, `/swarm/update` with a
  `version` that is no longer the object's: 500 `update out of sequence`, as
  dockerd (swarmkit's error carries no gRPC code, so dockerd maps it to 500).
  The spec declares 500 there; it is the only 500 we answer on purpose.
- `POST /services/{id}/update`: `{"Warnings": null}` when there is nothing to
  warn about, as dockerd (its `ServiceUpdateResponse.Warnings` has no
  `omitempty`); the spec's schema says array, not nullable.
- `Service.UpdateStatus.State` is also `rollback_started`, `rollback_paused`
  or `rollback_completed` during and after a rollback, as dockerd's
  `swarm.UpdateState`; the spec's enum lists only the update states.
- `GET /_ping`, `HEAD /_ping`: no `Builder-Version` header (dockerd on Linux
  sends `2`); we serve no `/build`, and the header is optional.
- `POST /swarm/join`, `/swarm/leave`, `/swarm/update`, `/nodes/{id}/update`,
  `DELETE /nodes/{id}`, `DELETE /services/{id}`: 200 with an empty body and no
  Content-Type, as dockerd; the spec's global `produces` is not checked where
  there is no body to label.
- `POST /services/create` with a job mode (`ReplicatedJob`, `GlobalJob`): 400
  `job services are not supported` (a declared status; dockerd runs jobs).
- `GET /swarm/unlockkey`, `POST /swarm/unlock`: not served (autolock is not
  supported), so both answer 404 `{"message": "page not found"}`. dockerd
  answers an unlocked manager 200 `{"UnlockKey": ""}` and 409 `swarm is not
  locked`. The spec declares neither 404 nor 409.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from swarmkit_py.raft.local_cluster import free_ports
from swarmkit_py.testing.local_swarm import LocalSwarm

from .conftest import wait_for

Json = dict[str, Any]

SPEC_PATH = Path(__file__).with_name("docker-engine-api-v1.47.yaml")


def load_spec() -> Json:
    """Docker's spec with its errata: where dockerd itself answers otherwise
    (see "Deliberate differences" above), the spec is made to say so."""
    spec: Json = yaml.safe_load(SPEC_PATH.read_text())
    # dockerd's ServiceUpdateResponse has `Warnings []string` without omitempty: null.
    spec["definitions"]["ServiceUpdateResponse"]["properties"]["Warnings"]["x-nullable"] = True
    # dockerd's UpdateState has the rollback states too (swarm.UpdateStateRollbackStarted, ...).
    update_state = spec["definitions"]["Service"]["properties"]["UpdateStatus"]["properties"]
    update_state["State"]["enum"] += ["rollback_started", "rollback_paused", "rollback_completed"]
    return spec


SPEC = load_spec()
SCHEMA = schemathesis.openapi.from_dict(SPEC)
ERROR_RESPONSE: Json = SPEC["definitions"]["ErrorResponse"]
API_VERSION = "1.47"
MANAGER, OTHER_MANAGER, WORKER, OUTSIDER = 1, 2, 3, 4

#: Statuses Docker answers (and so do we) that the spec does not declare for
#: the operation; see "Deliberate differences" above.
UNDECLARED_STATUSES: dict[tuple[str, str], frozenset[int]] = {
    ("GET", "/nodes"): frozenset({400}),
    ("GET", "/services"): frozenset({400}),
    ("GET", "/tasks"): frozenset({400}),
    ("DELETE", "/nodes/{id}"): frozenset({400}),
    ("GET", "/services/{id}/logs"): frozenset({400}),
    ("GET", "/tasks/{id}/logs"): frozenset({400}),
    ("GET", "/swarm/unlockkey"): frozenset({404}),
    ("POST", "/swarm/unlock"): frozenset({404}),
}
#: Docker's multiplexed log stream: frames of an 8-byte header and a payload.
LOG_STREAM_TYPES = (
    "application/vnd.docker.multiplexed-stream",
    "application/vnd.docker.raw-stream",
)


def check_conformance(case: schemathesis.Case, response: requests.Response) -> None:
    """Fails unless `response` is what the spec lets `case`'s operation answer
    (or one of the deliberate differences)."""
    status = response.status_code
    content_type = response.headers.get("Content-Type")
    assert response.headers.get("Api-Version") == API_VERSION, response.headers
    declared = [str(code) for code in SPEC["paths"][case.path][case.method.lower()]["responses"]]
    if str(status) not in declared:
        extra = UNDECLARED_STATUSES.get((case.method.upper(), case.path), frozenset())
        assert status in extra, (
            f"{case.method} {case.path}: {status} is not declared ({', '.join(declared)}): "
            f"{response.text[:500]}"
        )
    checks: list[Any] = [status_code_conformance, response_headers_conformance]
    if status >= 400:
        # Docker's error answer, labelled exactly so (the docker CLI reads it only then),
        # also where the operation produces only log streams.
        assert content_type == "application/json", response.headers
        jsonschema.validate(response.json(), ERROR_RESPONSE)
        message = response.json()["message"]
        assert message, "an error answer needs a message a user can act on"
        # The one 500 we answer on purpose, as dockerd does; any other is a bug.
        assert status != 500 or message == "update out of sequence", message
        if str(status) not in declared:
            return
        checks.append(response_schema_conformance)
    elif content_type in LOG_STREAM_TYPES:
        checks.append(content_type_conformance)
        read_log_frames(response.content)  # schemathesis does not read streams
    elif response.content or case.method.upper() == "HEAD":
        assert content_type in ("application/json", "text/plain; charset=utf-8"), content_type
        checks += [content_type_conformance, response_schema_conformance]
    else:
        assert content_type is None, "an empty answer has nothing to label"
    case.validate_response(response, checks=checks)


def read_log_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The (stream, payload) frames of a multiplexed log stream; fails on a
    malformed one."""
    frames = []
    while data:
        assert len(data) >= 8 and data[0] in (1, 2, 3) and data[1:4] == b"\0\0\0", data[:16]
        length = int.from_bytes(data[4:8], "big")
        assert len(data) >= 8 + length, "a log frame is cut short"
        frames.append((data[0], data[8 : 8 + length]))
        data = data[8 + length :]
    return frames


@dataclass
class Api:
    """The swarm under test, each node's Engine API at `http://127.0.0.1:PORT`."""

    swarm: LocalSwarm
    ports: dict[int, int]

    def url(self, node: int) -> str:
        return f"http://127.0.0.1:{self.ports[node]}/v{API_VERSION}"

    def call(
        self,
        node: int,
        method: str,
        path: str,
        expect: int,
        *,
        id: str | None = None,
        query: dict[str, Any] | None = None,
        body: Any = None,
    ) -> requests.Response:
        """Sends one request as the spec describes the operation, checks that
        the status is `expect` and that the answer conforms."""
        operation = SCHEMA[path][method]
        kwargs: dict[str, Any] = {"query": query}
        if id is not None:
            kwargs["path_parameters"] = {"id": id}
        if body is not None:
            kwargs.update(body=body, media_type="application/json")
        case = operation.Case(**kwargs)
        response = self.send(case, node)
        assert response.status_code == expect, (
            f"{method} {path} on node {node}: expected {expect}, got {response.status_code}: "
            f"{response.text[:500]}"
        )
        check_conformance(case, response)
        return response

    def send(self, case: schemathesis.Case, node: int) -> requests.Response:
        return requests.request(**case.as_transport_kwargs(base_url=self.url(node)), timeout=30)

    def get(self, node: int, path: str, **kwargs: Any) -> Any:
        return self.call(node, "GET", path, 200, **kwargs).json()

    def node_id(self, node: int) -> str:
        node_id: str = self.get(node, "/info")["Swarm"]["NodeID"]
        return node_id


def sleeper_spec(name: str, replicas: int) -> Json:
    """A service whose tasks print a line and sleep (the process runtime runs the command)."""
    return {
        "Name": name,
        "Labels": {"suite": "openapi"},
        "Mode": {"Replicated": {"Replicas": replicas}},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox", "Command": ["sh", "-c", "echo hi; sleep 3600"]},
        },
    }


def detailed_spec(name: str) -> Json:
    """A service spec using most of what a ServiceSpec can say, so that the
    answers carry (and the schema checks) every part of it."""
    spec = sleeper_spec(name, 1)
    spec["TaskTemplate"].update(
        Resources={
            "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20},
            "Reservations": {"NanoCPUs": 1_000_000, "MemoryBytes": 4 << 20},
        },
        RestartPolicy={"Condition": "on-failure", "Delay": 100_000_000, "MaxAttempts": 3},
        Placement={
            "Constraints": ["node.role==manager"],
            "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
        },
    )
    spec["TaskTemplate"]["ContainerSpec"].update(
        Env=["GREETING=hi"], Labels={"tier": "web"}, StopGracePeriod=1_000_000_000
    )
    rollout = {"Parallelism": 1, "Delay": 0, "FailureAction": "pause", "Monitor": 200_000_000,
               "MaxFailureRatio": 0, "Order": "stop-first"}  # fmt: skip
    port = {"Name": "http", "Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 30080}
    endpoint = {"Mode": "vip", "Ports": [port]}
    spec.update(UpdateConfig=rollout, RollbackConfig=rollout, EndpointSpec=endpoint)
    return spec


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Two managers and a worker in a swarm, node 4 outside it, and a running
    service `reads` for the read-only checks."""
    ports = dict(enumerate(free_ports(4), start=1))
    swarm = LocalSwarm(
        tmp_path_factory.mktemp("openapi"),
        managers=2,
        workers=1,
        node_args={
            i: ("--api-tcp", f"127.0.0.1:{port}", "--api-tcp-insecure") for i, port in ports.items()
        },
    )
    try:
        asyncio.run(swarm.start())
        asyncio.run(swarm.add_node(join=False))
        api = Api(swarm, ports)
        api.call(MANAGER, "POST", "/services/create", 201, body=sleeper_spec("reads", 2))
        wait_for(
            lambda: api.get(MANAGER, "/tasks"),
            lambda tasks: sum(t["Status"]["State"] == "running" for t in tasks) == 2,
            "2 running tasks",
        )
        yield api
    finally:
        asyncio.run(swarm.stop())


def test_ping_version_and_info_conform_in_every_role(api: Api) -> None:
    for node, swarm_header in (
        (MANAGER, "active/manager"),
        (WORKER, "active/worker"),
        (OUTSIDER, "inactive"),
    ):
        for method in ("GET", "HEAD"):
            response = api.call(node, method, "/_ping", 200)
            assert response.text == ("OK" if method == "GET" else "")
            assert response.headers["Content-Type"].startswith("text/plain")
            assert response.headers["Swarm"] == swarm_header
            assert response.headers["Docker-Experimental"] == "false"
            assert response.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
            assert response.headers["Pragma"] == "no-cache"
        assert api.get(node, "/version")["ApiVersion"] == API_VERSION
        info = api.get(node, "/info")
        assert info["Swarm"]["LocalNodeState"] == ("inactive" if node == OUTSIDER else "active")


def test_swarm_init_join_leave_and_update_conform(api: Api) -> None:
    outsider = api.swarm.nodes[OUTSIDER].addr
    manager_addr = api.swarm.nodes[MANAGER].addr
    swarm = api.get(MANAGER, "/swarm")
    for node in (WORKER, OUTSIDER):
        api.call(node, "GET", "/swarm", 503)
        api.call(node, "POST", "/swarm/update", 503, query={"version": 1}, body=swarm["Spec"])
    api.call(OUTSIDER, "POST", "/swarm/leave", 503)

    # init: refused on a member, a bad body refused, then a swarm of one, left again.
    init = {"ListenAddr": outsider, "AdvertiseAddr": outsider}
    api.call(MANAGER, "POST", "/swarm/init", 503, body={"ListenAddr": manager_addr})
    api.call(OUTSIDER, "POST", "/swarm/init", 400, body={"ListenAddr": 4567})
    api.call(OUTSIDER, "POST", "/swarm/init", 400, body={**init, "Spec": {"Raft": "fast"}})
    new_id = api.call(OUTSIDER, "POST", "/swarm/init", 200, body=init).json()
    assert new_id == api.node_id(OUTSIDER)
    assert api.get(OUTSIDER, "/swarm")["ID"] != swarm["ID"]
    api.call(OUTSIDER, "POST", "/swarm/leave", 503)  # the last manager needs force
    api.call(OUTSIDER, "POST", "/swarm/leave", 200, query={"force": True})

    # join: a bad token refused, then as a worker; joining twice is refused.
    join = {**init, "RemoteAddrs": [manager_addr], "JoinToken": swarm["JoinTokens"]["Worker"]}
    api.call(OUTSIDER, "POST", "/swarm/join", 400, body={**join, "JoinToken": "SWMTKN-1-bogus"})
    api.call(OUTSIDER, "POST", "/swarm/join", 400, body={**join, "RemoteAddrs": "nowhere"})
    api.call(OUTSIDER, "POST", "/swarm/join", 200, body=join)
    api.call(OUTSIDER, "POST", "/swarm/join", 503, body=join)
    api.call(OUTSIDER, "POST", "/swarm/init", 503, body=init)
    assert api.call(OUTSIDER, "GET", "/_ping", 200).headers["Swarm"] == "active/worker"
    outsider_id = api.node_id(OUTSIDER)
    api.call(MANAGER, "DELETE", "/nodes/{id}", 400, id=outsider_id)  # not down
    api.call(OUTSIDER, "POST", "/swarm/leave", 200)
    wait_for(
        lambda: api.get(MANAGER, "/nodes/{id}", id=outsider_id),
        lambda node: node["Status"]["State"] == "down",
        "the node that left to be down",
    )
    api.call(MANAGER, "DELETE", "/nodes/{id}", 200, id=outsider_id)
    api.call(MANAGER, "DELETE", "/nodes/{id}", 404, id=outsider_id)

    # update: the spec as read, with its version; bad specs and versions refused.
    version = swarm["Version"]["Index"]
    spec = {**swarm["Spec"], "Labels": {"suite": "openapi"}}
    query = {"version": version, "rotateWorkerToken": True}
    api.call(MANAGER, "POST", "/swarm/update", 400, query=query, body={**spec, "Raft": []})
    api.call(MANAGER, "POST", "/swarm/update", 400, body=spec)  # no version
    api.call(MANAGER, "POST", "/swarm/update", 200, query=query, body=spec)
    api.call(MANAGER, "POST", "/swarm/update", 500, query=query, body=spec)  # out of sequence
    updated = api.get(OTHER_MANAGER, "/swarm")
    assert updated["Spec"]["Labels"] == {"suite": "openapi"}
    assert updated["JoinTokens"]["Worker"] != swarm["JoinTokens"]["Worker"]


def test_node_endpoints_conform(api: Api) -> None:
    nodes = api.get(MANAGER, "/nodes")
    assert {n["Description"]["Hostname"] for n in nodes} == {"node1", "node2", "node3"}
    managers = api.get(
        OTHER_MANAGER, "/nodes", query={"filters": json.dumps({"role": {"manager": True}})}
    )
    assert len(managers) == 2
    api.call(MANAGER, "GET", "/nodes", 400, query={"filters": "{not json"})
    api.call(MANAGER, "GET", "/nodes", 400, query={"filters": json.dumps({"colour": ["red"]})})
    api.call(MANAGER, "GET", "/nodes", 400, query={"filters": json.dumps({"role": ["king"]})})
    api.call(WORKER, "GET", "/nodes", 503)

    worker_id = api.node_id(WORKER)
    for node in nodes:
        assert api.get(MANAGER, "/nodes/{id}", id=node["ID"])["ID"] == node["ID"]
    api.call(MANAGER, "GET", "/nodes/{id}", 404, id="no-such-node")
    api.call(WORKER, "GET", "/nodes/{id}", 503, id=worker_id)

    worker = api.get(MANAGER, "/nodes/{id}", id=worker_id)
    version = {"version": worker["Version"]["Index"]}
    spec = {**worker["Spec"], "Labels": {"zone": "a"}}
    api.call(MANAGER, "POST", "/nodes/{id}/update", 400, id=worker_id, query=version,
             body={**spec, "Role": "king"})  # fmt: skip
    api.call(MANAGER, "POST", "/nodes/{id}/update", 400, id=worker_id, body=spec)  # no version
    api.call(MANAGER, "POST", "/nodes/{id}/update", 404, id="no-such-node", query=version,
             body=spec)  # fmt: skip
    api.call(WORKER, "POST", "/nodes/{id}/update", 503, id=worker_id, query=version, body=spec)
    api.call(MANAGER, "POST", "/nodes/{id}/update", 200, id=worker_id, query=version, body=spec)
    assert api.get(MANAGER, "/nodes/{id}", id=worker_id)["Spec"]["Labels"] == {"zone": "a"}

    api.call(MANAGER, "DELETE", "/nodes/{id}", 400, id=api.node_id(OTHER_MANAGER))  # a manager
    api.call(MANAGER, "DELETE", "/nodes/{id}", 404, id="no-such-node")
    api.call(WORKER, "DELETE", "/nodes/{id}", 503, id=worker_id)


def test_service_and_task_endpoints_conform(api: Api) -> None:
    spec = detailed_spec("scenario")
    created = api.call(MANAGER, "POST", "/services/create", 201, body=spec).json()
    service_id = created["ID"]
    api.call(MANAGER, "POST", "/services/create", 409, body=spec)  # the name is taken
    api.call(MANAGER, "POST", "/services/create", 400, body={**spec, "Name": "x", "Mode": []})
    bad_replicas = {**spec, "Name": "bad", "Mode": {"Replicated": {"Replicas": -1}}}
    api.call(MANAGER, "POST", "/services/create", 400, body=bad_replicas)
    job = {**spec, "Name": "job", "Mode": {"ReplicatedJob": {"TotalCompletions": 1}}}
    api.call(MANAGER, "POST", "/services/create", 400, body=job)  # jobs are not supported
    api.call(WORKER, "POST", "/services/create", 503, body={**spec, "Name": "on-a-worker"})

    services = api.get(OTHER_MANAGER, "/services", query={"status": True})
    assert {s["Spec"]["Name"] for s in services} == {"reads", "scenario"}
    by_name = json.dumps({"name": {"scenario": True}})
    assert len(api.get(MANAGER, "/services", query={"filters": by_name})) == 1
    api.call(MANAGER, "GET", "/services", 400, query={"filters": json.dumps({"colour": ["red"]})})
    api.call(MANAGER, "GET", "/services", 400, query={"status": "maybe"})
    api.call(WORKER, "GET", "/services", 503)
    assert api.get(MANAGER, "/services/{id}", id=service_id)["Spec"]["Name"] == "scenario"
    api.get(MANAGER, "/services/{id}", id="scenario", query={"insertDefaults": True})
    api.call(MANAGER, "GET", "/services/{id}", 404, id="no-such-service")
    api.call(WORKER, "GET", "/services/{id}", 503, id=service_id)

    by_service = {"filters": json.dumps({"service": {service_id: True}})}
    tasks = wait_for(
        lambda: api.get(MANAGER, "/tasks", query=by_service),
        lambda tasks: any(t["Status"]["State"] == "running" for t in tasks),
        "a running task",
    )
    task_id = tasks[0]["ID"]
    api.call(MANAGER, "GET", "/tasks", 400, query={"filters": "[]"})
    sleeping = json.dumps({"desired-state": ["sleeping"]})
    api.call(MANAGER, "GET", "/tasks", 400, query={"filters": sleeping})
    api.call(WORKER, "GET", "/tasks", 503)
    assert api.get(OTHER_MANAGER, "/tasks/{id}", id=task_id)["ServiceID"] == service_id
    api.call(MANAGER, "GET", "/tasks/{id}", 404, id="no-such-task")
    api.call(WORKER, "GET", "/tasks/{id}", 503, id=task_id)

    streams = {"stdout": True, "stderr": True}
    for path, ref in (("/services/{id}/logs", service_id), ("/tasks/{id}/logs", task_id)):
        logs = wait_for(
            lambda path=path, ref=ref: api.call(MANAGER, "GET", path, 200, id=ref, query=streams),
            lambda response: b"hi\n" in response.content,
            f"the line of {path}",
        )
        assert (1, b"hi\n") in read_log_frames(logs.content)
        api.call(MANAGER, "GET", path, 400, id=ref)  # neither stdout nor stderr
        api.call(MANAGER, "GET", path, 404, id=f"no-such-{ref}", query=streams)
        api.call(WORKER, "GET", path, 503, id=ref, query=streams)

    service = api.get(MANAGER, "/services/{id}", id=service_id)
    version = {"version": service["Version"]["Index"]}
    scaled = {**service["Spec"], "Mode": {"Replicated": {"Replicas": 2}}}
    scaled["TaskTemplate"]["ContainerSpec"]["Env"] = ["GREETING=hello"]  # a rolling update
    update = "/services/{id}/update"
    api.call(MANAGER, "POST", update, 400, id=service_id, query=version,
             body={**scaled, "TaskTemplate": "sleep"})  # fmt: skip
    api.call(MANAGER, "POST", update, 400, id=service_id, body=scaled)  # no version
    api.call(MANAGER, "POST", update, 404, id="no-such-service", query=version, body=scaled)
    api.call(WORKER, "POST", update, 503, id=service_id, query=version, body=scaled)
    answer = api.call(MANAGER, "POST", update, 200, id=service_id, query=version, body=scaled)
    assert "Warnings" in answer.json()
    api.call(MANAGER, "POST", update, 500, id=service_id, query=version, body=scaled)  # stale
    updated = wait_for(
        lambda: api.get(MANAGER, "/services/{id}", id=service_id),
        lambda service: service.get("UpdateStatus", {}).get("State") == "completed",
        "the rolling update",
    )
    assert updated["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["GREETING=hi"]
    rollback = {"version": updated["Version"]["Index"], "rollback": "previous"}
    api.call(MANAGER, "POST", update, 200, id=service_id, query=rollback, body=updated["Spec"])
    wait_for(
        lambda: api.get(OTHER_MANAGER, "/services/{id}", id=service_id),
        lambda service: service["UpdateStatus"]["State"] == "rollback_completed",
        "the rollback",
    )
    api.get(MANAGER, "/tasks", query=by_service)  # old, new and rolled-back tasks
    api.call(WORKER, "DELETE", "/services/{id}", 503, id=service_id)
    api.call(MANAGER, "DELETE", "/services/{id}", 200, id=service_id)
    api.call(MANAGER, "DELETE", "/services/{id}", 404, id=service_id)


def test_a_failed_task_conforms(api: Api) -> None:
    """A task whose command exits non-zero: its Status carries Err and the exit code."""
    crasher = sleeper_spec("crasher", 1)
    crasher["TaskTemplate"].update(RestartPolicy={"Condition": "none"})
    crasher["TaskTemplate"]["ContainerSpec"]["Command"] = ["sh", "-c", "exit 3"]
    crasher_id = api.call(MANAGER, "POST", "/services/create", 201, body=crasher).json()["ID"]
    (failed,) = wait_for(
        lambda: api.get(
            MANAGER, "/tasks", query={"filters": json.dumps({"service": [crasher_id]})}
        ),
        lambda tasks: [t["Status"]["State"] for t in tasks] == ["failed"],
        "the crasher's task to fail",
    )
    status = api.get(MANAGER, "/tasks/{id}", id=failed["ID"])["Status"]
    assert status["Err"] and status["ContainerStatus"]["ExitCode"] == 3
    api.call(MANAGER, "DELETE", "/services/{id}", 200, id=crasher_id)


def test_unlock_endpoints_are_not_served(api: Api) -> None:
    api.call(MANAGER, "GET", "/swarm/unlockkey", 404)
    api.call(MANAGER, "POST", "/swarm/unlock", 404, body={"UnlockKey": "SWMKEY-1-x"})


#: The read-only operations schemathesis generates requests for.
READ_ONLY = [
    ("GET", "/_ping"),
    ("HEAD", "/_ping"),
    ("GET", "/version"),
    ("GET", "/info"),
    ("GET", "/swarm"),
    ("GET", "/nodes"),
    ("GET", "/nodes/{id}"),
    ("GET", "/services"),
    ("GET", "/services/{id}"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{id}"),
]


#: The filters the spec documents for each listing, with the values it names.
DOCUMENTED_FILTERS: dict[str, dict[str, list[str]]] = {
    "/nodes": {"id": [], "label": [], "membership": ["accepted", "pending"], "name": [],
               "node.label": [], "role": ["manager", "worker"]},
    "/services": {"id": [], "label": [], "mode": ["replicated", "global"], "name": []},
    "/tasks": {"desired-state": ["running", "shutdown", "accepted"], "id": [], "label": [],
               "name": [], "node": [], "service": []},
}  # fmt: skip


def documented_filters(path: str) -> st.SearchStrategy[str]:
    """`filters` JSON built from the documented keys, in both of Docker's
    encodings, with documented or arbitrary values (random strings, which
    schemathesis sends for a `type: string` parameter, are never valid JSON)."""
    keys = DOCUMENTED_FILTERS[path]

    def entry(key: str) -> st.SearchStrategy[tuple[str, list[str]]]:
        value = (
            st.sampled_from(keys[key]) | st.text(max_size=8) if keys[key] else st.text(max_size=8)
        )
        return st.tuples(st.just(key), st.lists(value, min_size=1, max_size=2))

    entries = st.lists(st.sampled_from(sorted(keys)).flatmap(entry), max_size=3).map(dict)
    as_maps = entries.map(lambda f: {k: dict.fromkeys(values, True) for k, values in f.items()})
    return (as_maps | entries).map(json.dumps)


def with_filters(case: schemathesis.Case, filters: str) -> schemathesis.Case:
    case.query = {**(case.query or {}), "filters": filters}
    return case


@pytest.mark.parametrize(("method", "path"), READ_ONLY, ids=[f"{m} {p}" for m, p in READ_ONLY])
def test_generated_reads_conform(api: Api, method: str, path: str) -> None:
    operation = SCHEMA[path][method]
    strategy = operation.as_strategy()
    if "{id}" in path:
        # Real IDs as well as generated ones (which are all unknown: 404).
        listing = api.get(MANAGER, path.removesuffix("/{id}"))
        real = [operation.as_strategy(path_parameters={"id": item["ID"]}) for item in listing]
        strategy = st.one_of(strategy, *real)
    if path in DOCUMENTED_FILTERS:
        filtered = st.tuples(operation.as_strategy(), documented_filters(path))
        strategy = strategy | filtered.map(lambda pair: with_filters(*pair))
    node = st.sampled_from([MANAGER, OTHER_MANAGER])  # a worker answers 503, as it should

    @settings(
        max_examples=40,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, node=node)
    def answers_conform(case: schemathesis.Case, node: int) -> None:
        response = api.send(case, node)
        assert response.status_code < 500, f"{case.as_curl_command()}: {response.text[:500]}"
        check_conformance(case, response)

    answers_conform()
