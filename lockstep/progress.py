"""Progress for long runs: a live bar on a terminal, a few plain lines in logs and CI."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, *, start: int = 0, label: str = "train", stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.total, self.done, self.label = total, start, label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self.start = start
        self.every = max(1, total // 10)
        self.last_draw = 0.0

    def update(self, step: int, loss: float) -> None:
        self.done = step
        if not self.enabled:
            return
        rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
        if self.tty:
            now = time.perf_counter()
            if now - self.last_draw < 0.1 and step < self.total:
                return
            self.last_draw = now
            width = 28
            filled = int(width * step / max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r{self.label} {step:>6}/{self.total} [{bar}] loss {loss:.4g}  {rate:.1f} step/s ")
            self.stream.flush()
        elif step % self.every == 0 or step == self.total:
            self.stream.write(f"{self.label} step {step}/{self.total} loss {loss:.6g} ({rate:.1f} step/s)\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
