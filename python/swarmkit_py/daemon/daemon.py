"""The node daemon: outside a swarm, a worker, or a manager (which is a worker
too). It implements the Engine API backend (`swarmkit_py.api.backend`) and
remembers its membership across restarts."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import os
import platform
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from swarmkit_py import __version__
from swarmkit_py.agent import Agent, describe_host
from swarmkit_py.agent.worker import Worker
from swarmkit_py.errors import (
    AlreadyInSwarm,
    InvalidArgument,
    NoLeader,
    NotInSwarm,
    NotManager,
    SwarmError,
)
from swarmkit_py.logs import LogMessage, LogOptions
from swarmkit_py.manager import Manager, ManagerConfig
from swarmkit_py.manager.ca_store import NODE_PREFIX, initial_ca_meta, record_to_meta
from swarmkit_py.manager.manager import join_raft
from swarmkit_py.manager.members import new_raft_id, reachability
from swarmkit_py.manager.rpc_pool import RpcPool
from swarmkit_py.model import Cluster, Node, NodeDescription, NodeSpec, NodeStatus
from swarmkit_py.model.cluster import (
    DEFAULT_ADDR_POOL,
    DEFAULT_DATA_PATH_PORT,
    DEFAULT_SUBNET_SIZE,
    parse_swarm_init_spec,
)
from swarmkit_py.pki import (
    InMemoryCAStore,
    KeyStore,
    NodeCredentials,
    NodeRole,
    PKIError,
    RootCA,
    RootCAState,
    SwarmCA,
    generate_id,
    renew,
)
from swarmkit_py.pki import JoinTokens as PkiJoinTokens
from swarmkit_py.pki import join as pki_join
from swarmkit_py.pki.ca_client import certificate_status
from swarmkit_py.plugins import Plugins
from swarmkit_py.raft import RaftError
from swarmkit_py.raft.config import parse_addr
from swarmkit_py.storage import LogBackend, Storage
from swarmkit_py.tasks import cancel_and_wait

from .state import LocalState, load_state, remove_state, save_state

log = logging.getLogger(__name__)
Json = dict[str, Any]
API_VERSION = "1.47"
#: Refused rather than stored and ignored: manager keys are not encrypted at rest.
AUTOLOCK_UNSUPPORTED = (
    "autolock (--autolock) is not supported by swarmd: manager keys are not encrypted at rest"
)
TWO_MANAGERS_WARNING = (
    "WARNING: Running Swarm in a two-manager configuration. This configuration provides no "
    "fault tolerance, and poses a high risk to lose control over the cluster. Refer to "
    "https://docs.docker.com/engine/swarm/admin_guide/ to configure the Swarm for "
    "fault-tolerance."
)


#: How long `swarm join` waits for the new node's first session (Docker's 20 s).
JOIN_TIMEOUT = 20.0


class JoinTimeout(SwarmError):
    """The node joined but has no session yet (HTTP 503, as Docker)."""

    http_status = 503


class LeaveRefused(SwarmError):
    """`swarm leave` without `--force` on a manager (HTTP 503, as Docker)."""

    http_status = 503


@dataclass
class DaemonConfig:
    data_dir: Path
    hostname: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    #: Raft timing (ours; Docker's are fixed at 1 s / 10 / 1).
    tick_interval: float = 1.0
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    #: Plugins chosen by name (see `swarmd --runtime/--storage/--scheduler`).
    runtime: str = "process"
    storage: str = "file"
    #: `swarmd --storage-opt KEY=VALUE` pairs for the storage plugin.
    storage_options: dict[str, str] = field(default_factory=dict)
    scheduler: str = "spread"
    #: The installed plugins; None: the built-ins only.
    plugins: Plugins | None = None


def _addresses(request: Json) -> tuple[str, str]:
    """(listen, advertise) from a swarm init/join request, as Docker defaults them."""
    listen = str(request.get("ListenAddr") or "0.0.0.0:2377")
    if ":" not in listen:
        listen += ":2377"
    try:
        host, port = parse_addr(listen)
    except ValueError as e:
        raise InvalidArgument(f"invalid ListenAddr {listen!r}: {e}") from None
    advertise = str(request.get("AdvertiseAddr") or "")
    if not advertise:
        if host in ("0.0.0.0", "::", ""):
            raise InvalidArgument(
                "could not choose an IP address to advertise since this system has multiple "
                "addresses; specify one with --advertise-addr"
            )
        advertise = f"{host}:{port}"
    elif ":" not in advertise:
        advertise = f"{advertise}:{port}"
    try:
        adv_host, _ = parse_addr(advertise)
        if ipaddress.ip_address(adv_host).is_unspecified:
            raise ValueError("it is unspecified")
    except ValueError:
        raise InvalidArgument(
            f"advertise address must be a non-zero IP address with an optional port number, "
            f"not {advertise!r}"
        ) from None
    return listen, advertise


def _network_defaults(request: Json) -> tuple[list[str], int, int]:
    """(DefaultAddrPool, SubnetSize, DataPathPort) of a swarm init request,
    checked and defaulted as Docker does. swarmd has no overlay networks; the
    cluster object only reports them."""
    pools = [str(p).strip() for p in request.get("DefaultAddrPool") or []]
    size = int(request.get("SubnetSize") or DEFAULT_SUBNET_SIZE)
    if pools:
        if size > 29:
            raise InvalidArgument(f"subnet size is out of range: {size}")
        for pool in pools:
            try:
                network = ipaddress.ip_network(pool, strict=False)
            except ValueError as e:
                raise InvalidArgument(f"invalid base pool {pool}: {e}") from None
            if size < network.prefixlen:
                raise InvalidArgument(
                    f'invalid CIDR: "{pool}". Subnet size is too small for pool: {size}'
                )
    port = int(request.get("DataPathPort") or DEFAULT_DATA_PATH_PORT)
    if not 1024 <= port <= 49151:
        raise InvalidArgument(f"Datapath port number is not in valid range (1024-49151) : {port}")
    return pools or list(DEFAULT_ADDR_POOL), size, port


def _tls_info(credentials: NodeCredentials) -> Json:
    """The node's `Description.TLSInfo`, as Docker reports it: the roots it
    trusts, and the subject and public key (DER, base64) of its certificate's
    issuer. `docker swarm ca --rotate` waits until every node shows the new ones."""
    leaf = credentials.certificate
    issuer = None
    for candidate in [*credentials.chain[1:], *credentials.roots]:
        try:
            leaf.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        issuer = candidate
        break
    info: Json = {"TrustRoot": credentials.root_bundle_pem.decode()}
    if issuer is not None:
        info["CertIssuerSubject"] = base64.b64encode(issuer.subject.public_bytes()).decode()
        info["CertIssuerPublicKey"] = base64.b64encode(
            issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        ).decode()
    return info


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir
        self.state = LocalState()
        self.keystore = KeyStore(self.data_dir / "certificates")
        self.manager: Manager | None = None
        self.agent: Agent | None = None
        self.worker: Worker | None = None
        self.plugins = config.plugins or Plugins(load_entry_points=False)
        # Unknown names fail here, before anything starts, listing what is installed.
        self.runtime_factory = self.plugins.choose("runtime", config.runtime)
        # Bad options (StorageConfigError) fail here too; nothing is connected yet.
        self.storage: Storage = self.plugins.choose("storage", config.storage)(
            dict(config.storage_options)
        )
        self.plugins.choose("scheduler", config.scheduler)
        self.credentials: NodeCredentials | None = None
        self._lock = asyncio.Lock()
        self._role_task: asyncio.Task[None] | None = None
        self._cert_task: asyncio.Task[None] | None = None
        self.error = ""
        #: `swarm join --availability`, for the node's first registration.
        self._join_availability = ""

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # An unusable backend (unreachable, newer schema) stops swarmd here.
        await asyncio.get_running_loop().run_in_executor(None, self.storage.check)
        self.state = load_state(self.data_dir)
        if self.state.in_swarm:
            self.credentials = self.keystore.load()
            if self.state.role == "manager":
                await self._start_manager(bootstrap=False)
            await self._start_agent()

    async def stop(self) -> None:
        await cancel_and_wait(self._cert_task)
        self._cert_task = None
        if self.agent is not None:
            await self.agent.stop()
            self.agent = None
        if self.worker is not None:
            await self.worker.stop(stop_tasks=True)
            self.worker = None
        if self.manager is not None:
            await self.manager.stop()
            self.manager = None

    def _manager_config(
        self, bootstrap: bool, log_backend: LogBackend | None = None
    ) -> ManagerConfig:
        return ManagerConfig(
            data_dir=self.data_dir,
            listen_addr=self.state.listen_addr,
            advertise_addr=self.state.advertise_addr,
            raft_id=self.state.raft_id,
            bootstrap=bootstrap,
            tick_interval=self.config.tick_interval,
            election_ticks=self.config.election_ticks,
            heartbeat_ticks=self.config.heartbeat_ticks,
            plugins=self.plugins,
            scheduler=self.config.scheduler,
            log_backend=log_backend,
            state_sink=self.storage.state_sink(self.state.node_id),
        )

    async def _start_manager(self, bootstrap: bool) -> Manager:
        assert self.credentials is not None
        loop = asyncio.get_running_loop()
        backend = await loop.run_in_executor(
            None, self.storage.open_log, self.data_dir / "raft", self.state.node_id
        )
        try:
            self.manager = Manager(self._manager_config(bootstrap, backend), self.credentials)
            await self.manager.start()
        except BaseException:
            if self.manager is not None:
                await self.manager.stop()
                self.manager = None
            if backend is not None:
                backend.close()  # closing twice is harmless
            raise
        return self.manager

    async def _wipe_raft(self, node_id: str) -> None:
        """Discards this node's Raft state wherever the storage keeps it."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.storage.wipe, self.data_dir / "raft", node_id)

    def _task_reports(self, updates: list[dict[str, Any]]) -> None:
        # Without an agent the reports wait: a new session resends every status.
        if self.agent is not None:
            self.agent.queue_reports(updates)

    def _description(self) -> dict[str, Any]:
        description = describe_host(self.config.hostname, self.config.labels)
        if self.credentials is not None:
            description["TLSInfo"] = _tls_info(self.credentials)
        return description

    async def _start_agent(self) -> None:
        if self.worker is None:
            self.worker = Worker(
                self.runtime_factory(self.data_dir),
                self.data_dir,
                self.state.node_id,
                self._task_reports,
            )
            await self.worker.start()
        managers = list(self.state.managers)
        if self.state.role == "manager":
            managers.insert(0, self.state.advertise_addr)
        self.agent = Agent(
            lambda: self._credentials(),
            managers,
            self.state.advertise_addr,
            self._description(),
            on_update=self._on_agent_update,
            on_removed=self._on_removed,
            worker=self.worker,
            availability=self._join_availability,
        )
        self.agent.start()
        if self._cert_task is None:
            self._cert_task = asyncio.get_running_loop().create_task(self._certificate_loop())

    async def _certificate_loop(self) -> None:
        """Asks the manager the agent talks to whether to renew (due, role
        change, root rotation) and picks up a changed trust bundle."""
        while True:
            await asyncio.sleep(max(0.5, (self.agent.heartbeat_period if self.agent else 5.0)))
            address = self.agent.connected_to if self.agent else None
            if address is None or self.credentials is None or self._role_task is not None:
                continue
            host, _, port = address.rpartition(":")
            try:
                status = await certificate_status((host, int(port)), self.credentials)
                if status.renew:
                    log.info("renewing this node's certificate: %s", status.reason)
                    wanted = "manager" if status.desired_role == NodeRole.MANAGER else "worker"
                    if wanted != self.state.role:
                        continue  # a role change: the agent's update handles it
                    self._adopt(await renew((host, int(port)), self.credentials))
                elif status.trust_bundle_pem != self.credentials.root_bundle_pem:
                    self._adopt(replace(self.credentials, root_bundle_pem=status.trust_bundle_pem))
            except (PKIError, OSError, ValueError) as e:
                log.debug("certificate check with %s failed: %s", address, e)

    def _adopt(self, credentials: NodeCredentials) -> None:
        self.credentials = credentials
        self.keystore.save(credentials)
        if self.manager is not None:
            self.manager.set_credentials(credentials)
        if self.agent is not None:
            self.agent.set_description(self._description())

    def _credentials(self) -> NodeCredentials:
        assert self.credentials is not None
        return self.credentials

    def _on_agent_update(self, answer: dict[str, Any]) -> None:
        managers = answer.get("managers")
        if isinstance(managers, list) and managers and managers != self.state.managers:
            self.state.managers = [m for m in managers if isinstance(m, str)]
            save_state(self.data_dir, self.state)
        role = answer.get("role")
        if role in ("manager", "worker") and role != self.state.role and self._role_task is None:
            self._role_task = asyncio.get_running_loop().create_task(self._change_role(role))

    async def _change_role(self, role: str) -> None:
        """Promotion or demotion decided by the cluster: new certificate (new
        OU), then start or stop this node's manager."""
        try:
            async with self._lock:
                await self._apply_role(role)
        except Exception as e:  # retried on a later heartbeat
            log.warning("changing this node's role to %s failed: %s", role, e)
        finally:
            self._role_task = None

    async def _apply_role(self, role: str) -> None:
        assert self.credentials is not None and self.agent is not None
        address = self.agent.connected_to or (self.state.managers or [""])[0]
        host, _, port = address.rpartition(":")
        credentials = await renew((host, int(port)), self.credentials)
        wanted = NodeRole.MANAGER if role == "manager" else NodeRole.WORKER
        if credentials.identity.role != wanted:
            raise SwarmError(f"the CA still issues {credentials.identity.role} certificates")
        self.credentials = credentials
        self.keystore.save(credentials)
        await self.agent.stop()
        if role == "manager":
            pool = RpcPool(self._credentials)
            try:
                self.state.raft_id = await join_raft(pool, address, self.state.advertise_addr)
            finally:
                await pool.close()
            self.state.role = "manager"
            save_state(self.data_dir, self.state)
            await self._start_manager(bootstrap=False)
        else:
            if self.manager is not None:
                await self.manager.stop()
                self.manager = None
            await self._wipe_raft(self.state.node_id)
            self.state.role, self.state.raft_id = "worker", 0
            save_state(self.data_dir, self.state)
        await self._start_agent()
        log.info("this node is now a %s", role)

    def _on_removed(self, reason: str) -> None:
        self.error = reason

    # -- SwarmBackend: the node ------------------------------------------------

    def swarm_header(self) -> str:
        if not self.state.in_swarm:
            return "inactive"
        if self.error:
            return "error"
        return f"active/{self.state.role}"

    async def version(self) -> Json:
        return {
            "Platform": {"Name": "swarmkit-py"},
            "Version": __version__,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": "1.24",
            "Os": platform.system().lower(),
            "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                platform.machine(), platform.machine()
            ),
            "KernelVersion": platform.release(),
            "GoVersion": "",
            "GitCommit": "",
            "BuildTime": "",
            "Components": [{"Name": "swarmkit-py", "Version": __version__, "Details": {}}],
        }

    async def info(self) -> Json:
        desc = self._description()
        swarm: Json = {
            "NodeID": self.state.node_id,
            "NodeAddr": self.state.advertise_addr.rpartition(":")[0],
            "LocalNodeState": "active" if self.state.in_swarm else "inactive",
            "ControlAvailable": self.manager is not None,
            "Error": self.error,
            "RemoteManagers": None,
        }
        if self.manager is not None:
            m = self.manager
            nodes = m.store.list_nodes()
            # Docker lists each manager's Raft address (IP and port), not the node's IP.
            swarm["RemoteManagers"] = [
                {"NodeID": n.id, "Addr": reachability(m.raft, n.raft_id)["addr"] or n.status.addr}
                for n in nodes
                if n.raft_id
            ]
            swarm["Nodes"] = len(nodes)
            swarm["Managers"] = sum(1 for n in nodes if n.spec.role == "manager")
            if m.store.cluster() is not None:
                swarm["Cluster"] = m.control.cluster_api(with_tokens=False)
        elif self.state.in_swarm:
            swarm["RemoteManagers"] = [{"NodeID": "", "Addr": a} for a in self.state.managers]
        warnings = []
        if swarm.get("Managers") == 2:
            warnings.append(TWO_MANAGERS_WARNING)
        return {
            "ID": self.state.node_id,
            "Warnings": warnings,
            "Name": desc["Hostname"],
            "ServerVersion": __version__,
            "OperatingSystem": platform.system(),
            "OSType": "linux",
            "Architecture": desc["Platform"]["Architecture"],
            "NCPU": os.cpu_count() or 1,
            "MemTotal": desc["Resources"]["MemoryBytes"],
            "Swarm": swarm,
            "SwarmkitPlugins": self.plugins.describe(),
            "SwarmkitRuntime": self.config.runtime,
            "SwarmkitStorage": self.storage.describe(),
            "Containers": 0,
            "Images": 0,
        }

    # -- SwarmBackend: swarm ---------------------------------------------------

    async def _cluster_manager(self, read: bool = False) -> Manager:
        """This node's manager, once a leader is known. An election in progress
        is waited out (up to two election timeouts); a lost quorum is not.
        With `read`, the local store has first caught up with everything
        committed when the call began (ReadIndex), so a follower never answers
        with state older than what a client already saw acknowledged."""
        if not self.state.in_swarm:
            raise NotInSwarm()
        if self.manager is None:
            raise NotManager()
        raft = self.manager.raft
        if raft.leader_id == 0:
            try:
                await raft.wait_for_leader(timeout=min(3.0, 2 * raft.config.election_timeout))
            except TimeoutError:
                raise NoLeader() from None
        if read:
            try:
                await raft.read_index(timeout=min(3.0, 2 * raft.config.election_timeout))
            except RaftError:
                raise NoLeader() from None
        return self.manager

    async def swarm_inspect(self) -> Json:
        return (await self._cluster_manager(read=True)).control.swarm_inspect()

    async def swarm_init(self, request: Json) -> str:
        async with self._lock:
            if request.get("ForceNewCluster") and self.manager is not None:
                await self.manager.raft.force_new_cluster()
                return self.state.node_id
            if self.state.in_swarm:
                raise AlreadyInSwarm()
            return await self._init(request)

    async def _init(self, request: Json) -> str:
        listen, advertise = _addresses(request)
        spec = parse_swarm_init_spec(request.get("Spec") or {})
        if spec.ca_config.external_cas:
            # The PKI can sign through CFSSL (swarmkit_py.pki.ExternalCA); the
            # daemon does not hand it to every manager yet. Refuse, never ignore.
            raise InvalidArgument(
                "external CAs (--external-ca) are not supported by swarmd yet; initialize "
                "the swarm with its own root CA"
            )
        if spec.encryption_config.auto_lock_managers:
            raise InvalidArgument(AUTOLOCK_UNSUPPORTED)
        availability = str(request.get("Availability") or "active")
        if availability not in ("active", "pause", "drain"):
            raise InvalidArgument(f"invalid availability {availability!r}")
        pools, subnet_size, data_path_port = _network_defaults(request)
        node_id, cluster_id = generate_id(), generate_id()
        root = RootCA.create()
        tokens = PkiJoinTokens.generate(root.cert_pem)
        ca_store = InMemoryCAStore(cluster_id=cluster_id, root=RootCAState(root), tokens=tokens)
        validity = timedelta(microseconds=spec.ca_config.node_cert_expiry // 1000)
        temp_ca = SwarmCA(ca_store, node_cert_validity=validity)
        self.credentials = await temp_ca.issue_local(node_id=node_id, role=NodeRole.MANAGER)
        self.keystore.save(self.credentials)
        self.state = LocalState(
            node_id=node_id,
            cluster_id=cluster_id,
            role="manager",
            listen_addr=listen,
            advertise_addr=advertise,
            raft_id=new_raft_id(set()),
        )
        try:
            manager = await self._start_manager(bootstrap=True)
            ca_meta = initial_ca_meta(RootCAState(root), tokens, ca_store.unlock_key())
            for record in ca_store.list_nodes():
                ca_meta[NODE_PREFIX + record.node_id] = record_to_meta(record)
            node = Node(
                id=node_id,
                spec=NodeSpec(role="manager", availability=availability),  # type: ignore[arg-type]
                description=NodeDescription.from_api(self._description()),
                status=NodeStatus(state="ready", addr=advertise.rpartition(":")[0]),
                raft_id=self.state.raft_id,
            )
            cluster = Cluster(
                id=cluster_id,
                spec=spec,
                default_addr_pool=pools,
                subnet_size=subnet_size,
                data_path_port=data_path_port,
            )
            await manager.initialize(cluster, ca_meta, node)
        except BaseException:
            await self._forget()
            raise
        save_state(self.data_dir, self.state)
        await self._start_agent()
        return node_id

    async def swarm_join(self, request: Json) -> None:
        async with self._lock:
            if self.state.in_swarm:
                raise AlreadyInSwarm()
            await self._join(request)

    async def _join(self, request: Json) -> None:
        listen, advertise = _addresses(request)
        remotes = request.get("RemoteAddrs") or []
        if not isinstance(remotes, list) or not remotes or not isinstance(remotes[0], str):
            raise InvalidArgument("at least 1 RemoteAddr is required to join")
        remote = remotes[0]
        try:
            host, port = parse_addr(remote if ":" in remote else remote + ":2377")
        except ValueError as e:
            raise InvalidArgument(f"invalid remote address {remote!r}: {e}") from None
        remote = f"{host}:{port}"
        token = str(request.get("JoinToken") or "")
        availability = str(request.get("Availability") or "active")
        if availability not in ("active", "pause", "drain"):
            raise InvalidArgument(f"invalid availability {availability!r}")
        self._join_availability = availability
        try:
            self.credentials = await pki_join((host, port), token)
        except PKIError as e:
            raise InvalidArgument(str(e)) from None
        except OSError as e:
            raise SwarmError(f"could not reach the manager at {remote}: {e}") from None
        identity = self.credentials.identity
        self.keystore.save(self.credentials)
        role = "manager" if identity.role == NodeRole.MANAGER else "worker"
        self.state = LocalState(
            node_id=identity.node_id,
            cluster_id=identity.cluster_id,
            role=role,
            listen_addr=listen,
            advertise_addr=advertise,
            managers=[remote],
        )
        try:
            if role == "manager":
                pool = RpcPool(self._credentials)
                try:
                    self.state.raft_id = await join_raft(pool, remote, advertise)
                finally:
                    await pool.close()
                await self._start_manager(bootstrap=False)
        except BaseException:
            await self._forget()
            raise
        save_state(self.data_dir, self.state)
        await self._start_agent()
        await self._wait_for_session()

    async def _wait_for_session(self) -> None:
        """Like Docker, `swarm join` answers once the node has a session with
        the leader's dispatcher, so `node ls` on a manager lists it at once."""
        deadline = asyncio.get_running_loop().time() + JOIN_TIMEOUT
        while self.agent is not None and self.agent.connected_to is None:
            if self.agent.stopped_reason is not None:
                raise SwarmError(self.agent.stopped_reason)
            if asyncio.get_running_loop().time() > deadline:
                raise JoinTimeout(
                    "Timeout was reached before node joined. The attempt to join the swarm "
                    'will continue in the background. Use the "docker info" command to see the '
                    "current swarm status of your node."
                )
            await asyncio.sleep(0.05)

    async def swarm_leave(self, force: bool) -> None:
        async with self._lock:
            if not self.state.in_swarm:
                raise NotInSwarm("This node is not part of a swarm")
            if self.manager is not None:
                if not force:
                    raise LeaveRefused(await self._leave_refusal())
                await self._leave_raft()
            await self.stop()
            await self._forget()

    async def _leave_refusal(self) -> str:
        """Docker's answer to `swarm leave` without `--force` on a manager: the
        last manager's state would be erased, or how many managers would be left."""
        message = (
            "You are attempting to leave the swarm on a node that is participating as a manager. "
        )
        try:
            nodes = (await self._cluster_manager(read=True)).control.nodes_list({})
        except SwarmError:
            nodes = []  # no leader: Docker cannot count the managers either
        states = {
            str(n["ID"]): n["ManagerStatus"]["Reachability"] for n in nodes if "ManagerStatus" in n
        }
        reachable = sum(1 for r in states.values() if r == "reachable")
        unreachable = sum(1 for r in states.values() if r == "unreachable")
        active = states.get(self.state.node_id) == "reachable"
        if active and reachable - 1 <= unreachable:
            if reachable == 1 and unreachable == 0:
                return (
                    message + "Removing the last manager erases all current state of the swarm. "
                    "Use `--force` to ignore this message. "
                )
            message += (
                f"Removing this node leaves {reachable - 1} managers out of "
                f"{reachable + unreachable}. Without a Raft quorum your swarm will be "
                "inaccessible. "
            )
        return (
            message + "The only way to restore a swarm that has lost consensus is to reinitialize "
            "it with `--force-new-cluster`. Use `--force` to suppress this message."
        )

    async def _leave_raft(self) -> None:
        m = self.manager
        assert m is not None
        others = [a for a in m.manager_addresses() if a != self.state.advertise_addr]
        if not others:
            return
        leader = m.leader_address()
        if leader is None:
            return
        try:
            await m.remove_raft_member(self.state.raft_id, force=True)
        except (SwarmError, PKIError, OSError) as e:
            log.warning("leaving raft: %s", e)

    async def _forget(self) -> None:
        """Drops all swarm state of this node (after leave, or a failed init/join)."""
        await self.stop()
        if self.state.role == "manager" and self.state.node_id:
            try:
                await self._wipe_raft(self.state.node_id)
            except Exception as e:  # leaving must not fail on it; say what is left
                log.warning(
                    "the raft state in the %s storage was not removed: %s", self.storage.name, e
                )
        for sub in ("certificates", "raft", "tasks"):
            shutil.rmtree(self.data_dir / sub, ignore_errors=True)
        remove_state(self.data_dir)
        self.state = LocalState()
        self.credentials = None
        self.error = ""

    async def swarm_update(
        self,
        version: int,
        spec: Json,
        rotate_worker_token: bool,
        rotate_manager_token: bool,
        rotate_manager_unlock_key: bool,
    ) -> None:
        await (await self._cluster_manager(read=True)).control.swarm_update(
            version, spec, rotate_worker_token, rotate_manager_token
        )

    async def swarm_ca_rotate(self) -> None:
        await (await self._cluster_manager(read=True)).ca.start_root_rotation()

    # -- SwarmBackend: nodes ---------------------------------------------------

    async def nodes_list(self, filters: dict[str, list[str]]) -> list[Json]:
        return (await self._cluster_manager(read=True)).control.nodes_list(filters)

    async def node_inspect(self, node_ref: str) -> Json:
        return (await self._cluster_manager(read=True)).control.node_inspect(node_ref)

    async def node_update(self, node_ref: str, version: int, spec: Json) -> None:
        await (await self._cluster_manager(read=True)).control.node_update(node_ref, version, spec)

    async def node_remove(self, node_ref: str, force: bool) -> None:
        await (await self._cluster_manager(read=True)).control.node_remove(node_ref, force)

    # -- SwarmBackend: services and tasks ----------------------------------------

    async def services_list(self, filters: dict[str, list[str]], status: bool) -> list[Json]:
        return (await self._cluster_manager(read=True)).services.services_list(filters, status)

    async def service_inspect(self, ref: str, insert_defaults: bool) -> Json:
        return (await self._cluster_manager(read=True)).services.service_inspect(
            ref, insert_defaults
        )

    async def service_create(self, spec: Json) -> Json:
        return await (await self._cluster_manager(read=True)).services.service_create(spec)

    async def service_update(
        self, ref: str, version: int, spec: Json, *, rollback: bool, rebalance: bool
    ) -> Json:
        manager = await self._cluster_manager(read=True)
        return await manager.services.service_update(
            ref, version, spec, rollback=rollback, rebalance=rebalance
        )

    async def service_remove(self, ref: str) -> None:
        await (await self._cluster_manager(read=True)).services.service_remove(ref)

    async def tasks_list(self, filters: dict[str, list[str]]) -> list[Json]:
        return (await self._cluster_manager(read=True)).services.tasks_list(filters)

    async def task_inspect(self, task_id: str) -> Json:
        return (await self._cluster_manager(read=True)).services.task_inspect(task_id)

    async def service_logs(self, ref: str, options: LogOptions) -> AsyncIterator[LogMessage]:
        manager = await self._cluster_manager(read=True)
        service = manager.store.resolve_service(ref)
        async for message in _task_logs(
            manager, manager.store.list_tasks(service_id=service["ID"]), options
        ):
            yield message

    async def task_logs(self, task_id: str, options: LogOptions) -> AsyncIterator[LogMessage]:
        manager = await self._cluster_manager(read=True)
        task = manager.services.task_inspect(task_id)
        async for message in _task_logs(manager, [task], options):
            yield message


async def _task_logs(
    manager: Manager, tasks: list[Json], options: LogOptions
) -> AsyncIterator[LogMessage]:
    """The logs of `tasks`, from the nodes that ran them, with their origin filled in."""
    by_node: dict[str, list[str]] = {}
    service_of: dict[str, str] = {}
    for task in tasks:
        if task.get("NodeID"):
            by_node.setdefault(str(task["NodeID"]), []).append(str(task["ID"]))
            service_of[str(task["ID"])] = str(task.get("ServiceID") or "")
    if not by_node:
        return
    node_of = {t: n for n, ids in by_node.items() for t in ids}
    async for message in manager.logs(by_node, options):
        yield replace(
            message,
            node_id=node_of.get(message.task_id, message.node_id),
            service_id=service_of.get(message.task_id, ""),
        )
