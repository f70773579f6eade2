"""The Engine API over TCP with mutual TLS: a real swarmd process, reached by
swarmctl and the real docker CLI with a client certificate, and refused
without one."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swarmkit_py.api.client import APIClient
from swarmkit_py.raft.local_cluster import free_ports

# -- a throwaway PKI -----------------------------------------------------------


@dataclass
class Issued:
    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


class ThrowawayCA:
    """A CA that issues server and client certificates into `directory`."""

    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            _builder(self.name, self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(CA_KEY_USAGE, critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_file = directory / "ca.pem"
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)])
        builder = _builder(subject, self.name, key.public_key()).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        issued = Issued(self.directory / f"{stem}-cert.pem", self.directory / f"{stem}-key.pem")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(issued.key, key)
        return issued


# -- a real swarmd serving TCP with mutual TLS -----------------------------------


@dataclass
class TlsDaemon:
    ca: ThrowawayCA
    server: Issued
    client: Issued
    stranger: Issued  # a client certificate from another CA
    data_dir: Path
    port: int
    swarm_port: int
    log: Path

    @property
    def host(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def tls_flags(self, client: Issued | None = None) -> list[str]:
        client = client or self.client
        return [
            "--tlsverify", "--tlscacert", str(self.ca.cert_file),
            "--tlscert", str(client.cert), "--tlskey", str(client.key),
        ]  # fmt: skip


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment without any DOCKER_/SWARMKIT_ endpoint or TLS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "SWARMKIT_"))}
    env.update(DOCKER_CONFIG=str(tmp / "docker-config"), DOCKER_CLI_HINTS="false")
    env["DOCKER_CERT_PATH"] = str(tmp / "no-certs")  # never ~/.docker
    return env


def swarmd(*args: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "swarmkit_py.daemon", "--data-dir", str(data_dir),
             "--raft-tick", "0.05", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def swarmctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarmkit_py.cli.swarmctl", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def _wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while "swarmd ready" not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise AssertionError(f"swarmd exited {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"swarmd did not start:\n{log.read_text()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsDaemon]:
    base = tmp_path_factory.mktemp("tls")
    ca = ThrowawayCA(base / "ca", "swarmd API test CA")
    stranger_ca = ThrowawayCA(base / "stranger", "another CA")
    port, swarm_port = free_ports(2)
    running = TlsDaemon(
        ca=ca,
        server=ca.issue("server", server=True),
        client=ca.issue("client", server=False),
        stranger=stranger_ca.issue("client", server=False),
        data_dir=base / "node",
        port=port,
        swarm_port=swarm_port,
        log=base / "swarmd.log",
    )
    running.data_dir.mkdir()
    process = swarmd(
        "--api-tcp", f"127.0.0.1:{port}", "--api-tls-ca", str(ca.cert_file),
        "--api-tls-cert", str(running.server.cert), "--api-tls-key", str(running.server.key),
        data_dir=running.data_dir, log=running.log,
    )  # fmt: skip
    try:
        _wait_ready(process, running.log)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _https_status(port: int, context: ssl.SSLContext) -> bytes:
    """The status line of `GET /_ping` over TLS with `context`."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /_ping HTTP/1.0\r\nHost: swarmd\r\n\r\n")
            answer = tls.recv(64)
            if not answer:
                raise ConnectionError("closed without an answer")
            return answer.split(b"\r\n")[0]


def _verifying_context(daemon: TlsDaemon, client: Issued | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(daemon.ca.cert_file))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context


# -- the tests -----------------------------------------------------------------


def test_swarmctl_with_a_client_certificate_inits_a_swarm_and_lists_it(
    daemon: TlsDaemon, tmp_path: Path
) -> None:
    env = _clean_env(tmp_path)
    addr = f"127.0.0.1:{daemon.swarm_port}"
    flags = ["-H", daemon.host, *daemon.tls_flags()]
    done = swarmctl(
        *flags, "swarm", "init", "--advertise-addr", addr, "--listen-addr", addr, env=env
    )
    assert done.returncode == 0, done.stderr + daemon.log.read_text()
    assert "is now a manager" in done.stdout

    done = swarmctl(*flags, "node", "ls", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 1
    assert rows[0]["Self"] is True and rows[0]["ManagerStatus"] == "Leader"


def test_swarmctl_reads_tls_settings_from_docker_environment(
    daemon: TlsDaemon, tmp_path: Path
) -> None:
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    shutil.copy(daemon.ca.cert_file, cert_dir / "ca.pem")
    shutil.copy(daemon.client.cert, cert_dir / "cert.pem")
    shutil.copy(daemon.client.key, cert_dir / "key.pem")
    env = _clean_env(tmp_path) | {
        "DOCKER_HOST": daemon.host,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(cert_dir),
    }
    done = swarmctl("node", "ls", "-q", env=env)
    assert done.returncode == 0, done.stderr


def test_connection_without_a_client_certificate_is_refused(
    daemon: TlsDaemon, tmp_path: Path
) -> None:
    with pytest.raises(OSError):
        _https_status(daemon.port, _verifying_context(daemon, client=None))
    # The context itself is right: with the client certificate it gets an answer.
    assert _https_status(daemon.port, _verifying_context(daemon, daemon.client)) == (
        b"HTTP/1.0 200 OK"
    )
    env = _clean_env(tmp_path)
    done = swarmctl(
        "-H", daemon.host, "--tlsverify", "--tlscacert", str(daemon.ca.cert_file), "node", "ls",
        env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"Cannot connect to the swarmkit daemon at {daemon.host}" in done.stderr


def test_client_certificate_from_another_ca_is_refused(daemon: TlsDaemon, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        _https_status(daemon.port, _verifying_context(daemon, daemon.stranger))
    done = swarmctl(
        "-H", daemon.host, *daemon.tls_flags(daemon.stranger), "node", "ls",
        env=_clean_env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 1 and "Cannot connect" in done.stderr


def test_plain_http_to_the_tls_port_gets_no_answer(daemon: TlsDaemon, tmp_path: Path) -> None:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as plain:
        plain.sendall(b"GET /_ping HTTP/1.0\r\nHost: swarmd\r\n\r\n")
        try:
            answer = plain.recv(64)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/")

    async def ping_without_tls() -> None:
        async with APIClient.from_host(daemon.host, timeout=5) as api:
            await api.ping()

    with pytest.raises(Exception, match="Cannot connect"):
        asyncio.run(ping_without_tls())


def test_docker_cli_with_a_client_certificate_reads_swarm_info(
    daemon: TlsDaemon, tmp_path: Path
) -> None:
    binary = shutil.which("docker")
    if binary is None:
        pytest.skip("docker CLI not on PATH")
    done = subprocess.run(
        [binary, *daemon.tls_flags(), "-H", daemon.host, "info", "--format", "{{json .Swarm}}"],
        capture_output=True,
        text=True,
        timeout=30,
        env=_clean_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    swarm = json.loads(done.stdout)
    assert swarm["LocalNodeState"] in ("inactive", "active")
    assert swarm["NodeAddr"] in ("", "127.0.0.1")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--api-tcp", "0.0.0.0:{port}"],
            "--api-tcp serves the API with mutual TLS and needs --api-tls-ca, --api-tls-cert "
            "and --api-tls-key",
        ),
        (
            ["--api-tcp", "0.0.0.0:{port}", "--api-tcp-insecure"],
            "refusing to serve the API without TLS on 0.0.0.0: --api-tcp-insecure is only "
            "allowed on a loopback address",
        ),
        (
            ["--api-tcp", "127.0.0.1:{port}", "--api-tls-ca", "{missing}",
             "--api-tls-cert", "{missing}", "--api-tls-key", "{missing}"],
            "cannot read the TLS CA certificate file {missing}: No such file or directory",
        ),
    ],
    ids=["no-tls-files", "insecure-not-loopback", "missing-ca-file"],
)  # fmt: skip
def test_swarmd_refuses_an_unsafe_or_broken_tcp_setup(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    (port,) = free_ports(1)
    values = {"port": str(port), "missing": str(tmp_path / "missing.pem")}
    args = [flag.format(**values) for flag in flags]
    done = subprocess.run(
        [sys.executable, "-m", "swarmkit_py.daemon", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("swarmd: " + message.format(**values)), done.stderr


def test_swarmd_names_the_pem_file_it_cannot_use(daemon: TlsDaemon, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    done = subprocess.run(
        [sys.executable, "-m", "swarmkit_py.daemon", "--data-dir", str(tmp_path / "d"),
         "--api-tcp", "127.0.0.1:1", "--api-tls-ca", str(daemon.ca.cert_file),
         "--api-tls-cert", str(daemon.server.cert), "--api-tls-key", str(junk)],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"the TLS key file {junk} is not a PEM key" in done.stderr


def test_swarmctl_refuses_certificate_flags_without_tlsverify(
    daemon: TlsDaemon, tmp_path: Path
) -> None:
    done = swarmctl(
        "-H", daemon.host, "--tlscert", str(daemon.client.cert),
        "--tlskey", str(daemon.client.key), "node", "ls",
        env=_clean_env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        "--tlscert, --tlskey given without --tlsverify (or --tls): add --tlsverify to use TLS\n"
    )
