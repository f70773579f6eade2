"""One PySyncObj node (pure-Python Raft) holding a replicated append-only
counter, and a load driver that runs in the leader's process like the
proposers of our Raft bench do. Run by `swarmkit_py.bench.baselines.pysyncobj`:

    python -m swarmkit_py.bench.baselines.pysyncobj_node --self 127.0.0.1:7001 \\
        --partner 127.0.0.1:7002 --partner 127.0.0.1:7003 --data-dir DIR [--no-journal]

Commands on stdin, one JSON line each, answered by one JSON line on stdout:
`{"cmd": "status"}` -> `{"self", "leader", "ready"}`;
`{"cmd": "load", "concurrency", "count", "duration", "value_bytes"}` -> the
result (ops, errors, elapsed_s, p50/p90/p99 in ms).

Durability: with its journal on (the default here) PySyncObj writes every
entry into a memory-mapped journal file and never calls fsync or msync while
it runs, so its commits survive the crash of a process but not of the machine.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

from ..results import latency_summary

#: How long a load may run past its duration before the driver gives up on
#: the commits still in flight (it reports what completed).
GRACE_S = 10.0


class AppendCounter(SyncObj):  # type: ignore[misc]
    """The replicated state: how many values were appended, and their bytes."""

    def __init__(self, self_address: str, partners: list[str], conf: Any) -> None:
        super().__init__(self_address, partners, conf)
        self.count = 0
        self.total_bytes = 0

    @replicated  # type: ignore[untyped-decorator]
    def append(self, value: bytes) -> int:
        self.count += 1
        self.total_bytes += len(value)
        return self.count


class LoadDriver:
    """Keeps `concurrency` appends in flight until `count` were issued or the
    time is up: each commit's callback (on PySyncObj's thread) issues the next."""

    def __init__(self, node: AppendCounter, count: int, duration: float, value: bytes) -> None:
        self.node = node
        self.count = count
        self.value = value
        self.deadline = 0.0
        self.duration = duration
        self.issued = 0
        self.in_flight = 0
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.done = threading.Event()

    def run(self, concurrency: int) -> dict[str, Any]:
        started = time.perf_counter()
        self.deadline = started + self.duration
        with self.lock:
            self.in_flight = concurrency
        for _ in range(concurrency):
            self._issue()
        self.done.wait(self.duration + GRACE_S)
        elapsed = time.perf_counter() - started
        with self.lock:
            ops, errors = len(self.latencies), list(self.errors)
            latencies = list(self.latencies)
        return {
            "ops": ops,
            "errors": len(errors),
            "error_sample": errors[:5],
            "elapsed_s": elapsed,
            "stopped_by_time": self.issued < self.count,
            **latency_summary(latencies),
        }

    def _issue(self) -> None:
        with self.lock:
            if self.issued >= self.count or time.perf_counter() >= self.deadline:
                self.in_flight -= 1
                if self.in_flight <= 0:
                    self.done.set()
                return
            self.issued += 1
        sent = time.perf_counter()
        self.node.append(self.value, callback=functools.partial(self._committed, sent))

    def _committed(self, sent: float, result: Any, error: int) -> None:
        with self.lock:
            if error == FAIL_REASON.SUCCESS:
                self.latencies.append(time.perf_counter() - sent)
            else:
                self.errors.append(f"PySyncObj FAIL_REASON {error}")
        self._issue()


def _status(node: AppendCounter, self_address: str) -> dict[str, Any]:
    leader = node._getLeader()
    return {
        "self": self_address,
        "leader": None if leader is None else str(leader.address),
        "ready": bool(node.isReady()),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--self", dest="self_address", required=True, help="HOST:PORT")
    p.add_argument("--partner", action="append", default=[], help="HOST:PORT, repeated")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--no-journal", action="store_true", help="keep the log in memory only")
    p.add_argument(
        "--append-period",
        type=float,
        default=None,
        help="batch appends and send them every so many seconds (PySyncObj's default: 0.1); "
        "without it, every append goes out at once",
    )
    p.add_argument(
        "--tick-period", type=float, default=0.05, help="PySyncObj's autoTickPeriod in seconds"
    )
    args = p.parse_args(argv)
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = SyncObjConf(
        journalFile=None if args.no_journal else str(data_dir / "journal"),
        fullDumpFile=str(data_dir / "dump"),
        useFork=False,  # no helper processes to clean up
        dynamicMembershipChange=False,
        appendEntriesUseBatch=args.append_period is not None,
        appendEntriesPeriod=args.append_period or 0.1,
        autoTickPeriod=args.tick_period,
    )
    node = AppendCounter(args.self_address, args.partner, conf)
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "status":
            answer = _status(node, args.self_address)
        elif command["cmd"] == "load":
            value = b"v".ljust(int(command["value_bytes"]), b".")
            driver = LoadDriver(node, int(command["count"]), float(command["duration"]), value)
            answer = driver.run(int(command["concurrency"]))
        else:
            answer = {"error": f"unknown command {command['cmd']!r}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    node.destroy()


if __name__ == "__main__":
    main()
