"""Progress for long runs: a live bar on a terminal, a few plain lines in logs and CI.

It writes to stderr, so stdout stays clean for a command's result; on a terminal the bar is redrawn in
place (\\r) at most ten times a second, elsewhere a line is printed every 10% of the run. Both show the latest
evaluation metrics (`eval@40 loss 0.31 accuracy 0.92`) once the recipe has computed some.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    def __init__(self, total: int, *, start: int = 0, label: str = "train", stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.total, self.done, self.label = total, start, label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = max(1, total // 10)
        self.latest_eval: tuple[int, dict[str, float]] | None = None  # (step, metrics) of the latest evaluation
        self.resume(start)

    def resume(self, step: int) -> None:
        """Count the rate from `step` (a resumed run starts part-way)."""
        self.start = self.done = step
        self.t0 = time.perf_counter()
        self.last_draw = 0.0

    def evaluated(self, step: int, metrics: dict[str, float]) -> None:
        """Step `step` computed the evaluation metrics `metrics`: shown, with their step, from the next update
        on until the next evaluation (the runner calls this before `update` of that step)."""
        self.latest_eval = (step, dict(metrics))

    def update(self, step: int, loss: float) -> None:
        self.done = step
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = max(now - self.t0, 1e-9)
        rate = (step - self.start) / elapsed
        eta = (self.total - step) / rate if rate > 0 else 0.0
        if self.tty:
            if now - self.last_draw < 0.1 and step < self.total:
                return
            self.last_draw = now
            width = 28
            filled = int(width * step / max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            self._write(f"\r{self.label} {step:>{len(str(self.total))}}/{self.total} [{bar}] "
                        f"loss {loss:<10.4g}{self._eval(4)} {rate:7.1f} step/s  eta {_duration(eta)} \x1b[K")
        elif step % self.every == 0 or step == self.total:
            self._write(f"{self.label} step {step}/{self.total} loss {loss:.6g}{self._eval(6)} ({rate:.1f} "
                        f"step/s, eta {_duration(eta)})\n")

    def _write(self, text: str) -> None:
        """Progress is a view of the run: a stream that refuses it (a full disk, a closed pipe) ends the display,
        not the run (it stopped training at the first line, exit 1)."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = self.tty = False

    def _eval(self, digits: int) -> str:
        """` eval@40 loss 0.31 accuracy 0.92`: the latest evaluation and its step, or nothing before the first."""
        if self.latest_eval is None:
            return ""
        step, metrics = self.latest_eval
        return f" eval@{step} " + " ".join(f"{k} {v:.{digits}g}" for k, v in metrics.items())

    def close(self) -> None:
        """End the live line so that later messages start on a fresh one."""
        if self.enabled and self.tty:
            self._write("\n")
            self.tty = False
