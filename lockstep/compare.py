"""One recipe on several backends: every step judged re-synchronized, the free-running drift shown.

**Verdicts (judged).** To judge step t, each backend other than the reference starts from the reference's
exact state after step t−1 (parameters, buffers, every optimizer state, the step count: `Session.set_state`),
takes the same batch and dropout masks, runs ONE native training step, and its loss, learning rate,
parameters, buffers, optimizer state and step count are compared with the reference's step t: float32 under
the derived one-step bounds, float64 under the fixed rule (conformance/resync.py, the same judgement as level
4 of `lockstep certify`; docs/spec/v1-semantics.md, "Re-synchronized comparison"). Nothing carries over from
one step to the next, so a divergence names a difference in one step's math, at any run length and on any
machine. Every step is judged, or with `every=N` the first `FIRST_STEPS`, every N-th and the last. At the judged
steps after which the recipe evaluates, the **predictions** are judged too: each backend, set to the reference's
state after the step, runs `forward(training=False)` on the evaluation data, under level 1's `output_rule`
(quantity `prediction`): a backend whose inference mode is wrong held at every training step before.

**Drift (shown, not judged).** Every listed backend also trains freely from the same initial bits on the same
batches; the table and plot show the per-step losses and relative differences of those trajectories and how
fast they grow. In float32 they grow by design (rounding compounds through kinks, ties and normalization
statistics, and kernels chosen by CPU features round differently), so no verdict rests on them.

The reference (always float64, on the CPU) is the judge whether or not it is listed; when it is not, it runs
alongside as the source of every judged step's state.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lockstep.adapters.base import NonFiniteError, Session
from lockstep.adapters.checked import session_call, step_answer
from lockstep.conformance.checks import Check, check, scale_of
from lockstep.conformance.levels._pair import handed
from lockstep.conformance.resync import (
    BLIND_EVERY,
    FIRST_STEPS,
    BlindSteps,
    Judge,
    StepVerdict,
    WorstStep,
    blind_words,
    judged_steps,
)
from lockstep.errors import LockstepError
from lockstep.runner import EVAL_CHUNK, Prepared
from lockstep.spec.atomic import strict_json
from lockstep.spec.formats import plural

DRIFT_FLOOR = 0.01
"""Drift is max |a − r| / (|r| + DRIFT_FLOOR·s), s the largest magnitude of the quantity's kind: a relative
difference that measures elements near 0 against 1% of their kind's scale instead of against 0."""

JUDGE = "reference"

PREDICTION = "prediction"
"""The judged quantity of the eval-mode outputs (`forward(training=False)` on the recipe's evaluation data)."""


@dataclass
class PairDiff:
    """Free-running drift of one backend against another at one step."""

    loss_rel: float
    param_rel: float  # the largest over parameters and buffers
    param: str  # the tensor where param_rel is reached


@dataclass
class StepRow:
    """One step: the free-running losses and drift, and the re-synchronized verdicts of the judged steps."""

    step: int
    losses: dict[str, float]
    diffs: dict[str, PairDiff]  # each later backend against the first (drift)
    pairs: dict[str, PairDiff] = field(default_factory=dict)  # "a/b": every other pair of later backends (drift)
    judged: dict[str, StepVerdict] = field(default_factory=dict)  # backend -> its re-synchronized step
    predictions: dict[str, Check] = field(default_factory=dict)  # backend -> its eval-mode outputs at the
    # reference's state after this step (evaluation steps only), also folded into `judged`


def pair_names(backends: list[str]) -> list[tuple[str, str]]:
    """The pairs of backends after the first (the first is compared with each of them already)."""
    later = backends[1:]
    return [(a, b) for i, a in enumerate(later) for b in later[i + 1:]]


@dataclass
class Divergence:
    """The first re-synchronized step of a backend that does not hold, and its first failing quantity."""

    step: int
    quantity: str
    error: float
    tolerance: float
    ratio: float = math.inf
    why: str = ""  # where no error can be measured: what was wrong ("non-finite (nan; the reference's is 3.05)")

    def describe(self) -> str:
        if self.why:  # no error measured (a shape, a non-finite value: its tolerance kept): what was wrong
            return f"{self.quantity}: {self.why}"
        if not math.isfinite(self.error) and self.tolerance == 0.0:
            return self.quantity
        return (f"{self.quantity}: error {self.error:.3g} > tolerance {self.tolerance:.3g} "
                f"(ratio {self.ratio:.3g})")

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "quantity": self.quantity, "error": strict_json(self.error),
                "tolerance": strict_json(self.tolerance), "ratio": strict_json(self.ratio),
                **({"why": self.why} if self.why else {})}


def blamed(backend: str, t: int, what: str) -> contextlib.AbstractContextManager[None]:
    """A backend's failing session call is that backend's failure at step `t`: exit 1, one line."""
    return session_call(what, lambda text: LockstepError(f"step {t}: the `{backend}` adapter's {text}", 1))


@dataclass
class Comparison:
    backends: list[str]  # as listed; the first is the drift baseline
    dtype: str
    total_steps: int
    every: int = 1
    rows: list[StepRow] = field(default_factory=list)
    judged: list[str] = field(default_factory=list)  # the backends judged against the reference
    first_divergence: dict[str, Divergence] = field(default_factory=dict)
    failing_steps: dict[str, int] = field(default_factory=dict)  # backend -> how many judged steps failed
    stopped: dict[str, tuple[int, str]] = field(default_factory=dict)  # free run -> (step, non-finite quantity)
    tiers: list[int] = field(default_factory=lambda: [0, 0, 0])
    worst_derived: dict[str, tuple[int, Check]] = field(default_factory=dict)  # backend -> its worst judged step
    blind_steps: list[int] = field(default_factory=list)  # judged steps whose bounds pass parameters that stay put
    blind_quantities: dict[str, int] = field(default_factory=dict)  # quantity -> judged steps asked where its bounds
    # would pass it unmoved (`resync.BlindSteps`)
    blind_checked: int = 0  # how many judged steps were asked that (BLIND_EVERY)
    notes: list[str] = field(default_factory=list)  # what the comparison did not do that the recipe asks
    evaluated_on: str = "validation"  # the data the predictions are judged on: "validation" or "training"
    eval_samples: int = 0
    stopped_by: tuple[int, str] | None = None  # (step, message): an adapter's error ended the comparison there;
    # `rows` holds the steps compared before it
    meta: dict[str, Any] = field(default_factory=dict)  # recipe name and hash, versions, machine (lockstep.api)

    @property
    def agree(self) -> bool:
        """Every judged backend holds at every judged step (drift is not judged), and none failed to answer."""
        return not self.first_divergence and self.stopped_by is None

    @property
    def steps_judged(self) -> int:
        return sum(1 for r in self.rows if r.judged)

    @property
    def prediction_steps(self) -> list[int]:
        """The judged steps whose eval-mode outputs were judged too (the recipe's evaluation steps)."""
        return [r.step for r in self.rows if r.predictions]

    def _known(self, name: Any, argument: str, names: list[str]) -> None:
        """LockstepError for a name this comparison has no column of (a list raised TypeError, an unknown name
        gave None, as a backend with nothing to report does)."""
        if not isinstance(name, str):
            from lockstep.spec.wording import got

            raise LockstepError(f"{argument}: expected a name (str), got {got(name)}")
        if name not in names:
            raise LockstepError(f"{argument}: no `{name}` in this comparison (it has {', '.join(names) or 'none'})")

    def worst(self, backend: str) -> tuple[int, Check] | None:
        """(step, check) of the judged step with the largest error/tolerance ratio, under the derived rules; None
        for a backend with no judged step (the first, the baseline)."""
        self._known(backend, "backend", list(self.backends))
        if backend in self.worst_derived:
            return self.worst_derived[backend]
        found = [(r.step, r.judged[backend].worst) for r in self.rows if backend in r.judged]
        found = [f for f in found if f[1] is not None]
        return max(found, key=lambda f: f[1].ratio) if found else None  # type: ignore[union-attr, return-value]

    def growth(self, key: str) -> float | None:
        """Drift growth per step of a later backend (or "a/b" pair): the geometric mean factor of its largest
        relative parameter difference from the first step where it is nonzero to the last step; None for the
        baseline (the first backend) and where it never drifts."""
        self._known(key, "key", [*self.backends, *(f"{a}/{b}" for a, b in pair_names(self.backends))])  # the
        # baseline's: None, as its `worst`
        pts = [(r.step, (r.diffs.get(key) or r.pairs.get(key))) for r in self.rows]
        pts = [(s, d.param_rel) for s, d in pts if d is not None and math.isfinite(d.param_rel) and d.param_rel > 0]
        if len(pts) < 2 or pts[-1][0] == pts[0][0]:
            return None
        (s0, d0), (s1, d1) = pts[0], pts[-1]
        return float((d1 / d0) ** (1.0 / (s1 - s0)))

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-step table as NumPy arrays, one entry per column: `step`; `loss/<backend>` (free-running);
        `drift/<backend>` (largest relative parameter difference against the first backend); `ratio/<backend>`
        (the judged step's error/tolerance ratio, NaN where the step was not judged); `holds/<backend>` (1.0 a
        judged step held, 0.0 it did not, NaN not judged)."""
        out: dict[str, np.ndarray] = {"step": np.array([r.step for r in self.rows], dtype=np.int64)}
        for b in self.backends:
            out[f"loss/{b}"] = np.array([r.losses.get(b, math.nan) for r in self.rows], dtype=np.float64)
        for b in self.backends[1:]:
            out[f"drift/{b}"] = np.array([r.diffs[b].param_rel if b in r.diffs else math.nan for r in self.rows],
                                         dtype=np.float64)
        for b in self.judged:
            verdicts = [r.judged.get(b) for r in self.rows]
            out[f"ratio/{b}"] = np.array([math.nan if v is None else (v.worst.ratio if v.worst else 0.0)
                                          for v in verdicts], dtype=np.float64)
            out[f"holds/{b}"] = np.array([math.nan if v is None else float(v.ok) for v in verdicts], dtype=np.float64)
        return out

    def rule(self) -> str:
        if self.dtype == "float64":
            return "the float64 rule |a - r| <= 1e-10 |r| + 1e-12 s (s: the largest magnitude of the quantity's kind)"
        return ("the derived one-step float32 bounds (docs/spec/v1-semantics.md, \"Re-synchronized comparison\")")

    def to_json(self) -> dict[str, Any]:
        verdicts: dict[str, Any] = {}
        for b in self.judged:
            w = self.worst(b)
            verdicts[b] = {
                "holds": b not in self.first_divergence,
                "first_divergence": self.first_divergence[b].to_json() if b in self.first_divergence else None,
                "failing_steps": self.failing_steps.get(b, 0),
                "worst": None if w is None else {"step": w[0], "quantity": w[1].quantity, "ratio": w[1].ratio,
                                                 "error": w[1].error, "tolerance": w[1].tolerance}}
        drift_growth = {k: self.growth(k) for k in [*self.backends[1:], *(f"{a}/{b}" for a, b in
                                                                         pair_names(self.backends))]}
        return strict_json({  # JSON has no inf/NaN: written as strings
            **self.meta,
            "backends": self.backends, "baseline": self.backends[0], "judge": JUDGE, "dtype": self.dtype,
            "agree": self.agree, "total_steps": self.total_steps, "steps_compared": len(self.rows),
            "verdict": {"kind": "re-synchronized", "judged": True, "rule": self.rule(), "every": self.every,
                        "steps_judged": self.steps_judged, "backends": verdicts,
                        "blind_steps": self.blind_steps, "blind_quantities": self.blind_quantities,
                        "blind_checked": self.blind_checked,
                        "predictions": {"judged_at": self.prediction_steps, "on": self.evaluated_on,
                                        "samples": self.eval_samples, "mode": "forward(training=False)",
                                        "rule": _output_rule(self.dtype)},
                        "notes": self.notes,
                        "tiers": {"value": self.tiers[0], "floor": self.tiers[1], "derived": self.tiers[2]}},
            "first_divergence": {b: d.to_json() for b, d in self.first_divergence.items()},
            "drift": {"kind": "free-running", "judged": False, "baseline": self.backends[0],
                      "measure": f"max |a - r| / (|r| + {DRIFT_FLOOR:g} s)",
                      "growth_per_step": drift_growth,
                      "stopped": {b: {"step": s, "quantity": q} for b, (s, q) in self.stopped.items()}},
            "stopped": {b: {"step": s, "quantity": q} for b, (s, q) in self.stopped.items()},
            "error": None if self.stopped_by is None else {"step": self.stopped_by[0], "message": self.stopped_by[1]},
            "steps": [_row_json(r) for r in self.rows],
        })


def _row_json(r: StepRow) -> dict[str, Any]:
    return {"step": r.step, "loss": dict(r.losses),
            "diff": {b: {"loss_rel": d.loss_rel, "param_rel": d.param_rel, "param": d.param}
                     for b, d in r.diffs.items()},
            "pairwise": {k: {"loss_rel": d.loss_rel, "param_rel": d.param_rel, "param": d.param}
                         for k, d in r.pairs.items()},
            "judged": {b: {"holds": v.ok, "ratio": v.worst.ratio if v.worst else 0.0,
                           "quantity": v.worst.quantity if v.worst else "", "derived": v.derived,
                           **({"failed": [c.quantity for c in v.failed]} if v.failed else {}),
                           **({PREDICTION: _check_json(r.predictions[b])} if b in r.predictions else {})}
                       for b, v in r.judged.items()}}


def _check_json(c: Check) -> dict[str, Any]:
    return {"holds": c.ok, "error": c.error, "tolerance": c.tolerance, "ratio": c.ratio,
            **({"why": c.why} if c.why else {})}


def drift(loss: float, base_loss: float, params: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> PairDiff:
    """Relative differences of one free-running backend against another (DRIFT_FLOOR)."""
    with np.errstate(invalid="ignore", over="ignore"):
        loss_rel = abs(loss - base_loss) / abs(base_loss) if base_loss else abs(loss)
        floor = DRIFT_FLOOR * scale_of(base)
        worst, where = 0.0, ""
        for k, r in base.items():
            a = params.get(k)
            if a is None or np.shape(a) != np.shape(r):
                return PairDiff(float(loss_rel), math.inf, k)
            if np.size(r) == 0:
                continue
            rel = float(np.max(np.abs(a - r) / (np.abs(r) + max(floor, 1e-300))))
            if not math.isfinite(rel) or rel > worst:
                worst, where = rel, k
                if not math.isfinite(rel):
                    break
    return PairDiff(float(loss_rel), worst, where)


def evaluation_steps(prep: Prepared, steps: set[int]) -> set[int]:
    """The judged steps after which the recipe evaluates (`evaluation.every`, its last step, and the last step
    compared, where `lockstep run --steps` evaluates too): their eval-mode outputs are judged as well."""
    every = prep.recipe.evaluation.every
    full = prep.data.total_steps(prep.recipe.training)
    return {t for t in steps if (every and t % every == 0) or t in (full, prep.total_steps)}


def eval_outputs(session: Session, x: np.ndarray) -> list[np.ndarray]:
    """`forward(training=False)` on `x` in the runner's chunks (runner.evaluate), one array per chunk."""
    from lockstep.adapters.checked import forward_answer

    return [np.asarray(forward_answer(session.forward(handed(x[i:i + EVAL_CHUNK]), training=False)))
            for i in range(0, len(x), EVAL_CHUNK)]


def judge_predictions(judge: Judge, rs: Any, sessions: dict[str, Session], names: list[str]) -> dict[str, Check]:
    """Each backend's eval-mode outputs on the recipe's evaluation data at the reference's exact state after step
    `rs.t` (set, forward, its own state set back), against the reference's under `output_rule`: the worst chunk.

    Runs after the step's training-mode judgement: the reference's forward here replaces its caches, which that
    judgement's derived bounds may reuse."""
    from lockstep.conformance.tolerance import output_rule

    assert rs.after is not None
    x = judge.prep.data.x_eval
    state = rs.after
    expected = eval_outputs(judge.reference, x)
    judge.serial += 1  # the reference's caches are no longer this step's
    rules = [output_rule(judge.net, state.parameters, x[i:i + EVAL_CHUNK], e, judge.dtype)
             for i, e in zip(range(0, len(x), EVAL_CHUNK), expected, strict=True)]
    found: dict[str, Check] = {}
    for n in names:
        s = sessions[n]
        with blamed(n, rs.t, "forward(training=False) at the reference's state"):
            own = s.get_state()
            s.set_state(handed(state))
            try:
                got = eval_outputs(s, x)
            finally:
                s.set_state(own)
        if len(got) != len(expected):
            found[n] = Check(PREDICTION, math.inf, 0.0, math.inf, f"{len(got)} output chunks, the reference's "
                             f"{len(expected)}")
            continue
        checks = [check(PREDICTION, g, e, rule) for g, e, rule in zip(got, expected, rules, strict=True)]
        found[n] = max(checks, key=lambda c: c.ratio)
    return found


def _fold(v: StepVerdict, p: Check) -> None:
    """A step's verdict with its predictions' check: it fails where they fail, and they may be its worst."""
    if not p.ok:
        v.ok = False
        v.failed.append(p)
    if v.worst is None or p.ratio > v.worst.ratio:
        v.worst = p


def run_compare(prep: Prepared, sessions: dict[str, Session], progress: Any = None, *,
                reference: Session | None = None, build: Callable[[str], Session] | None = None,
                every: int = 1) -> Comparison:
    """Train every session freely (drift) and judge every backend's steps re-synchronized.

    `sessions`: the session of each listed backend, in order (the first is the drift baseline). Each one's
    judged steps run through `Session.step_from`, which leaves its own free-running trajectory undisturbed.
    `reference`: the judge (default: `sessions["reference"]`, else `build("reference")`)."""
    names = list(sessions)
    dtype = prep.recipe.dtype
    judge_session = reference or sessions.get(JUDGE) or (build(JUDGE) if build else None)
    if judge_session is None:
        raise ValueError("the re-synchronized comparison needs the reference session (or `build`)")
    judged = [n for n in names if n != JUDGE]
    result = Comparison(names, dtype, prep.total_steps, every, judged=judged,
                        evaluated_on="validation" if prep.data.held_out else "training",
                        eval_samples=len(prep.data.x_eval))
    judge = Judge(prep, judge_session, dtype)
    steps = judged_steps(prep.total_steps, every)
    evaluated = evaluation_steps(prep, steps)
    blind = BlindSteps.sampled(prep.total_steps, steps, every)
    judge_session.set_parameters(prep.initial)
    for s in sessions.values():
        if s is not judge_session:
            s.set_parameters(prep.initial)
    base = names[0]
    worst: dict[str, WorstStep] = {}  # per backend: its judged step of the largest ratio under the derived rules
    t = 0
    try:
        for index in range(prep.total_steps):
            t = index + 1
            rs = judge.reference_step(index, keep=t in steps)
            if rs.stopped is not None and t not in steps:  # a failed step changes nothing: the state before is now
                rs.before = judge_session.get_state()
            losses: dict[str, float] = {}
            params: dict[str, dict[str, np.ndarray]] = {}
            for n in names:
                s = sessions[n]
                if s is judge_session:
                    if rs.stopped is not None:
                        result.stopped[n] = (t, rs.stopped)
                        losses[n] = math.nan
                    else:
                        losses[n] = float(rs.result.loss)  # type: ignore[union-attr]
                        params[n] = rs.after.parameters if rs.after is not None else s.get_parameters()
                    continue
                if n in result.stopped:
                    losses[n] = math.nan
                    continue
                try:
                    with blamed(n, t, "train_step()"):
                        losses[n] = float(step_answer(s.train_step(rs.x, rs.y, masks=rs.masks)).loss)
                        params[n] = s.get_parameters()
                except NonFiniteError as exc:
                    result.stopped[n] = (t, exc.quantity)
                    losses[n] = math.nan
            verdicts: dict[str, StepVerdict] = {}
            if judged:
                blind.ask(judge, rs)
                result.blind_steps, result.blind_quantities, result.blind_checked = blind.steps, blind.quantities, \
                    blind.checked
            predicted: dict[str, Check] = {}
            if t in steps or rs.stopped is not None:
                for n in judged:
                    with blamed(n, t, "step from the reference's state"):
                        v = judge.judge(rs, sessions[n])
                    verdicts[n] = v
                    worst.setdefault(n, WorstStep(judge)).offer(rs, v)
                predicted = judge_predictions(judge, rs, sessions, judged) if t in evaluated and rs.after is not None \
                    and judged else {}
                for n in judged:
                    v = verdicts[n]
                    if n in predicted:
                        _fold(v, predicted[n])
                        w = worst[n]  # the output bound is derived: it may be the closest call
                        if w.check is None or predicted[n].ratio > w.check.ratio:
                            w.step, w.check = t, predicted[n]
                    if not v.ok:
                        result.failing_steps[n] = result.failing_steps.get(n, 0) + 1
                        if n not in result.first_divergence:
                            c = v.failed[0] if v.failed else v.worst
                            assert c is not None
                            result.first_divergence[n] = Divergence(t, c.quantity, c.error, c.tolerance, c.ratio,
                                                                    c.why)
            result.tiers = list(judge.tiers)
            diffs = {n: drift(losses[n], losses[base], params[n], params[base]) for n in names[1:]
                     if n in params and base in params}
            pairs = {f"{a}/{b}": drift(losses[b], losses[a], params[b], params[a]) for a, b in pair_names(names)
                     if a in params and b in params}
            result.rows.append(StepRow(t, losses, diffs, pairs, verdicts, predicted))
            if progress is not None:
                progress.update(t, losses[base])
            if rs.stopped is not None:  # the reference cannot go on: nothing left to judge from
                break
    except LockstepError as exc:  # an adapter's error: the rows judged so far go with it (the command shows them)
        result.stopped_by = (t, str(exc))
        exc.comparison = result  # type: ignore[attr-defined]
        raise
    finally:
        for n, w in worst.items():  # its margin under the derived bounds (lower tiers give upper bounds)
            if w.check is not None and w.step is not None:
                result.worst_derived[n] = (w.step, w.check)
    return result


# ------------------------------------------------------------------------------------------- text
def format_table(c: Comparison) -> str:
    """The per-step table (judged steps only when `every` > 1), then the verdicts and the drift summary."""
    first, others = c.backends[0], c.backends[1:]
    judged_list = " and ".join(c.judged) or "no backend"
    rule = ("the float64 rule |a - r| <= 1e-10|r| + 1e-12 s" if c.dtype == "float64" else
            "the derived one-step float32 bounds (docs/spec/v1-semantics.md)")
    shown = "every step" if c.every <= 1 else f"the judged steps: the first {FIRST_STEPS}, every {c.every}th, the last"
    last = c.rows[-1].step if c.rows else 0
    span = (f"{c.total_steps} step{'s' * (c.total_steps != 1)}" if last >= c.total_steps else
            f"the first {last} of {c.total_steps} steps, where "
            f"{'an adapter failed' if c.stopped_by is not None else 'the reference stopped'}")
    lines = [
        f"{c.dtype} comparison of {', '.join(c.backends)} over {span} (rows: {shown})",
        f"verdict: re-synchronized, judged. Each judged step of {judged_list} starts from the reference's exact",
        "  state after the step before (parameters, buffers, optimizer state, step count; the same batch and dropout",
        "  masks), runs one native training step and must match the reference's step",
        f"  under {rule}; `ratio` is that step's largest error/tolerance (an upper bound where",
        "  the derived bounds' cheap lower bounds already pass): at most 1 holds.",
        f"predictions: judged at {_steps_words(c.prediction_steps)}: each backend's",
        f"  forward(training=False) on the {c.evaluated_on} data ({plural(c.eval_samples, 'sample')}) from the "
        "reference's state after the step",
        f"  must match the reference's under {_output_rule(c.dtype)}; a miss fails that step (quantity "
        f"`{PREDICTION}`).",
        "drift: free-running, shown, not judged. Each backend also trains on its own from the same initial bits;",
        f"  Δ = max |a - r| / (|r| + {DRIFT_FLOOR:g} s) against `{first}` (s: the largest magnitude of the quantity's "
        "kind);",
        f"  {c.dtype} rounding compounds step after step, so drift grows by design"
        f"{', from float64 round-off' if c.dtype == 'float64' else ''}.", ""]
    loss_w = max(16, *(len(b) + 6 for b in c.backends))
    diff_w = {b: max(12, len(b) + 9) for b in others}
    pairs = [f"{a}/{b}" for a, b in pair_names(c.backends)]
    pair_w = {p: max(12, len(p) + 9) for p in pairs}
    ratio_w = {b: max(12, len(b) + 7) for b in c.judged}
    head = f"{'step':>6}" + "".join(f"{'loss ' + b:>{loss_w}}" for b in c.backends)
    head += "".join(f"{'Δloss ' + b:>{diff_w[b]}}{'Δparam ' + b:>{diff_w[b]}}" for b in others)
    head += "".join(f"{'Δloss ' + p:>{pair_w[p]}}{'Δparam ' + p:>{pair_w[p]}}" for p in pairs)
    head += "".join(f"{'ratio ' + b:>{ratio_w[b]}}" for b in c.judged)
    lines.append(head)
    for r in c.rows:
        if c.every > 1 and not r.judged:
            continue
        line = f"{r.step:>6}" + "".join(_cell(r.losses.get(b, math.nan), loss_w, ".10g") for b in c.backends)
        for b in others:
            d = r.diffs.get(b)
            line += (_cell(d.loss_rel, diff_w[b]) + _cell(d.param_rel, diff_w[b])) if d else " " * (2 * diff_w[b])
        for p in pairs:
            d = r.pairs.get(p)
            line += (_cell(d.loss_rel, pair_w[p]) + _cell(d.param_rel, pair_w[p])) if d else " " * (2 * pair_w[p])
        for b in c.judged:
            v = r.judged.get(b)
            text = "" if v is None or v.worst is None else (f"{v.worst.ratio:.2e}" if v.ok else "FAIL")
            line += f"{text:>{ratio_w[b]}}"
        lines.append(line)
    lines.append("")
    lines += verdict_lines(c)
    return "\n".join(lines)


def _output_rule(dtype: str) -> str:
    return "the float64 rule" if dtype == "float64" else "the derived output bound"


def _steps_words(steps: list[int]) -> str:
    """`steps 50, 100 and 300`, `step 3`, `no step` (a few, then how many more)."""
    if not steps:
        return "no step (none of the recipe's evaluation steps was compared)"
    shown = [str(s) for s in steps[:8]] + ([f"{len(steps) - 8} more"] if len(steps) > 8 else [])
    text = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return f"step{'s' * (len(steps) != 1)} {text} (the recipe's evaluation steps)"


def _cell(v: float, width: int, fmt: str = ".2e") -> str:
    """`v` right-aligned in `width`, after at least one space: a value wider than its column (a loss of
    -6.903626714e+112) must not run into the one before it."""
    text = f"{v:{fmt}}" if math.isfinite(v) else ("nan" if math.isnan(v) else str(v))
    return " " + text.rjust(width - 1)


def verdict_lines(c: Comparison) -> list[str]:
    """The summary: one verdict line per judged backend, then one drift line per pair (labelled as such)."""
    lines = [f"note: {n}" for n in c.notes]
    if c.stopped_by is not None:
        lines.append(f"stopped: at step {c.stopped_by[0]} an adapter failed (below): the {len(c.rows)} step"
                     f"{'s' * (len(c.rows) != 1)} above {'were' if len(c.rows) != 1 else 'was'} compared before it, "
                     "and no verdict covers the rest")
    for b in c.judged:
        judged = sum(1 for r in c.rows if b in r.judged)
        if b in c.first_divergence:
            d = c.first_divergence[b]
            n = c.failing_steps.get(b, 1)
            lines.append(f"verdict (re-synchronized, judged): {b} DIVERGES from the reference at step {d.step} "
                         f"({n} of {judged} judged steps fail): {d.describe()}")
        else:
            w = c.worst(b)
            detail = f" (worst: ratio {w[1].ratio:.2e} at step {w[0]}, {w[1].quantity})" if w is not None else ""
            said = len(c.prediction_steps)
            also = f", predictions at {said} of them" if said else ""
            if c.stopped_by is not None:
                also += f", before the adapter error at step {c.stopped_by[0]}"
            lines.append(f"verdict (re-synchronized, judged): {b} holds at every one of {judged} judged steps{also}"
                         f"{detail}")
    if c.blind_quantities:
        every = max(c.every, BLIND_EVERY)
        rule = "the derived bounds" if c.dtype != "float64" else "the float64 rule"
        lines.append(f"bounds: at the judged steps asked (the first {FIRST_STEPS}, every {every}th, the last) "
                     f"{rule} would also pass unmoved what the step changed, for "
                     f"{blind_words(c.blind_quantities, c.blind_steps, c.blind_checked)}: they exceed those updates, "
                     "so the verdict says little about them (compare.json `verdict.blind_quantities`, "
                     "`verdict.blind_steps`)")
    keys = [(b, f"{b} against {c.backends[0]}") for b in c.backends[1:]]
    keys += [(f"{a}/{b}", f"{b} against {a}") for a, b in pair_names(c.backends)]
    for key, label in keys:
        found = [(r.step, r.diffs.get(key) or r.pairs.get(key)) for r in c.rows]
        found = [(s, d) for s, d in found if d is not None]
        if not found:
            continue
        s, worst = max(found, key=lambda f: f[1].param_rel if math.isfinite(f[1].param_rel) else math.inf)
        loss = max((d.loss_rel for _, d in found if math.isfinite(d.loss_rel)), default=math.nan)
        unmeasured = next((step for step, d in found if not math.isfinite(d.loss_rel)), None)
        in_loss = f"{loss:.2e} in the loss" if unmeasured is None else \
            f"no finite difference in the loss from step {unmeasured} (a loss is non-finite)"  # it said 0.00e+00
        g = c.growth(key)
        grow = "" if g is None else f"; grows ×{g:.3f} per step"
        where = f"step {s}, {worst.param}" if worst.param else f"step {s}"
        lines.append(f"drift (free-running, not judged): {label}: largest relative difference {worst.param_rel:.2e} "
                     f"in the parameters ({where}), {in_loss}{grow}")
    for b, (s, q) in c.stopped.items():
        lines.append(f"drift (free-running, not judged): {b} stopped at step {s}: non-finite {q}")
    return lines


# ------------------------------------------------------------------------------------------- plot
RATIO_RANGE = (1e-17, 1e6)
"""The ratio panel's drawn range: an exact step (ratio 0) is drawn at its floor, a failing one beyond 1e6 (or
non-finite) at its top, and the legend counts both."""


def _clamped(pts: list[tuple[float, float]], lo: float, hi: float) -> tuple[list[tuple[float, float]], str]:
    """`pts` drawn within [lo, hi] (non-finite above), and what the legend says of those moved."""
    below = sum(1 for _, v in pts if v < lo)
    above = sum(1 for _, v in pts if not v <= hi)
    said = [f"{below} below {lo:g} drawn at it"] if below else []
    said += [f"{above} above {hi:g} or non-finite drawn at {hi:g}"] if above else []
    return [(s, hi if not v <= hi else max(v, lo)) for s, v in pts], f" ({'; '.join(said)})" if said else ""


def plot(c: Comparison, path: Path) -> None:
    """One SVG, three panels sharing the step axis: the free-running losses (a log axis above a 50× range, as a
    run's plot); their drift (log axis); the judged steps' worst error/tolerance ratio per backend (log axis, the
    line at 1 is the verdict's threshold). A lone point is a dot; what is not drawn is counted in the legend."""
    from lockstep.plot import _log_scale, line_chart
    from lockstep.spec.atomic import write_text

    first = c.rows[0].step if c.rows else 0
    last = c.rows[-1].step if c.rows else 1
    span = (first - 0.5, last + 0.5) if first == last else (first, last)
    losses: dict[str, list[tuple[float, float]]] = {}
    for b in c.backends:  # non-finite losses go in: the chart counts them ("(n non-finite not drawn)")
        stop = f" (stopped at step {c.stopped[b][0]}: non-finite {c.stopped[b][1]})" if b in c.stopped else ""
        losses[b + stop] = [(r.step, r.losses.get(b, math.nan)) for r in c.rows]
    log_loss = _log_scale([v for pts in losses.values() for _, v in pts if math.isfinite(v)])
    top = line_chart(losses, title=f"loss per step ({c.dtype}, free-running from the same initial bits)",
                     xlabel="optimizer step", ylabel="training loss" + (" (log scale)" if log_loss else ""),
                     log_y=log_loss, x_range=span)
    floor = RATIO_RANGE[0]
    diffs: dict[str, list[tuple[float, float]]] = {}

    def add(label: str, pts: list[tuple[float, float]]) -> None:
        finite = [(s, v) for s, v in pts if math.isfinite(v)]
        drawn, said = _clamped(finite, floor, math.inf)
        gone = len(pts) - len(finite)
        diffs[label + said + (f" ({gone} non-finite not drawn)" if gone else "")] = drawn

    for b in c.backends[1:]:
        add(f"parameters: {b} vs {c.backends[0]}", [(r.step, r.diffs[b].param_rel) for r in c.rows if b in r.diffs])
        add(f"loss: {b} vs {c.backends[0]}", [(r.step, r.diffs[b].loss_rel) for r in c.rows if b in r.diffs])
    for a, b in pair_names(c.backends):
        key = f"{a}/{b}"
        add(f"parameters: {b} vs {a}", [(r.step, r.pairs[key].param_rel) for r in c.rows if key in r.pairs])
    middle = line_chart(diffs, title="drift: largest relative difference per step (free-running, not judged)",
                        xlabel="optimizer step", ylabel="relative difference", log_y=True, x_range=span)
    ratios: dict[str, list[tuple[float, float]]] = {}
    for b in c.judged:
        pts = [(r.step, r.judged[b].worst.ratio) for r in c.rows  # type: ignore[union-attr]
               if b in r.judged and r.judged[b].worst is not None]
        drawn, said = _clamped(pts, *RATIO_RANGE)
        ratios[f"{b}: worst error/tolerance{said}"] = drawn
    if c.rows:
        ratios["1: the verdict's threshold"] = [(span[0], 1.0), (span[1], 1.0)]
    bottom = line_chart(ratios, title=f"verdict: each judged step re-synchronized to the reference ({c.dtype})",
                        xlabel="optimizer step", ylabel=f"error / tolerance (drawn in {RATIO_RANGE[0]:g} to "
                        f"{RATIO_RANGE[1]:g})", log_y=True, x_range=span)
    write_text(path, _stack([top, middle, bottom]))


def _stack(svgs: list[str], width: int = 720, height: int = 400) -> str:
    """Several line_chart SVGs one above the other in one document (nested <svg> elements)."""
    body = []
    for i, svg in enumerate(svgs):
        inner = svg.strip().replace("<svg ", f'<svg x="0" y="{i * height}" ', 1)
        body.append(inner)
    total = height * len(svgs)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" '
            f'viewBox="0 0 {width} {total}">\n' + "\n".join(body) + "\n</svg>\n")


__all__ = [
    "Comparison",
    "Divergence",
    "PairDiff",
    "StepRow",
    "format_table",
    "judged_steps",
    "plot",
    "run_compare",
]
