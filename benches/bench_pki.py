"""PKI benchmarks: certificates issued per second, and mutual-TLS connections per second.

Run: PYTHONPATH=python python -m pytest benches/bench_pki.py --benchmark-only -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pytest_benchmark.fixture import BenchmarkFixture

from swarmkit_py.pki import (
    ANY_NODE,
    CallContext,
    ManagerServer,
    Method,
    NodeCredentials,
    NodeRole,
    RootCA,
    RpcClient,
    SwarmCA,
    client_context,
    create_csr,
    generate_id,
    generate_node_key,
    join,
    load_csr,
)
from swarmkit_py.pki.rpc import Params
from swarmkit_py.pki.tls import MANAGER_SERVER_NAME


def test_certificate_issuance(benchmark: BenchmarkFixture, record: Callable[..., None]) -> None:
    """What a manager does per CSR: parse and check it, sign a node certificate, encode it."""
    root = RootCA.create()
    csr_pem = create_csr(generate_node_key())
    node_id, cluster_id = generate_id(), generate_id()

    def issue() -> bytes:
        certificate = root.sign_node_certificate(
            load_csr(csr_pem), node_id=node_id, role=NodeRole.WORKER, cluster_id=cluster_id
        )
        return certificate.public_bytes(Encoding.PEM)

    assert b"BEGIN CERTIFICATE" in benchmark(issue)
    record(suite="pki", what="certificates issued", per_s=1 / benchmark.stats.stats.median)


async def _echo(context: CallContext, params: Params) -> Params:
    return {"ok": True}


@dataclass
class ServerThread:
    address: tuple[str, int]
    ca: SwarmCA


@pytest.fixture(scope="module")
def manager_in_thread() -> Iterator[ServerThread]:
    """A manager serving on loopback from its own thread and event loop."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def serve() -> None:
        ca = SwarmCA.init_cluster()
        server = ManagerServer(
            ca, await ca.issue_local(), {"bench.Echo": Method(_echo, allowed_roles=ANY_NODE)}
        )
        await server.start()
        holder["server"], holder["ca"] = server, ca
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(30)
    ready.wait(30)
    server = holder["server"]
    assert isinstance(server, ManagerServer)
    yield ServerThread(server.address, server.ca)
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_mtls_handshakes(
    benchmark: BenchmarkFixture, manager_in_thread: ServerThread, record: Callable[..., None]
) -> None:
    """A worker opening a mutual-TLS connection, making one authorized call, and closing it."""
    loop = asyncio.new_event_loop()
    try:
        token = str(manager_in_thread.ca.join_tokens.worker)
        credentials: NodeCredentials = loop.run_until_complete(
            join(manager_in_thread.address, token)
        )
        context = client_context(credentials.root_bundle_pem, credentials)

        async def connect_and_call() -> Params:
            client = await RpcClient.connect(
                manager_in_thread.address, context, MANAGER_SERVER_NAME
            )
            try:
                return await client.call("bench.Echo")
            finally:
                await client.close()

        result = benchmark(lambda: loop.run_until_complete(connect_and_call()))
        assert result == {"ok": True}
        record(
            suite="pki",
            what="mTLS connections (handshake + one call + close)",
            per_s=1 / benchmark.stats.stats.median,
        )
    finally:
        loop.close()
