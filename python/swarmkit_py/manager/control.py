"""The control layer: validates requests, checks versions, writes through the
proposer. What the Engine API's swarm and node endpoints do on a manager."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from swarmkit_py.errors import FailedPrecondition, InvalidArgument, NotFound, OutOfSequence
from swarmkit_py.model import (
    CAConfig,
    JoinTokens,
    ManagerStatus,
    Node,
    TLSInfo,
    parse_node_spec,
    parse_swarm_spec,
)
from swarmkit_py.pki import NodeRole, PKIError, RootCA
from swarmkit_py.store import Txn

from .members import reachability

if TYPE_CHECKING:
    from .manager import Manager

Json = dict[str, Any]


class Control:
    def __init__(self, manager: Manager) -> None:
        self.m = manager

    # -- reads -------------------------------------------------------------

    def node_api(self, node: Node) -> Json:
        out = node.copy()
        if node.raft_id:
            out.manager_status = ManagerStatus(**reachability(self.m.raft, node.raft_id))
        elif node.spec.role == "manager":
            out.manager_status = ManagerStatus(reachability="unknown")
        return out.to_api()

    def cluster_api(self, with_tokens: bool) -> Json:
        """The cluster object, with the CA's live state (trust root, rotation)."""
        cluster = self.m.store.cluster()
        if cluster is None:
            raise NotFound("the swarm's cluster object is not available yet; retry shortly")
        shown = cluster.copy()
        state = self.m.ca_store.root_state()
        signer = state.signing_root.cert
        shown.tls_info = TLSInfo(
            trust_root=state.root.cert_pem.decode(),
            cert_issuer_subject=base64.b64encode(signer.subject.public_bytes()).decode(),
            cert_issuer_public_key=base64.b64encode(
                signer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            ).decode(),
        )
        shown.root_rotation_in_progress = state.rotation is not None
        if not with_tokens:
            return shown.to_api()
        tokens = self.m.ca_store.join_tokens()
        return shown.to_api(JoinTokens(worker=str(tokens.worker), manager=str(tokens.manager)))

    def swarm_inspect(self) -> Json:
        return self.cluster_api(with_tokens=True)

    def nodes_list(self, filters: dict[str, list[str]]) -> list[Json]:
        return [self.node_api(n) for n in self.m.store.find_nodes(filters)]

    def node_inspect(self, ref: str) -> Json:
        return self.node_api(self.m.store.resolve_node(ref))

    # -- writes ------------------------------------------------------------

    async def swarm_update(
        self, version: int, spec: Json, rotate_worker: bool, rotate_manager: bool
    ) -> None:
        cluster = self.m.store.cluster()
        if cluster is None:
            raise NotFound("the swarm's cluster object is not available yet")
        if version != cluster.version.index:
            raise OutOfSequence()
        updated = cluster.copy()
        updated.spec = parse_swarm_spec(spec, cluster.spec)
        ca_config = updated.spec.ca_config
        if ca_config.external_cas and ca_config.external_cas != cluster.spec.ca_config.external_cas:
            # As `swarm init` does: refuse, never store what would be ignored.
            raise InvalidArgument(
                "external CAs (--external-ca) are not supported by swarmd yet; keep the "
                "swarm's own root CA"
            )
        if updated.spec.encryption_config.auto_lock_managers:
            raise InvalidArgument(
                "autolock (--autolock) is not supported by swarmd: manager keys are not "
                "encrypted at rest"
            )
        # `swarm ca --rotate --ca-cert --ca-key` names the new root instead of
        # bumping ForceRotate (as Docker's CLI does).
        own_root = _new_users_root(ca_config, self.m.ca_store.root_state().signing_root)
        forced = ca_config.force_rotate > cluster.spec.ca_config.force_rotate
        rotate_ca = own_root is not None or forced
        if forced and own_root is None:
            # A generated root: the spec must not name an earlier one (a later
            # update would rotate back to it).
            ca_config.signing_ca_cert = ca_config.signing_ca_key = ""
        await self.m.propose(Txn().update("clusters", updated, version))
        if rotate_ca and self.m.ca_store.root_state().rotation is None:
            # `swarm ca --rotate`: a new root, cross-signed by the old one; nodes
            # renew in batches as their status checks tell them to.
            await self.m.ca.start_root_rotation(own_root)
        if rotate_worker:
            await self.m.ca.rotate_join_token("worker")
        if rotate_manager:
            await self.m.ca.rotate_join_token("manager")

    async def node_update(self, ref: str, version: int, spec: Json) -> None:
        """Docker's full-spec update. It is refused ("update out of sequence")
        only if the spec changed since the caller read `version`; status and
        load written meanwhile by the dispatcher do not count."""
        new_spec = parse_node_spec(spec)
        for attempt in range(5):
            node = self.m.store.resolve_node(ref)
            if version < node.spec_index or version > node.version.index:
                raise OutOfSequence()
            if new_spec.role != node.spec.role and attempt == 0:
                await self._check_role_change(node, new_spec.role)
            updated = node.copy()
            updated.spec = new_spec
            if new_spec.role == "worker":
                updated.raft_id = 0
            try:
                await self.m.propose(Txn().update("nodes", updated, node.version.index))
            except OutOfSequence:
                continue  # a status write landed in between: read again
            break
        else:
            raise OutOfSequence()
        if new_spec.role != node.spec.role:
            # The node's next certificate carries the new role (OU).
            role = NodeRole.MANAGER if new_spec.role == "manager" else NodeRole.WORKER
            await self.m.ca.set_role(node.id, role)

    async def _check_role_change(self, node: Node, role: str) -> None:
        if role == "worker":
            managers = [n for n in self.m.store.list_nodes() if n.spec.role == "manager"]
            if len(managers) <= 1:
                raise FailedPrecondition("attempting to demote the last manager of the swarm")
            if node.raft_id:
                # Leaves Raft first (refused if it would lose quorum).
                await self.m.remove_raft_member(node.raft_id)

    async def node_remove(self, ref: str, force: bool) -> None:
        node = self.m.store.resolve_node(ref)
        if node.spec.role == "manager" or node.raft_id:
            raise FailedPrecondition(
                f"rpc error: code = FailedPrecondition desc = node {node.id} is a cluster "
                "manager and is a member of the raft cluster. It must be demoted to worker "
                "before removal"
            )
        if node.status.state == "ready" and not force:
            raise FailedPrecondition(
                f"rpc error: code = FailedPrecondition desc = node {node.id} is not down and "
                "can't be removed"
            )
        await self.m.propose(Txn().delete("nodes", node.id).mark_removed(node.id))
        await self.m.ca.remove_node(node.id)


def _new_users_root(ca_config: CAConfig, current: RootCA) -> RootCA | None:
    """The root a user brings (`SigningCACert` with its `SigningCAKey`), if it
    is not the one signing now; checked. The spec Docker shows keeps the
    certificate but not the key, so a spec sent back unchanged names the
    current root and changes nothing."""
    if not ca_config.signing_ca_cert:
        return None
    key = ca_config.signing_ca_key.encode() or None
    try:
        root = RootCA.from_pem(ca_config.signing_ca_cert.encode(), key)
    except PKIError as e:
        raise InvalidArgument(f"invalid root CA: {e}") from None
    if root.cert.public_bytes(Encoding.DER) == current.cert.public_bytes(Encoding.DER):
        return None
    if not root.can_sign:
        raise InvalidArgument(
            "a new root CA needs its private key (--ca-key): swarmd signs node certificates "
            "itself and does not support external CAs"
        )
    return root
