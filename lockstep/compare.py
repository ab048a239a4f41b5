"""Run one recipe on several backends in lock step and find where they first diverge.

Every backend starts from the same initial bits (the standard's initializers) and takes the same batch and
the same dropout keep-masks at every step (the runner's preparation, `runner.prepare_sessions`). After each
optimizer step the loss and every parameter (buffers included) of each backend are compared with the first
backend's: float64 by the standard's rule in `reference/tolerances.py`, `|a - r| <= 1e-10 |r| + 1e-12 s`
(`s` the largest magnitude of the quantity's kind: the loss, or all parameters); float32 by the whole-run
rule `1e-4 |r| + 1e-5 s` (conformance/checks.py, docs/adapters.md): the derived float32 bounds of
docs/spec/v1-semantics.md are first order and hold for a few steps, which is what `lockstep certify` checks
construct by construct.
The table shows relative differences, the verdict names the first step and quantity (the loss, or a
parameter) that exceeds its tolerance.

A backend that stops on a non-finite loss or gradient (NonFiniteError) agrees with the others only if
they all stop at the same step; the comparison ends there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lockstep.adapters.base import NonFiniteError, Session
from lockstep.conformance.checks import Check, compare, scale_of, tolerances
from lockstep.runner import Prepared, masks_for


@dataclass
class PairDiff:
    """One backend against the first at one step: relative differences shown, and the worst check."""

    loss_rel: float
    param_rel: float  # the largest over parameters and buffers
    param: str  # the tensor where param_rel is reached
    worst: Check  # the check with the largest error/tolerance ratio (loss or a parameter)


@dataclass
class StepRow:
    step: int
    losses: dict[str, float]
    diffs: dict[str, PairDiff]  # each later backend against the first
    pairs: dict[str, PairDiff] = field(default_factory=dict)  # "a/b": every other pair of later backends


def pair_names(backends: list[str]) -> list[tuple[str, str]]:
    """The pairs of backends after the first (the first is compared with each of them already)."""
    later = backends[1:]
    return [(a, b) for i, a in enumerate(later) for b in later[i + 1:]]


@dataclass
class Divergence:
    step: int
    quantity: str
    error: float
    tolerance: float

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "quantity": self.quantity, "error": _num(self.error),
                "tolerance": _num(self.tolerance)}


@dataclass
class Comparison:
    backends: list[str]
    dtype: str
    total_steps: int
    rows: list[StepRow] = field(default_factory=list)
    first_divergence: dict[str, Divergence] = field(default_factory=dict)
    stopped: dict[str, tuple[int, str]] = field(default_factory=dict)  # backend -> (step, non-finite quantity)

    @property
    def agree(self) -> bool:
        return not self.first_divergence

    @property
    def tolerance(self) -> tuple[float, float]:
        return tolerances(self.dtype)

    def to_json(self) -> dict[str, Any]:
        rtol, atol = self.tolerance
        return {
            "backends": self.backends, "baseline": self.backends[0], "dtype": self.dtype,
            "tolerance": {"rtol": rtol, "atol_scale": atol, "rule": "|a - r| <= rtol |r| + atol_scale s"},
            "agree": self.agree, "steps_compared": len(self.rows), "total_steps": self.total_steps,
            "first_divergence": {b: d.to_json() for b, d in self.first_divergence.items()},
            "stopped": {b: {"step": s, "quantity": q} for b, (s, q) in self.stopped.items()},
            "steps": [{"step": r.step, "loss": {b: _num(v) for b, v in r.losses.items()},
                       "diff": {b: {"loss_rel": _num(d.loss_rel), "param_rel": _num(d.param_rel), "param": d.param,
                                    "worst": d.worst.quantity, "ratio": _num(d.worst.ratio)}
                                for b, d in r.diffs.items()},
                       "pairwise": {k: {"loss_rel": _num(d.loss_rel), "param_rel": _num(d.param_rel), "param": d.param}
                                    for k, d in r.pairs.items()}} for r in self.rows],
        }


def _num(v: float) -> float | str:
    """JSON has no inf/NaN: those become strings."""
    return v if math.isfinite(v) else str(v)


def _pair(loss: float, base_loss: float, params: dict[str, np.ndarray], base: dict[str, np.ndarray], dtype: str
          ) -> tuple[PairDiff, Check | None]:
    """The relative differences shown are the rule's own measure: max |a - r| / (|r| + (atol/rtol)·s) per
    element, so a value <= rtol passes and a mathematically zero quantity is measured against its kind's scale."""
    rtol = tolerances(dtype)[0]
    loss_check = compare("loss", loss, base_loss, dtype, abs(base_loss))
    scale = scale_of(base)
    param_checks = [compare(f"parameter {k}", params[k], v, dtype, scale) if k in params
                    else Check(f"parameter {k} (missing)", math.inf, 0.0, math.inf) for k, v in base.items()]
    worst_param = max(param_checks, key=lambda c: c.ratio, default=None)
    diff = PairDiff(loss_check.ratio * rtol, worst_param.ratio * rtol if worst_param else 0.0,
                    worst_param.quantity.removeprefix("parameter ") if worst_param else "",
                    max([loss_check, *param_checks], key=lambda c: c.ratio))
    return diff, next((c for c in [loss_check, *param_checks] if not c.ok), None)


def run_compare(prep: Prepared, sessions: dict[str, Session], progress: Any = None) -> Comparison:
    """Train every session on the prepared recipe in lock step; compare after every step."""
    names = list(sessions)
    base = names[0]
    dtype = prep.recipe.dtype
    result = Comparison(names, dtype, prep.total_steps)
    for s in sessions.values():
        s.set_parameters(prep.initial)
    for step in range(prep.total_steps):
        _, x, y = prep.data.batch(step)
        masks = masks_for(prep, step, len(x))
        losses: dict[str, float] = {}
        failed: dict[str, str] = {}
        for n, s in sessions.items():
            try:
                losses[n] = float(s.train_step(x, y, masks=masks).loss)
            except NonFiniteError as exc:
                failed[n] = exc.quantity
                losses[n] = math.nan
        if failed:
            for n, q in failed.items():
                result.stopped[n] = (step + 1, q)
            if len(failed) < len(names):  # some stopped, some did not: that is a divergence
                for n in names[1:]:
                    if n not in result.first_divergence and (n in failed) != (base in failed):
                        who = n if n in failed else base
                        result.first_divergence[n] = Divergence(
                            step + 1, f"non-finite {failed[who]} on {who} only", math.inf, 0.0)
            break
        params = {n: s.get_parameters() for n, s in sessions.items()}
        diffs: dict[str, PairDiff] = {}
        for n in names[1:]:
            diffs[n], bad = _pair(losses[n], losses[base], params[n], params[base], dtype)
            if bad is not None and n not in result.first_divergence:
                result.first_divergence[n] = Divergence(step + 1, bad.quantity, bad.error, bad.tolerance)
        pairs = {f"{a}/{b}": _pair(losses[b], losses[a], params[b], params[a], dtype)[0]
                 for a, b in pair_names(names)}  # shown, not judged: the verdict is against the first backend
        result.rows.append(StepRow(step + 1, losses, diffs, pairs))
        if progress is not None:
            progress.update(step + 1, losses[base])
    return result


def format_table(c: Comparison, every: int = 1) -> str:
    """Per-step losses and relative differences against the first backend, then the verdict per backend."""
    others = c.backends[1:]
    rtol, atol = c.tolerance
    lines = [f"{c.dtype} comparison against `{c.backends[0]}`: |a - r| <= {rtol:g}·|r| + {atol:g}·s "
             "(s: the largest magnitude of the quantity's kind);\ndifferences below are max |a - r| / (|r| + "
             f"{atol / rtol:g}·s): at most {rtol:g} passes", ""]
    loss_w = max(20, *(len(b) + 7 for b in c.backends))
    diff_w = {b: max(12, len(b) + 9) for b in others}
    head = f"{'step':>6}" + "".join(f"{'loss ' + b:>{loss_w}}" for b in c.backends)
    head += "".join(f"{'Δloss ' + b:>{diff_w[b]}}{'Δparam ' + b:>{diff_w[b]}}" for b in others)
    pairs = [f"{a}/{b}" for a, b in pair_names(c.backends)]
    pair_w = {p: max(12, len(p) + 9) for p in pairs}
    head += "".join(f"{'Δloss ' + p:>{pair_w[p]}}{'Δparam ' + p:>{pair_w[p]}}" for p in pairs)
    lines.append(head)
    last = c.rows[-1].step if c.rows else 0
    for r in c.rows:
        if every > 1 and r.step % every and r.step not in (1, last):
            continue
        line = f"{r.step:>6}" + "".join(f"{r.losses[b]:>{loss_w}.12g}" for b in c.backends)
        line += "".join(f"{r.diffs[b].loss_rel:>{diff_w[b]}.2e}{r.diffs[b].param_rel:>{diff_w[b]}.2e}" for b in others)
        line += "".join(f"{r.pairs[p].loss_rel:>{pair_w[p]}.2e}{r.pairs[p].param_rel:>{pair_w[p]}.2e}"
                        for p in pairs if p in r.pairs)
        lines.append(line)
    lines.append("")
    for b in others:
        worst = max((r.diffs[b] for r in c.rows), key=lambda d: d.param_rel, default=None)
        detail = f"; largest relative parameter difference {worst.param_rel:.2e} ({worst.param})" if worst else ""
        if b in c.first_divergence:
            d = c.first_divergence[b]
            lines.append(f"{b} diverges from {c.backends[0]} at step {d.step}: {d.quantity} differs by "
                         f"{d.error:.3g} (tolerance {d.tolerance:.3g}){detail}")
        else:
            lines.append(f"{b} agrees with {c.backends[0]} at every one of {len(c.rows)} steps "
                         f"({c.dtype} tolerance){detail}")
    for p in pairs:
        worst = max((r.pairs[p] for r in c.rows if p in r.pairs), key=lambda d: d.param_rel, default=None)
        if worst is not None:
            a, b = p.split("/")
            lines.append(f"{b} against {a} (shown, not judged): largest relative parameter difference "
                         f"{worst.param_rel:.2e} ({worst.param}), loss "
                         f"{max(r.pairs[p].loss_rel for r in c.rows if p in r.pairs):.2e}")
    for b, (s, q) in c.stopped.items():
        lines.append(f"{b} stopped at step {s}: non-finite {q}")
    return "\n".join(lines)


def plot(c: Comparison, path: Path) -> None:
    """One SVG, two panels: every backend's loss curve overlaid, and the per-step relative differences
    against the first backend on a log axis with the tolerance drawn in."""
    from lockstep.atomic import write_text
    from lockstep.plot import line_chart

    losses = {b: [(r.step, r.losses[b]) for r in c.rows] for b in c.backends}
    top = line_chart(losses, title=f"loss per step ({c.dtype}, same batches and initial weights)",
                     xlabel="optimizer step", ylabel="training loss")
    floor = 1e-17
    diffs: dict[str, list[tuple[float, float]]] = {}
    for b in c.backends[1:]:
        diffs[f"parameters: {b} vs {c.backends[0]}"] = [(r.step, max(r.diffs[b].param_rel, floor)) for r in c.rows]
        diffs[f"loss: {b} vs {c.backends[0]}"] = [(r.step, max(r.diffs[b].loss_rel, floor)) for r in c.rows]
    for a, b in pair_names(c.backends):
        key = f"{a}/{b}"
        diffs[f"parameters: {b} vs {a}"] = [(r.step, max(r.pairs[key].param_rel, floor)) for r in c.rows
                                            if key in r.pairs]
    if c.rows:
        diffs[f"rtol {c.tolerance[0]:g}"] = [(c.rows[0].step, c.tolerance[0]), (c.rows[-1].step, c.tolerance[0])]
    bottom = line_chart(diffs, title="largest relative difference per step (log scale)", xlabel="optimizer step",
                        ylabel="relative difference", log_y=True)
    write_text(path, _stack([top, bottom]))


def _stack(svgs: list[str], width: int = 720, height: int = 400) -> str:
    """Several line_chart SVGs one above the other in one document (nested <svg> elements)."""
    body = []
    for i, svg in enumerate(svgs):
        inner = svg.strip().replace("<svg ", f'<svg x="0" y="{i * height}" ', 1)
        body.append(inner)
    total = height * len(svgs)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" '
            f'viewBox="0 0 {width} {total}">\n' + "\n".join(body) + "\n</svg>\n")
