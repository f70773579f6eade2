"""The progress bar of a benchmark run (rich, on stderr, so `--json` output on
stdout stays clean). A run is a known number of timed steps; the bar moves
with the clock inside a step and jumps to the step's end when it finishes
early (at its count limit).

    with BenchProgress(steps=8, step_seconds=5.0) as progress:
        progress.status("starting etcd")
        async with progress.step("etcd, 64 clients"):
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

TICK_S = 0.2


class BenchProgress:
    """A bar over `steps` steps of about `step_seconds` each. Disabled (all
    calls do nothing) with `enabled=False`, or when stderr is no terminal."""

    def __init__(self, steps: int, step_seconds: float, enabled: bool = True) -> None:
        self.steps = max(1, steps)
        self.step_seconds = max(step_seconds, 1e-3)
        self.enabled = enabled and sys.stderr.isatty()
        self.done = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BenchProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description:<40}"),
                BarColumn(),
                TextColumn("{task.fields[steps]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "starting", total=self.steps * self.step_seconds, steps=self._steps_text()
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _steps_text(self) -> str:
        return f"{self.done}/{self.steps} done"

    def status(self, text: str) -> None:
        """Says what runs now (starting a cluster, warming up...)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=text)

    def _show(self, text: str, in_step: float) -> None:
        if self._progress is not None and self._task is not None:
            completed = (self.done + min(in_step, 1.0)) * self.step_seconds
            self._progress.update(
                self._task, description=text, completed=completed, steps=self._steps_text()
            )

    @contextlib.asynccontextmanager
    async def step(self, text: str, timed: bool = True) -> AsyncIterator[None]:
        """One step: a timed one advances the bar with the clock until it ends;
        otherwise the caller moves it with `count`."""
        started = time.perf_counter()

        async def tick() -> None:
            while True:
                self._show(text, (time.perf_counter() - started) / self.step_seconds)
                await asyncio.sleep(TICK_S)

        ticker = None
        if self._progress is not None:
            ticker = asyncio.ensure_future(tick()) if timed else None
            self._show(text, 0.0)
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            self.done += 1
            self._show(text, 0.0)

    def count(self, text: str, done: int, total: int) -> None:
        """Within a step whose progress is a count (tasks running, say)."""
        self._show(f"{text} {done:,}/{total:,}", done / total if total else 1.0)
