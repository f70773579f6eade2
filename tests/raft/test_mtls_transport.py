"""The Raft transport on mutual TLS with certificates from swarmkit_py.pki:
the consensus core is unchanged, only the transport's SSL contexts differ."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from swarmkit_py.pki import (
    MANAGERS_ONLY,
    NodeCredentials,
    NodeRole,
    SwarmCA,
    authorize_peer,
    client_context,
    server_context,
)
from swarmkit_py.raft import RaftConfig, RaftNode
from swarmkit_py.raft.frames import KIND_RAFT, encode
from swarmkit_py.raft.local_cluster import free_ports

from .conftest import Items


def peer_check(ca: SwarmCA) -> Callable[[ssl.SSLObject | None], object]:
    """Raft calls need a manager certificate of this cluster, not removed."""

    def check(ssl_object: ssl.SSLObject | None) -> object:
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        cert = x509.load_der_x509_certificate(der) if der else None
        return authorize_peer(
            cert,
            MANAGERS_ONLY,
            cluster_id=ca.cluster_id,
            is_removed=lambda node_id: False,
            now=datetime.now(UTC),
        )

    return check


def tls_node(
    tmp_path: Path, node_id: int, peers: dict[int, str], creds: NodeCredentials, ca: SwarmCA
) -> RaftNode:
    config = RaftConfig(
        node_id=node_id,
        listen_addr=peers[node_id],
        data_dir=tmp_path / f"n{node_id}",
        peers=peers,
        tick_interval=0.02,
        wal_segment_bytes=4 << 20,
    )
    return RaftNode(
        config,
        Items(),
        server_ssl=server_context(creds),
        client_ssl=client_context(creds.root_bundle_pem, creds),
        tls_server_name=str(NodeRole.MANAGER),
        authorize_peer=peer_check(ca),
    )


async def test_raft_group_over_mutual_tls_refuses_workers_and_plain_tcp(
    tmp_path: Path,
) -> None:
    ca = SwarmCA.init_cluster()
    ports = free_ports(3)
    peers = {i + 1: f"127.0.0.1:{p}" for i, p in enumerate(ports)}
    creds = [await ca.issue_local(role=NodeRole.MANAGER) for _ in peers]
    nodes = [tls_node(tmp_path, i, peers, creds[i - 1], ca) for i in peers]
    for n in nodes:
        await n.start()
    try:
        await nodes[0].wait_for_leader(10)
        leader = next(n for n in nodes if n.is_leader)
        for i in range(50):
            await leader.propose(f"over tls {i}".encode())
        index = await leader.propose(b"last")
        for n in nodes:
            await n.wait_applied(index, timeout=10)

        host, port = peers[leader.node_id].rsplit(":", 1)
        # A worker certificate completes TLS but is refused for Raft.
        worker = await ca.issue_local(role=NodeRole.WORKER)
        ctx = client_context(worker.root_bundle_pem, worker)
        reader, writer = await asyncio.open_connection(
            host, int(port), ssl=ctx, server_hostname=str(NodeRole.MANAGER)
        )
        writer.write(encode(KIND_RAFT, b"\x08\x03"))
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        # Plain TCP does not get past the handshake.
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(encode(KIND_RAFT, b"\x08\x03"))
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        # The group is unaffected.
        assert await leader.propose(b"still fine") > index
    finally:
        for n in nodes:
            await n.stop()
