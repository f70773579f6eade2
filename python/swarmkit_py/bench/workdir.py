"""Where a benchmark keeps its data directories and logs."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def work_directory(path: Path | None, prefix: str) -> Iterator[Path]:
    """`path` (created if needed, kept afterwards so its logs can be read), or
    a new temporary directory that is removed at the end."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    made = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)
