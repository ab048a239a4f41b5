"""Level 3, updates: k optimizer steps from identical parameters on the case's batches; after every step
the loss, the learning rate and every parameter (buffers included); after the last, every optimizer state.

In float32 the parameter bounds are first order (conformance/tolerance.py) and hold for a few steps:
parameters are compared for the first `tolerance.FLOAT32_PARAMETER_STEPS` steps and the learning rate
at every step; in float64 everything is compared at every step.
"""

from __future__ import annotations

from lockstep.adapters.base import NonFiniteError
from lockstep.adapters.checked import optimizer_state_answer, parameters_answer, step_answer
from lockstep.conformance.checks import Check, check, entry
from lockstep.conformance.levels._pair import Pair, handed
from lockstep.conformance.tolerance import (
    FLOAT32_PARAMETER_STEPS,
    StepTracker,
    batch_rules,
    learning_rate_rule,
)
from lockstep.reference import schedules

NAME = "updates"


def checks(pair: Pair, steps: int | None = None) -> list[Check]:
    prep = pair.prep
    recipe = prep.recipe
    steps = prep.total_steps if steps is None else min(steps, prep.total_steps)
    pair.start()
    tracker = StepTracker(recipe, pair.dtype)
    out: list[Check] = []
    compared = steps if pair.dtype == "float64" else min(steps, FLOAT32_PARAMETER_STEPS)
    for step in range(steps):
        x, y, masks = pair.batch(step)
        label = f"step {step + 1}"
        before = pair.reference.get_parameters()
        if step < compared:  # the bounds of this step, at the reference's parameters before it
            loss_r, grads_r = pair.reference.loss_and_gradients(x, y, masks=masks)
            moved = pair.reference.get_parameters()
            rules = batch_rules(prep.model, before, x, y, masks, recipe.loss, loss_r, grads_r, pair.dtype,
                                {k: moved[k] for k in prep.graph.buffers()})
            pair.reference.set_parameters(before)  # undo the batch-norm update of that extra forward
            drift = _gradient_drift(pair, before, grads_r, x, y, masks) if step and pair.dtype == "float32" else {}
        try:
            res_r = pair.reference.train_step(x, y, masks=masks)
        except NonFiniteError as exc:  # the case left the finite range: nothing more to compare
            out.append(_stopped_check(pair, x, y, masks, label, exc))
            break
        try:
            res_a = step_answer(pair.actual.train_step(handed(x), handed(y), masks=handed(masks)))
        except NonFiniteError as exc:
            if pair.dtype != "float64" and not _representable(pair, before, x, y, masks, res_r.grad_norm):
                out.append(Check(f"{label} non-finite {exc.quantity} where {pair.dtype} cannot represent the step "
                                 "(allowed)", 0.0, 0.0, 0.0))
            else:
                out.append(Check(f"{label} non-finite {exc.quantity} (the reference's is finite)", float("inf"),
                                 0.0, float("inf")))
            break
        lr_rule = learning_rate_rule(pair.dtype, recipe.optimizer.learning_rate, step)
        out.append(check(f"{label} learning_rate", res_a.learning_rate,
                         schedules.learning_rate(recipe.schedule, recipe.optimizer.learning_rate, step), lr_rule))
        if step >= compared:
            continue
        after_r = pair.reference.get_parameters()
        _, states_r = pair.reference.get_optimizer_state()
        loss_rule = rules.loss
        feedback = tracker.loss_feedback(grads_r)
        if feedback:
            loss_rule = type(loss_rule)(loss_rule.rtol, loss_rule.atol + feedback)
        out.append(check(f"{label} loss", res_a.loss, res_r.loss, loss_rule))
        tracker.step(rules, grads_r, before, after_r, states_r, res_r.learning_rate, drift)
        after_a = parameters_answer(pair.actual.get_parameters())
        for k, v in after_r.items():
            rule = tracker.parameter_rule(k, after_r) if k in grads_r else tracker.buffer_rule(k, after_r)
            out.append(check(f"{label} parameter {k}", entry(after_a, k, "get_parameters()"), v, rule))
    else:
        out += _state_checks(pair, tracker, f"step {compared}")
    return out


def _representable(pair: Pair, before: dict, x, y, masks, grad_norm: float | None) -> bool:
    """Whether the dtype can represent this step's loss and gradients, as level 4 asks it (resync.Judge): where not
    (a magnitude beyond the dtype's range, attention's backward beyond first order), a backend's non-finite step
    is allowed, not a failure (torch's fused attention backward returned inf for scores of 1e9)."""
    import numpy as np

    from lockstep.reference.error_bounds import model_bounds

    recipe = pair.prep.recipe
    b = model_bounds(pair.prep.model, before, x, training=True, masks=masks, loss=recipe.loss, y=y, dtype=pair.dtype)
    clip = recipe.gradient_clipping
    norm_ok = (clip is None or clip.type != "global_norm" or grad_norm is None
               or bool(grad_norm < float(np.finfo(pair.dtype).max)))
    return bool(b.loss is not None and b.loss.representable(pair.dtype)
                and all(g.representable(pair.dtype) for g in b.gradients.values()) and norm_ok)


def _state_checks(pair: Pair, tracker: StepTracker, label: str) -> list[Check]:
    step_r, states_r = pair.reference.get_optimizer_state()
    step_a, states_a = optimizer_state_answer(pair.actual.get_optimizer_state())
    out = [Check(f"{label} optimizer step count {step_a} (reference {step_r})", 0.0 if step_a == step_r else 1.0,
                 0.0, 0.0 if step_a == step_r else float("inf"))]
    for p, states in states_r.items():
        for n, v in states.items():
            got = entry(states_a.get(p, {}), n, "get_optimizer_state()")
            out.append(check(f"{label} optimizer_state {n} of {p}", got, v, tracker.state_rule(p, n, states_r)))
    return out


def _gradient_drift(pair: Pair, before: dict, grads_r: dict, x, y, masks) -> dict[str, float]:
    """Per parameter, how far the reference's own gradient moves between its parameters and the adapter's, both
    before this step (float64, exact): what the earlier steps' accepted parameter differences do to this step's
    gradient through the loss's curvature, which the first-order step rules leave out (with Adam's β₂ = 0 a
    correct torch went 1.6× over them at step 3). Nothing where the adapter's parameters are not finite: their
    check at the step before has failed already."""
    import numpy as np

    theirs = parameters_answer(pair.actual.get_parameters())
    if set(theirs) != set(before) or not all(np.all(np.isfinite(np.asarray(v, dtype=np.float64)))
                                            for v in theirs.values()):
        return {}
    try:
        pair.reference.set_parameters({k: np.asarray(v, dtype=np.float64) for k, v in theirs.items()})
        _, grads_a = pair.reference.loss_and_gradients(x, y, masks=masks)
    except NonFiniteError:
        return {}
    finally:
        pair.reference.set_parameters(before)
    drift = {k: float(np.max(np.abs(grads_a[k] - g), initial=0.0)) for k, g in grads_r.items() if k in grads_a}
    return {k: d for k, d in drift.items() if np.isfinite(d)}


def _stopped_check(pair: Pair, x, y, masks, label: str, exc: NonFiniteError) -> Check:
    """The reference stopped on a non-finite value: the adapter must stop too (and change nothing)."""
    try:
        pair.actual.train_step(handed(x), handed(y), masks=handed(masks))
    except NonFiniteError:
        return Check(f"{label} both stop on non-finite {exc.quantity}", 0.0, 0.0, 0.0)
    return Check(f"{label} the reference stops on non-finite {exc.quantity}, the adapter does not", float("inf"),
                 0.0, float("inf"))
