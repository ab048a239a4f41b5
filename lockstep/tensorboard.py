"""TensorBoard event files for `lockstep run --tensorboard`: optional, never required.

`metrics.jsonl` stays the run's record (checkpoints hold it, `--resume` restores it); the event files are a
view of it for the tool people already use, written into `RUN/tensorboard/` one scalar per metric per step:
`train/loss`, `train/learning_rate`, `train/grad_norm` (with clipping) and `eval/<metric>` when the recipe
evaluates. The writer is the `tensorboard` package's own (`EventFileWriter`, no TensorFlow needed) or, where
only TensorFlow is installed, `tf.summary`. Neither is imported before a run asks for event files, and a
machine with neither gets one sentence and exit 2 before any training (`require`).
"""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path
from typing import Any, Protocol

FOLDER = "tensorboard"  # inside the run folder


class Unavailable(Exception):
    """Neither the tensorboard package nor TensorFlow is installed."""


class Writer(Protocol):
    def scalar(self, tag: str, value: float, step: int) -> None: ...

    def close(self) -> None: ...


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-installed package is as good as none
        return False


def backend() -> str | None:
    """Which writer a run would use: "tensorboard", "tensorflow", or None (neither installed). Imports neither."""
    if _installed("tensorboard") and _installed("tensorboard.summary"):
        return "tensorboard"
    if _installed("tensorflow"):
        return "tensorflow"
    return None


def require() -> str:
    """The writer's name, or Unavailable saying how to get one (checked before a run loads anything)."""
    found = backend()
    if found is None:
        raise Unavailable("--tensorboard needs the `tensorboard` package (pip install tensorboard) or TensorFlow "
                          "(pip install 'lockstep-standard[tensorflow]'); neither is installed. metrics.jsonl and "
                          "loss.svg hold the same numbers")
    return found


class _PackageWriter:
    """The tensorboard package's event file writer (what torch.utils.tensorboard uses), scalars as simple values."""

    def __init__(self, folder: Path) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = Event, Summary
        self._writer = EventFileWriter(str(folder))

    def scalar(self, tag: str, value: float, step: int) -> None:
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=value)])
        self._writer.add_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


class _TensorFlowWriter:
    """`tf.summary` (TensorFlow 2), for machines where TensorFlow is installed and the tensorboard package is not."""

    def __init__(self, folder: Path) -> None:
        import tensorflow as tf

        import lockstep.adapters.tensorflow  # noqa: F401  (its environment defaults precede TensorFlow's import)

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(folder))

    def scalar(self, tag: str, value: float, step: int) -> None:
        with self._writer.as_default():
            self._tf.summary.scalar(tag, value, step=step)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


def open_writer(folder: Path, which: str | None = None) -> Writer:
    """A writer of event files in `folder` (created), by the package `which` (default: `require()`'s choice)."""
    which = which or require()
    Path(folder).mkdir(parents=True, exist_ok=True)
    return _PackageWriter(Path(folder)) if which == "tensorboard" else _TensorFlowWriter(Path(folder))


class Recorder:
    """Turns each metrics.jsonl record into scalars (the runner calls it once per logged step)."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def __call__(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        scalars = {"train/loss": record.get("loss"), "train/learning_rate": record.get("lr"),
                   "train/grad_norm": record.get("grad_norm")}
        scalars.update({f"eval/{k}": v for k, v in (record.get("eval") or {}).items()})
        for tag, value in scalars.items():
            if isinstance(value, (int, float)) and math.isfinite(value):  # a non-finite step stops the run anyway
                self.writer.scalar(tag, float(value), step)

    def close(self) -> None:
        self.writer.close()
