"""The one runner: drives any adapter through a recipe the same way.

Data and initial weights are prepared once, by the standard, and handed to the backend; then each
step feeds the batch of that step (a pure function of the step number), the standard's dropout
masks, and lets the backend do forward, loss, backward, clipping, L2 and the optimizer step.
Checkpoints hold everything the rest of the run depends on (parameters, buffers, optimizer state, the
step, the metrics so far), so `--resume` after a kill at any point ends with the same bits and the
same metrics.jsonl as a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import statistics
import sys
import time
import weakref
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lockstep.adapters.base import NonFiniteError, Session, UnsupportedConstruct
from lockstep.adapters.checked import (
    AnswerError,
    a_stop,
    forward_answer,
    optimizer_state_answer,
    parameters_answer,
    session_answer,
    session_call,
    step_answer,
)
from lockstep.checkpoint import Checkpoint, Layout, ResumeRefused, checkpoints, resume_point, save_checkpoint
from lockstep.checkpoint import load_checkpoint as load_checkpoint  # re-exported: tools and tests read checkpoints
from lockstep.checkpoint import trained_by as trained_by_of
from lockstep.errors import RunError
from lockstep.reference import losses, metrics
from lockstep.reference.data import DataError, Dataset, load_npz, prepare
from lockstep.reference.initializers import initial_parameters
from lockstep.reference.random import dropout_mask
from lockstep.runfolder import said
from lockstep.spec import atomic
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.formats import plural
from lockstep.spec.graph import ModelGraph, build_graph

if TYPE_CHECKING:
    from lockstep.adapters.base import Adapter
    from lockstep.distributed import Replica
    from lockstep.progress import Progress

EVAL_CHUNK = 4096  # samples per evaluation forward: bounds memory on large validation sets


class RunFailed(RunError):
    """Training stopped (non-finite loss or gradient); `result` holds the steps completed before it."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message, 1)
        self.result = result


@dataclass
class Prepared:
    """Everything a run needs before it meets a backend; identical for every backend."""

    recipe: Recipe
    model: Model
    graph: ModelGraph
    data: Dataset
    initial: dict[str, np.ndarray]
    recipe_hash: str
    base_dir: Path
    total_steps: int
    recipe_path: Path | None = None  # the recipe file (report.json records it for `lockstep deploy RUN`)
    data_hash: str | None = None  # SHA-256 of the data file (npz, csv): a resume refuses data changed since

    @property
    def dropouts(self) -> dict[str, tuple[tuple[int, ...], float]]:
        """Dropout layers that need the standard's keep-mask each step (computed once)."""
        cached = self.__dict__.get("_dropouts")
        if cached is None:
            cached = {n.name: (n.shape, n.layer.rate) for n in self.graph.nodes
                      if n.type == "dropout" and n.layer.rate > 0}  # type: ignore[attr-defined]
            self.__dict__["_dropouts"] = cached
        return cached


# ---------------------------------------------------------------------------------------- preparing
def load_recipe(path: str | Path) -> tuple[Recipe, Model, Path]:
    """The validated recipe, its resolved model and the recipe's folder (`lockstep.effective.read`: the file and
    its model read and validated once); RunError (exit 2) with diagnostics."""
    from lockstep import effective

    eff = effective.read(path)
    return eff.recipe, eff.model, eff.base


def _model_dir(recipe: Recipe, base: Path) -> Path:
    """Where the model document lives: a weights path is relative to it, not to the recipe."""
    from lockstep.spec.paths import resolve_path

    return resolve_path(base, recipe.model).parent if isinstance(recipe.model, str) else base


def recipe_hash(recipe: Recipe, model: Model, weights_sha256: str | None = None, base: Path | None = None) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of the validated recipe with its model resolved: what
    a checkpoint must have been trained by to be resumed (or deployed) with this recipe.

    Defaults are filled in, so two spellings of one recipe hash alike; a weights file counts by its digest, not by
    the path it is named by (recipe.resolved.yaml, its model inline, names it from the recipe's folder); a data file
    by the path it resolves to from the recipe's folder `base` (`./d.csv` is `d.csv`). Left out: what the standard
    says no tool reads, the recipe's and the model's `metadata.description` and `metadata.labels` (hashed as their
    defaults, so a recipe without them hashes as it did before they were left out), and the `distribution`
    section: a checkpoint holds no per-replica state, so a run may resume on another replica count (the
    checkpoint records the one it was written with, and resuming says what changed)."""
    doc = recipe.model_dump(mode="json")
    doc.pop("distribution", None)
    doc["model"] = model.model_dump(mode="json")
    for part in (doc, doc["model"]):
        part["metadata"].update(description="", labels={})
    source = doc["data"]["source"]
    if source.get("type") in ("npz", "csv"):
        source["path"] = _hashed_path(base, source["path"])
    if weights_sha256 is not None:
        doc["model"]["weights"]["sha256"] = weights_sha256
        doc["model"]["weights"].pop("path", None)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _hashed_path(base: Path | None, path: str) -> str:
    """A data path as the hash counts it: where it leads from the recipe's folder (resolve_path, as the loader
    follows it), relative to that folder, with `/`; spelled-alike paths normalized when no folder is known."""
    import os
    import posixpath

    from lockstep.spec.paths import resolve_path

    if base is not None:
        try:
            return Path(os.path.relpath(resolve_path(base, path), Path(base).resolve())).as_posix()
        except (OSError, ValueError):  # refused or unreadable: validation said so; the text as written
            pass
    return posixpath.normpath(path.replace(os.sep, "/")) if path else path


def prepare_run(path: str | Path, steps: int | None = None, dtype: str | None = None) -> Prepared:
    """Load and validate the recipe, prepare its data and initial weights once. `steps` caps the run; `dtype`
    replaces the recipe's (`lockstep compare --dtype`: the same recipe in float32 and float64)."""
    recipe, model, base = load_recipe(path)
    if dtype is not None and dtype != recipe.dtype:
        recipe = recipe.model_copy(update={"dtype": dtype})
    return prepare_loaded(recipe, model, base, steps, Path(path))


def prepare_loaded(recipe: Recipe, model: Model, base: Path, steps: int | None = None,
                   path: Path | None = None) -> Prepared:
    """`prepare_run` for a recipe already validated (the Python API's, with its overrides applied): its data
    and initial weights, relative paths resolved against `base`; `path` names the recipe in messages."""
    said = path if path is not None else base / f"<recipe {recipe.metadata.name}>"  # report.json: no file, null
    graph = build_graph(model)
    try:
        data = prepare(recipe, base, model.inputs[0].dtype, input_shape=tuple(model.inputs[0].shape),
                       output_shape=tuple(graph.output_shapes()[0]),
                       vocabulary=min((dim for _, dim in graph.token_tables()), default=None))
    except DataError as exc:
        raise RunError(str(exc)) from None
    initial = initial_parameters(graph, recipe.seed)
    digest = None
    if model.weights is not None:
        loaded, digest = _load_weights(model, _model_dir(recipe, base), initial, recipe.dtype)
        initial.update(loaded)
    total = data.total_steps(recipe.training)
    if total < 1:
        raise RunError(f"{said}: the recipe trains for 0 steps")
    if steps is not None:
        total = min(total, steps)
    return Prepared(recipe, model, graph, data, initial, recipe_hash(recipe, model, digest, base), base, total, path,
                    _data_hash(recipe, base))


def _data_hash(recipe: Recipe, base: Path) -> str | None:
    """SHA-256 of the file the recipe's data comes from (None for generated or packaged data). Kept out of the
    recipe hash, which checkpoints written before it carry."""
    import hashlib

    from lockstep.spec.paths import resolve_path

    name = _file_source(recipe)
    if name is None:
        return None
    try:
        with open(resolve_path(base, name), "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except (OSError, ValueError):  # it was just read: a file that went since is the resume's to find
        return None


def _load_weights(model: Model, base: Path, initial: dict[str, np.ndarray], dtype: str = "float64"
                  ) -> tuple[dict[str, np.ndarray], str]:
    from lockstep.spec.paths import resolve_path

    assert model.weights is not None
    try:
        path = resolve_path(base, model.weights.path)
        raw = path.read_bytes()
        with load_npz(io.BytesIO(raw)) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RunError(f"{model.weights.path}: cannot read weights ({exc})") from None
    extra = sorted(set(arrays) - set(initial))
    missing = sorted(set(initial) - set(arrays))
    if model.weights.strict and (extra or missing):
        raise RunError(f"{path}: weights do not match the model (missing: {', '.join(missing) or 'none'}; "
                       f"unexpected: {', '.join(extra) or 'none'}); set `weights.strict: false` to load a subset")
    out = {}
    for k, a in arrays.items():
        if k not in initial:
            continue
        if not np.issubdtype(a.dtype, np.number) or a.shape != initial[k].shape:
            raise RunError(f"{path}: `{k}` is {a.dtype} {list(a.shape)}; the model needs float "
                           f"{list(initial[k].shape)}")
        if not np.all(np.isfinite(a)):
            raise RunError(f"{path}: `{k}` holds non-finite values")
        a = a.astype(np.float64)
        beyond = np.argwhere(np.abs(a) > np.finfo(dtype).max)
        if beyond.size:  # the recipe's dtype would hold ±inf there: a run that starts from non-finite weights
            first = tuple(int(i) for i in beyond[0])
            raise RunError(f"{path}: `{k}` holds {a[first]:.6g} at index {first}, beyond the range of the recipe's "
                           f"dtype ({dtype}: ±{np.finfo(dtype).max:.6g})")
        out[k] = a
    return out, hashlib.sha256(raw).hexdigest()


def configure_threads(adapter: Adapter, backend: str, threads: int | None = None) -> dict[str, Any]:
    """Set the backend's intra-op threads (`threads`; default: OMP_NUM_THREADS if set, else the CPUs this process
    may use) and one inter-op thread, before it builds anything; returns and records (lockstep/fingerprint.py)
    what is in effect.

    Thread counts change the order of float32 reductions, and oversubscribed thread pools cost more than they
    give on small models, so the runner never leaves them to a framework's default."""
    from lockstep.fingerprint import default_threads, record_threads

    want = default_threads() if threads is None else int(threads)
    configure = getattr(adapter, "configure_threads", None)
    settings: dict[str, Any] = {"requested": want}
    if callable(configure):
        settings.update(_plain_settings(configure(want, 1)))
    record_threads(backend, settings)
    return settings


def _plain_settings(answer: Any) -> dict[str, Any]:
    """What an adapter's configure_threads() answered, as report.json can record it: text keys, and values that
    are numbers, text, booleans or None (anything else as its text). A third-party answer of another shape once
    crashed `lockstep run` after training, while it wrote its report."""
    from collections.abc import Mapping

    from lockstep.adapters.checked import safe_str as text

    if answer is None:
        return {}
    if not isinstance(answer, Mapping):
        return {"answer": text(answer)}
    return {text(k): v if v is None or isinstance(v, (bool, int, float, str)) else text(v)
            for k, v in answer.items()}


def build_session(prep: Prepared, backend: str, device: str = "cpu", threads: int | None = None
                  ) -> tuple[Adapter, Session]:
    """The backend's adapter and a session for this recipe, its threads configured first (`configure_threads`);
    every "cannot" becomes a RunError (exit 2)."""
    from lockstep.adapters.registry import AdapterNotFound, get

    try:
        adapter = get(backend)
        levels = tuple(getattr(adapter, "levels", (1, 2, 3, 4)))
        if 3 not in levels:  # found here, before a run folder is written (it stopped at the first step)
            does = "predictions and gradients" if 2 in levels else "predictions"
            raise RunError(f"backend `{backend}` cannot train a recipe: it computes {does} only (conformance levels "
                           f"{', '.join(map(str, levels))}); deploy a trained model to it with `lockstep deploy`")
        backend_versions(adapter, backend)  # an unusable answer is refused here, before any run folder is written
        configure_threads(adapter, backend, threads)
        session = session_answer(adapter.build(prep.model, dtype=prep.recipe.dtype, device=device, recipe=prep.recipe))
    except AdapterNotFound as exc:
        raise RunError(str(exc)) from None
    except UnsupportedConstruct as exc:
        raise RunError(f"backend `{backend}` cannot run this recipe: {exc.subject()}: {exc.reason}") from None
    except ValueError as exc:
        raise RunError(f"backend `{backend}`: {exc}") from None
    except RunError:
        raise
    except KeyboardInterrupt as exc:
        if a_stop(exc):  # Ctrl-C; one the adapter raised itself is its failure (it stopped run as if interrupted)
            raise
        raise RunError(f"backend `{backend}` could not build a session: KeyboardInterrupt raised by the adapter: "
                       f"{' '.join(str(exc).split())[:300]}") from None
    except BaseException as exc:  # a third-party adapter's failure (RuntimeError, SystemExit...): said, no traceback
        raise RunError(f"backend `{backend}` could not build a session: {type(exc).__name__}: "
                       f"{' '.join(str(exc).split())[:300]}") from None
    return adapter, session


_VERSIONS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def backend_versions(adapter: Adapter, backend: str) -> dict[str, str]:
    """The adapter's versions() as report.json records them, checked (adapters/checked.py): a third-party
    adapter that answers something other than a mapping, or raises, is a RunError naming the method. Asked once per
    adapter object: the answer checked before a run is the one its report records (it was asked again at the end)."""
    from lockstep.adapters.checked import AdapterError, adapter_versions

    try:
        return dict(_VERSIONS[adapter])
    except Exception:  # not asked yet, or an object that cannot be a weak key (unhashable, no weak references)
        pass
    try:
        versions = adapter_versions(adapter)
    except AdapterError as exc:
        raise RunError(f"backend `{backend}` cannot be used: {exc}") from None
    try:
        _VERSIONS[adapter] = dict(versions)
    except Exception:
        pass
    return versions


def prepare_sessions(prog: str, recipe: str | Path, backends: list[str], device: str = "cpu",
                     steps: int | None = None, *, threads: int | None = None, dtype: str | None = None
                     ) -> int | tuple[Prepared, dict[str, tuple[Adapter, Session]]]:
    """The one preparation path of `lockstep run` and `lockstep compare`: the recipe prepared once and a
    session per backend, or, for bad input, the diagnostics printed to stderr and the exit code (2).

    When several backends are compared, the reference (the CPU oracle) runs on the CPU whatever `device`."""
    try:
        prep = prepare_run(recipe, steps, dtype)
        built = {name: build_session(prep, name, "cpu" if name == "reference" and len(backends) > 1 else device,
                                     threads)
                 for name in backends}
    except RunError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.exit_code
    return prep, built


def masks_for(prep: Prepared, step: int, batch: int) -> dict[str, np.ndarray] | None:
    """The standard's dropout keep-masks of 0-based optimizer step `step`, for a batch of `batch` samples."""
    drops = prep.dropouts
    if not drops:
        return None
    return {name: dropout_mask(prep.recipe.seed, name, step, (batch, *shape), rate)
            for name, (shape, rate) in drops.items()}


def evaluate(prep: Prepared, session: Session,
             guard: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext) -> dict[str, float]:
    """The recipe's metrics in eval mode, on the validation split (or the training data when none). The adapter's
    forward calls run inside `guard()`, the metrics' own math outside it."""
    r = prep.recipe
    x, y = prep.data.x_eval, prep.data.y_eval
    with guard():
        outs = [np.asarray(forward_answer(session.forward(x[i:i + EVAL_CHUNK], training=False)))
                for i in range(0, len(x), EVAL_CHUNK)]
        if any(o.ndim == 0 for o in outs):
            raise AnswerError(f"forward() returned an array of shape [] for {plural(len(x), 'example')}")
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
        if len(out) != len(x):
            raise AnswerError(f"forward() returned {plural(len(out), 'output')} for {plural(len(x), 'example')}")
    result: dict[str, float] = {}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for m in r.evaluation.metrics:
            if m == "loss":
                result["loss"] = float(losses.compute(r.loss, out, y)[0])
            elif m == "accuracy":
                result["accuracy"] = metrics.accuracy(out, y, r.loss.type, getattr(r.loss, "from_logits", True))
            elif m == "mse":
                result["mse"] = metrics.mse(out, y)
            elif m == "mae":
                result["mae"] = metrics.mae(out, y)
    return result


# --------------------------------------------------------------------------------------------- train
@dataclass
class RunResult:
    steps: int
    final_loss: float
    eval_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)
    session: Session | None = None
    resumed_from: int | None = None  # the checkpoint step a --resume continued from
    eval_time: float = 0.0
    resumed_backend: str | None = None  # the backend that wrote that checkpoint
    trained_by: list[dict[str, Any]] | None = None  # every backend and replica count, where more than one trained it


def _resume_point(ckpt_dir: Path, prep: Prepared, session: Session, replica: Replica | None = None,
                  say: Callable[[str], None] | None = None) -> Checkpoint | None:
    """The newest intact checkpoint of this recipe, verified against `session` (lockstep/checkpoint.py); in a
    data-parallel run rank 0 finds it (and sets damaged ones aside) and every rank gets the same one."""
    if replica is not None:
        found: Checkpoint | RunError | None = None
        if replica.writer:
            try:
                found = _resume_point(ckpt_dir, prep, session, say=say)
            except RunError as exc:
                found = exc
        found = replica.share(found)
        if isinstance(found, RunError):
            raise found
        return found
    try:
        return resume_point(ckpt_dir, recipe_hash=prep.recipe_hash, total_steps=prep.total_steps,
                            layout=Layout.of(session), warn=say or _say,
                            data_hash=prep.data_hash, data_file=_file_source(prep.recipe))
    except ResumeRefused as exc:
        raise RunError(str(exc)) from None


def _file_source(recipe: Recipe) -> str | None:
    """The data file a recipe names (an npz or csv source), as written; None for generated or packaged data."""
    source = recipe.data.source
    return getattr(source, "path", None) if getattr(source, "type", None) in ("npz", "csv") else None


def _scheduled_eval(prep: Prepared, step: int) -> bool:
    """Whether the recipe itself evaluates after `step` (every `evaluation.every` steps and at its last), as
    opposed to the evaluation a `--steps` cap adds where it stops."""
    every = prep.recipe.evaluation.every
    return bool(every and step % every == 0) or step == prep.data.total_steps(prep.recipe.training)


def _without_cap_eval(prep: Prepared, history: list[dict[str, Any]], lines: list[str]) -> None:
    """A checkpoint written where `--steps` stopped holds that stop's evaluation in its last record; the run it
    resumes into is the recipe's own, whose metrics.jsonl has no evaluation there (bit for bit an uninterrupted
    run's). Not where this run stops too (resumed with the same `--steps`): the evaluation is its final one (it
    was removed, and the step-50 evaluation was reported as a `--steps 61` run's final metrics)."""
    if history and "eval" in history[-1] and not _scheduled_eval(prep, history[-1]["step"]) \
            and history[-1]["step"] != prep.total_steps:
        last = dict(history[-1])
        del last["eval"]
        history[-1], lines[-1] = last, atomic.json_line(last)


def train(prep: Prepared, session: Session, *, out: Path | None = None, resume: bool = False,
          progress: Progress | None = None, backend: str = "",
          on_step: Callable[[dict[str, Any]], None] | None = None, replica: Replica | None = None,
          on_start: Callable[[list[dict[str, Any]]], None] | None = None,
          guard: Callable[[int], None] | None = None, say: Callable[[str], None] | None = None) -> RunResult:
    """Run the recipe on `session` (already built). With `out`, write metrics.jsonl and checkpoints; `on_step`
    sees each step's metrics.jsonl record once it is logged (TensorBoard event files are written from it), and
    `on_start` the records the run starts from (a resume's, from its checkpoint; none for a fresh run);
    `guard(step)` is called before each checkpoint is written (the run folder's `check_in_place`: it raises when the
    folder went); `say` hears the notes about the resume (default: stderr, `lockstep run: ` first).

    In a data-parallel run with a process per replica (`replica`, lockstep/distributed.py) every rank trains and
    only rank 0 evaluates and writes. Raises RunFailed (exit 1) on a non-finite loss or gradient, RunError
    (exit 2) for an unusable resume."""
    r = prep.recipe
    say = say or _say
    writer = replica is None or replica.writer
    start, resumed_from = 0, None
    history: list[dict[str, Any]] = []
    lines: list[str] = []
    ckpt_dir = out / "checkpoints" if out is not None and r.checkpoint is not None else None
    last_ckpt = 0
    session.set_parameters(prep.initial)
    point: Checkpoint | None = None
    if resume and ckpt_dir is not None:
        point = _resume_point(ckpt_dir, prep, session, replica, say)
        if point is not None:
            start = point.step
            session.set_parameters(point.params)
            session.set_optimizer_state(point.optimizer_step, point.state)
            history, lines = point.history, point.history_lines
            _without_cap_eval(prep, history, lines)
            resumed_from = last_ckpt = start
            if writer:
                _say_resumed(prep, point, session, backend, say)
    elif ckpt_dir is not None and writer:
        for stale in checkpoints(ckpt_dir):  # a fresh run must never resume into an older run's state
            stale.unlink()
    _start(on_start, history, replica)  # before any file is written: it may still refuse the run
    metrics_path = out / "metrics.jsonl" if out is not None and writer else None
    if metrics_path is not None:
        atomic.write_text(metrics_path, "".join(lines))  # drops what a killed run wrote past its checkpoint
    log = atomic.LineLog(metrics_path) if metrics_path is not None else None  # never ends in half a line
    if progress is not None:
        progress.resume(start)
    result = RunResult(prep.total_steps, history[-1]["loss"] if history else math.nan, {}, history, [],
                       session, resumed_from)
    if resumed_from is not None and point is not None and backend and point.backend != backend:
        result.resumed_backend = point.backend
    lineage = trained_by_of(point, backend, getattr(session, "distribution", None))
    result.trained_by = lineage if len(lineage) > 1 else None
    every = r.evaluation.every
    full_steps = prep.data.total_steps(r.training)  # the recipe's own, which a `--steps` cap may stop short of
    eval_time = 0.0
    try:
        for step in range(start, prep.total_steps):
            done = step + 1
            epoch, x, y = prep.data.batch(step)
            masks = masks_for(prep, step, len(x))
            t0 = time.perf_counter()
            try:
                with _adapter_failure(done, backend, "train_step()", result, ckpt_dir, last_ckpt, replica):
                    res = step_answer(session.train_step(x, y, masks=masks))
                quantity = None if math.isfinite(res.loss) else "loss"  # in case an adapter does not check
            except NonFiniteError as exc:
                quantity = exc.quantity
            checkpointed = ckpt_dir is not None and r.checkpoint is not None and (
                done % r.checkpoint.every == 0 or done == prep.total_steps)
            params = None  # fetched once where checked: the checkpoint writes these
            if quantity is None and (checkpointed or done == prep.total_steps):  # the next step's loss says it
                with _adapter_failure(done, backend, "get_parameters()", result, ckpt_dir, last_ckpt, replica):
                    params = parameters_answer(session.get_parameters())  # elsewhere; nothing after these steps does
                quantity = _nonfinite_parameter(params)
            if quantity is not None:
                raise RunFailed(f"step {done}: non-finite {quantity}; the run stopped ({_kept(ckpt_dir, last_ckpt)})",
                                result)
            result.step_times.append(time.perf_counter() - t0)
            result.final_loss = loss = float(res.loss)
            record: dict[str, Any] = {"step": done, "epoch": epoch, "loss": loss, "lr": float(res.learning_rate)}
            if res.grad_norm is not None:
                record["grad_norm"] = float(res.grad_norm)
            if writer and ((every and done % every == 0) or done == prep.total_steps):
                t1 = time.perf_counter()
                result.eval_metrics = record["eval"] = evaluate(prep, session, functools.partial(
                    _adapter_failure, done, backend, "forward()", result, ckpt_dir, last_ckpt, replica))
                eval_time += time.perf_counter() - t1
            line = atomic.json_line(record)
            history.append(record)
            lines.append(line)
            if log is not None:
                with atomic.naming(metrics_path):
                    log.write(line)
            if writer and checkpointed:
                if log is not None:
                    with atomic.naming(metrics_path):
                        log.flush()  # the log reaches the checkpoint's step before the checkpoint exists
                if guard is not None:
                    guard(done)
                with _adapter_failure(done, backend, "get_optimizer_state()", result, ckpt_dir, last_ckpt, replica):
                    optimizer = optimizer_state_answer(session.get_optimizer_state())  # apart from the file's errors
                save_checkpoint(ckpt_dir, done, session, prep, r.checkpoint.keep, history="".join(lines), params=params,
                                backend=backend, distribution=getattr(session, "distribution", None),
                                scheduled=lambda s: s % r.checkpoint.every == 0 or s == full_steps, lineage=lineage,
                                optimizer=optimizer)
                last_ckpt = done
            if on_step is not None:
                on_step(record)
            if progress is not None:
                if "eval" in record and hasattr(progress, "evaluated"):  # any object with update() still serves
                    progress.evaluated(done, record["eval"])
                progress.update(done, loss)
    finally:
        result.eval_time = eval_time
        if log is not None:
            with atomic.naming(metrics_path):
                log.close()
    if writer and not result.eval_metrics:  # resumed from the final checkpoint: nothing left to train
        last_eval = next((h["eval"] for h in reversed(history) if "eval" in h), None)
        result.eval_metrics = last_eval if last_eval is not None else evaluate(prep, session)
    return result


def _start(on_start: Callable[[list[dict[str, Any]]], None] | None, history: list[dict[str, Any]],
           replica: Replica | None) -> None:
    """`on_start` on the writer; in a data-parallel run every rank gets the RunError it raised, as a resume point
    is shared: a writer that stopped alone would leave the other replicas waiting in their first step."""
    if replica is None:
        if on_start is not None:
            on_start(list(history))
        return
    failed: RunError | None = None
    if on_start is not None and replica.writer:
        try:
            on_start(list(history))
        except RunError as exc:
            failed = exc
    failed = replica.share(failed)
    if failed is not None:
        raise failed


def _kept(ckpt_dir: Path | None, last_ckpt: int) -> str:
    return (f"the last good checkpoint, step {last_ckpt}, is kept in {said(ckpt_dir)}" if last_ckpt and ckpt_dir
            else "no checkpoint had been written")


def _adapter_failure(done: int, backend: str | None, what: str, result: RunResult, ckpt_dir: Path | None,
                     last_ckpt: int, replica: Replica | None = None) -> contextlib.AbstractContextManager[None]:
    """The adapter's failing session call (an exception, an answer of the wrong kind) fails the run, exit 1, with
    its report, as a non-finite loss does: a vendor's kernel error is no internal error of Lockstep's. A replica
    of a data-parallel run lets the exception through: a collective's error is how it learns that a peer died,
    which lockstep/distributed.py says (naming that peer) and ends the process on at once."""
    if replica is not None and replica.size > 1:
        return contextlib.nullcontext()
    return session_call(what, lambda text: RunFailed(
        f"step {done}: the `{backend or 'session'}` adapter's {text}; the run stopped ({_kept(ckpt_dir, last_ckpt)})",
        result))


def _nonfinite_parameter(params: dict[str, np.ndarray]) -> str | None:
    """`parameter NAME` for the first parameter or buffer holding ±inf or NaN after an update; None if all finite."""
    bad = next((k for k, v in params.items() if not np.all(np.isfinite(v))), None)
    return None if bad is None else f"parameter `{bad}` after the update"


def _say(message: str) -> None:
    print(f"lockstep run: {message}", file=sys.stderr)


def _say_resumed(prep: Prepared, point: Checkpoint, session: Session, backend: str, say: Callable[[str], None]
                 ) -> None:
    """A resume on another replica count (lockstep/distributed.py) or another backend says what that changes."""
    from lockstep.distributed import resume_note

    note = resume_note(point.distribution, getattr(session, "distribution", None),
                       any(n.type == "batch_norm" for n in prep.graph.nodes))
    if note:
        say(note)
    if backend and point.backend and point.backend != backend:
        say(f"--resume: the checkpoint at step {point.step} was written by `{point.backend}`; the steps after it run "
            f"on `{backend}` (the same recipe, within the standard's tolerances, not the bits of an uninterrupted run "
            "on either; report.json's `resumed_from_backend` says so)")


# -------------------------------------------------------------------------------------------- report
def _environment(backend: str) -> dict[str, Any]:
    """The machine fingerprint (lockstep/fingerprint.py): float32 numbers depend on the CPU and threads."""
    from lockstep.fingerprint import fingerprint

    return fingerprint([backend])


def write_report(out: Path, prep: Prepared, result: RunResult, *, backend: str, device: str,
                 versions: dict[str, str], wall: float, error: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
    """report.json (what ran, where, how it ended, how fast; `extra` fields added) and loss.svg (train loss with
    eval loss dots, the learning rate, and every other evaluation metric)."""
    from lockstep.plot import run_chart

    times = result.step_times
    done = result.history[-1]["step"] if result.history else 0
    report = {
        "recipe": prep.recipe.metadata.name,
        "recipe_hash": prep.recipe_hash,
        "recipe_path": str(prep.recipe_path.resolve()) if prep.recipe_path else None,
        **({"data_sha256": prep.data_hash} if prep.data_hash else {}),
        "spec_version": prep.recipe.apiVersion,
        "status": "failed" if error else "ok",
        "error": error,
        "backend": backend,
        "versions": versions,
        "device": device,
        "dtype": prep.recipe.dtype,
        "steps": done,
        "total_steps": prep.total_steps,
        "resumed_from": result.resumed_from,
        **({"resumed_from_backend": result.resumed_backend} if result.resumed_backend else {}),
        **({"trained_by": result.trained_by} if result.trained_by else {}),
        "final_train_loss": result.history[-1]["loss"] if result.history else None,
        "final_metrics": result.eval_metrics,
        "evaluated_on": "validation" if prep.data.held_out else "training",
        "environment": _environment(backend),
        "timings": {
            "total_s": wall,
            "train_s": sum(times),
            "eval_s": result.eval_time,
            "steps_timed": len(times),
            "step_median_ms": statistics.median(times) * 1e3 if times else None,
            "steps_per_s": len(times) / sum(times) if times and sum(times) > 0 else None,
        },
    }
    report.update(extra or {})
    atomic.write_json(out / "report.json", report)
    title = f"{prep.recipe.metadata.name} on {backend} ({prep.recipe.dtype})"
    atomic.write_text(out / "loss.svg", run_chart(result.history, title))
