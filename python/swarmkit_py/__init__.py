"""swarmkit-py: Docker Swarm mode as a Python library and daemon, with a Rust core."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("swarmkit-py")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = ["__version__"]
