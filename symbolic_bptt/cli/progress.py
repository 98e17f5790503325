"""A one-line progress bar for long runs, drawn on a terminal's stderr and silent elsewhere
(pipes, logs and tests get the command's summary lines instead)."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    """Call with (stage, done, total); redraws `stage [#####.....] done/total` in place."""

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = self.width * done // total
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{stage:<10} [{bar}] {done}/{total}{end}")
        self.stream.flush()
