"""What the optimizers' float32 rules share (docs/spec/v1-semantics.md § Tolerances; reference/tolerances.py).

Every optimizer module states, next to its `init_state`/`step`:

    state_names(opt) -> tuple[str, ...]    the canonical state this configuration keeps (`init_state`'s keys)
    STATES: {state name: "linear" | "quadratic" | "directions"}
        how a state weighs the gradients (conformance/tolerance.py's StepTracker): linear in g (exp_avg, a
        momentum buffer of gradients), in g² (exp_avg_sq, square_avg, sum), or a sum of step directions
        (RMSprop's momentum_buffer);
    OPS: int                               roundings in one element's update, the chain from g to the new w;
    W_ROUNDINGS: int                       roundings of the handed-over w itself in one step (1; AdamW's
                                           decay w·(1 − lr·wd) adds two);
    sensitivity(opt, state, grad, t)       κ_t over t steps, elementwise (`reference.tolerances.update_sensitivity`);
    step_sensitivity(opt, state, grad, t)  κ of one step from an exact state (`step_sensitivity`);
    step_errors(opt, s: StepTerms, t, u)   (|Δd|, {state: |Δstate|}) of one re-synchronized step
                                           (`reference.tolerances.one_step_errors` states the three sources).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class StepTerms:
    """What `step_errors` reads, elementwise: |g| the gradient the optimizer saw, `delta` its error bound
    (broadcast to g), `old`/`new` the absolute states before and after the step (0 where a state is new),
    `after` the states after it with their signs, and κ (`step_sensitivity` at the state after)."""

    g: np.ndarray
    delta: np.ndarray
    old: Arrays
    new: Arrays
    after: Arrays
    kappa: np.ndarray

