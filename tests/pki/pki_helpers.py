"""Helpers shared by the PKI tests: a real manager on loopback TLS, the openssl CLI."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from swarmkit_py.pki import (
    ANY_NODE,
    MANAGERS_ONLY,
    CallContext,
    ManagerServer,
    Method,
    NodeCredentials,
    NodeRole,
    SwarmCA,
    join,
)
from swarmkit_py.pki.rpc import Params

ECHO = "test.Echo"
RAFT_CALL = "raft.ProcessRaftMessage"


async def _echo(context: CallContext, params: Params) -> Params:
    assert context.peer is not None
    return {"node_id": context.peer.node_id, "role": str(context.peer.role), "echo": params}


async def _raft(context: CallContext, params: Params) -> Params:
    assert context.peer is not None
    return {"accepted": True, "from": context.peer.node_id}


TEST_METHODS = {
    ECHO: Method(_echo, allowed_roles=ANY_NODE),
    RAFT_CALL: Method(_raft, allowed_roles=MANAGERS_ONLY),
}


@dataclass
class Cluster:
    """A one-manager cluster serving the CA (and two test calls) on loopback."""

    ca: SwarmCA
    server: ManagerServer

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    async def join(self, role: NodeRole = NodeRole.WORKER) -> NodeCredentials:
        tokens = self.ca.join_tokens
        token = tokens.manager if role is NodeRole.MANAGER else tokens.worker
        return await join(self.address, str(token))


async def start_cluster(ca: SwarmCA, credentials: NodeCredentials | None = None) -> Cluster:
    """Serve ``ca`` on loopback with a manager certificate (issued now unless given)."""
    credentials = credentials or await ca.issue_local()
    server = ManagerServer(ca, credentials, extra_methods=TEST_METHODS)
    await server.start("127.0.0.1", 0)
    return Cluster(ca, server)


def openssl(*args: str | Path, input_data: bytes | None = None) -> str:
    """Run the openssl CLI; return stdout+stderr; fail the test if it exits non-zero."""
    result = subprocess.run(
        ["openssl", *map(str, args)], input=input_data, capture_output=True, timeout=30
    )
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, f"openssl {args} failed: {output}"
    return output


def pem(cert: x509.Certificate) -> bytes:
    """PEM of one certificate."""
    return cert.public_bytes(Encoding.PEM)
