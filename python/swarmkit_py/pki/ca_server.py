"""The CA calls on a manager's listen address, over :mod:`swarmkit_py.pki.rpc`.

- ``ca.GetRootCACertificate`` and ``ca.IssueNodeCertificate``: no client certificate (a joining
  node has none yet).
- ``ca.RenewNodeCertificate`` and ``ca.NodeCertificateStatus``: any node, over mutual TLS.
- ``ca.GetUnlockKey``: managers only.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from .authz import ANY_NODE, MANAGERS_ONLY
from .ca_service import SwarmCA
from .errors import RpcProtocolError
from .keystore import NodeCredentials
from .rpc import CallContext, Method, Params, RawStreamHandler, RpcServer
from .tls import server_context

GET_ROOT_CA = "ca.GetRootCACertificate"
ISSUE_NODE_CERTIFICATE = "ca.IssueNodeCertificate"
RENEW_NODE_CERTIFICATE = "ca.RenewNodeCertificate"
NODE_CERTIFICATE_STATUS = "ca.NodeCertificateStatus"
GET_UNLOCK_KEY = "ca.GetUnlockKey"


def _param(params: Params, name: str, kind: type, *, optional: bool = False) -> Any:
    value = params.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        raise RpcProtocolError(f"parameter {name!r} must be {kind.__name__}")
    return value


def ca_methods(ca: SwarmCA) -> dict[str, Method]:
    """The CA's methods, to serve alone or merged with other services on one listener."""

    async def get_root(_: CallContext, __: Params) -> Params:
        return {"certificate": ca.root_bundle_pem}

    async def issue(_: CallContext, params: Params) -> Params:
        issued = await ca.issue_for_join(
            _param(params, "token", str),
            _param(params, "csr", bytes),
            recover_node_id=_param(params, "recover_node_id", str, optional=True),
        )
        return {
            "node_id": issued.node_id,
            "role": str(issued.role),
            "certificate_chain": issued.chain_pem,
            "trust_bundle": issued.trust_bundle_pem,
        }

    async def renew(context: CallContext, params: Params) -> Params:
        assert context.peer is not None
        issued = await ca.renew(context.peer, _param(params, "csr", bytes))
        return {
            "node_id": issued.node_id,
            "role": str(issued.role),
            "certificate_chain": issued.chain_pem,
            "trust_bundle": issued.trust_bundle_pem,
        }

    async def status(context: CallContext, _: Params) -> Params:
        assert context.peer is not None
        answer = await ca.certificate_status(context.peer, context.peer_certificate)
        return {
            "renew": answer.renew,
            "reason": answer.reason,
            "desired_role": str(answer.desired_role),
            "trust_bundle": answer.trust_bundle_pem,
        }

    async def unlock_key(_: CallContext, __: Params) -> Params:
        return {"unlock_key": ca.store.unlock_key()}

    return {
        GET_ROOT_CA: Method(get_root, allowed_roles=None),
        ISSUE_NODE_CERTIFICATE: Method(issue, allowed_roles=None),
        RENEW_NODE_CERTIFICATE: Method(renew, allowed_roles=ANY_NODE),
        NODE_CERTIFICATE_STATUS: Method(status, allowed_roles=ANY_NODE),
        GET_UNLOCK_KEY: Method(unlock_key, allowed_roles=MANAGERS_ONLY),
    }


class ManagerServer:
    """A manager's TLS listener serving the CA methods (and any ``extra_methods``).

    New connections use the manager's current certificate and the CA's current trust bundle;
    connections already open keep going when either changes.
    """

    def __init__(
        self,
        ca: SwarmCA,
        credentials: NodeCredentials,
        extra_methods: Mapping[str, Method] | None = None,
        raw_stream: RawStreamHandler | None = None,
    ) -> None:
        self.ca = ca
        self._credentials = credentials
        self._context: ssl.SSLContext | None = None
        self._context_key: tuple[bytes, bytes] | None = None
        methods = ca_methods(ca)
        methods.update(extra_methods or {})
        self.rpc = RpcServer(methods, self._current_context, ca.authorize, raw_stream)

    @property
    def credentials(self) -> NodeCredentials:
        """The manager's own credentials."""
        return self._credentials

    @property
    def address(self) -> tuple[str, int]:
        return self.rpc.address

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await self.rpc.start(host, port)

    async def close(self) -> None:
        await self.rpc.close()

    def set_credentials(self, credentials: NodeCredentials) -> None:
        """Use new credentials for the next connections."""
        self._credentials = credentials

    async def renew_own_certificate(self) -> NodeCredentials:
        """Renew this manager's certificate directly with the CA (new key)."""
        self._credentials = await self.ca.issue_local(node_id=self._credentials.identity.node_id)
        return self._credentials

    def _current_context(self) -> ssl.SSLContext:
        key = (self._credentials.chain_pem, self.ca.trust_bundle_pem)
        if self._context is None or key != self._context_key:
            trusted = NodeCredentials(
                self._credentials.key, self._credentials.chain_pem, self.ca.trust_bundle_pem
            )
            self._context = server_context(trusted)
            self._context_key = key
        return self._context
