"""The task reaper: deletes tasks that are done with.

- tasks wanted `remove` (scale-down, service removal) once they have stopped,
  or were never assigned, or their node is down or gone;
- tasks of services that no longer exist, likewise (others are told to stop);
- the history of each slot beyond the cluster's `TaskHistoryRetentionLimit`
  (oldest first), counting only tasks that have stopped for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swarmkit_py.model import Node

from . import slots as s
from .plan import Plan

Json = dict[str, Any]


def _node_gone_or_down(task: Json, nodes: Mapping[str, Node]) -> bool:
    node_id = str(task.get("NodeID") or "")
    if not node_id:
        return True
    node = nodes.get(node_id)
    return node is None or node.status.state == "down"


def _done(task: Json, nodes: Mapping[str, Node]) -> bool:
    """Nothing runs it any more (as far as anyone can know)."""
    return s.has_stopped(task) or _node_gone_or_down(task, nodes)


def reap(
    service: Json | None,
    tasks: list[Json],
    nodes: Mapping[str, Node],
    history_limit: int,
    plan: Plan,
) -> None:
    """Adds deletions (and, for orphans, stop orders) for one service's tasks to `plan`."""
    if service is None:
        for task in tasks:
            if _done(task, nodes):
                plan.deletes.append(str(task["ID"]))
            else:
                plan.set_desired(task, "remove")
        return
    deleted: set[str] = set()
    for task in tasks:
        if s.desired(task) == "remove" and _done(task, nodes):
            deleted.add(str(task["ID"]))
    for slot_tasks in s.by_slot(tasks).values():
        old = [
            t
            for t in slot_tasks
            if str(t["ID"]) not in deleted
            and not s.occupies(t)
            and s.desired(t) != "remove"
            and _done(t, nodes)
        ]
        if 0 <= history_limit < len(old):
            deleted.update(str(t["ID"]) for t in old[: len(old) - history_limit])
    plan.deletes.extend(sorted(deleted))
