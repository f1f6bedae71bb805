"""A dependency-free progress bar with ETA for stderr (the CLIs' long loops)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, width: int = 28):
        self.total = max(total, 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.start = time.monotonic()
        self._interactive = hasattr(self.stream, "isatty") and self.stream.isatty()

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done = min(self.total, self.done + n)
        self.stream.write(self.render(note) + ("\r" if self._interactive else "\n"))
        self.stream.flush()

    def render(self, note: str = "") -> str:
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        eta_text = "--:--" if eta != eta else _clock(eta)
        bar = "#" * filled + "." * (self.width - filled)
        tail = f" {note}" if note else ""
        return f"{self.label} [{bar}] {self.done}/{self.total} {_clock(elapsed)} elapsed, ETA {eta_text}{tail}"

    def close(self) -> None:
        if self._interactive:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"
