"""TensorBoard event files for `lockstep run --tensorboard`: optional, never required.

`metrics.jsonl` stays the run's record (checkpoints hold it, `--resume` restores it); the event files are a
view of it for the tool people already use, written into `RUN/tensorboard/` one scalar per metric per step:
`train/loss`, `train/learning_rate`, `train/grad_norm` (where the backend computes it) and `eval/<metric>` when
the recipe evaluates. The writer is the `tensorboard` package's own (`EventFileWriter`, no TensorFlow needed) or, where
only TensorFlow is installed, `tf.summary`. Neither is imported before a run asks for event files, and a
machine with neither gets one sentence and exit 2 before any training (`require`).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from lockstep.runfolder import TENSORBOARD_PROBE

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
        # the tensorboard package imports TensorFlow where it is installed: the adapter's environment defaults
        # (quiet start-up, oneDNN off) must precede that import, as they precede the adapter's own
        importlib.import_module("lockstep.adapters.tensorflow")
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
    """`tf.summary` (TensorFlow 2), for machines where TensorFlow is installed and the tensorboard package is not.

    `tf.summary.scalar` itself lives in the tensorboard package (TensorFlow 2.21 raises TBNotInstalledError
    without it), so scalars are written with TensorFlow's own `tf.summary.write` and the metadata of
    TensorBoard's scalars plugin: what `tf.summary.scalar` writes, read by TensorBoard the same way."""

    def __init__(self, folder: Path) -> None:
        importlib.import_module("lockstep.adapters.tensorflow")  # its environment defaults precede TensorFlow's import
        tf = importlib.import_module("tensorflow")
        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(folder))
        meta = tf.compat.v1.SummaryMetadata
        self._metadata = meta(plugin_data=meta.PluginData(plugin_name="scalars"), data_class=1)  # DATA_CLASS_SCALAR

    def scalar(self, tag: str, value: float, step: int) -> None:
        tf = self._tf
        with self._writer.as_default():
            tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=self._metadata)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


def open_writer(folder: Path, which: str | None = None) -> Writer:
    """A writer of event files in `folder` (created), by the package `which` (default: `require()`'s choice)."""
    which = which or require()
    Path(folder).mkdir(parents=True, exist_ok=True)
    return _PackageWriter(Path(folder)) if which == "tensorboard" else _TensorFlowWriter(Path(folder))


PROBE = TENSORBOARD_PROBE  # longer than FOLDER: a path the probe fits in, the event files fit in too (a kill's
# leftover is removed at the folder's next claim)


def problem(run_folder: Path, shown: Path, which: str, *, resume: bool) -> str | None:
    """Why this run cannot write event files (None: it can), found before `--overwrite` removes the previous run:
    a resume's `tensorboard/` that is a link (its event files are rewritten: never through a link) or not a folder,
    or a writer that cannot start (a broken install, a path too long for its file's name), tried in a folder of
    its own beside where the run's will go, then removed. `shown`: the run folder as messages name it."""
    import shutil

    events = Path(run_folder) / FOLDER
    if resume and events.is_symlink():
        return f"{shown / FOLDER} is a symbolic link; a resume replaces the event files in it, so it must be a " \
               "folder of the run's own"
    if resume and events.exists() and not events.is_dir():
        return f"{shown / FOLDER} is not a folder"
    where = Path(run_folder) / PROBE
    try:
        open_writer(where, which).close()
    except Exception as exc:
        return f"cannot write event files with {which} ({reason(exc)}); nothing was changed"
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return None


def reason(exc: BaseException) -> str:
    """An exception as one short line: TensorFlow's errors span lines and quote their graph functions."""
    text = " ".join(str(exc).replace("\\n", " ").replace("\\t", " ").split())
    return f"{type(exc).__name__}: {text[:300]}"


def event_files(folder: Path) -> list[Path]:
    """The event files in `folder` (TensorBoard reads every `events.out.tfevents.*` of a run's folder)."""
    try:
        return sorted(p for p in Path(folder).glob("events.out.tfevents.*") if p.is_file())
    except OSError:
        return []


class Recorder:
    """Turns each metrics.jsonl record into scalars (the runner calls it once per logged step).

    Event files are a view: a writer that fails mid-run (a full disk, a broken TensorBoard install) is said
    once through `warn` and dropped, and the run, its metrics.jsonl and its checkpoints go on.

    `stale`: the event files an earlier run of this folder left (`event_files` before the writer opened). A resume
    starts from a checkpoint, and the killed run had logged steps past it: kept, those steps would show twice
    in TensorBoard (once from each run). `restart` removes them and writes the history the run starts from
    again, so the folder always shows metrics.jsonl's steps, each once."""

    def __init__(self, writer: Writer, warn: Callable[[str], None] | None = None,
                 stale: list[Path] | None = None, folder: Path | None = None) -> None:
        self.writer: Writer | None = writer
        self.warn = warn
        self.stale = list(stale or [])
        self.folder = folder  # where the writer writes: its file is removed if the run never starts (`close`)
        self.earlier = set(self.stale)
        self.started = False

    def restart(self, history: list[dict[str, Any]]) -> None:
        """The run starts from `history` (metrics.jsonl as the checkpoint holds it; empty for a fresh run): the
        earlier event files go, and its records are written again into this run's file."""
        self.started = True
        replaced = bool(self.stale)
        for path in self.stale:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                self._drop(f"TensorBoard event files not written: cannot remove the earlier run's {path.name} "
                           f"({exc.strerror or exc}), whose steps past the checkpoint would show twice; "
                           "metrics.jsonl has every step")
                return
        self.stale = []
        if replaced and history and self.warn is not None:  # about a millisecond a step: a long history takes a while
            self.warn(f"--tensorboard: writing the event file anew from the checkpoint's {len(history)} logged "
                      f"step{'s' * (len(history) != 1)} (each step shows once)")
        for record in history:
            self(record)

    def __call__(self, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        step = int(record["step"])
        scalars = {"train/loss": record.get("loss"), "train/learning_rate": record.get("lr"),
                   "train/grad_norm": record.get("grad_norm")}
        scalars.update({f"eval/{k}": v for k, v in (record.get("eval") or {}).items()})
        try:
            for tag, value in scalars.items():
                if isinstance(value, (int, float)) and math.isfinite(value):  # a non-finite step stops the run
                    self.writer.scalar(tag, float(value), step)
        except Exception as exc:
            self._drop(f"TensorBoard event files stopped at step {step} ({type(exc).__name__}: {exc}); "
                       "metrics.jsonl has every step")

    def _drop(self, message: str) -> None:
        writer, self.writer = self.writer, None
        if self.warn is not None:
            self.warn(message)
        try:
            if writer is not None:
                writer.close()
        except Exception:  # already failing: the first message said why
            pass

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as exc:
                self._drop(f"TensorBoard event files may be incomplete ({type(exc).__name__}: {exc})")
            self.writer = None
        if not self.started and self.folder is not None:  # refused before its first step (a resume that did not
            for path in event_files(self.folder):  # match): its empty file would only show as a run with no data
                if path not in self.earlier:
                    try:
                        path.unlink(missing_ok=True)
                    except OSError:
                        pass
