"""The real docker CLI (version 28) manages a swarm of swarmd processes, and
prints what it prints against Docker: every command's output is checked, not
only its exit code. docs/compatibility.md names these tests row by row."""

from __future__ import annotations

import asyncio
import json
import re

from swarmkit_py.pki import RootCA

from .conftest import NODE_ID, NOT_A_MANAGER, NOT_IN_A_SWARM, TOKEN, DockerCLI, table, wait_for

LEAVE_REFUSED = (
    "Error response from daemon: You are attempting to leave the swarm on a node that is "
    "participating as a manager. "
)
RESTORE_HINT = (
    "The only way to restore a swarm that has lost consensus is to reinitialize it with "
    "`--force-new-cluster`. Use `--force` to suppress this message.\n"
)
DIGEST_WARNING = (
    "image busybox:latest could not be accessed on a registry to record\n"
    "its digest. Each node will access busybox:latest independently,\n"
    "possibly leading to different nodes running different\n"
    "versions of the image.\n\n"
)


def form_swarm(docker: DockerCLI) -> str:
    """init on node1, node2 and node3 join as workers; returns node1's ID."""
    out = docker.init(1)
    match = re.fullmatch(
        r"Swarm initialized: current node \((?P<id>[0-9a-z]{25})\) is now a manager\.\n\n"
        r"To add a worker to this swarm, run the following command:\n\n"
        r"    docker swarm join --token (?P<token>\S+) (?P<addr>\S+)\n\n"
        r"To add a manager to this swarm, run 'docker swarm join-token manager' and follow the "
        r"instructions\.\n",
        out,
    )
    assert match is not None, out
    assert match["addr"] == docker.addr(1)
    worker_token = docker.ok(1, "swarm", "join-token", "-q", "worker").strip()
    assert TOKEN.fullmatch(worker_token) and worker_token == match["token"]
    for node in (2, 3):
        assert docker.join(node, worker_token) == "This node joined a swarm as a worker.\n"
    return match["id"]


async def test_docker_cli_forms_a_swarm_and_manages_its_nodes(docker: DockerCLI) -> None:
    # swarm init, join-token (show and --rotate), swarm update, join.
    assert docker.fails(1, "node", "ls") == NOT_IN_A_SWARM
    # Autolock is refused, never stored and ignored: keys are not encrypted at rest.
    autolock = "autolock (--autolock) is not supported by swarmd"
    refused = docker.fails(1, "swarm", "init", "--autolock", "--advertise-addr", docker.addr(1),
                           "--listen-addr", docker.addr(1))  # fmt: skip
    assert autolock in refused
    assert docker.fails(1, "node", "ls") == NOT_IN_A_SWARM
    out = docker.init(1)
    assert autolock in docker.fails(1, "swarm", "update", "--autolock=true")
    node1 = re.search(r"current node \(([0-9a-z]{25})\)", out)
    assert node1 is not None, out
    first = docker.ok(1, "swarm", "join-token", "-q", "worker").strip()
    out = docker.ok(1, "swarm", "join-token", "--rotate", "worker")
    assert out.startswith("Successfully rotated worker join token.\n\n"), out
    worker_token = docker.ok(1, "swarm", "join-token", "-q", "worker").strip()
    assert TOKEN.fullmatch(worker_token) and worker_token != first
    assert f"docker swarm join --token {worker_token} {docker.addr(1)}" in out
    out = docker.ok(1, "swarm", "join-token", "manager")
    manager_token = docker.ok(1, "swarm", "join-token", "-q", "manager").strip()
    assert out == (
        "To add a manager to this swarm, run the following command:\n\n"
        f"    docker swarm join --token {manager_token} {docker.addr(1)}\n\n"
    )
    assert docker.ok(1, "swarm", "update", "--task-history-limit", "3") == "Swarm updated.\n"
    spec = json.loads(docker.ok(1, "info", "--format", "{{json .Swarm.Cluster.Spec}}"))
    assert spec["Orchestration"] == {"TaskHistoryRetentionLimit": 3}
    assert spec["Dispatcher"] == {"HeartbeatPeriod": 500_000_000}  # nanoseconds

    stale = docker.run(
        2, "swarm", "join", "--token", first, "--advertise-addr", docker.addr(2),
        "--listen-addr", docker.addr(2), docker.addr(1),
    )  # fmt: skip
    assert stale.returncode == 1
    assert stale.stderr.endswith("A valid join token is necessary to join this cluster\n")
    out = docker.join(2, worker_token, "--availability", "pause")
    assert out == "This node joined a swarm as a worker.\n"
    assert docker.join(3, manager_token) == "This node joined a swarm as a manager.\n"
    assert docker.node_ls(1)["node2"]["AVAILABILITY"] == "Pause"
    out = docker.ok(
        1, "node", "update", "--availability", "active", "--label-add", "zone=a", "node2"
    )
    assert out == "node2\n"

    # node ls: Docker's columns, `*` on the node asked, Leader / Reachable.
    rows = wait_for(
        lambda: docker.node_ls(1),
        lambda rows: len(rows) == 3 and rows["node3"]["MANAGER STATUS"] == "Reachable",
        "node3 reachable",
    )
    header = docker.ok(1, "node", "ls").splitlines()[0].split("   ")
    assert [h.strip() for h in header if h.strip()] == [
        "ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION",
    ]  # fmt: skip
    assert rows["node1"]["ID"] == f"{node1[1]} *"
    assert {h: r["MANAGER STATUS"] for h, r in rows.items()} == {
        "node1": "Leader", "node2": "", "node3": "Reachable",
    }  # fmt: skip
    assert all(r["STATUS"] == "Ready" and r["AVAILABILITY"] == "Active" for r in rows.values())
    assert all(r["ENGINE VERSION"].startswith("swarmkit-py ") for r in rows.values())
    on_node3 = docker.node_ls(3)
    assert on_node3["node3"]["ID"].endswith(" *") and not on_node3["node1"]["ID"].endswith("*")
    assert set(docker.ok(1, "node", "ls", "-q").split()) == {
        r["ID"].removesuffix(" *") for r in rows.values()
    }
    out = docker.ok(1, "node", "ls", "--filter", "role=manager", "--format", "{{.Hostname}}")
    assert sorted(out.split()) == ["node1", "node3"]
    assert docker.ok(1, "node", "ls", "-q", "--filter", "node.label=zone=a") == (
        rows["node2"]["ID"] + "\n"
    )
    assert docker.fails(2, "node", "ls") == NOT_A_MANAGER
    assert docker.fails(2, "service", "ls") == NOT_A_MANAGER

    # node inspect and info.
    (node2,) = json.loads(docker.ok(1, "node", "inspect", "node2"))
    assert NODE_ID.fullmatch(node2["ID"])
    assert node2["Spec"] == {"Labels": {"zone": "a"}, "Role": "worker", "Availability": "active"}
    assert node2["Description"]["Hostname"] == "node2"
    assert node2["Status"] == {"State": "ready", "Addr": "127.0.0.1"}
    assert "ManagerStatus" not in node2
    fmt = "{{.Spec.Availability}} {{.Spec.Role}} {{.ManagerStatus.Leader}}"
    assert docker.ok(3, "node", "inspect", "--format", fmt, "self") == "active manager false\n"
    swarm = json.loads(docker.ok(1, "info", "--format", "{{json .Swarm}}"))
    assert (swarm["LocalNodeState"], swarm["ControlAvailable"]) == ("active", True)
    assert (swarm["Nodes"], swarm["Managers"]) == (3, 2)
    assert sorted(m["Addr"] for m in swarm["RemoteManagers"]) == sorted(
        [docker.addr(1), docker.addr(3)]
    )
    worker = json.loads(docker.ok(2, "info", "--format", "{{json .Swarm}}"))
    assert (worker["LocalNodeState"], worker["ControlAvailable"]) == ("active", False)

    # promote / demote.
    out = docker.ok(1, "node", "promote", "node2")
    assert out == "Node node2 promoted to a manager in the swarm.\n"
    wait_for(
        lambda: docker.run(2, "node", "ls"),
        lambda done: done.returncode == 0 and "Reachable" in table(done.stdout)[1].values(),
        "node2 to manage the swarm",
    )
    assert docker.ok(3, "node", "demote", "node2") == "Manager node2 demoted in the swarm.\n"
    wait_for(
        lambda: docker.run(2, "node", "ls").stderr,
        lambda err: err == NOT_A_MANAGER,
        "node2 to be a worker again",
    )
    assert docker.node_ls(1)["node2"]["MANAGER STATUS"] == ""

    # drain.
    assert docker.ok(1, "node", "update", "--availability", "drain", "node3") == "node3\n"
    assert docker.ok(3, "node", "inspect", "--format", "{{.Spec.Availability}}", "node3") == (
        "drain\n"
    )
    assert docker.node_ls(1)["node3"]["AVAILABILITY"] == "Drain"

    # Refused removals, a worker leaves, node rm --force.
    node2_id, node3_id = node2["ID"], docker.node_ls(1)["node3"]["ID"]
    assert docker.fails(1, "node", "rm", "node2") == (
        "Error response from daemon: rpc error: code = FailedPrecondition desc = node "
        f"{node2_id} is not down and can't be removed\n"
    )
    assert docker.fails(1, "node", "rm", "--force", "node3") == (
        "Error response from daemon: rpc error: code = FailedPrecondition desc = node "
        f"{node3_id} is a cluster manager and is a member of the raft cluster. It must be "
        "demoted to worker before removal\n"
    )
    assert docker.ok(2, "swarm", "leave") == "Node left the swarm.\n"
    assert docker.fails(2, "node", "ls") == NOT_IN_A_SWARM
    assert docker.ok(1, "node", "rm", "--force", "node2") == "node2\n"
    assert sorted(docker.node_ls(1)) == ["node1", "node3"]

    # Managers leave: refused without --force, with Docker's explanations.
    assert docker.fails(3, "swarm", "leave") == LEAVE_REFUSED + RESTORE_HINT
    assert docker.ok(1, "node", "demote", "node3") == "Manager node3 demoted in the swarm.\n"
    wait_for(
        lambda: docker.ok(3, "info", "--format", "{{.Swarm.ControlAvailable}}"),
        lambda out: out == "false\n",
        "node3 to be a worker",
    )
    assert docker.ok(3, "swarm", "leave") == "Node left the swarm.\n"
    assert docker.fails(1, "swarm", "leave") == (
        LEAVE_REFUSED + "Removing the last manager erases all current state of the swarm. "
        "Use `--force` to ignore this message.\n"  # the CLI trims Docker's trailing space
    )
    assert docker.ok(1, "swarm", "leave", "--force") == "Node left the swarm.\n"
    assert docker.ok(1, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive\n"
    assert docker.fails(1, "swarm", "leave") == (
        "Error response from daemon: This node is not part of a swarm\n"
    )


def _progress_lines(out: str) -> list[str]:
    """The distinct lines of a non-terminal progress display, in order."""
    return list(dict.fromkeys(line for line in out.splitlines() if line.strip()))


async def test_docker_cli_creates_scales_updates_and_removes_services(docker: DockerCLI) -> None:
    form_swarm(docker)

    # create, default progress display (not a terminal): it converges and ends.
    done = docker.run(
        1, "service", "create", "--name", "web", "--replicas", "3", "--update-monitor", "1s",
        "busybox", "sh", "-c", "echo hello; sleep 3600",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == DIGEST_WARNING  # no registry: Docker warns the same way
    lines = _progress_lines(done.stdout)
    service_id = lines[0]
    assert NODE_ID.fullmatch(service_id), done.stdout
    assert "overall progress: 3 out of 3 tasks" in lines
    assert lines[-2:] == [
        "verify: Waiting 1 seconds to verify that tasks are stable...",
        f"verify: Service {service_id} converged",
    ]

    # --detach prints the ID only; on a terminal the progress bars end too.
    out = docker.ok(1, "service", "create", "-d", "--name", "idle", "busybox", "sleep", "3600")
    assert NODE_ID.fullmatch(out.strip())
    out = docker.on_a_terminal(
        1, "service", "create", "--name", "tty", "--update-monitor", "1s",
        "--no-resolve-image", "busybox", "sleep", "3600",
    )  # fmt: skip
    assert "overall progress: 1 out of 1 tasks" in out and "converged" in out

    # Networks, secrets and configs: swarmd has none, and says so.
    for flag, kind in (("--network", "networks"), ("--secret", "secrets"), ("--config", "configs")):
        out = docker.fails(1, "service", "create", flag, "x", "--name", "x", "busybox")
        assert out == (
            f"Error response from daemon: swarmd has no {kind}: only the swarm, node, service "
            "and task endpoints of the Engine API are served\n"
        )

    # ls and ps.
    rows = wait_for(
        lambda: {r["NAME"]: r for r in table(docker.ok(1, "service", "ls"))},
        lambda rows: rows.get("idle", {}).get("REPLICAS") == "1/1",
        "idle to run",
    )
    assert rows["web"] == {
        "ID": service_id[:12], "NAME": "web", "MODE": "replicated", "REPLICAS": "3/3",
        "IMAGE": "busybox:latest", "PORTS": "",
    }  # fmt: skip
    tasks = table(docker.ok(1, "service", "ps", "web"))
    assert [t["NAME"] for t in tasks] == ["web.1", "web.2", "web.3"]
    assert {t["NODE"] for t in tasks} <= {"node1", "node2", "node3"}
    assert all(t["DESIRED STATE"] == "Running" for t in tasks)
    assert all(t["CURRENT STATE"].startswith("Running ") for t in tasks)
    assert docker.fails(2, "service", "ps", "web") == NOT_A_MANAGER

    # scale and update --replicas: progress to convergence.
    lines = _progress_lines(docker.ok(1, "service", "scale", "web=5"))
    assert lines[0] == "web scaled to 5"
    assert "overall progress: 5 out of 5 tasks" in lines
    assert lines[-1] == "verify: Service web converged"
    running = docker.ok(1, "service", "ps", "-q", "--filter", "desired-state=running", "web")
    assert len(running.split()) == 5
    lines = _progress_lines(docker.ok(1, "service", "update", "--replicas", "2", "web"))
    assert lines[0] == "web" and lines[-1] == "verify: Service web converged"
    assert "overall progress: 2 out of 2 tasks" in lines
    assert docker.ok(1, "service", "ls", "--filter", "name=web", "--format", "{{.Replicas}}") == (
        "2/2\n"
    )

    # update --image, then rollback.
    out = docker.ok(1, "service", "update", "--no-resolve-image", "--image", "busybox:1.36", "web")
    lines = _progress_lines(out)
    assert lines[0] == "web" and lines[-1] == "verify: Service web converged"
    tasks = table(docker.ok(1, "service", "ps", "web"))
    current = [t for t in tasks if t["DESIRED STATE"] == "Running"]
    assert [t["IMAGE"] for t in current] == ["busybox:1.36"] * 2
    # Each slot's replaced task is listed under it, as Docker indents history.
    assert sorted(t["NAME"] for t in tasks if t["DESIRED STATE"] == "Shutdown") == sorted(
        f"\\_ {t['NAME']}" for t in current
    )
    lines = _progress_lines(docker.ok(1, "service", "rollback", "web"))
    assert lines[:2] == ["web", "rollback: manually requested rollback"]
    assert "overall progress: rolling back update: 2 out of 2 tasks" in lines
    assert lines[-1] == "verify: Service web converged"
    # The CLI stops after the update monitor period; the rollback completes
    # after the rollback's own (5 s by default), as on Docker.
    fmt = "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.UpdateStatus.State}}"
    wait_for(
        lambda: docker.ok(1, "service", "inspect", "--format", fmt, "web"),
        lambda out: out == "busybox:latest rollback_completed\n",
        "the rollback to complete",
    )
    assert docker.fails(1, "service", "rollback", "idle") == (
        "Error response from daemon: rpc error: code = FailedPrecondition desc = service "
        f"{json.loads(docker.ok(1, 'service', 'inspect', 'idle'))[0]['ID']} does not have a "
        "previous spec\n"
    )

    # logs: Docker's `name.slot.task@node | line`, from every task that ran.
    out = docker.ok(1, "service", "logs", "web", timeout=30)
    lines = out.splitlines()
    # The two slots left after scaling down, each with its first, updated and
    # rolled-back task (the removed slots' tasks are gone, as on Docker).
    assert len(lines) == 6, out
    for line in lines:
        assert re.fullmatch(r"web\.[1-5]\.[0-9a-z]{12}@node[123] +\| hello", line), line
    assert len({line.split(".")[1] for line in lines}) == 2
    out = docker.ok(1, "service", "logs", "--no-task-ids", "--no-trunc", "-t", "web")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z web\.[1-5]@node[123] +\| hello",
        out.splitlines()[0],
    ), out
    # --follow: the lines so far, then it keeps streaming until interrupted.
    follow = docker.start(1, "service", "logs", "--follow", "--raw", "web")
    try:
        assert follow.stdout is not None
        assert [follow.stdout.readline() for _ in range(6)] == ["hello\n"] * 6
        await asyncio.sleep(0.5)
        assert follow.poll() is None
    finally:
        follow.kill()
        follow.wait()
    task_id = docker.ok(1, "service", "ps", "-q", "--filter", "desired-state=running", "web")
    out = docker.ok(1, "service", "logs", "--raw", task_id.split()[0])
    assert out == "hello\n"

    # inspect --pretty, node ps.
    pretty = docker.ok(1, "service", "inspect", "--pretty", "web")
    assert "\nName:\t\tweb\nService Mode:\tReplicated\n Replicas:\t2\n" in pretty
    nodes = {t["NODE"] for t in table(docker.ok(1, "service", "ps", "web"))}
    node = sorted(nodes)[0]
    on_node = table(docker.ok(1, "node", "ps", "--filter", "desired-state=running", node))
    assert {t["NAME"].split(".")[0] for t in on_node} <= {"web", "idle", "tty"}
    assert {t["NODE"] for t in on_node} == {node}

    # rm.
    assert docker.ok(1, "service", "rm", "web", "idle", "tty") == "web\nidle\ntty\n"
    assert docker.ok(1, "service", "ls").split() == [
        "ID",
        "NAME",
        "MODE",
        "REPLICAS",
        "IMAGE",
        "PORTS",
    ]
    assert docker.fails(1, "service", "rm", "web") == (
        "Error response from daemon: service web not found\n"
    )


async def test_docker_cli_service_flags_reach_the_spec_and_the_tasks(docker: DockerCLI) -> None:
    docker.init(
        1, "--availability", "active", "--task-history-limit", "2", "--cert-expiry", "48h",
        "--snapshot-interval", "5000", "--max-snapshots", "1", "--default-addr-pool",
        "10.20.0.0/16", "--default-addr-pool-mask-length", "26", "--data-path-port", "5000",
    )  # fmt: skip
    cluster = json.loads(docker.ok(1, "info", "--format", "{{json .Swarm.Cluster}}"))
    assert cluster["Spec"]["Orchestration"] == {"TaskHistoryRetentionLimit": 2}
    assert cluster["Spec"]["CAConfig"]["NodeCertExpiry"] == 48 * 3600 * 10**9
    assert (
        cluster["Spec"]["Raft"]["SnapshotInterval"],
        cluster["Spec"]["Raft"]["KeepOldSnapshots"],
    ) == (5000, 1)
    assert (cluster["DefaultAddrPool"], cluster["SubnetSize"], cluster["DataPathPort"]) == (
        ["10.20.0.0/16"], 26, 5000,
    )  # fmt: skip
    out = docker.ok(
        1, "swarm", "update", "--cert-expiry", "72h", "--snapshot-interval", "6000",
        "--max-snapshots", "2", "--dispatcher-heartbeat", "400ms",
    )  # fmt: skip
    assert out == "Swarm updated.\n"
    spec = json.loads(docker.ok(1, "info", "--format", "{{json .Swarm.Cluster.Spec}}"))
    assert spec["CAConfig"]["NodeCertExpiry"] == 72 * 3600 * 10**9
    assert spec["Raft"]["SnapshotInterval"] == 6000 and spec["Raft"]["KeepOldSnapshots"] == 2
    assert spec["Dispatcher"]["HeartbeatPeriod"] == 400_000_000

    # swarm ca: the root, and a rotation the CLI follows until every node
    # reports the new root and issuer in its TLS info.
    root = docker.ok(1, "swarm", "ca")
    assert root.startswith("-----BEGIN CERTIFICATE-----\n")
    out = docker.ok(1, "swarm", "ca", "--rotate", timeout=60)
    assert out.startswith("desired root digest: ")
    rotated = docker.ok(1, "swarm", "ca")
    assert rotated != root and out.endswith("\n" + rotated)
    tls = json.loads(
        docker.ok(1, "node", "inspect", "--format", "{{json .Description.TLSInfo}}", "self")
    )
    assert tls["TrustRoot"] == rotated
    # A root of one's own; external CAs are refused, not stored and ignored.
    own = RootCA.create()
    cert, key = docker.swarm.base_dir / "ca.pem", docker.swarm.base_dir / "ca.key"
    cert.write_bytes(own.cert_pem)
    key.write_bytes(own.key_pem())
    out = docker.ok(1, "swarm", "ca", "--rotate", "--ca-cert", str(cert), "--ca-key", str(key))
    assert out.endswith("\n" + own.cert_pem.decode())
    assert docker.ok(1, "swarm", "ca") == own.cert_pem.decode()
    err = docker.fails(
        1, "swarm", "update", "--external-ca", "protocol=cfssl,url=https://127.0.0.1:1"
    )
    assert err == (
        "Error response from daemon: external CAs (--external-ca) are not supported by swarmd "
        "yet; keep the swarm's own root CA\n"
    )

    env_file = docker.swarm.base_dir / "flags.env"
    env_file.write_text("E=from-file\n")
    docker.ok(
        1, "service", "create", "-d", "-q", "--no-resolve-image", "--name", "flags",
        "--replicas", "2", "--env", "A=1", "--env-file", str(env_file), "--workdir", "/tmp",
        "--label", "l=1",
        "--container-label", "c=1", "--constraint", "node.role==manager",
        "--placement-pref", "spread=node.labels.zone", "--replicas-max-per-node", "2",
        "--restart-condition", "on-failure", "--restart-delay", "1s",
        "--restart-max-attempts", "3", "--restart-window", "10s",
        "--stop-grace-period", "3s", "--stop-signal", "SIGINT",
        "--update-parallelism", "2", "--update-delay", "1s", "--update-failure-action",
        "rollback", "--update-max-failure-ratio", "0.5", "--update-monitor", "2s",
        "--update-order", "start-first", "--rollback-parallelism", "3", "--rollback-delay",
        "2s", "--rollback-failure-action", "continue", "--rollback-max-failure-ratio", "0.25",
        "--rollback-monitor", "3s", "--rollback-order", "stop-first",
        "--limit-cpu", "0.5", "--limit-memory", "64M", "--limit-pids", "100",
        "--reserve-cpu", "0.1", "--reserve-memory", "8M",
        "--publish", "8080:80", "--publish", "mode=host,published=8081,target=81",
        "--user", "nobody", "--group", "users", "--hostname", "h1",
        "--mount", "type=bind,source=/tmp,target=/data", "--health-cmd", "true",
        "--health-interval", "1s", "--health-retries", "2", "--init", "--read-only",
        "--dns", "8.8.8.8", "--dns-search", "example.com", "--dns-option", "ndots:2",
        "--host", "h:1.2.3.4", "--cap-drop", "CHOWN",
        "--log-driver", "json-file", "--log-opt", "max-size=1m", "--cap-add", "NET_ADMIN",
        "--sysctl", "net.core.somaxconn=1024", "--ulimit", "nofile=1024:2048",
        "--entrypoint", "sh", "busybox", "-c", "echo A=$A in $(pwd); sleep 3600",
    )  # fmt: skip
    spec = json.loads(docker.ok(1, "service", "inspect", "--format", "{{json .Spec}}", "flags"))
    template, container = spec["TaskTemplate"], spec["TaskTemplate"]["ContainerSpec"]
    assert (spec["Labels"], spec["Mode"]) == ({"l": "1"}, {"Replicated": {"Replicas": 2}})
    assert {k: container[k] for k in ("Command", "Args", "Env", "Dir", "Labels")} == {
        "Command": ["sh"], "Args": ["-c", "echo A=$A in $(pwd); sleep 3600"],
        "Env": ["E=from-file", "A=1"], "Dir": "/tmp", "Labels": {"c": "1"},
    }  # fmt: skip
    assert {k: container[k] for k in ("User", "Groups", "Hostname", "Init", "ReadOnly")} == {
        "User": "nobody", "Groups": ["users"], "Hostname": "h1", "Init": True, "ReadOnly": True,
    }  # fmt: skip
    assert (container["StopGracePeriod"], container["StopSignal"]) == (3_000_000_000, "SIGINT")
    assert container["Mounts"] == [{"Type": "bind", "Source": "/tmp", "Target": "/data"}]
    assert container["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000, "Retries": 2,
    }  # fmt: skip
    assert container["Hosts"] == ["1.2.3.4 h"]
    assert container["DNSConfig"] == {
        "Nameservers": ["8.8.8.8"], "Search": ["example.com"], "Options": ["ndots:2"],
    }  # fmt: skip
    assert (container["CapabilityAdd"], container["CapabilityDrop"]) == (
        ["CAP_NET_ADMIN"], ["CAP_CHOWN"],
    )  # fmt: skip
    assert container["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert container["Ulimits"] == [{"Name": "nofile", "Hard": 2048, "Soft": 1024}]
    assert template["Resources"] == {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20, "Pids": 100},
        "Reservations": {"NanoCPUs": 100_000_000, "MemoryBytes": 8 << 20},
    }
    assert template["RestartPolicy"] == {
        "Condition": "on-failure", "Delay": 1_000_000_000, "MaxAttempts": 3,
        "Window": 10_000_000_000,
    }  # fmt: skip
    assert template["Placement"] == {
        "Constraints": ["node.role==manager"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
        "MaxReplicas": 2,
    }
    assert template["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "1m"}}
    assert spec["UpdateConfig"] == {
        "Parallelism": 2, "Delay": 1_000_000_000, "FailureAction": "rollback",
        "Monitor": 2_000_000_000, "MaxFailureRatio": 0.5, "Order": "start-first",
    }  # fmt: skip
    assert spec["RollbackConfig"] == {
        "Parallelism": 3, "Delay": 2_000_000_000, "FailureAction": "continue",
        "Monitor": 3_000_000_000, "MaxFailureRatio": 0.25, "Order": "stop-first",
    }  # fmt: skip
    assert spec["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 81, "PublishedPort": 8081, "PublishMode": "host"},
    ]
    # The process runtime runs the entrypoint and args with the env and workdir;
    # the second replica cannot have the one node's host-mode port.
    logs = wait_for(lambda: docker.ok(1, "service", "logs", "--raw", "flags"), bool, "logs")
    assert logs == "A=1 in /tmp\n"
    tasks = table(docker.ok(1, "service", "ps", "--no-trunc", "flags"))
    states = sorted(t["CURRENT STATE"].split()[0] for t in tasks)
    assert states == ["Pending", "Running"], tasks
    (pending,) = (t for t in tasks if t["CURRENT STATE"].startswith("Pending"))
    assert pending["ERROR"] == '"no suitable node (host-mode port already in use on 1 node)"'
    # Host-mode ports are not in the service's endpoint: `service ls` shows
    # only the ingress one, as on Docker.
    assert docker.ok(1, "service", "ls", "--format", "{{.Ports}}") == "*:8080->80/tcp\n"

    out = docker.ok(
        1, "service", "update", "-d", "--no-resolve-image", "--image", "busybox:1.36",
        "--env-add", "B=2", "--env-rm", "A", "--label-add", "m=2", "--label-rm", "l",
        "--container-label-add", "d=2", "--container-label-rm", "c",
        "--constraint-rm", "node.role==manager", "--constraint-add", "node.hostname==node1",
        "--placement-pref-rm", "spread=node.labels.zone", "--publish-rm", "mode=host,target=81",
        "--mount-rm", "/data", "--host-rm", "h:1.2.3.4", "--host-add", "k:5.6.7.8",
        "--dns-rm", "8.8.8.8", "--dns-add", "1.1.1.1", "--group-rm", "users",
        "--group-add", "staff", "--sysctl-rm", "net.core.somaxconn", "--ulimit-rm", "nofile",
        "--no-healthcheck", "--hostname", "h2", "--force", "--replicas", "1",
        "--publish-add", "9090:90", "--mount-add", "type=bind,source=/tmp,target=/other",
        "--placement-pref-add", "spread=node.labels.rack",
        "--args", "-c 'echo B=$B; sleep 3600'", "flags",
    )  # fmt: skip
    assert out == "flags\n"
    spec = json.loads(docker.ok(1, "service", "inspect", "--format", "{{json .Spec}}", "flags"))
    template, container = spec["TaskTemplate"], spec["TaskTemplate"]["ContainerSpec"]
    assert (spec["Labels"], spec["Mode"]) == ({"m": "2"}, {"Replicated": {"Replicas": 1}})
    assert (container["Image"], container["Args"]) == (
        "busybox:1.36",
        ["-c", "echo B=$B; sleep 3600"],
    )
    assert (sorted(container["Env"]), container["Labels"], container["Groups"]) == (
        ["B=2", "E=from-file"], {"d": "2"}, ["staff"],
    )  # fmt: skip
    assert (container["Hosts"], container["DNSConfig"]["Nameservers"]) == (
        ["5.6.7.8 k"], ["1.1.1.1"],
    )  # fmt: skip
    assert (container["Hostname"], container["Healthcheck"]) == ("h2", {"Test": ["NONE"]})
    assert container["Mounts"] == [{"Type": "bind", "Source": "/tmp", "Target": "/other"}]
    assert "Sysctls" not in container
    assert "Ulimits" not in container
    assert template["Placement"] == {
        "Constraints": ["node.hostname==node1"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.rack"}}],
        "MaxReplicas": 2,
    }
    assert template["ForceUpdate"] == 1
    assert [p["TargetPort"] for p in spec["EndpointSpec"]["Ports"]] == [80, 90]
    logs = wait_for(
        lambda: docker.ok(1, "service", "logs", "--raw", "flags"),
        lambda out: "B=2\n" in out,
        "the updated task's logs",
    )
    assert logs.count("A=1 in /tmp\n") >= 1

    assert docker.ok(1, "service", "update", "-d", "--rollback", "flags") == "flags\n"
    fmt = "{{json .Spec.TaskTemplate.ContainerSpec.Env}} {{.UpdateStatus.Message}}"
    assert docker.ok(1, "service", "inspect", "--format", fmt, "flags") == (
        '["E=from-file","A=1"] manually requested rollback\n'
    )

    # Global mode; jobs are refused.
    docker.ok(
        1, "service", "create", "-d", "--with-registry-auth", "--mode", "global", "--name", "g",
        "busybox", "sleep", "1h",
    )  # fmt: skip
    wait_for(
        lambda: docker.ok(
            1, "service", "ls", "--filter", "mode=global", "--format", "{{.Mode}} {{.Replicas}}"
        ),
        lambda out: out == "global 1/1\n",
        "the global service on the one node",
    )
    for mode in ("replicated-job", "global-job"):
        err = docker.fails(1, "service", "create", "-d", "--mode", mode, "busybox", "true")
        assert err == "Error response from daemon: job services are not supported\n"
