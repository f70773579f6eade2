"""Writes to the cluster store: proposed through Raft on the leader, forwarded
to the leader from a follower. A write returns once it is applied here too,
so the caller reads its own write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from swarmkit_py.errors import NoLeader, SwarmError, error_for_status
from swarmkit_py.pki import MANAGERS_ONLY, CallContext, Method
from swarmkit_py.pki.rpc import Params
from swarmkit_py.raft import NotLeaderError, ProposalDroppedError, RaftError, RaftNode
from swarmkit_py.store import StoreStateMachine, Txn, decode_txn, encode_txn

from .rpc_pool import RpcPool

log = logging.getLogger(__name__)

FORWARD = "Control.Propose"


def error_to_wire(err: SwarmError) -> Params:
    return {"error": {"status": err.http_status, "message": err.message}}


def error_from_wire(answer: Params) -> SwarmError | None:
    error = answer.get("error")
    if not isinstance(error, dict):
        return None
    return error_for_status(int(error.get("status", 500)), str(error.get("message", "")))


class Proposer:
    def __init__(
        self,
        raft: RaftNode,
        state_machine: StoreStateMachine,
        leader_address: Callable[[], str | None],
        pool: RpcPool,
    ) -> None:
        self._raft = raft
        self._sm = state_machine
        self._leader_address = leader_address
        self._pool = pool

    async def propose(self, txn: Txn) -> int:
        """Applies `txn` cluster-wide; raises the store's error if it failed."""
        data = encode_txn(txn)
        if self._raft.is_leader:
            try:
                return await self._propose_here(data)
            except NotLeaderError:
                pass  # lost leadership meanwhile: forward
        return await self._forward(data)

    async def _propose_here(self, data: bytes) -> int:
        # A leader cut off from its quorum cannot commit, and may never learn
        # of a successor: give up after a while rather than hang.
        timeout = max(5.0, 10 * self._raft.config.election_timeout)
        try:
            index = await asyncio.wait_for(self._raft.propose(data), timeout)
        except TimeoutError:
            raise NoLeader(
                "The swarm does not have a leader that could commit this change in "
                f"{timeout:.0f}s. It's possible that too few managers are online. Make sure "
                "more than half of the managers are online."
            ) from None
        except ProposalDroppedError as e:
            raise SwarmError(f"the write was lost to a leader change; retry it ({e})") from None
        error = self._sm.result(index)
        if error is not None:
            raise error
        return index

    async def _forward(self, data: bytes) -> int:
        address = self._leader_address()
        if address is None:
            raise NoLeader()
        try:
            answer = await self._pool.call(address, FORWARD, {"txn": data})
        except (OSError, ConnectionError, TimeoutError) as e:
            raise NoLeader(
                f"The swarm does not have a leader it can reach ({e}). It's possible that too "
                "few managers are online. Make sure more than half of the managers are online."
            ) from None
        error = error_from_wire(answer)
        if error is not None:
            raise error
        index = int(answer["index"])
        await self._raft.wait_applied(index, timeout=10)
        return index

    def methods(self) -> dict[str, Method]:
        """The leader's side of forwarding, for the manager's RPC server."""

        async def forwarded(_: CallContext, params: Params) -> Params:
            raw = params.get("txn")
            if not isinstance(raw, bytes):
                return error_to_wire(SwarmError("malformed forwarded write"))
            try:
                decode_txn(raw)  # refuse garbage before it reaches the log
                if not self._raft.is_leader:
                    raise NoLeader()
                index = await self._propose_here(raw)
            except NotLeaderError:
                return error_to_wire(NoLeader())
            except SwarmError as e:
                return error_to_wire(e)
            except RaftError as e:
                return error_to_wire(SwarmError(str(e)))
            result: dict[str, Any] = {"index": index}
            return result

        return {FORWARD: Method(forwarded, MANAGERS_ONLY)}
