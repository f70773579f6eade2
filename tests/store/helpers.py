"""Small builders for store tests."""

from __future__ import annotations

from typing import Any

from swarmkit_py.model import Cluster, Node, NodeDescription, NodeSpec
from swarmkit_py.pki import generate_id
from swarmkit_py.store import ClusterStore, Txn

T0 = "2024-01-02T03:04:05.000000001Z"
T1 = "2024-01-02T03:04:06.000000002Z"


def node(
    node_id: str | None = None, hostname: str = "", role: str = "worker", **labels: str
) -> Node:
    return Node(
        id=node_id or generate_id(),
        spec=NodeSpec(labels=dict(labels), role=role),  # type: ignore[arg-type]
        description=NodeDescription(hostname=hostname),
    )


def service(name: str, service_id: str | None = None) -> dict[str, Any]:
    return {"ID": service_id or generate_id(), "Spec": {"Name": name, "Labels": {}}}


def task(service_id: str, node_id: str = "", task_id: str | None = None) -> dict[str, Any]:
    return {"ID": task_id or generate_id(), "ServiceID": service_id, "NodeID": node_id}


def cluster() -> Cluster:
    return Cluster(id=generate_id())


class Applier:
    """A store plus the next Raft index to apply at."""

    def __init__(self) -> None:
        self.store = ClusterStore()
        self.index = 0

    def apply(self, txn: Txn) -> int:
        self.index += 1
        self.store.apply(self.index, txn)
        return self.index


def txn(time: str = T0) -> Txn:
    return Txn(time=time)
