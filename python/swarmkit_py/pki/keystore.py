"""A node's credentials (key, certificate chain, trusted roots) and their files on disk."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography import x509

from .certs import (
    NodeIdentity,
    NodeKey,
    key_to_pem,
    load_certificates,
    load_node_key,
    node_identity,
    public_key_fingerprint,
)
from .errors import InvalidCertificateError

NODE_KEY_FILE = "swarm-node.key"
NODE_CERT_FILE = "swarm-node.crt"
ROOT_CA_FILE = "swarm-root-ca.crt"


@dataclass(frozen=True)
class NodeCredentials:
    """What a node needs for mutual TLS: its key, its certificate chain and the roots it trusts."""

    key: NodeKey
    chain_pem: bytes
    root_bundle_pem: bytes

    @cached_property
    def chain(self) -> list[x509.Certificate]:
        """The node certificate followed by any intermediates (a cross-signed root)."""
        return load_certificates(self.chain_pem)

    @property
    def certificate(self) -> x509.Certificate:
        """The node's own certificate."""
        return self.chain[0]

    @cached_property
    def roots(self) -> list[x509.Certificate]:
        """The trusted root certificates."""
        return load_certificates(self.root_bundle_pem)

    @property
    def identity(self) -> NodeIdentity:
        """Node ID, role and cluster ID read from the certificate."""
        return node_identity(self.certificate)

    @property
    def key_pem(self) -> bytes:
        """The private key in PEM."""
        return key_to_pem(self.key)


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` atomically to ``path``, mode 0600: temp file, fsync, rename, fsync dir."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class KeyStore:
    """Node credentials in a directory: swarm-node.key, swarm-node.crt, swarm-root-ca.crt.

    Every file is written atomically with mode 0600, so a crash leaves the old or the new file.
    The three files are replaced one after the other; :meth:`load` checks that the key matches
    the certificate, so a crash between two writes is reported instead of used.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def key_path(self) -> Path:
        return self.directory / NODE_KEY_FILE

    @property
    def cert_path(self) -> Path:
        return self.directory / NODE_CERT_FILE

    @property
    def root_path(self) -> Path:
        return self.directory / ROOT_CA_FILE

    def exists(self) -> bool:
        """True if all three files are present."""
        return all(p.exists() for p in (self.key_path, self.cert_path, self.root_path))

    def save(self, credentials: NodeCredentials) -> None:
        """Write the credentials (root bundle, key, certificate chain)."""
        write_private_file(self.root_path, credentials.root_bundle_pem)
        write_private_file(self.key_path, credentials.key_pem)
        write_private_file(self.cert_path, credentials.chain_pem)

    def load(self) -> NodeCredentials:
        """Read the credentials back; raise ``FileNotFoundError`` if the node has none."""
        key = load_node_key(self.key_path.read_bytes())
        credentials = NodeCredentials(
            key=key,
            chain_pem=self.cert_path.read_bytes(),
            root_bundle_pem=self.root_path.read_bytes(),
        )
        credentials.identity  # noqa: B018  -- fail early on a corrupt certificate
        if public_key_fingerprint(credentials.certificate) != public_key_fingerprint(
            key.public_key()
        ):
            raise InvalidCertificateError(
                f"{self.key_path} does not match {self.cert_path} (an interrupted renewal?); "
                "rejoin the swarm with a join token"
            )
        return credentials
