"""Progress reporting: a rich bar on a terminal, plain lines in logs and CI.

A bar redrawn into a log file is noise, so anything that is not a TTY (or asked
for ``--plain``) gets one line per tenth of the work instead.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any


class Progress:
    """``with Progress(label, total) as p: p.advance(n)``."""

    def __init__(self, label: str, total: int, *, plain: bool = False) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.started = time.perf_counter()
        self._next_line = 0.1
        self._bar: Any = None
        self._task: Any = None
        if not plain and sys.stderr.isatty():
            try:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
                from rich.progress import Progress as RichProgress
            except ImportError:  # rich comes with typer, but is not a hard requirement
                return
            self._bar = RichProgress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(self._task, advance=count)
            return
        fraction = self.done / self.total
        if fraction < self._next_line - 1e-9 and self.done < self.total:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed else 0.0
        print(
            f"  {self.label}: {self.done:,}/{self.total:,} "
            f"({fraction:.0%}, {elapsed:.1f}s, {rate:,.0f}/s)",
            flush=True,
        )
        while self._next_line <= fraction + 1e-9:
            self._next_line += 0.1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
