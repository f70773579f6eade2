"""APIClient against the real server: every endpoint, typed errors, hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmkit_py.api.client import APIClient, ClientError, DaemonUnreachable
from swarmkit_py.api.server import serve
from swarmkit_py.errors import (
    AlreadyInSwarm,
    InvalidArgument,
    NotFound,
    NotInSwarm,
    OutOfSequence,
)

from .conftest import Running
from .fake_backend import FakeBackend


async def test_a_node_lifecycle_through_the_client(running: Running) -> None:
    # FailedPrecondition travels as HTTP 400, so the client sees InvalidArgument.
    async with APIClient.from_host(running.host) as api:
        ping = await api.ping()
        assert ping == {
            "ApiVersion": "1.47",
            "Swarm": "inactive",
            "OSType": "linux",
            "Experimental": False,
        }
        assert (await api.version())["Version"]
        with pytest.raises(NotInSwarm):
            await api.swarm_inspect()

        node_id = await api.swarm_init(ListenAddr="0.0.0.0:2377", AdvertiseAddr="10.0.0.1")
        assert node_id == running.backend.node_id
        with pytest.raises(AlreadyInSwarm):
            await api.swarm_init()
        assert (await api.ping())["Swarm"] == "active/manager"
        assert (await api.info())["Swarm"]["NodeID"] == node_id

        swarm = await api.swarm_inspect()
        await api.swarm_update(swarm["Version"]["Index"], swarm["Spec"], rotate_manager_token=True)
        rotated = await api.swarm_inspect()
        assert rotated["JoinTokens"]["Manager"] != swarm["JoinTokens"]["Manager"]
        with pytest.raises(OutOfSequence):
            await api.swarm_update(swarm["Version"]["Index"], swarm["Spec"])

        running.backend.add_node("worker-1")
        workers = await api.nodes_list({"role": ["worker"]})
        assert [n["Description"]["Hostname"] for n in workers] == ["worker-1"]
        worker = await api.node_inspect("worker-1")
        spec = {**worker["Spec"], "Labels": {"zone": "a/b c"}}
        await api.node_update("worker-1", worker["Version"]["Index"], spec)
        assert (await api.node_inspect(worker["ID"]))["Spec"]["Labels"] == {"zone": "a/b c"}
        with pytest.raises(InvalidArgument, match="invalid Availability"):
            await api.node_update("worker-1", 1, {**spec, "Availability": "gone"})

        with pytest.raises(InvalidArgument, match="not down"):
            await api.node_remove("worker-1")
        await api.node_remove("worker-1", force=True)
        with pytest.raises(NotFound, match="node worker-1 not found"):
            await api.node_inspect("worker-1")
        with pytest.raises(NotFound):
            await api.node_inspect("a/../../swarm")
        assert await api.tasks_list({"node": [node_id]}) == []

        with pytest.raises(InvalidArgument, match="--force"):
            await api.swarm_leave()
        await api.swarm_leave(force=True)
        assert (await api.ping())["Swarm"] == "inactive"


async def test_joining_as_a_worker(running: Running) -> None:
    async with APIClient.from_host(running.host) as api:
        with pytest.raises(InvalidArgument, match="invalid join token"):
            await api.swarm_join(JoinToken="nope", RemoteAddrs=["10.0.0.1:2377"])
        await api.swarm_join(JoinToken="SWMTKN-1-abc-worker", RemoteAddrs=["10.0.0.1:2377"])
        assert (await api.ping())["Swarm"] == "active/worker"
        info = await api.info()
        assert info["Swarm"]["ControlAvailable"] is False


async def test_an_absent_daemon_is_reported_like_docker(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/missing.sock"
    async with APIClient.from_host(host) as api:
        with pytest.raises(DaemonUnreachable) as caught:
            await api.ping()
    assert str(caught.value).startswith(
        f"Cannot connect to the swarmkit daemon at {host}. Is swarmd running?"
    )


async def test_the_server_also_answers_on_tcp(tmp_path: Path) -> None:
    server = await serve(FakeBackend(), None, tcp=("127.0.0.1", 0))
    try:
        assert server.tcp_address is not None
        _, port = server.tcp_address
        async with APIClient.from_host(f"tcp://127.0.0.1:{port}") as api:
            assert (await api.ping())["Swarm"] == "inactive"
    finally:
        await server.close()


async def test_host_comes_from_the_flag_then_swarmkit_host_then_docker_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SWARMKIT_HOST", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with pytest.raises(ClientError, match="pass -H"):
        APIClient.from_host(None)
    monkeypatch.setenv("DOCKER_HOST", "tcp://docker.example:2375")
    monkeypatch.setenv("SWARMKIT_HOST", "unix:///run/swarmd.sock")
    for given, expected in [
        (None, "unix:///run/swarmd.sock"),
        ("tcp://10.0.0.1", "tcp://10.0.0.1"),
    ]:
        client = APIClient.from_host(given)
        assert client.host == expected
        await client.close()
    monkeypatch.delenv("SWARMKIT_HOST")
    client = APIClient.from_host(None)
    assert client.host == "tcp://docker.example:2375"
    await client.close()
    for bad in ("ssh://host", "unix://", "tcp://:99", "tcp://host:port"):
        with pytest.raises(ClientError, match="invalid host"):
            APIClient.from_host(bad)
