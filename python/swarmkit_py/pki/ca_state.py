"""The cluster state the CA reads and writes, behind a small interface.

Later the cluster code backs :class:`CAStore` with Raft (reads from the applied store, writes as
proposals, hence ``async``). :class:`InMemoryCAStore` is the single-process implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography import x509

from .ca import RootCA
from .certs import NodeRole, certificates_to_pem
from .tokens import JoinTokens


@dataclass(frozen=True)
class NodeRecord:
    """What the CA remembers of a node."""

    node_id: str
    #: The role the cluster wants the node to have; the OU of its next certificate.
    desired_role: NodeRole
    #: SHA-256 of the public key of the node's current certificate.
    public_key_fingerprint: str
    #: Fingerprint of the root key that signed the node's current certificate.
    issuer_fingerprint: str
    certificate_expiry: datetime
    #: Fingerprint of the root key behind the certificate the node last *connected* with. A root
    #: rotation ends only when every node has connected with a certificate from the new root.
    presented_issuer_fingerprint: str | None = None


@dataclass(frozen=True)
class RootRotation:
    """A root CA rotation in progress: ``new_root`` signs, ``old_root`` is still trusted."""

    old_root: RootCA
    new_root: RootCA
    #: ``new_root``'s key certified by ``old_root``; sent with every certificate it signs.
    cross_signed: x509.Certificate
    batch_size: int


@dataclass(frozen=True)
class RootCAState:
    """The cluster's CA material (Docker keeps it in the cluster object)."""

    #: The root that defines the cluster: served to joining nodes, hashed into join tokens.
    root: RootCA
    rotation: RootRotation | None = None

    @property
    def signing_root(self) -> RootCA:
        """The root that signs new node certificates."""
        return self.rotation.new_root if self.rotation else self.root

    @property
    def root_bundle_pem(self) -> bytes:
        """What ``GetRootCACertificate`` serves and join tokens digest."""
        return self.root.cert_pem

    @property
    def trust_bundle_pem(self) -> bytes:
        """The roots nodes trust: the old and new root during a rotation."""
        if self.rotation is None:
            return self.root.cert_pem
        return self.rotation.old_root.cert_pem + self.rotation.new_root.cert_pem

    @property
    def intermediates_pem(self) -> bytes:
        """Certificates appended after a node certificate (the cross-signed root, if rotating)."""
        return certificates_to_pem([self.rotation.cross_signed]) if self.rotation else b""


class CAStore(Protocol):
    """Cluster state used by the CA. Reads are synchronous; writes may go through consensus."""

    @property
    def cluster_id(self) -> str: ...

    def root_state(self) -> RootCAState: ...

    async def set_root_state(self, state: RootCAState) -> None: ...

    def join_tokens(self) -> JoinTokens: ...

    async def set_join_tokens(self, tokens: JoinTokens) -> None: ...

    def unlock_key(self) -> str | None: ...

    def get_node(self, node_id: str) -> NodeRecord | None: ...

    def list_nodes(self) -> list[NodeRecord]: ...

    async def put_node(self, record: NodeRecord) -> None: ...

    async def remove_node(self, node_id: str) -> None:
        """Forget the node and put its ID on the removed list for good."""
        ...

    def is_removed(self, node_id: str) -> bool: ...


@dataclass
class InMemoryCAStore:
    """A :class:`CAStore` held in memory (one process, no replication)."""

    cluster_id: str
    root: RootCAState
    tokens: JoinTokens
    autolock_key: str | None = None
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)

    def root_state(self) -> RootCAState:
        return self.root

    async def set_root_state(self, state: RootCAState) -> None:
        self.root = state

    def join_tokens(self) -> JoinTokens:
        return self.tokens

    async def set_join_tokens(self, tokens: JoinTokens) -> None:
        self.tokens = tokens

    def unlock_key(self) -> str | None:
        return self.autolock_key

    def get_node(self, node_id: str) -> NodeRecord | None:
        return self.nodes.get(node_id)

    def list_nodes(self) -> list[NodeRecord]:
        return list(self.nodes.values())

    async def put_node(self, record: NodeRecord) -> None:
        if record.node_id in self.removed:
            raise ValueError(f"node {record.node_id} was removed and cannot come back")
        self.nodes[record.node_id] = record

    async def remove_node(self, node_id: str) -> None:
        self.nodes.pop(node_id, None)
        self.removed.add(node_id)

    def is_removed(self, node_id: str) -> bool:
        return node_id in self.removed
