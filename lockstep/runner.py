"""The one runner: drives any adapter through a recipe the same way.

Data and initial weights are prepared once, by the standard, and handed to the backend; then each
step feeds the batch of that step (a pure function of the step number), the standard's dropout
masks, and lets the backend do forward, loss, backward, clipping, L2 and the optimizer step.
Checkpoints hold everything the rest of the run depends on, so `--resume` after a kill ends with
the same bits as a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lockstep import atomic
from lockstep.adapters.base import NonFiniteError, Session
from lockstep.reference import losses, metrics
from lockstep.reference.data import DataError, Dataset, prepare
from lockstep.reference.initializers import initial_parameters
from lockstep.reference.random import dropout_mask
from lockstep.spec.diagnostics import Diagnostic
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.graph import ModelGraph, build_graph


class RunError(Exception):
    """A problem that stops a run before or during training; `exit_code` 1 (failed run) or 2 (bad input)."""

    def __init__(self, message: str, exit_code: int = 2, diagnostics: list[Diagnostic] | None = None) -> None:
        self.exit_code = exit_code
        self.diagnostics = diagnostics or []
        super().__init__(message)


@dataclass
class Prepared:
    recipe: Recipe
    model: Model
    graph: ModelGraph
    data: Dataset
    initial: dict[str, np.ndarray]
    recipe_hash: str
    base_dir: Path
    total_steps: int

    @property
    def dropouts(self) -> dict[str, tuple[tuple[int, ...], float]]:
        """Dropout layers that need the standard's keep-mask each step (computed once)."""
        cached = self.__dict__.get("_dropouts")
        if cached is None:
            cached = {n.name: (n.shape, n.layer.rate) for n in self.graph.nodes
                      if n.type == "dropout" and n.layer.rate > 0}  # type: ignore[attr-defined]
            self.__dict__["_dropouts"] = cached
        return cached


def load_recipe(path: str | Path) -> tuple[Recipe, Model, Path]:
    from lockstep.spec.semantics import load_model
    from lockstep.spec.validate import load_and_validate

    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such recipe file")
    docs, diags = load_and_validate(path)
    if diags:
        raise RunError(f"{path}: the recipe is not valid", 2, diags)
    recipes = [d for d in docs if isinstance(d, Recipe)]
    if len(recipes) != 1:
        raise RunError(f"{path}: expected exactly one Recipe document, found {len(recipes)}")
    recipe = recipes[0]
    from lockstep.spec.loader import load_file

    loaded = next(d for d in load_file(path) if isinstance(d.data, dict) and d.data.get("kind") == "Recipe")
    model, diags = load_model(recipe, loaded, path.parent)
    if model is None or diags:
        raise RunError(f"{path}: the recipe's model is not valid", 2, diags)
    return recipe, model, path.parent


def recipe_hash(recipe: Recipe, model: Model) -> str:
    canonical = json.dumps({"recipe": recipe.model_dump(mode="json", exclude={"model"}),
                            "model": model.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def prepare_run(path: str | Path, steps: int | None = None) -> Prepared:
    recipe, model, base = load_recipe(path)
    graph = build_graph(model)
    try:
        data = prepare(recipe, base, model.inputs[0].dtype)
    except DataError as exc:
        raise RunError(str(exc)) from None
    initial = initial_parameters(graph, recipe.seed)
    if model.weights is not None:
        initial.update(_load_weights(model, base, initial))
    total = recipe.training.steps or recipe.training.epochs * data.steps_per_epoch  # type: ignore[operator]
    if steps is not None:
        total = min(total, steps)
    return Prepared(recipe, model, graph, data, initial, recipe_hash(recipe, model), base, total)


def _load_weights(model: Model, base: Path, initial: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from lockstep.spec.semantics import resolve_path

    path = resolve_path(base, model.weights.path)  # type: ignore[union-attr]
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k].astype(np.float64) for k in z.files}
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot read weights ({exc})") from None
    extra = sorted(set(arrays) - set(initial))
    missing = sorted(set(initial) - set(arrays))
    if model.weights.strict and (extra or missing):  # type: ignore[union-attr]
        raise RunError(f"{path}: weights do not match the model (missing: {missing or 'none'}; "
                       f"unexpected: {extra or 'none'})")
    for k, a in arrays.items():
        if k in initial and a.shape != initial[k].shape:
            raise RunError(f"{path}: `{k}` has shape {list(a.shape)}, the model needs {list(initial[k].shape)}")
    return {k: a for k, a in arrays.items() if k in initial}


def masks_for(prep: Prepared, step: int, batch: int) -> dict[str, np.ndarray] | None:
    drops = prep.dropouts
    if not drops:
        return None
    return {name: dropout_mask(prep.recipe.seed, name, step, (batch, *shape), rate)
            for name, (shape, rate) in drops.items()}


def evaluate(prep: Prepared, session: Session) -> dict[str, float]:
    r = prep.recipe
    x, y = prep.data.x_eval, prep.data.y_eval
    out = session.forward(x, training=False)
    result: dict[str, float] = {}
    for m in r.evaluation.metrics:
        if m == "loss":
            result["loss"] = losses.compute(r.loss, out, y)[0]
        elif m == "accuracy":
            result["accuracy"] = metrics.accuracy(out, y, r.loss.type, getattr(r.loss, "from_logits", True))
        elif m == "mse":
            result["mse"] = metrics.mse(out, y)
        elif m == "mae":
            result["mae"] = metrics.mae(out, y)
    return result


# --------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(folder: Path, step: int, session: Session, prep: Prepared, keep: int) -> Path:
    params = session.get_parameters()
    opt_step, state = session.get_optimizer_state()
    arrays = {f"param/{k}": v for k, v in params.items()}
    arrays.update({f"opt/{p}/{n}": a for p, s in state.items() for n, a in s.items()})
    meta = {"step": step, "optimizer_step": opt_step, "recipe_hash": prep.recipe_hash}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = folder / f"step-{step:08d}.npz"
    atomic.write_bytes(path, buf.getvalue())
    for old in sorted(folder.glob("step-*.npz"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        params = {k[6:]: z[k] for k in z.files if k.startswith("param/")}
        state: dict[str, dict[str, np.ndarray]] = {}
        for k in z.files:
            if k.startswith("opt/"):
                p, n = k[4:].rsplit("/", 1)
                state.setdefault(p, {})[n] = z[k]
    return meta, params, state


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("step-*.npz"))
    return found[-1] if found else None


# --------------------------------------------------------------------------------------------- train
@dataclass
class RunResult:
    steps: int
    final_loss: float
    eval_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)
    session: Session | None = None


def train(prep: Prepared, session: Session, *, out: Path | None = None, resume: bool = False,
          progress: Any = None) -> RunResult:
    """Run the recipe on `session` (already built). With `out`, write metrics, checkpoints and plots."""
    r = prep.recipe
    start = 0
    history: list[dict[str, Any]] = []
    ckpt_dir = out / "checkpoints" if out else None
    session.set_parameters(prep.initial)
    if resume and ckpt_dir is not None:
        last = latest_checkpoint(ckpt_dir)
        if last is not None:
            meta, params, state = load_checkpoint(last)
            if meta["recipe_hash"] != prep.recipe_hash:
                raise RunError(f"{last}: checkpoint is from a different recipe (hash {meta['recipe_hash'][:12]}, "
                               f"this recipe {prep.recipe_hash[:12]}); use another --out or drop --resume")
            session.set_parameters(params)
            session.set_optimizer_state(meta["optimizer_step"], state)
            start = meta["step"]
            history = _read_history(out / "metrics.jsonl", start)  # type: ignore[operator]
    metrics_path = out / "metrics.jsonl" if out else None
    if metrics_path is not None:
        atomic.write_text(metrics_path, "".join(json.dumps(h) + "\n" for h in history))
    log = open(metrics_path, "a", encoding="utf-8") if metrics_path else None
    step_times: list[float] = []
    eval_metrics: dict[str, float] = {}
    loss = math.nan
    every = r.evaluation.every
    try:
        for step in range(start, prep.total_steps):
            epoch, x, y = prep.data.batch(step)
            masks = masks_for(prep, step, len(x))
            t0 = time.perf_counter()
            try:
                res = session.train_step(x, y, masks=masks)
            except NonFiniteError as exc:
                raise RunError(f"step {step + 1}: non-finite {exc.quantity}; stopped. "
                               + ("The last good checkpoint is kept." if ckpt_dir else ""), 1) from None
            step_times.append(time.perf_counter() - t0)
            loss = res.loss
            record: dict[str, Any] = {"step": step + 1, "epoch": epoch, "loss": loss, "lr": res.learning_rate}
            done = step + 1
            if (every and done % every == 0) or done == prep.total_steps:
                eval_metrics = evaluate(prep, session)
                record["eval"] = eval_metrics
            history.append(record)
            if log is not None:
                log.write(json.dumps(record) + "\n")
            if ckpt_dir is not None and r.checkpoint is not None and (
                    done % r.checkpoint.every == 0 or done == prep.total_steps):
                if log is not None:
                    log.flush()  # the log reaches the checkpoint's step before the checkpoint exists
                save_checkpoint(ckpt_dir, done, session, prep, r.checkpoint.keep)
            if progress is not None:
                progress.update(done, loss)
    finally:
        if log is not None:
            log.close()
    if not eval_metrics and prep.total_steps == start:
        eval_metrics = evaluate(prep, session)
        loss = history[-1]["loss"] if history else math.nan
    return RunResult(prep.total_steps, loss, eval_metrics, history, step_times, session)


def _read_history(path: Path, upto: int) -> list[dict[str, Any]]:
    """metrics.jsonl records up to the checkpoint's step (a killed run may have written more, or half a line)."""
    out = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("step", 0) <= upto:
                out.append(rec)
    return out


def write_report(out: Path, prep: Prepared, result: RunResult, *, backend: str, device: str,
                 versions: dict[str, str], wall: float) -> None:
    from lockstep.plot import line_chart

    times = result.step_times
    report = {
        "recipe": prep.recipe.metadata.name,
        "recipe_hash": prep.recipe_hash,
        "spec_version": prep.recipe.apiVersion,
        "backend": backend,
        "device": device,
        "dtype": prep.recipe.dtype,
        "versions": versions,
        "steps": result.steps,
        "final_train_loss": result.final_loss,
        "final_metrics": result.eval_metrics,
        "timings": {
            "wall_s": wall,
            "steps_timed": len(times),
            "step_median_ms": statistics.median(times) * 1e3 if times else None,
            "steps_per_s": len(times) / sum(times) if times and sum(times) > 0 else None,
        },
    }
    atomic.write_json(out / "report.json", report)
    train_pts = [(h["step"], h["loss"]) for h in result.history]
    eval_pts = [(h["step"], h["eval"]["loss"]) for h in result.history if "eval" in h and "loss" in h["eval"]]
    span = [v for _, v in train_pts if v > 0]
    log_y = bool(span) and max(span) / min(span) > 50
    svg = line_chart({"train loss": train_pts}, points={"eval loss": eval_pts} if eval_pts else None,
                     title=f"{prep.recipe.metadata.name} on {backend}", xlabel="optimizer step", ylabel="loss",
                     log_y=log_y)
    atomic.write_text(out / "loss.svg", svg)
