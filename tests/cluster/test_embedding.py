"""A swarm node embedded in a Python program: the daemon in-process, its API
served on a unix socket, used through APIClient."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmkit_py.api.client import APIClient
from swarmkit_py.api.server import serve
from swarmkit_py.daemon.daemon import Daemon, DaemonConfig
from swarmkit_py.errors import AlreadyInSwarm, InvalidArgument, NotFound, NotInSwarm
from swarmkit_py.model import Node, NodeSpec
from swarmkit_py.raft.local_cluster import free_ports
from swarmkit_py.store import Txn


async def test_an_embedded_node_inits_a_swarm_and_answers_the_engine_api(
    tmp_path: Path,
) -> None:
    daemon = Daemon(DaemonConfig(data_dir=tmp_path / "node", hostname="embedded",
                                 tick_interval=0.02))  # fmt: skip
    await daemon.start()
    server = await serve(daemon, str(tmp_path / "api.sock"))
    try:
        async with APIClient.from_host(f"unix://{tmp_path / 'api.sock'}") as api:
            with pytest.raises(NotInSwarm):
                await api.nodes_list({})
            (port,) = free_ports(1)
            addr = f"127.0.0.1:{port}"
            node_id = await api.swarm_init(ListenAddr=addr, AdvertiseAddr=addr)
            with pytest.raises(AlreadyInSwarm):
                await api.swarm_init(ListenAddr=addr, AdvertiseAddr=addr)
            nodes = await api.nodes_list({})
            assert [n["ID"] for n in nodes] == [node_id]
            assert nodes[0]["Description"]["Hostname"] == "embedded"
            assert nodes[0]["ManagerStatus"]["Leader"] is True

            # Two nodes whose IDs share a prefix: the prefix is ambiguous.
            manager = daemon.manager
            assert manager is not None
            txn = Txn()
            for suffix in ("a", "b"):
                fake = Node(id="zzzzprefix" + suffix * 15, spec=NodeSpec(role="worker"))
                txn.create("nodes", fake)
            await manager.propose(txn)
            with pytest.raises(InvalidArgument, match="zzzzprefix"):
                await api.node_inspect("zzzzprefix")
            with pytest.raises(NotFound):
                await api.node_inspect("nosuchnode")
            node = await api.node_inspect("zzzzprefixa")
            assert node["ID"] == "zzzzprefix" + "a" * 15
            with pytest.raises(InvalidArgument, match="Role"):
                spec = dict(node["Spec"], Role="captain")
                await api.node_update(node["ID"], node["Version"]["Index"], spec)
            assert (await api.node_inspect(node["ID"]))["Spec"]["Role"] == "worker"
    finally:
        await server.close()
        await daemon.stop()


async def test_cert_expiry_from_swarm_init_and_update_governs_issued_certificates(
    tmp_path: Path,
) -> None:
    daemon = Daemon(DaemonConfig(data_dir=tmp_path / "node", tick_interval=0.02))
    await daemon.start()
    try:
        (port,) = free_ports(1)
        addr = f"127.0.0.1:{port}"
        hour = 3600 * 10**9
        await daemon.swarm_init(
            {
                "ListenAddr": addr,
                "AdvertiseAddr": addr,
                "Spec": {"CAConfig": {"NodeCertExpiry": 3 * hour}},
            }
        )
        assert daemon.credentials is not None
        cert = daemon.credentials.certificate
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert abs(life.total_seconds() - (3 + 1) * 3600) < 120  # 3 h + 1 h backdating
        manager = daemon.manager
        assert manager is not None
        assert manager.ca.node_cert_validity.total_seconds() == 3 * 3600
        swarm = await daemon.swarm_inspect()
        spec = swarm["Spec"]
        spec["CAConfig"]["NodeCertExpiry"] = 5 * hour
        await daemon.swarm_update(swarm["Version"]["Index"], spec, False, False, False)
        assert manager.ca.node_cert_validity.total_seconds() == 5 * 3600
    finally:
        await daemon.stop()


async def test_an_external_ca_is_refused_clearly_rather_than_ignored(tmp_path: Path) -> None:
    daemon = Daemon(DaemonConfig(data_dir=tmp_path / "node", tick_interval=0.02))
    await daemon.start()
    try:
        (port,) = free_ports(1)
        addr = f"127.0.0.1:{port}"
        spec = {"CAConfig": {"ExternalCAs": [{"Protocol": "cfssl", "URL": "https://127.0.0.1:1"}]}}
        with pytest.raises(InvalidArgument, match="external CAs"):
            await daemon.swarm_init({"ListenAddr": addr, "AdvertiseAddr": addr, "Spec": spec})
        assert daemon.swarm_header() == "inactive"
        assert not (tmp_path / "node" / "state.json").exists()
    finally:
        await daemon.stop()
