"""What our figures are compared with, measured in the same run on the same
machine: the physical floor of this disk and loopback (`floor`), etcd
(`etcd`) and PySyncObj (`pysyncobj`)."""

from __future__ import annotations


class BaselineUnavailable(RuntimeError):
    """A baseline cannot run here (not installed, failed to start); the
    message says what to do."""
