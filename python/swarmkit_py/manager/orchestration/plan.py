"""What one orchestration pass wants written: new tasks, forward moves of
desired states, deleted tasks and service updates, and when to look again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarmkit_py.model.task import state_rank
from swarmkit_py.store import Txn

Json = dict[str, Any]

#: Operations per store transaction: keeps Raft entries well under the proposal limit.
OPS_PER_TXN = 200


class TxnBatches:
    """Operations gathered into transactions of at most OPS_PER_TXN each."""

    def __init__(self) -> None:
        self.done: list[Txn] = []
        self.current = Txn()

    def add(self) -> Txn:
        """The transaction to add the next operation to."""
        if len(self.current.ops) >= OPS_PER_TXN:
            self.done.append(self.current)
            self.current = Txn()
        return self.current

    def txns(self) -> list[Txn]:
        return self.done + ([self.current] if self.current.ops else [])


@dataclass
class Plan:
    creates: list[Json] = field(default_factory=list)
    #: task ID -> desired state (only moves forward)
    desired: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    #: (the service with its changes, the version it was read at)
    services: list[tuple[Json, int]] = field(default_factory=list)
    #: Unix ns of the earliest moment a timer (restart delay, update delay or
    #: monitor) wants another pass; 0 = none.
    wake_ns: int = 0

    def set_desired(self, task: Json, state: str) -> None:
        task_id = str(task["ID"])
        current = self.desired.get(task_id, str(task.get("DesiredState") or "running"))
        if state_rank(state) > state_rank(current):
            self.desired[task_id] = state

    def wake(self, at_ns: int) -> None:
        if at_ns > 0 and (self.wake_ns == 0 or at_ns < self.wake_ns):
            self.wake_ns = at_ns

    def __bool__(self) -> bool:
        return bool(self.creates or self.desired or self.deletes or self.services)

    def task_txns(self) -> list[Txn]:
        """Task writes in transactions of at most OPS_PER_TXN operations. None of
        them can conflict: creates have new IDs, patches only move forward."""
        batches = TxnBatches()
        for task in self.creates:
            batches.add().create("tasks", task)
        for task_id, state in self.desired.items():
            batches.add().patch_task(task_id, desired=state)
        for task_id in self.deletes:
            batches.add().delete("tasks", task_id)
        return batches.txns()
