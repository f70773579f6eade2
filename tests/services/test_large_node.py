"""A node with more tasks than fit one RPC frame gets them in pages."""

from __future__ import annotations

import asyncio
from pathlib import Path

from swarmkit_py.daemon.daemon import Daemon, DaemonConfig
from swarmkit_py.manager.logbroker import _take
from swarmkit_py.raft.local_cluster import free_ports


async def test_one_node_runs_1500_replicas(tmp_path: Path) -> None:
    daemon = Daemon(DaemonConfig(data_dir=tmp_path / "n", hostname="big", tick_interval=0.02,
                                 runtime="simulated"))  # fmt: skip
    await daemon.start()
    try:
        (port,) = free_ports(1)
        addr = f"127.0.0.1:{port}"
        await daemon.swarm_init({"ListenAddr": addr, "AdvertiseAddr": addr})
        env = [f"VAR{i}=" + "x" * 100 for i in range(4)]  # about a kilobyte per task
        await daemon.service_create(
            {"Name": "many", "Mode": {"Replicated": {"Replicas": 1500}},
             "TaskTemplate": {"ContainerSpec": {"Image": "x", "Command": ["true"], "Env": env}}}
        )  # fmt: skip
        running = 0
        for _ in range(300):
            (service,) = await daemon.services_list({}, status=True)
            running = service["ServiceStatus"]["RunningTasks"]
            if running == 1500:
                break
            await asyncio.sleep(0.2)
        assert running == 1500
    finally:
        await daemon.stop()


def test_log_reads_are_bounded_in_bytes() -> None:
    messages = [[i, "stdout", b"x" * 16384, "", "", "t"] for i in range(100)]
    first = _take(messages, 512 * 1024)
    assert 0 < len(first) < 100 and sum(len(m[2]) for m in first) <= 512 * 1024
    assert len(first) + len(messages) == 100 and messages[0][0] == len(first)
    # One message larger than the budget still goes, alone.
    huge = [[0, "stdout", b"y" * 600_000, "", "", "t"], [1, "stdout", b"z", "", "", "t"]]
    assert [m[0] for m in _take(huge, 512 * 1024)] == [0]
