"""Progress of the CLIs' long loops on stderr: a tqdm bar on a terminal (a widget in Jupyter), one plain
line per step otherwise (logs, pipes, CI), each with done/total, elapsed time, ETA and a note."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, width: int = 28,
                 disable: bool = False):
        self.total = max(total, 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.start = time.monotonic()
        self.disable = disable
        self._interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar = None if disable else _tqdm(self.total, label, self.stream, self._interactive)

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done = min(self.total, self.done + n)
        if self.disable:
            return
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(n)
            return
        self.stream.write(self.render(note) + "\n")
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
        if self._bar is not None:
            self._bar.close()


def _tqdm(total: int, label: str, stream: TextIO, interactive: bool):
    """A tqdm bar on a terminal, a notebook widget in Jupyter; None (plain lines) elsewhere or without tqdm."""
    try:
        if interactive:
            from tqdm import tqdm

            return tqdm(total=total, desc=label, file=stream, dynamic_ncols=True)
        if "ipykernel" in sys.modules and stream is sys.stderr:
            from tqdm.auto import tqdm as auto

            return auto(total=total, desc=label)
    except Exception:  # noqa: BLE001 - progress display must never stop a run
        return None
    return None


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"
