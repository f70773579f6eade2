"""The storage interface in a live daemon: a storage plugin's state sink sees
the applied state (nodes, services, tasks) with leadership, running task
counts and heartbeats, and `wipe`, `check` and bad options are honoured."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from swarmkit_py.daemon.daemon import Daemon, DaemonConfig
from swarmkit_py.plugins import Plugins, hookimpl
from swarmkit_py.plugins.builtins import FileStorage
from swarmkit_py.raft.local_cluster import free_ports
from swarmkit_py.storage import (
    NodeLive,
    StateChange,
    StorageConfigError,
    StorageUnavailable,
)


class RecordingSink:
    """Keeps the latest state it was given, as a SQL mirror would."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.live: dict[str, NodeLive] = {}
        self.index = 0
        self.resets = 0
        self.closed = False

    def reset(self, index: int, objects: list[StateChange], live: dict[str, NodeLive]) -> None:
        self.resets += 1
        self.objects = {}
        self.live = {}
        self.apply(index, objects, live)

    def apply(self, index: int, changes: list[StateChange], live: dict[str, NodeLive]) -> None:
        assert index >= self.index, "the applied index went backwards"
        self.index = index
        for c in changes:
            if c.obj is None:
                self.objects.pop((c.kind, c.id), None)
            else:
                self.objects[(c.kind, c.id)] = c.obj
        for node_id, values in live.items():
            before = self.live.get(node_id)
            if values.last_heartbeat is None and before is not None:
                values = values._replace(last_heartbeat=before.last_heartbeat)
            self.live[node_id] = values

    def close(self) -> None:
        self.closed = True

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {i: o for (k, i), o in self.objects.items() if k == kind}


class SinkStorage(FileStorage):
    """The file log plus a recording sink."""

    def __init__(self, sink: RecordingSink, fail_check: bool = False) -> None:
        object.__setattr__(self, "name", "recording")
        object.__setattr__(self, "sink", sink)
        object.__setattr__(self, "fail_check", fail_check)
        object.__setattr__(self, "wiped", [])

    def check(self) -> None:
        if self.fail_check:  # type: ignore[attr-defined]
            raise StorageUnavailable("cannot reach the recording backend")

    def state_sink(self, node_id: str) -> RecordingSink:  # type: ignore[override]
        return self.sink  # type: ignore[attr-defined, no-any-return]

    def wipe(self, raft_dir: Path, node_id: str) -> None:
        self.wiped.append(node_id)  # type: ignore[attr-defined]
        super().wipe(raft_dir, node_id)


def plugins_with(storage: SinkStorage) -> Plugins:
    plugin = types.ModuleType("recording_storage")

    def register_storages(register: Any) -> None:
        def factory(options: Mapping[str, str]) -> SinkStorage:
            if options:
                raise StorageConfigError(f"unknown options {sorted(options)}")
            return storage

        register("recording", factory)

    plugin.register_storages = hookimpl(register_storages)  # type: ignore[attr-defined]
    return Plugins(load_entry_points=False, extra=[plugin])


async def wait_for(check: Any, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    assert check()


async def test_the_sink_follows_the_applied_state(tmp_path: Path) -> None:
    sink = RecordingSink()
    storage = SinkStorage(sink)
    daemon = Daemon(
        DaemonConfig(data_dir=tmp_path / "n", hostname="n1", tick_interval=0.02,
                     runtime="simulated", storage="recording", plugins=plugins_with(storage))
    )  # fmt: skip
    await daemon.start()
    try:
        (port,) = free_ports(1)
        addr = f"127.0.0.1:{port}"
        node_id = await daemon.swarm_init({"ListenAddr": addr, "AdvertiseAddr": addr})
        created = await daemon.service_create(
            {"Name": "fed", "Mode": {"Replicated": {"Replicas": 3}},
             "TaskTemplate": {"ContainerSpec": {"Image": "x", "Command": ["true"]}}}
        )  # fmt: skip
        service_id = created["ID"]

        def running() -> int:
            return sum(1 for t in sink.of("task").values() if t["Status"]["State"] == "running")

        await wait_for(lambda: running() == 3 and sink.live[node_id].running_tasks == 3)
        assert sink.resets == 1
        assert set(sink.of("node")) == {node_id}
        assert sink.of("node")[node_id]["Description"]["Hostname"] == "n1"
        assert sink.of("service")[service_id]["Spec"]["Name"] == "fed"
        live = sink.live[node_id]
        assert live.leader and live.reachability == "reachable"
        await wait_for(lambda: sink.live[node_id].last_heartbeat is not None)

        # Scaling down deletes nothing at once but stops tasks: the counts follow.
        await daemon.service_update(
            service_id,
            created_version(sink, service_id),
            scaled(1),
            rollback=False,
            rebalance=False,
        )
        await wait_for(lambda: running() == 1 and sink.live[node_id].running_tasks == 1)

        await daemon.service_remove(service_id)
        await wait_for(lambda: service_id not in sink.of("service"))
        await wait_for(lambda: sink.live[node_id].running_tasks == 0)
        # What the sink holds is what the store holds.
        store = daemon.manager.store if daemon.manager else None
        assert store is not None
        await wait_for(lambda: set(sink.of("task")) == {t["ID"] for t in store.list_tasks()})
        assert sink.index <= store.applied_index
    finally:
        await daemon.stop()
    assert sink.closed


def created_version(sink: RecordingSink, service_id: str) -> int:
    return int(sink.of("service")[service_id]["Version"]["Index"])


def scaled(replicas: int) -> dict[str, Any]:
    return {"Name": "fed", "Mode": {"Replicated": {"Replicas": replicas}},
            "TaskTemplate": {"ContainerSpec": {"Image": "x", "Command": ["true"]}}}  # fmt: skip


async def test_leaving_wipes_the_managers_storage_and_check_failures_stop_the_start(
    tmp_path: Path,
) -> None:
    sink = RecordingSink()
    storage = SinkStorage(sink)
    config = DaemonConfig(data_dir=tmp_path / "n", hostname="n1", tick_interval=0.02,
                          runtime="simulated", storage="recording",
                          plugins=plugins_with(storage))  # fmt: skip
    daemon = Daemon(config)
    await daemon.start()
    (port,) = free_ports(1)
    addr = f"127.0.0.1:{port}"
    node_id = await daemon.swarm_init({"ListenAddr": addr, "AdvertiseAddr": addr})
    assert (await daemon.info())["SwarmkitStorage"] == {"Backend": "recording"}
    await daemon.swarm_leave(force=True)
    assert storage.wiped == [node_id]  # type: ignore[attr-defined]
    assert not (tmp_path / "n" / "raft").exists()
    await daemon.stop()

    failing = SinkStorage(RecordingSink(), fail_check=True)
    broken = Daemon(DaemonConfig(data_dir=tmp_path / "m", storage="recording",
                                 plugins=plugins_with(failing)))  # fmt: skip
    with pytest.raises(StorageUnavailable, match="cannot reach the recording backend"):
        await broken.start()


def swarmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarmkit_py.daemon", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_swarmd_refuses_bad_storage_options_without_echoing_them(tmp_path: Path) -> None:
    r = swarmd("--data-dir", str(tmp_path), "--storage", "file", "--storage-opt", "x=y")
    assert r.returncode != 0
    assert "swarmd: storage file: the file storage takes no options (got x)" in r.stderr
    r = swarmd("--data-dir", str(tmp_path), "--storage-opt", "mysql://root:s3cret@db/x")
    assert r.returncode != 0
    assert "expected KEY=VALUE" in r.stderr and "s3cret" not in r.stderr
    r = swarmd("--data-dir", str(tmp_path), "--storage", "nosuch")
    assert r.returncode != 0 and "unknown storage 'nosuch'; installed: file" in r.stderr
