"""What the Engine API server needs from the node daemon.

The HTTP layer (`server.py`) only translates: it parses requests, calls one of
these methods, and writes the answer. All bodies are dicts in the Engine API's
JSON shape (`../shared/reference/docker-engine-api-v1.47.yaml`); errors are
`swarmkit_py.errors.SwarmError`s carrying their HTTP status.
"""

from __future__ import annotations

from typing import Any, Protocol

Json = dict[str, Any]


class SwarmBackend(Protocol):
    # -- the node itself ---------------------------------------------------

    def swarm_header(self) -> str:
        """The `Swarm` header of `/_ping`: inactive, pending, error, locked,
        active/worker or active/manager."""

    async def version(self) -> Json:
        """`GET /version` (Version, ApiVersion, MinAPIVersion, Os, Arch, ...)."""

    async def info(self) -> Json:
        """`GET /info`, with its `Swarm` section (NodeID, NodeAddr,
        LocalNodeState, ControlAvailable, Error, RemoteManagers, Nodes,
        Managers, Cluster) and our own `SwarmkitPlugins`-style extras."""

    # -- swarm ---------------------------------------------------------------

    async def swarm_inspect(self) -> Json:
        """`GET /swarm`: the cluster object with `JoinTokens`."""

    async def swarm_init(self, request: Json) -> str:
        """`POST /swarm/init` (ListenAddr, AdvertiseAddr, ForceNewCluster, Spec,
        Availability, ...); returns the new node ID."""

    async def swarm_join(self, request: Json) -> None:
        """`POST /swarm/join` (ListenAddr, AdvertiseAddr, RemoteAddrs, JoinToken,
        Availability)."""

    async def swarm_leave(self, force: bool) -> None:
        """`POST /swarm/leave?force=`."""

    async def swarm_update(
        self,
        version: int,
        spec: Json,
        rotate_worker_token: bool,
        rotate_manager_token: bool,
        rotate_manager_unlock_key: bool,
    ) -> None:
        """`POST /swarm/update?version=&rotateWorkerToken=&rotateManagerToken=`."""

    async def swarm_ca_rotate(self) -> None:
        """Root CA rotation (`swarmctl swarm ca --rotate`; Docker does this
        through `swarm update` with `Spec.CAConfig.ForceRotate` incremented)."""

    # -- nodes ---------------------------------------------------------------

    async def nodes_list(self, filters: dict[str, list[str]]) -> list[Json]:
        """`GET /nodes?filters=` (id, label, membership, name, node.label, role)."""

    async def node_inspect(self, node_ref: str) -> Json:
        """`GET /nodes/{id}`: by full ID, name, or unique ID prefix."""

    async def node_update(self, node_ref: str, version: int, spec: Json) -> None:
        """`POST /nodes/{id}/update?version=` with the full NodeSpec."""

    async def node_remove(self, node_ref: str, force: bool) -> None:
        """`DELETE /nodes/{id}?force=`."""

    async def node_tasks(self, node_ref: str) -> list[Json]:
        """Tasks assigned to the node (`node ps`); empty until services exist."""
