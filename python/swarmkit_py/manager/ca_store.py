"""The PKI's state (root CA, join tokens, node certificate records, removed
nodes) kept in the replicated cluster store, so every manager's CA agrees.

Reads come from the local store (applied from Raft); writes are proposals
(`put_meta`, `mark_removed`) through the manager, hence `async`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from swarmkit_py.pki import JoinToken, JoinTokens, NodeRecord, NodeRole, RootCA, RootCAState
from swarmkit_py.pki.ca_state import RootRotation
from swarmkit_py.pki.tokens import parse_join_token

ROOT_KEY = "ca.root"
TOKENS_KEY = "ca.tokens"
UNLOCK_KEY = "ca.unlock_key"
NODE_PREFIX = "ca.node."

#: Reads one meta value (None if absent).
MetaReader = Callable[[str], Any]
#: Writes meta values (None deletes) and optionally marks a node removed, in one proposal.
MetaWriter = Callable[[dict[str, Any], str | None], Awaitable[None]]


def _root_to_meta(root: RootCA) -> dict[str, Any]:
    return {"cert": root.cert_pem, "key": root.key_pem() if root.can_sign else None}


def _root_from_meta(d: dict[str, Any]) -> RootCA:
    return RootCA.from_pem(d["cert"], d.get("key"))


def root_state_to_meta(state: RootCAState) -> dict[str, Any]:
    out: dict[str, Any] = {"root": _root_to_meta(state.root), "rotation": None}
    if state.rotation is not None:
        r = state.rotation
        out["rotation"] = {
            "old": _root_to_meta(r.old_root),
            "new": _root_to_meta(r.new_root),
            "cross_signed": r.cross_signed.public_bytes(Encoding.PEM),
            "batch_size": r.batch_size,
        }
    return out


def root_state_from_meta(d: dict[str, Any]) -> RootCAState:
    rotation = None
    if d.get("rotation"):
        r = d["rotation"]
        rotation = RootRotation(
            old_root=_root_from_meta(r["old"]),
            new_root=_root_from_meta(r["new"]),
            cross_signed=x509.load_pem_x509_certificate(r["cross_signed"]),
            batch_size=int(r["batch_size"]),
        )
    return RootCAState(root=_root_from_meta(d["root"]), rotation=rotation)


def tokens_to_meta(tokens: JoinTokens) -> dict[str, str]:
    return {"worker": str(tokens.worker), "manager": str(tokens.manager)}


def tokens_from_meta(d: dict[str, str]) -> JoinTokens:
    worker: JoinToken = parse_join_token(d["worker"])
    manager: JoinToken = parse_join_token(d["manager"])
    return JoinTokens(worker=worker, manager=manager)


def record_to_meta(r: NodeRecord) -> dict[str, Any]:
    return {
        "node_id": r.node_id,
        "desired_role": str(r.desired_role),
        "public_key_fingerprint": r.public_key_fingerprint,
        "issuer_fingerprint": r.issuer_fingerprint,
        "certificate_expiry": r.certificate_expiry.isoformat(),
        "presented_issuer_fingerprint": r.presented_issuer_fingerprint,
    }


def _record_from_meta(d: dict[str, Any]) -> NodeRecord:
    return NodeRecord(
        node_id=d["node_id"],
        desired_role=NodeRole(d["desired_role"]),
        public_key_fingerprint=d["public_key_fingerprint"],
        issuer_fingerprint=d["issuer_fingerprint"],
        certificate_expiry=datetime.fromisoformat(d["certificate_expiry"]),
        presented_issuer_fingerprint=d.get("presented_issuer_fingerprint"),
    )


class ReplicatedCAStore:
    """A `swarmkit_py.pki.CAStore` over the cluster store's meta table."""

    def __init__(
        self,
        cluster_id: Callable[[], str],
        read: MetaReader,
        write: MetaWriter,
        is_removed: Callable[[str], bool],
        list_meta: Callable[[str], list[Any]],
        fallback_root_pem: bytes,
    ) -> None:
        """`cluster_id` may answer "" until the cluster object exists; the
        fallback root (this node's trusted root, without its key) stands in for
        the CA material until it has been replicated here."""
        self._fallback_root = fallback_root_pem
        self._cluster_id = cluster_id
        self._read = read
        self._write = write
        self._is_removed = is_removed
        self._list = list_meta

    @property
    def cluster_id(self) -> str:
        return self._cluster_id()

    @property
    def ready(self) -> bool:
        """True once the CA material has been written (after `swarm init`)."""
        return self._read(ROOT_KEY) is not None

    def root_state(self) -> RootCAState:
        value = self._read(ROOT_KEY)
        if value is None:
            return RootCAState(root=RootCA(x509.load_pem_x509_certificate(self._fallback_root)))
        return root_state_from_meta(value)

    async def set_root_state(self, state: RootCAState) -> None:
        await self._write({ROOT_KEY: root_state_to_meta(state)}, None)

    def join_tokens(self) -> JoinTokens:
        return tokens_from_meta(self._read(TOKENS_KEY))

    async def set_join_tokens(self, tokens: JoinTokens) -> None:
        await self._write({TOKENS_KEY: tokens_to_meta(tokens)}, None)

    def unlock_key(self) -> str | None:
        value = self._read(UNLOCK_KEY)
        return str(value) if value else None

    def get_node(self, node_id: str) -> NodeRecord | None:
        d = self._read(NODE_PREFIX + node_id)
        return _record_from_meta(d) if d else None

    def list_nodes(self) -> list[NodeRecord]:
        return [_record_from_meta(d) for d in self._list(NODE_PREFIX)]

    async def put_node(self, record: NodeRecord) -> None:
        if self._is_removed(record.node_id):
            raise ValueError(f"node {record.node_id} was removed and cannot come back")
        await self._write({NODE_PREFIX + record.node_id: record_to_meta(record)}, None)

    async def remove_node(self, node_id: str) -> None:
        await self._write({NODE_PREFIX + node_id: None}, node_id)

    def is_removed(self, node_id: str) -> bool:
        return self._is_removed(node_id)


def initial_ca_meta(
    state: RootCAState, tokens: JoinTokens, unlock_key: str | None
) -> dict[str, Any]:
    """The meta values `swarm init` writes."""
    return {
        ROOT_KEY: root_state_to_meta(state),
        TOKENS_KEY: tokens_to_meta(tokens),
        UNLOCK_KEY: unlock_key,
    }
