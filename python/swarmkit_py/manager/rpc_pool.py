"""Mutual-TLS RPC connections from this manager to other managers, reused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from swarmkit_py.pki import NodeCredentials, PKIError, RpcClient
from swarmkit_py.pki.ca_client import connect
from swarmkit_py.pki.rpc import Params


class RpcPool:
    def __init__(self, credentials: Callable[[], NodeCredentials]) -> None:
        self._credentials = credentials
        self._clients: dict[str, RpcClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def call(
        self, address: str, method: str, params: Params, timeout: float = 10.0
    ) -> Params:
        """One call; a broken connection is dropped and the call tried once more."""
        lock = self._locks.setdefault(address, asyncio.Lock())
        async with lock:
            for attempt in (1, 2):
                client = self._clients.get(address)
                try:
                    if client is None:
                        host, _, port = address.rpartition(":")
                        client = await asyncio.wait_for(
                            connect((host, int(port)), self._credentials()), timeout
                        )
                        self._clients[address] = client
                    return await asyncio.wait_for(client.call(method, params), timeout)
                except (OSError, ConnectionError, TimeoutError, PKIError):
                    stale = self._clients.pop(address, None)
                    if stale is not None:
                        await stale.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
