"""What the Engine API server needs from the node daemon.

The HTTP layer (`server.py`) only translates: it parses requests, calls one of
these methods, and writes the answer. All bodies are dicts in the Engine API's
JSON shape (`tests/compat/docker-engine-api-v1.47.yaml`); errors are
`swarmkit_py.errors.SwarmError`s carrying their HTTP status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from ..logs import LogMessage, LogOptions

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

    # -- services --------------------------------------------------------------

    async def services_list(self, filters: dict[str, list[str]], status: bool) -> list[Json]:
        """`GET /services?filters=&status=` (filters: id, label, mode, name); with
        `status`, each service carries `ServiceStatus{RunningTasks, DesiredTasks,
        CompletedTasks}`."""

    async def service_inspect(self, ref: str, insert_defaults: bool) -> Json:
        """`GET /services/{id}?insertDefaults=`: by full ID, name, or unique ID
        prefix; `insert_defaults` fills unset fields with their defaults."""

    async def service_create(self, spec: Json) -> Json:
        """`POST /services/create` with a ServiceSpec; answers
        `{"ID": ..., "Warnings": [...] or None}`."""

    async def service_update(
        self, ref: str, version: int, spec: Json, *, rollback: bool, rebalance: bool
    ) -> Json:
        """`POST /services/{id}/update?version=` with the full ServiceSpec;
        `rollback` (`?rollback=previous`) swaps in the previous spec instead,
        `rebalance` (our `?rebalance=true`) also spreads the running tasks anew.
        Answers `{"Warnings": [...]}`."""

    async def service_remove(self, ref: str) -> None:
        """`DELETE /services/{id}`."""

    def service_logs(self, ref: str, options: LogOptions) -> AsyncIterator[LogMessage]:
        """`GET /services/{id}/logs`: the lines of the service's tasks, ending
        when they are all sent unless `options.follow`. Errors (no such
        service) are raised by the first `__anext__`."""

    # -- tasks -------------------------------------------------------------------

    async def tasks_list(self, filters: dict[str, list[str]]) -> list[Json]:
        """`GET /tasks?filters=` (id, name, service, node, label, desired-state,
        _up-to-date); `service` and `node` values are IDs, names or unique ID
        prefixes."""

    async def task_inspect(self, task_id: str) -> Json:
        """`GET /tasks/{id}`: by full ID or unique ID prefix."""

    def task_logs(self, task_id: str, options: LogOptions) -> AsyncIterator[LogMessage]:
        """`GET /tasks/{id}/logs`: as `service_logs`, for one task."""
