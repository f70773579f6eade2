"""The swarm's CA logic, free of I/O: who may join, what certificate each node gets, rotations.

:mod:`swarmkit_py.pki.ca_server` puts this on the network; the cluster code will later call the
administrative methods (promote, remove, rotate) from the control API.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from cryptography import x509

from .authz import authorize_peer
from .ca import DEFAULT_NODE_CERT_VALIDITY, Clock, RootCA, check_node_cert_validity, utc_now
from .ca_state import CAStore, InMemoryCAStore, NodeRecord, RootCAState, RootRotation
from .certs import (
    NodeIdentity,
    NodeKey,
    NodeRole,
    certificates_to_pem,
    create_csr,
    generate_node_key,
    load_certificates,
    load_csr,
    public_key_fingerprint,
)
from .errors import JoinTokenRejectedError, PermissionDeniedError, RootRotationError
from .external_ca import ExternalCA, check_issued_certificate
from .ids import generate_id, is_valid_id
from .keystore import NodeCredentials
from .tokens import JoinTokens, generate_unlock_key, parse_join_token, tokens_equal

INVALID_TOKEN_MESSAGE = "A valid join token is necessary to join this cluster"
DEFAULT_ROTATION_BATCH_SIZE = 10


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the CA issued, with the roots the node should trust from now on."""

    node_id: str
    role: NodeRole
    chain_pem: bytes
    trust_bundle_pem: bytes


@dataclass(frozen=True)
class CertificateStatus:
    """Whether a node should renew now, and why."""

    renew: bool
    reason: str
    desired_role: NodeRole
    trust_bundle_pem: bytes


class SwarmCA:
    """Issues and renews node certificates under the cluster's policy."""

    def __init__(
        self,
        store: CAStore,
        *,
        external_ca: ExternalCA | None = None,
        node_cert_validity: timedelta = DEFAULT_NODE_CERT_VALIDITY,
        clock: Clock = utc_now,
        check_signing_key: bool = True,
    ) -> None:
        """``check_signing_key=False`` is for a manager whose replicated CA state has
        not arrived yet (a joining manager): it cannot sign until it has."""
        self.store = store
        self.external_ca = external_ca
        self.node_cert_validity = check_node_cert_validity(node_cert_validity)
        self.clock = clock
        if not check_signing_key:
            return
        if external_ca is None and not store.root_state().signing_root.can_sign:
            raise RootRotationError(
                "the root CA has no private key: give its key, or an external CA to sign"
            )

    @classmethod
    def init_cluster(
        cls,
        *,
        root: RootCA | None = None,
        external_ca: ExternalCA | None = None,
        cluster_id: str | None = None,
        node_cert_validity: timedelta = DEFAULT_NODE_CERT_VALIDITY,
        autolock: bool = False,
        clock: Clock = utc_now,
    ) -> SwarmCA:
        """``swarm init``: a new cluster ID, root CA (ours unless given), tokens, in memory."""
        root = root or RootCA.create(now=clock())
        state = RootCAState(root=root)
        store = InMemoryCAStore(
            cluster_id=cluster_id or generate_id(),
            root=state,
            tokens=JoinTokens.generate(state.root_bundle_pem),
            autolock_key=generate_unlock_key() if autolock else None,
        )
        return cls(
            store, external_ca=external_ca, node_cert_validity=node_cert_validity, clock=clock
        )

    @property
    def cluster_id(self) -> str:
        return self.store.cluster_id

    @property
    def root_bundle_pem(self) -> bytes:
        """What joining nodes fetch and join tokens digest."""
        return self.store.root_state().root_bundle_pem

    @property
    def trust_bundle_pem(self) -> bytes:
        """The roots every node should trust now."""
        return self.store.root_state().trust_bundle_pem

    @property
    def join_tokens(self) -> JoinTokens:
        return self.store.join_tokens()

    def authorize(
        self, certificate: x509.Certificate | None, allowed_roles: frozenset[NodeRole]
    ) -> NodeIdentity:
        """Authorize a TLS peer for a call (see :func:`authz.authorize_peer`)."""
        return authorize_peer(
            certificate,
            allowed_roles,
            cluster_id=self.cluster_id,
            is_removed=self.store.is_removed,
            now=self.clock(),
        )

    def role_for_token(self, token: str) -> NodeRole:
        """The role a join token grants; raise if it is malformed or not this cluster's."""
        parse_join_token(token)
        tokens = self.store.join_tokens()
        # Compare with both, always, so timing does not tell which one was close.
        is_manager = tokens_equal(token, tokens.manager)
        is_worker = tokens_equal(token, tokens.worker)
        if is_manager:
            return NodeRole.MANAGER
        if is_worker:
            return NodeRole.WORKER
        raise JoinTokenRejectedError(INVALID_TOKEN_MESSAGE)

    async def issue_for_join(
        self, token: str, csr_pem: bytes, *, recover_node_id: str | None = None
    ) -> IssuedCertificate:
        """Check the token and CSR, then create the node and sign its first certificate.

        With ``recover_node_id`` a node whose certificate expired gets a new one under its old ID,
        provided the CSR is signed by the key of its last certificate.
        Nothing is stored unless the certificate is issued.
        """
        role = self.role_for_token(token)
        csr = load_csr(csr_pem)
        if recover_node_id is not None:
            node_id, role = self._recoverable_node(recover_node_id, csr)
        else:
            node_id = generate_id()
            while self.store.get_node(node_id) or self.store.is_removed(node_id):
                node_id = generate_id()  # pragma: no cover - 128 random bits
        chain = await self._sign(csr, csr_pem, node_id, role)
        return await self._record(node_id, role, chain)

    def _recoverable_node(
        self, node_id: str, csr: x509.CertificateSigningRequest
    ) -> tuple[str, NodeRole]:
        if not is_valid_id(node_id) or self.store.is_removed(node_id):
            raise PermissionDeniedError(
                f"node {node_id} cannot be recovered: it was removed from the swarm; "
                "join as a new node instead"
            )
        record = self.store.get_node(node_id)
        if record is None:
            raise PermissionDeniedError(f"node {node_id} is not part of this swarm")
        if record.public_key_fingerprint != public_key_fingerprint(csr.public_key()):
            raise PermissionDeniedError(
                f"node {node_id} cannot be recovered: the CSR is not signed with the node's key"
            )
        return node_id, record.desired_role

    async def renew(self, identity: NodeIdentity, csr_pem: bytes) -> IssuedCertificate:
        """A new certificate for an authenticated node, with the role the cluster wants for it."""
        record = self.store.get_node(identity.node_id)
        if record is None:
            raise PermissionDeniedError(f"node {identity.node_id} is not part of this swarm")
        csr = load_csr(csr_pem)
        chain = await self._sign(csr, csr_pem, identity.node_id, record.desired_role)
        return await self._record(identity.node_id, record.desired_role, chain)

    async def certificate_status(
        self, identity: NodeIdentity, presented: x509.Certificate | None = None
    ) -> CertificateStatus:
        """Should this node renew now (role change, or its turn in a root rotation)?

        ``presented`` is the certificate the node connected with; it tells a root rotation that
        the node now uses a certificate of the new root.
        """
        record = self.store.get_node(identity.node_id)
        if record is None:
            raise PermissionDeniedError(f"node {identity.node_id} is not part of this swarm")
        if presented is not None:
            record = await self.note_presented_certificate(record.node_id, presented)
        reason = ""
        if record.desired_role != identity.role:
            reason = f"role changed to {record.desired_role}"
        elif identity.node_id in self.rotation_batch() and not self._has_new_root_certificate(
            record
        ):
            reason = "root CA rotation"
        return CertificateStatus(
            renew=bool(reason),
            reason=reason,
            desired_role=record.desired_role,
            trust_bundle_pem=self.trust_bundle_pem,
        )

    async def issue_local(
        self,
        key: NodeKey | None = None,
        *,
        node_id: str | None = None,
        role: NodeRole = NodeRole.MANAGER,
    ) -> NodeCredentials:
        """Credentials for a node in this process (the manager at ``swarm init``, or renewing)."""
        key = key or generate_node_key()
        node_id = node_id or generate_id()
        record = self.store.get_node(node_id)
        if record is not None:
            role = record.desired_role
        csr_pem = create_csr(key, node_id=node_id, role=role, cluster_id=self.cluster_id)
        chain = await self._sign(load_csr(csr_pem), csr_pem, node_id, role)
        issued = await self._record(node_id, role, chain, in_use=True)
        await self.advance_root_rotation()
        return NodeCredentials(key, issued.chain_pem, issued.trust_bundle_pem)

    async def set_role(self, node_id: str, role: NodeRole) -> None:
        """Promote or demote: the node's next certificate carries ``role``."""
        record = self._require_node(node_id)
        await self.store.put_node(replace(record, desired_role=role))

    async def remove_node(self, node_id: str) -> None:
        """Remove a node; its certificate is refused from now on."""
        await self.store.remove_node(node_id)

    async def rotate_join_token(self, role: str) -> JoinTokens:
        """Replace the ``worker`` or ``manager`` token; joined nodes are unaffected."""
        tokens = self.store.join_tokens().rotated(role, self.root_bundle_pem)
        await self.store.set_join_tokens(tokens)
        return tokens

    async def start_root_rotation(
        self, new_root: RootCA | None = None, *, batch_size: int = DEFAULT_ROTATION_BATCH_SIZE
    ) -> None:
        """``swarm ca --rotate``: sign with a new root, cross-signed by the current one."""
        state = self.store.root_state()
        if state.rotation is not None:
            raise RootRotationError("a root CA rotation is already in progress")
        if self.external_ca is not None or not state.root.can_sign:
            raise RootRotationError(
                "root rotation needs the current root's key to cross-sign the new root; "
                "this swarm signs through an external CA"
            )
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        new_root = new_root or RootCA.create(now=self.clock())
        if not new_root.can_sign:
            raise RootRotationError("the new root CA needs its private key")
        rotation = RootRotation(
            old_root=state.root,
            new_root=new_root,
            cross_signed=state.root.cross_sign(new_root, now=self.clock()),
            batch_size=batch_size,
        )
        await self.store.set_root_state(RootCAState(root=state.root, rotation=rotation))

    def _has_new_root_certificate(self, record: NodeRecord) -> bool:
        rotation = self.store.root_state().rotation
        if rotation is None:
            return False
        return record.issuer_fingerprint == rotation.new_root.key_fingerprint

    def nodes_pending_rotation(self) -> list[str]:
        """Nodes not yet connecting with a certificate of the new root (sorted)."""
        rotation = self.store.root_state().rotation
        if rotation is None:
            return []
        target = rotation.new_root.key_fingerprint
        return sorted(
            record.node_id
            for record in self.store.list_nodes()
            if record.presented_issuer_fingerprint != target
        )

    def rotation_batch(self) -> set[str]:
        """The nodes being rotated now: the first ``batch_size`` pending ones. A node keeps its
        place in the batch until it has connected with its new certificate."""
        rotation = self.store.root_state().rotation
        if rotation is None:
            return set()
        return set(self.nodes_pending_rotation()[: rotation.batch_size])

    async def advance_root_rotation(self) -> bool:
        """Finish the rotation once every node has connected with a certificate of the new root
        (so none still needs the old root to be trusted); True when no rotation is running.

        Finishing drops the old root from the trust bundle and makes new join tokens.
        """
        state = self.store.root_state()
        if state.rotation is None:
            return True
        if self.nodes_pending_rotation():
            return False
        new_state = RootCAState(root=state.rotation.new_root)
        await self.store.set_root_state(new_state)
        await self.store.set_join_tokens(JoinTokens.generate(new_state.root_bundle_pem))
        return True

    async def note_presented_certificate(
        self, node_id: str, presented: x509.Certificate
    ) -> NodeRecord:
        """Remember which root's certificate a node connected with (any mTLS session may report
        it), and end a root rotation once every node uses the new root."""
        record = self._require_node(node_id)
        state = self.store.root_state()
        roots = [state.root, *([state.rotation.new_root] if state.rotation else [])]
        issuer = next((root.key_fingerprint for root in roots if root.issued(presented)), None)
        if issuer is None or issuer == record.presented_issuer_fingerprint:
            return record
        record = replace(record, presented_issuer_fingerprint=issuer)
        await self.store.put_node(record)
        await self.advance_root_rotation()
        return record

    def _require_node(self, node_id: str) -> NodeRecord:
        record = self.store.get_node(node_id)
        if record is None:
            raise PermissionDeniedError(f"node {node_id} is not part of this swarm")
        return record

    async def _sign(
        self,
        csr: x509.CertificateSigningRequest,
        csr_pem: bytes,
        node_id: str,
        role: NodeRole,
    ) -> list[x509.Certificate]:
        state = self.store.root_state()
        if self.external_ca is not None:
            chain = await self.external_ca.sign(
                csr_pem, node_id=node_id, role=role, cluster_id=self.cluster_id
            )
            check_issued_certificate(
                chain,
                csr=csr,
                node_id=node_id,
                role=role,
                cluster_id=self.cluster_id,
                roots=load_certificates(state.trust_bundle_pem),
            )
            return chain
        leaf = state.signing_root.sign_node_certificate(
            csr,
            node_id=node_id,
            role=role,
            cluster_id=self.cluster_id,
            validity=self.node_cert_validity,
            now=self.clock(),
        )
        intermediates = [state.rotation.cross_signed] if state.rotation else []
        return [leaf, *intermediates]

    async def _record(
        self, node_id: str, role: NodeRole, chain: list[x509.Certificate], *, in_use: bool = False
    ) -> IssuedCertificate:
        state = self.store.root_state()
        issuer = state.signing_root.key_fingerprint
        previous = self.store.get_node(node_id)
        presented = previous.presented_issuer_fingerprint if previous else None
        await self.store.put_node(
            NodeRecord(
                node_id=node_id,
                desired_role=role,
                public_key_fingerprint=public_key_fingerprint(chain[0]),
                issuer_fingerprint=issuer,
                certificate_expiry=chain[0].not_valid_after_utc,
                presented_issuer_fingerprint=issuer if in_use else presented,
            )
        )
        return IssuedCertificate(
            node_id=node_id,
            role=role,
            chain_pem=certificates_to_pem(chain),
            trust_bundle_pem=state.trust_bundle_pem,
        )
