"""Five managers: losing two is survivable; losing three stops management with
Docker's message, and --force-new-cluster brings the swarm back intact."""

from __future__ import annotations

import time
from pathlib import Path

from swarmkit_py.testing.local_swarm import LocalSwarm

from .conftest import by_host

NO_LEADER = "The swarm does not have a leader"


async def test_five_managers_survive_two_losses_and_recover_from_three(tmp_path: Path) -> None:
    s = LocalSwarm(tmp_path, managers=5, workers=0)
    await s.start()
    try:
        await s.swarmctl(1, "swarm", "update", "--task-history-limit", "7")
        await s.swarmctl(1, "node", "update", "--label-add", "keep=me", "node5")
        s.kill(1)
        s.kill(2)
        rows = await s.wait_for(
            lambda rows: any(r["ManagerStatus"] == "Leader" for r in rows),
            via=3,
            timeout=15,
            what="a leader among three survivors",
        )
        assert len(rows) == 5
        s.kill(3)
        start = time.monotonic()
        while True:
            r = await s.swarmctl(4, "node", "ls", check=False)
            if r.returncode != 0:
                break
            assert time.monotonic() - start < 10, "management kept working without quorum"
        assert NO_LEADER in r.stderr
        r = await s.swarmctl(5, "node", "ls", check=False)
        assert r.returncode == 1 and NO_LEADER in r.stderr

        n4 = s.nodes[4]
        await s.swarmctl(
            4, "swarm", "init", "--force-new-cluster", "--advertise-addr", n4.addr,
            "--listen-addr", n4.addr,
        )  # fmt: skip
        rows = await s.wait_for(
            lambda rows: by_host(rows)["node4"]["ManagerStatus"] == "Leader", via=4, timeout=15
        )
        assert sorted(by_host(rows)) == ["node1", "node2", "node3", "node4", "node5"]
        inspect = (await s.swarmctl(4, "swarm", "inspect")).stdout
        assert '"TaskHistoryRetentionLimit": 7' in inspect
        assert (await s.inspect(4, "node5"))["Spec"]["Labels"] == {"keep": "me"}
        # The recovered cluster takes writes again.
        await s.swarmctl(4, "node", "update", "--label-add", "after=recovery", "node4")
    finally:
        await s.stop()
