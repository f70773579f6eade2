"""Raft membership of the managers: a joining manager enters as a learner and
is promoted once it has caught up; quorum rules guard demotion and removal."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from swarmkit_py.errors import FailedPrecondition, LeadershipMoved, NoLeader, SwarmError
from swarmkit_py.pki import MANAGERS_ONLY, CallContext, Method
from swarmkit_py.pki.rpc import Params
from swarmkit_py.raft import RaftError, RaftNode
from swarmkit_py.store import ClusterStore
from swarmkit_py.tasks import cancel_and_wait

from .proposer import error_to_wire

log = logging.getLogger(__name__)

JOIN = "Raft.Join"
LEAVE = "Raft.Leave"
#: A learner this close to the commit index is promoted to voter.
CATCH_UP_SLACK = 10


def new_raft_id(taken: set[int]) -> int:
    """A random, never-zero 63-bit ID not used before in this group."""
    while True:
        candidate = secrets.randbits(63)
        if candidate and candidate not in taken:
            return candidate


def quorum_after(voters: int, reachable: int, removing_reachable: bool) -> bool:
    """Would the managers still have a majority reachable after one leaves?"""
    remaining_voters = voters - 1
    remaining_reachable = reachable - (1 if removing_reachable else 0)
    return remaining_voters > 0 and remaining_reachable > remaining_voters // 2


class RaftMembers:
    def __init__(self, raft: RaftNode, store: ClusterStore, is_running: Callable[[], bool]):
        self._raft = raft
        self._store = store
        self._is_running = is_running
        self._task: asyncio.Task[None] | None = None

    def methods(self) -> dict[str, Method]:
        return {JOIN: Method(self._join, MANAGERS_ONLY), LEAVE: Method(self._leave, MANAGERS_ONLY)}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._promote_loop())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def voters_and_reachable(self) -> tuple[int, int, set[int]]:
        """(voters, reachable voters, IDs of reachable voters) as the leader sees them."""
        st = self._raft.status()
        voters = {m.node_id for m in st.members if not m.learner}
        # recent_active is refreshed every election timeout by check-quorum.
        active = {p.node_id for p in st.progress if p.recent_active} | {st.node_id}
        reachable = voters & active
        return len(voters), len(reachable), reachable

    async def _quorum_after_removal(self, raft_id: int) -> bool:
        """A new leader learns who is reachable within a heartbeat or two: give
        it up to an election timeout before saying no."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.5 * self._raft.config.election_timeout
        while True:
            voters, reachable, reachable_ids = self.voters_and_reachable()
            if quorum_after(voters, reachable, raft_id in reachable_ids):
                return True
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.05)

    async def _join(self, context: CallContext, params: Params) -> Params:
        """A manager that joined (or was promoted) asks to enter Raft."""
        if not self._raft.is_leader:
            return {"redirect": leader_address(self._raft) or ""}
        address = str(params.get("addr") or "")
        if not address:
            return {"error": "a raft address is required"}
        assert context.peer is not None
        st = self._raft.status()
        for m in st.members:
            if m.address == address:
                # Already a member (a retry, or a restart with the same address).
                return {"raft_id": m.node_id}
        taken = {m.node_id for m in st.members} | set(st.removed)
        raft_id = new_raft_id(taken)
        await self._raft.add_learner(raft_id, address)
        log.info(
            "manager %s joins raft as learner %x at %s", context.peer.node_id, raft_id, address
        )
        return {"raft_id": raft_id}

    async def _leave(self, context: CallContext, params: Params) -> Params:
        raft_id = int(params.get("raft_id") or 0)
        try:
            await self.remove(raft_id, force=bool(params.get("force")))
        except SwarmError as e:
            return error_to_wire(e)
        return {}

    async def remove(self, raft_id: int, force: bool = False) -> None:
        """Removes a manager from Raft, refusing to lose quorum unless forced."""
        if not self._raft.is_leader:
            raise NoLeader("only the leader can change raft membership; retry on the leader")
        st = self._raft.status()
        member = next((m for m in st.members if m.node_id == raft_id), None)
        if member is None:
            return
        if not member.learner:
            voters, _, _ = self.voters_and_reachable()
            if voters == 1:
                raise FailedPrecondition("attempting to demote the last manager of the swarm")
            if not force and not await self._quorum_after_removal(raft_id):
                raise FailedPrecondition(
                    "can't remove member from the raft: this would result in a loss of quorum"
                )
        if raft_id == st.node_id:
            # The leader leaves: hand over first, then ask the new leader.
            target = next(
                (p.node_id for p in st.progress if p.node_id != raft_id and p.recent_active), 0
            )
            if not target:
                raise FailedPrecondition("no other manager is reachable to take over leadership")
            await self._raft.transfer_leadership(target, timeout=10)
            raise LeadershipMoved()
        await self._raft.remove_member(raft_id)

    async def _promote_loop(self) -> None:
        while self._is_running():
            await asyncio.sleep(0.2)
            if not self._raft.is_leader:
                continue
            try:
                st = self._raft.status()
                matched = {p.node_id: p.matched for p in st.progress}
                for m in st.members:
                    if m.learner and matched.get(m.node_id, 0) + CATCH_UP_SLACK >= st.commit_index:
                        log.info("promoting caught-up learner %x to voter", m.node_id)
                        await self._raft.promote_learner(m.node_id)
            except RaftError as e:
                log.debug("promotion deferred: %s", e)


def manager_addresses(raft: RaftNode) -> list[str]:
    """Addresses of every manager in Raft (voters and learners)."""
    return [m.address for m in raft.members.values() if m.address]


def leader_address(raft: RaftNode) -> str | None:
    member = raft.members.get(raft.leader_id)
    return member.address if member and raft.leader_id else None


def reachability(raft: RaftNode, raft_id: int) -> dict[str, Any]:
    """ManagerStatus fields computed from Raft (not stored: they change all the time)."""
    members = raft.members
    if raft_id not in members:
        return {"leader": False, "reachability": "unknown", "addr": ""}
    leader = raft.leader_id == raft_id
    state = "reachable"
    if raft.is_leader and raft_id != raft.node_id:
        progress = {p.node_id: p for p in raft.status().progress}
        p = progress.get(raft_id)
        state = "reachable" if p is not None and p.recent_active else "unreachable"
    return {"leader": leader, "reachability": state, "addr": members[raft_id].address}
