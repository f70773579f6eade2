"""What a node remembers across restarts, in `DATA_DIR/state.json`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "state.json"


@dataclass
class LocalState:
    """The node's membership: empty outside a swarm."""

    node_id: str = ""
    cluster_id: str = ""
    role: str = ""  # "manager" | "worker" | "" (not in a swarm)
    listen_addr: str = ""
    advertise_addr: str = ""
    raft_id: int = 0
    managers: list[str] = field(default_factory=list)

    @property
    def in_swarm(self) -> bool:
        return bool(self.node_id)


def load_state(data_dir: Path) -> LocalState:
    path = data_dir / STATE_FILE
    if not path.exists():
        return LocalState()
    try:
        raw = json.loads(path.read_text())
        return LocalState(**raw)
    except (ValueError, TypeError) as e:
        raise RuntimeError(
            f"{path} is not a valid swarmkit state file ({e}); restore it from a backup or "
            "remove the data directory to start outside any swarm"
        ) from None


def save_state(data_dir: Path, state: LocalState) -> None:
    """Atomic: write, fsync, rename, fsync the directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / (STATE_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(asdict(state), f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, data_dir / STATE_FILE)
    fd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_state(data_dir: Path) -> None:
    """Forgets the node's membership (after `swarm leave`)."""
    (data_dir / STATE_FILE).unlink(missing_ok=True)
