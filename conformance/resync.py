"""The re-synchronized judgement: one training step of a backend, started from the reference's exact state.

To judge step t, the backend is given the reference's state after step t−1 (parameters, buffers, every
optimizer state, the step count: `Session.set_state`), the same batch and dropout masks, and runs ONE native
`train_step`; its loss, learning rate, parameters, buffers, optimizer state and step count are compared with
the reference's step t under the one-step rules of `conformance/tolerance.py::resync_rules` (float32: derived
from floating-point error bounds; float64: the fixed rule). No rounding carries over from earlier steps, so
a failed step names a difference in that step's math, at any run length, on any machine
(docs/spec/v1-semantics.md, "Re-synchronized comparison"). `lockstep compare` judges every step this way, and
level 4 of `lockstep certify` judges the example recipes this way.

Cost: the derived float32 bounds need a magnitude pass over the model (about two reference steps). Each step
is first checked under the same rules with every magnitude M replaced by the reference's |value| (M ≥ |value|,
and every rule grows with M, so these tolerances are lower bounds of the derived ones): a step that passes
them passes the derived ones, and the magnitude pass runs only for the steps that do not (verdicts are the
same as always running it; the ratios reported for such steps are upper bounds of the derived ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lockstep.adapters.base import NonFiniteError, Session, StepResult, TrainingState
from lockstep.adapters.checked import step_answer
from lockstep.conformance.checks import Check, CheckPlan
from lockstep.conformance.levels._pair import handed
from lockstep.conformance.tolerance import BatchRules, StepRules, batch_rules, resync_rules, value_batch_rules
from lockstep.reference import schedules
from lockstep.runner import Prepared, masks_for
from lockstep.spec.formats import plural

Arrays = dict[str, np.ndarray]

VALUE, FLOOR, DERIVED = 0, 1, 2
"""Tiers of a step's float32 rules: magnitudes M replaced by |value| (free); gradients' M by the larger of |g|
and the layers' backward of |δ| (one extra reference backward); the derived bounds (the magnitude pass). Each
tier's tolerances are at most the next one's, so a step that passes a lower tier passes the derived rules, and
a step may start at any tier: the verdict is the same. A backend's steps start at the tier that settled its
last one (consecutive steps are alike), and every RETRY_LOWEST-th at the cheapest again."""

RETRY_LOWEST = 8

FIRST_STEPS = 3
"""With `every` > 1, the first steps are judged anyway (warm-up, the first momentum and bias corrections)."""

BLIND_EVERY = 10
"""Whether a judged step's bounds could tell its update from none (`Judge.unmoved_passes`) costs its derived
bounds, most of a judged step's price: it is asked of the first FIRST_STEPS, every BLIND_EVERY-th and the last."""


def judged_steps(total: int, every: int) -> set[int]:
    """The 1-based steps judged: all with every = 1; else the first FIRST_STEPS, every N-th and the last."""
    if every <= 1:
        return set(range(1, total + 1))
    return {s for s in range(1, total + 1) if s <= FIRST_STEPS or s % every == 0 or s == total}


@dataclass
class ReferenceStep:
    """The reference's step `t` (1-based): its batch, the state before and after, what it returned."""

    t: int
    x: Any
    y: np.ndarray
    masks: Arrays | None
    before: TrainingState
    after: TrainingState | None = None  # None: the reference stopped (non-finite)
    result: StepResult | None = None
    stopped: str | None = None  # the non-finite quantity, when the reference stopped
    grads: Arrays = field(default_factory=dict)  # before clipping
    serial: int = -1  # the Judge's count of reference steps when this one ran (its caches are the latest while equal)
    _rules: dict[int, StepRules] = field(default_factory=dict)  # by tier: VALUE, FLOOR, DERIVED
    _plans: dict[int, CheckPlan] = field(default_factory=dict)  # the comparisons' reference side, by tier
    _representable: bool | None = None


@dataclass
class StepVerdict:
    """One backend's re-synchronized step `t`."""

    t: int
    ok: bool
    worst: Check | None  # the check with the largest error/tolerance ratio
    failed: list[Check] = field(default_factory=list)  # under the derived rules
    derived: bool = False  # whether the derived bounds were computed (else `worst.ratio` is an upper bound)
    loss: float = math.nan  # the backend's loss of this step
    note: str = ""
    result: StepResult | None = field(default=None, repr=False)  # what the backend returned (for `derived_worst`)
    state: TrainingState | None = field(default=None, repr=False)  # its state after the step (idem)


class Judge:
    """Runs the reference's steps (it is the state every judged step starts from) and judges backends'."""

    def __init__(self, prep: Prepared, reference: Session, dtype: str) -> None:
        """`prep`: the prepared recipe (anything with `model` and `recipe` will do where `step` is given the
        batches); `reference`: a reference session at the state the first judged step starts from."""
        from lockstep.reference.model import ReferenceModel

        self.prep = prep
        self.reference = reference
        self.dtype = dtype
        self.net = ReferenceModel(prep.model)  # the bounds' own forward, apart from the session's caches
        self.tiers = [0, 0, 0]  # how many steps were settled at each tier (most pass the lower bounds)
        self._lengths: dict[int, Any] = {}  # batch size -> model_lengths (they depend on shapes only)
        self._start: dict[int, tuple[int, int]] = {}  # per session: (the tier to start at, steps judged)
        self.serial = 0

    def batch(self, index: int) -> tuple[Any, np.ndarray, Arrays | None]:
        _, x, y = self.prep.data.batch(index)
        return x, y, masks_for(self.prep, index, len(x))

    def reference_step(self, index: int, *, keep: bool = True) -> ReferenceStep:
        """The reference's step `index + 1` (0-based `index`, the runner's) on the recipe's batch. With `keep`,
        the states before and after are kept (copies) for judging; without, only the step runs (the free run
        between judged steps). Raises nothing: a non-finite step is recorded in `stopped`."""
        return self.step(index + 1, *self.batch(index), keep=keep)

    def step(self, t: int, x: Any, y: np.ndarray, masks: Arrays | None, *, keep: bool = True) -> ReferenceStep:
        """The reference's step `t` (1-based) on a given batch (`reference_step` takes the recipe's)."""
        before = self.reference.get_state() if keep else TrainingState(0, {})
        self.serial += 1
        rs = ReferenceStep(t, x, y, masks, before, serial=self.serial)
        try:
            rs.result = self.reference.train_step(x, y, masks=masks)
        except NonFiniteError as exc:
            rs.stopped = exc.quantity
            return rs
        if keep:
            rs.after = self.reference.get_state()
            grads = rs.result.extras.get("gradients")
            if grads is None:  # a reference without them: recompute at the state before (buffers restored)
                probe = type(self.reference)(self.prep.model, self.prep.recipe)  # type: ignore[call-arg]
                probe.set_state(before)
                _, grads = probe.loss_and_gradients(x, y, masks=masks)
            rs.grads = grads
        return rs

    # ------------------------------------------------------------------------------------------- rules
    def rules(self, rs: ReferenceStep, tier: int) -> StepRules:
        """The step's rules at `tier` (VALUE and FLOOR: lower bounds of the DERIVED ones; float64 has no FLOOR)."""
        if tier not in rs._rules:
            assert rs.after is not None and rs.result is not None
            recipe = self.prep.recipe
            buffers = {k: rs.after.parameters[k] for k in self.net.buffer_specs}
            loss_r = float(rs.result.loss)
            batch: BatchRules | None = None
            if tier == DERIVED:
                net = getattr(self.reference, "net", None)  # the reference's own forward and backward of this step
                fresh = rs.serial == self.serial and net is not None and hasattr(net, "last_values")
                batch = batch_rules(net if fresh else self.net, rs.before.parameters, rs.x, rs.y, rs.masks,
                                    recipe.loss, loss_r, rs.grads, self.dtype, buffers, reuse=fresh)
            elif self.dtype != "float64":
                floor = None
                if tier == FLOOR:
                    from lockstep.reference.error_bounds import gradient_floor

                    net = getattr(self.reference, "net", None)
                    if rs.serial != self.serial or net is None or not hasattr(net, "output_gradients"):
                        return self.rules(rs, DERIVED)  # the reference's caches are gone: no floor to take
                    floor = gradient_floor(net)
                size = len(rs.y)
                if size not in self._lengths:
                    from lockstep.reference.error_bounds import model_lengths

                    self._lengths[size] = model_lengths(self.net, size, training=True, loss=recipe.loss)
                batch = value_batch_rules(self.net, size, recipe.loss, loss_r, rs.grads, buffers, self.dtype,
                                          floor, self._lengths[size])
            rs._rules[tier] = resync_rules(recipe, self.dtype, rs.t, batch, rs.grads, rs.before, rs.after,
                                           float(rs.result.learning_rate), loss_r)
        return rs._rules[tier]

    def _representable(self, rs: ReferenceStep) -> bool:
        """Whether float32 can represent this step's loss and gradients (else a non-finite step is allowed)."""
        if rs._representable is None:
            from lockstep.reference.error_bounds import model_bounds

            b = model_bounds(self.net, rs.before.parameters, rs.x, training=True, masks=rs.masks,
                             loss=self.prep.recipe.loss, y=rs.y, dtype=self.dtype)
            rs._representable = bool(b.loss is not None and b.loss.representable(self.dtype)
                                     and all(g.representable(self.dtype) for g in b.gradients.values())
                                     and self._norm_representable(rs))
        return rs._representable

    def _norm_representable(self, rs: ReferenceStep) -> bool:
        """Global-norm clipping needs ‖g‖ itself: finite gradients whose norm is beyond float32 cannot be clipped
        in float32 (below that, the adapters must not overflow: docs/spec/v1-semantics.md, clipping)."""
        clip = self.prep.recipe.gradient_clipping
        if clip is None or clip.type != "global_norm" or rs.result is None or rs.result.grad_norm is None:
            return True
        return bool(rs.result.grad_norm < float(np.finfo(self.dtype).max))

    # ------------------------------------------------------------------------------------------ judging
    def judge(self, rs: ReferenceStep, session: Session, *, scratch: bool = False) -> StepVerdict:
        """`session` from the reference's state before step `rs.t`, one native step, compared. The session's
        own state is left as it was (`Session.step_from`), unless it is `scratch` (used for nothing else:
        level 4), where the step simply runs on it, or through the adapter's own `step_from` where it has one
        (TensorFlow's is one compiled call where set, step and get are three)."""
        try:
            if scratch and type(session).step_from is Session.step_from:  # the default would save and restore
                session.set_state(handed(rs.before))
                res = step_answer(session.train_step(handed(rs.x), handed(rs.y), masks=handed(rs.masks)))
                got = session.get_state()
            else:
                res, got = session.step_from(handed(rs.before), handed(rs.x), handed(rs.y), masks=handed(rs.masks))
        except NonFiniteError as exc:
            if rs.stopped is not None:
                return StepVerdict(rs.t, True, Check(f"both stop on non-finite {rs.stopped}", 0.0, 0.0, 0.0))
            if self.dtype != "float64" and not self._representable(rs):
                return StepVerdict(rs.t, True, Check(f"non-finite {exc.quantity} where float32 cannot represent "
                                                     "the step (allowed)", 0.0, 0.0, 0.0), derived=True,
                                   note="not representable in float32")
            bad = Check(f"non-finite {exc.quantity} (the reference's step is finite)", math.inf, 0.0, math.inf)
            return StepVerdict(rs.t, False, bad, [bad], derived=True)
        if rs.stopped is not None:
            bad = Check(f"the reference stops on non-finite {rs.stopped}, this backend does not", math.inf, 0.0,
                        math.inf)
            return StepVerdict(rs.t, False, bad, [bad], derived=True, loss=float(res.loss))
        tiers = (VALUE, FLOOR, DERIVED) if self.dtype != "float64" else (VALUE, DERIVED)
        key = id(session)
        start, count = self._start.get(key, (VALUE, 0))
        if count % RETRY_LOWEST == 0:  # now and then from the cheapest tier again: steps change
            start = VALUE
        for tier in tiers:
            if tier < start:
                continue
            checks = self._checks(rs, res, got, tier)
            failed = [c for c in checks if not c.ok]
            if not failed or tier == DERIVED:
                self.tiers[tier] += 1
                self._start[key] = (tier, count + 1)
                return StepVerdict(rs.t, not failed, max(checks, key=lambda c: c.ratio), failed, tier == DERIVED,
                                   float(res.loss), result=res, state=got)
        raise AssertionError("unreachable")

    def unmoved_passes(self, rs: ReferenceStep) -> tuple[set[str], list[str]]:
        """The quantities the reference's step changed (parameters, buffers, optimizer states), and those of them
        whose derived rules would also pass them unchanged (the state before the step handed back as the answer):
        the bounds exceed their update there, and a verdict of this step says nothing of it. float32 bounds grown
        through deep attention, recurrence or a convolution into batch norm do so: tiny-gpt's parameter tolerances
        are 1e13 × its updates, and a backend that never trained held at every step."""
        if rs.after is None or rs.result is None:
            return set(), []
        after, before = rs.after, rs.before
        moved = {f"{'buffer' if k in self.net.buffer_specs else 'parameter'} {k}"
                 for k, v in after.parameters.items() if not _same(v, before.parameters.get(k))}
        moved |= {f"optimizer_state {n} of {p}" for p, states in after.optimizer.items() for n, v in states.items()
                  if not _same(v, before.optimizer.get(p, {}).get(n))}
        if not moved:
            return moved, []
        return moved, [c.quantity for c in self._checks(rs, rs.result, before, DERIVED)
                       if c.ok and c.quantity in moved]

    def derived_worst(self, rs: ReferenceStep, verdict: StepVerdict) -> Check | None:
        """The worst check of a judged step under the derived rules (its verdict may have been settled by their
        lower bounds, whose ratios are only upper bounds): the margin a report states. Needs the verdict's
        `result` and `state`; recomputes the step's magnitude pass when the reference has moved on."""
        if verdict.derived or verdict.result is None or verdict.state is None or rs.after is None:
            return verdict.worst
        checks = self._checks(rs, verdict.result, verdict.state, DERIVED)
        return max(checks, key=lambda c: c.ratio)

    def _checks(self, rs: ReferenceStep, res: StepResult, got: TrainingState, tier: int) -> list[Check]:
        assert rs.after is not None and rs.result is not None
        ref = rs.after
        if tier not in rs._plans:  # the reference side of the comparison, shared by every backend judged
            rules = self.rules(rs, tier)
            recipe = self.prep.recipe
            expected_lr = schedules.learning_rate(recipe.schedule, recipe.optimizer.learning_rate, rs.t - 1)
            items = [("loss", rs.result.loss, rules.loss), ("learning_rate", expected_lr, rules.learning_rate)]
            buffers = self.net.buffer_specs
            for k, v in ref.parameters.items():
                items.append((f"{'buffer' if k in buffers else 'parameter'} {k}", v, rules.parameters[k]))
            for p, states in ref.optimizer.items():
                items += [(f"optimizer_state {n} of {p}", v, rules.states[p][n]) for n, v in states.items()]
            rs._plans[tier] = CheckPlan(items)
        actual: list[Any] = [res.loss, res.learning_rate, *(got.parameters.get(k, math.nan) for k in ref.parameters)]
        actual += [got.optimizer.get(p, {}).get(n, math.nan) for p, states in ref.optimizer.items() for n in states]
        out = rs._plans[tier].run(actual)
        same = got.step == ref.step
        out.insert(2, Check(f"optimizer step count {got.step} (reference {ref.step})", 0.0 if same else 1.0, 0.0,
                            0.0 if same else math.inf))
        return out


def _same(a: Any, b: Any) -> bool:
    return b is not None and np.shape(a) == np.shape(b) and np.array_equal(a, b)


@dataclass
class BlindSteps:
    """Where a run's sampled steps had bounds that would also pass what the step changed, unchanged
    (`Judge.unmoved_passes`): a verdict that holds says nothing of those updates, and the report must say so.
    `lockstep compare` and level 4 of `lockstep certify` ask the same steps (`judged_steps` with BLIND_EVERY, of
    those judged)."""

    asked: set[int]  # the 1-based steps to ask
    steps: list[int] = field(default_factory=list)  # those where every parameter that moved would pass unmoved
    quantities: dict[str, int] = field(default_factory=dict)  # quantity -> steps asked where it would pass unmoved
    checked: int = 0  # how many were asked

    @classmethod
    def sampled(cls, total: int, judged: set[int] | None = None, every: int = 1) -> BlindSteps:
        """The steps of a `total`-step run to ask: the first, every BLIND_EVERY-th (or `every`-th, if larger)
        and the last, of the `judged` ones (default: all)."""
        asked = judged_steps(total, max(every, BLIND_EVERY))
        return cls(asked if judged is None else asked & judged)

    def ask(self, judge: Judge, rs: ReferenceStep) -> None:
        """Ask `rs` (the reference's step with its states kept) if it is one of the sampled steps."""
        if rs.t not in self.asked:
            return
        self.checked += 1
        moved, passes = judge.unmoved_passes(rs)
        for q in passes:
            self.quantities[q] = self.quantities.get(q, 0) + 1
        kinds = ("parameter ", "buffer ", "optimizer_state ")  # parameters first, whichever moved first
        self.quantities = dict(sorted(self.quantities.items(),
                                      key=lambda i: next((r for r, k in enumerate(kinds) if i[0].startswith(k)), 3)))
        parameters = {q for q in moved if q.startswith("parameter ")}
        if parameters and parameters <= set(passes):  # every parameter that moved: nothing of the update is judged
            self.steps.append(rs.t)


def blind_words(quantities: dict[str, int], steps: list[int], checked: int) -> str:
    """`6 parameters and 18 optimizer states (at up to 15 of the 15 steps asked; parameters at every one:
    gru.weight_ih, ...); at 14 steps, from step 2, for every parameter that moved`: `BlindSteps`'s finding."""
    kinds = {"parameter": "parameter", "buffer": "buffer", "optimizer_state": "optimizer state"}
    counts = {kind: sum(q.startswith(f"{key} ") for q in quantities) for key, kind in kinds.items()}
    parts = [f"{n} {kind}{'s' * (n != 1)}" for kind, n in counts.items() if n]
    text = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
    every = [q.removeprefix("parameter ") for q, n in quantities.items() if n == checked and q.startswith("parameter ")]
    shown = ", ".join(every[:4]) + (f" and {len(every) - 4} more" if len(every) > 4 else "")
    text += (f" (at up to {max(quantities.values())} of the {plural(checked, 'step')} asked"
             + (f"; parameters at every one: {shown}" if every else "") + ")")
    if steps:
        text += f"; at {len(steps)} step{'s' * (len(steps) != 1)}, from step {steps[0]}, for every parameter that moved"
    return text


class WorstStep:
    """The judged step with the largest ratio under the derived rules, over a whole run.

    A lower tier's ratio bounds the derived one from above, so a step whose bound is at most the largest derived
    ratio found so far cannot be the worst, and only the others need their derived rules. Judging the step of the
    largest bound alone named the wrong step: tiny-gpt's worst read 4.6e-12 where step 1's was 0.198."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.step: int | None = None
        self.check: Check | None = None

    def offer(self, rs: ReferenceStep, verdict: StepVerdict) -> None:
        """Judge `verdict` (right after `Judge.judge`, while `rs` and the verdict hold their states), then drop
        what it returned; a step measured under the derived rules shows that check as its `worst`."""
        w = verdict.worst
        if w is not None and (self.check is None or w.ratio > self.check.ratio):
            exact = self.judge.derived_worst(rs, verdict)
            if exact is not None:
                verdict.worst, verdict.derived = exact, True
                if self.check is None or exact.ratio > self.check.ratio:
                    self.step, self.check = verdict.t, exact
        verdict.result = verdict.state = None
