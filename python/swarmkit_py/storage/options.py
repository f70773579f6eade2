"""`--storage-opt KEY=VALUE` on the command lines that open a storage
(`swarmd`, the standalone Raft node)."""

from __future__ import annotations

import argparse


def storage_option(text: str) -> tuple[str, str]:
    """An argparse type: `KEY=VALUE` -> (KEY, VALUE)."""
    key, sep, value = text.partition("=")
    if not key or not sep:
        # The text is not repeated: it may hold a password.
        raise argparse.ArgumentTypeError("expected KEY=VALUE, e.g. dsn=mysql://user@host/db")
    return key.strip(), value
