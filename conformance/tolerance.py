"""The tolerance of every quantity the suite compares, in each dtype (docs/spec/v1-semantics.md, Tolerances).

float64: rtol = 1e-10, atol = max(1e-12, 2γ_n(2⁻⁵³))·s with s the scale of the quantity's kind (for outputs,
losses, gradients and buffers the larger of max |r| and the magnitude pass's max M, so a kind that is
mathematically 0 still has its round-off scale).
float32: rtol = 2u, atol = (γ_n(u) + γ_n(2⁻⁵³))·M elementwise, n and M from the reference's magnitude pass
(reference/error_bounds.py) for outputs, losses and gradients; parameters and optimizer state after k
steps carry the gradients' bounds through the optimizer (first order, `STEP RULES` below).

Every rule is evaluated at the reference's values, before the backend's are looked at: nothing here
depends on what the backend returned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from lockstep.conformance.checks import scale_of
from lockstep.reference import tolerances as T
from lockstep.reference.tolerances import Tolerance

Arrays = dict[str, np.ndarray]

FLOAT32_PARAMETER_STEPS = 3
"""float32 parameters and optimizer state are compared after at most this many steps: the bounds are first
order and neglect the feedback of parameter differences through the loss's curvature (docs, Tolerances)."""


def float64_rule(quantity: str, scale: float, length: int = 1) -> Tolerance:
    """The fixed float64 rule for a quantity whose kind has scale `scale`."""
    return T.tolerance(quantity, "float64", length, max(float(scale), 1e-300))


@dataclass
class BatchRules:
    """Tolerances of one training-mode batch: the loss, every parameter gradient, and the buffers after it."""

    loss: Tolerance
    gradients: dict[str, Tolerance]
    buffers: dict[str, Tolerance] = field(default_factory=dict)  # running statistics after the batch


def output_rule(model: object, params: Arrays, x: np.ndarray, reference_output: np.ndarray, dtype: str) -> Tolerance:
    """Tolerance of the eval-mode output for the batch `x` at parameters `params`."""
    from lockstep.reference.error_bounds import model_bounds

    b = model_bounds(model, params, x, training=False, dtype=dtype)
    if dtype == "float64":
        return float64_rule("output", max(scale_of([reference_output]), b.scale("output")), b.output.length)
    return b.output.tolerance(dtype)


def batch_rules(model: object, params: Arrays, x: np.ndarray, y: np.ndarray, masks: Arrays | None, loss: object,
                reference_loss: float, reference_grads: Arrays, dtype: str,
                reference_buffers: Arrays | None = None, reuse: bool = False) -> BatchRules:
    """Tolerances of the loss, the gradients and the buffers after one training-mode batch at `params`
    (`reference_buffers`: the reference's buffers after it, part of float64's scale; `reuse`: `model` is the
    ReferenceModel that just ran this batch, see `model_bounds`)."""
    from lockstep.reference.error_bounds import model_bounds

    b = model_bounds(model, params, x, training=True, masks=masks, loss=loss, y=y, dtype=dtype, reuse=reuse)
    assert b.loss is not None
    if dtype == "float64":  # the kind's scale: the largest of |r| and the magnitude pass's M
        grad_scale = max(scale_of(reference_grads), b.scale("gradient"))
        buffer_scale = max([scale_of(reference_buffers or {})]
                           + [float(np.max(v.magnitude, initial=0.0)) for v in b.buffers.values()])
        return BatchRules(float64_rule("loss", max(abs(reference_loss), b.scale("loss")), b.loss.length),
                          {k: float64_rule("gradient", grad_scale, g.length) for k, g in b.gradients.items()},
                          {k: float64_rule("parameter", buffer_scale, v.length) for k, v in b.buffers.items()})
    return BatchRules(b.loss.tolerance(dtype), {k: g.tolerance(dtype) for k, g in b.gradients.items()},
                      {k: v.tolerance(dtype) for k, v in b.buffers.items()})


# ----------------------------------------------------------------------------------- STEP RULES
# Parameters after k steps (float32). With δ_s the bound on a gradient's error at step s (its tolerance's
# allowed error at the reference's gradient: 2u|g| + atol), clipping and coupled L2 transform it first:
#   global_norm: g' = c·g with c = min(1, max_norm/‖g‖):  δ' = c·δ + |g'|·(‖δ‖₂/‖g‖ + γ_{N+2}(u)) whenever
#                ‖g‖ + ‖δ‖₂ ≥ max_norm (the clip may act on either side), else δ' = δ;
#   value:       clip is 1-Lipschitz and exact: δ' = δ;
#   l2:          g'' = g' + λw: δ'' = δ' + λ·Δw_{s−1} + 3u·|g''| (Δw the parameter's bound after s−1 steps).
# (each + λ, the smallest normal number, where the clip scales: a product below the normal range rounds absolutely).
# Then `reference.tolerances.parameter_tolerance` (the doc's Σ_s (lr_s κ_s δ_s + c_opt u lr_s|d_s|) + k u M_w
# + k(c_opt + 1)λ).
# Optimizer state after k steps: a state linear in the gradients (exp_avg, grad_avg, SGD's momentum_buffer)
# weighs each step's gradient by at most 1: Δ = Σ_s δ_s + k·c_f·u·M; a quadratic one (exp_avg_sq,
# max_exp_avg_sq, square_avg, Adagrad's sum) by at most 1 times 2|g_s|: Δ = Σ_s 2|g_s|δ_s + δ_s² + k·c_f·u·M;
# RMSprop's momentum_buffer is a sum of directions: Δ = Σ_s κ_s δ_s + k·c_f·u·M. Which class each state is in
# is stated by its optimizer (`STATES` of reference/optimizers/<type>.py, `reference.tolerances.state_class`).


@dataclass
class _Track:
    """What the float32 step rules carry from step to step, per parameter."""

    steps: list[tuple[float, float, float, float]] = field(default_factory=list)  # (lr, κ, δ, lr|d|)
    param_atol: float = 0.0  # the parameter's bound after the last step (a buffer's: an array)
    linear: float = 0.0  # Σ δ_s
    quadratic: float = 0.0  # Σ 2|g_s| δ_s + δ_s²
    directions: float = 0.0  # Σ κ_s δ_s


class StepTracker:
    """Accumulates the float32 bounds of parameters and optimizer state step by step (float64: fixed rules)."""

    def __init__(self, recipe: object, dtype: str) -> None:
        self.recipe = recipe
        self.dtype = dtype
        self.tracks: dict[str, _Track] = {}
        self.buffer_atol: dict[str, np.ndarray] = {}
        self.k = 0

    def parameter_atol(self, name: str) -> float:
        t = self.tracks.get(name)
        return t.param_atol if t else 0.0

    def loss_feedback(self, grads: Arrays) -> float:
        """First-order effect on the loss of the parameter differences so far: Σ |∂L/∂w| Δw."""
        if self.dtype == "float64":
            return 0.0
        return float(sum(np.sum(np.abs(g)) * self.parameter_atol(k) for k, g in grads.items()))

    def step(self, rules: BatchRules, grads: Arrays, params_before: Arrays, params_after: Arrays,
             states_after: dict[str, Arrays], lr: float, drift: Mapping[str, float] | None = None) -> None:
        """Record step k+1 from the reference's gradients, parameters (before/after) and state (after). `drift`:
        per parameter, how far the reference's gradient moves at the adapter's parameters (the earlier steps'
        differences fed back through the loss's curvature), added to the step's gradient bound."""
        self.k += 1
        if self.dtype == "float64":
            return
        for k, rule in rules.buffers.items():
            self.buffer_atol[k] = self.buffer_atol.get(k, 0.0) + np.asarray(rule.atol)
        r = self.recipe
        u = T.unit_roundoff(self.dtype)
        deltas = {k: (float(np.max(rules.gradients[k].allowed(g))) if np.size(g) else 0.0) + (drift or {}).get(k, 0.0)
                  for k, g in grads.items()}
        clip = getattr(r, "gradient_clipping", None)
        if clip is not None and clip.type == "global_norm":
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
            dnorm = math.sqrt(sum(d * d * np.size(grads[k]) for k, d in deltas.items()))
            n_total = sum(int(np.size(g)) for g in grads.values())
            if norm > 0 and norm + dnorm >= clip.max_norm:
                c = min(1.0, clip.max_norm / norm)
                rel = dnorm / norm + T.gamma(n_total + 2, u)
                lam = T.underflow(self.dtype)  # the scaling's rounding below the normal range
                deltas = {k: c * d + float(np.max(np.abs(grads[k]))) * c * rel + lam if np.size(grads[k]) else 0.0
                          for k, d in deltas.items()}
                grads = {k: g * c for k, g in grads.items()}
        elif clip is not None and clip.type != "value":  # value clipping: δ' = δ
            raise _no_clipping_rule(clip.type)
        l2 = float(r.regularization.l2)
        if l2:
            grads = {k: g + l2 * params_before[k] for k, g in grads.items()}
            deltas = {k: d + l2 * self.parameter_atol(k) + 3 * u * float(np.max(np.abs(grads[k]), initial=0.0))
                      for k, d in deltas.items()}
        opt = r.optimizer
        for k, g in grads.items():
            tr = self.tracks.setdefault(k, _Track())
            d = deltas[k]
            state = states_after.get(k, {})
            kappa = float(np.max(T.update_sensitivity(opt, state, g, self.k), initial=0.0)) if np.size(g) else 0.0
            moved = float(np.max(np.abs(params_after[k] - params_before[k]), initial=0.0))
            tr.steps.append((lr, kappa, d, moved))
            w_mag = max(float(np.max(np.abs(params_before[k]), initial=0.0)),
                        float(np.max(np.abs(params_after[k]), initial=0.0)))
            tr.param_atol = T.parameter_tolerance(self.dtype, opt.type, tr.steps, w_mag).atol
            gmax = float(np.max(np.abs(g), initial=0.0))
            tr.linear += d
            tr.quadratic += 2 * gmax * d + d * d
            tr.directions += kappa * d

    def buffer_rule(self, name: str, reference_params: Arrays) -> Tolerance:
        """A running statistic after k steps: each step's bound added to the last's, carried with a weight
        (1 − momentum) ≤ 1 (first order, like the parameters)."""
        if self.dtype == "float64":
            return float64_rule("parameter", scale_of(reference_params))
        return Tolerance(2.0 * T.unit_roundoff(self.dtype), self.buffer_atol[name])

    def parameter_rule(self, name: str, reference_params: Arrays) -> Tolerance:
        if self.dtype == "float64":
            return float64_rule("parameter", scale_of(reference_params))
        u = T.unit_roundoff(self.dtype)
        return Tolerance(2.0 * u, self.parameter_atol(name))

    def state_rule(self, param: str, state: str, reference_state: dict[str, Arrays]) -> Tolerance:
        """Tolerance of optimizer state `state` of `param` (float64: the kind is the state name across params)."""
        values = [s[state] for s in reference_state.values() if state in s]
        if self.dtype == "float64":
            return float64_rule("optimizer_state", scale_of(values))
        u = T.unit_roundoff(self.dtype)
        tr = self.tracks.get(param, _Track())
        m = float(np.max(np.abs(reference_state[param][state]), initial=0.0))
        ops = T.optimizer_ops(self.recipe.optimizer.type)  # type: ignore[attr-defined]
        rounding = self.k * (T.FUNCTION_ULPS * u * m + ops * T.underflow(self.dtype))  # λ: below the normal range
        atol = {"quadratic": tr.quadratic, "directions": tr.directions, "linear": tr.linear}[
            T.state_class(self.recipe.optimizer.type, state)]  # type: ignore[attr-defined]
        return Tolerance(2.0 * u, atol + rounding)


def _no_clipping_rule(kind: str) -> KeyError:
    """A clipping the STEP RULES above do not know: say where to write its rule (never treat it as exact)."""
    return KeyError(f"no tolerance rule for clipping `{kind}`: write how it carries the gradients' error bound in "
                    f"conformance/tolerance.py (StepTracker.step and resync_rules, the STEP RULES)")


def learning_rate_rule(dtype: str, base: float, t: int) -> Tolerance:
    """The schedule's value at 0-based step t: torch's chainable schedulers multiply t times."""
    return T.tolerance("learning_rate", dtype, t + T.FUNCTION_ULPS + 4, base)


# ---------------------------------------------------------------------- RE-SYNCHRONIZED STEP RULES
# One step t from the reference's state after step t−1 (docs/spec/v1-semantics.md, "Re-synchronized
# comparison"), elementwise. float32: the state arrives rounded to float32 (each element off by ≤ u relative),
# the step's gradients are off by at most their batch bounds δ (elementwise, after clipping and L2 as in the
# STEP RULES above); `reference.tolerances.one_step_errors` carries δ, the rounded state and the state's own
# update roundings into the direction (Δd) and each state; a parameter gets lr·Δd + c_opt u|Δw| + c_w u|w|,
# a running statistic its batch bound plus u|b_old|. float64: the fixed rules, each quantity against its kind's
# scale (the state arrives exact).
@dataclass
class StepRules:
    """The tolerance of everything one re-synchronized training step produces."""

    loss: Tolerance
    learning_rate: Tolerance
    parameters: dict[str, Tolerance]  # parameters and buffers
    states: dict[str, dict[str, Tolerance]]  # {param: {state name: rule}}


def resync_rules(recipe: object, dtype: str, t: int, batch: BatchRules | None, grads: Arrays,
                 before: object, after: object, lr: float, loss_value: float = 0.0) -> StepRules:
    """Rules of step t (1-based) from the reference's `before` state (a TrainingState) to its `after`, under
    `batch` (the rules of its batch at `before`: `batch_rules`, or `value_batch_rules` for a lower bound).
    `grads` are the reference's gradients of the batch before clipping; float64 needs no batch rules
    (None: the loss against |L|, `loss_value`, as its scale, and the gradients against their largest |g|)."""
    opt = recipe.optimizer  # type: ignore[attr-defined]
    w0, w1 = before.parameters, after.parameters  # type: ignore[attr-defined]
    s1 = after.optimizer  # type: ignore[attr-defined]
    lr_rule = learning_rate_rule(dtype, opt.learning_rate, t - 1)
    if dtype == "float64":
        loss_rule = batch.loss if batch is not None else float64_rule("loss", abs(loss_value))
        # the gradients' allowed error against their largest |g|, in either tier: the magnitude pass's M (the
        # batch rules' scale) grows by orders through attention and recurrences, and carried it would wave through
        # any update (lstm-sequences: 1e18)
        g_rule = float64_rule("gradient", scale_of(list(grads.values())))
        deltas = {k: np.broadcast_to(g_rule.allowed(g), np.shape(g)).astype(np.float64) for k, g in grads.items()}
        carried, carried_states = _carried(recipe, dtype, t, deltas, grads, before, after, lr)
        pscale = scale_of(w1)
        names = {n for s in s1.values() for n in s}
        sscale = {n: scale_of([s[n] for s in s1.values() if n in s]) for n in names}
        return StepRules(loss_rule, lr_rule, {k: _larger(float64_rule("parameter", pscale), carried.get(k))
                                              for k in w1},
                         {p: {n: _larger(float64_rule("optimizer_state", sscale[n]), carried_states.get(p, {}).get(n))
                              for n in s} for p, s in s1.items()})
    assert batch is not None, "float32 needs the batch's rules"
    u = T.unit_roundoff(dtype)
    # δ elementwise: the batch bound of each gradient element (2u|g| + atol, as `check` allows it)
    deltas = {k: np.broadcast_to(batch.gradients[k].allowed(g), np.shape(g)).astype(np.float64)
              for k, g in grads.items()}
    carried, carried_states = _carried(recipe, dtype, t, deltas, grads, before, after, lr)
    params = {k: Tolerance(2.0 * u, a) for k, a in carried.items()}
    states = {k: {n: Tolerance(2.0 * u, a) for n, a in s.items()} for k, s in carried_states.items()}
    for k in w1:
        if k not in params:  # a buffer: this batch's bound plus the rounding of the statistic handed over
            atol = np.asarray(batch.buffers[k].atol) if k in batch.buffers else 0.0
            params[k] = Tolerance(2.0 * u, atol + u * np.abs(np.asarray(w0[k], dtype=np.float64)))
    return StepRules(batch.loss, lr_rule, params, states)


def _larger(fixed: Tolerance, carried: np.ndarray | None) -> Tolerance:
    """float64's fixed rule, widened elementwise where the gradient's own allowed error, carried through the
    optimizer, is larger: an optimizer that divides by |g| (Adam, RMSprop, Adagrad) turns a round-off gradient's
    allowed 1e-12 into a step no fixed rule bounds (docs/spec/v1-semantics.md, Re-synchronized comparison)."""
    if carried is None:
        return fixed
    return Tolerance(fixed.rtol, np.maximum(fixed.atol, carried))


def _carried(recipe: object, dtype: str, t: int, deltas: Arrays, grads: Arrays, before: object, after: object,
             lr: float) -> tuple[Arrays, dict[str, Arrays]]:
    """The atol of every parameter and optimizer state after one step from the reference's state, where the
    step's gradients are off by at most `deltas` (elementwise) and the state arrives rounded to `dtype`:
    (parameters, {parameter: {state name: atol}}). Clipping and L2 first, as the backend does them."""
    opt = recipe.optimizer  # type: ignore[attr-defined]
    w0, w1 = before.parameters, after.parameters  # type: ignore[attr-defined]
    s0, s1 = before.optimizer, after.optimizer  # type: ignore[attr-defined]
    u = T.unit_roundoff(dtype)
    lam = T.underflow(dtype)  # a rounding below the normal range is absolute (≤ λ, flushed to zero too)
    grads = {k: np.asarray(g, dtype=np.float64) for k, g in grads.items()}
    clip = getattr(recipe, "gradient_clipping", None)
    if clip is not None and clip.type == "global_norm":  # as StepTracker.step, elementwise
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
        dnorm = math.sqrt(sum(float(np.sum(d * d)) for d in deltas.values()))
        n_total = sum(int(np.size(g)) for g in grads.values())
        if norm > 0 and norm + dnorm >= clip.max_norm:
            c = min(1.0, clip.max_norm / norm)
            rel = dnorm / norm + T.gamma(n_total + 2, u)
            deltas = {k: c * d + np.abs(grads[k]) * c * rel + lam for k, d in deltas.items()}
            grads = {k: g * c for k, g in grads.items()}
    elif clip is not None and clip.type == "value":  # value clipping is exact and 1-Lipschitz: δ' = δ
        grads = {k: np.clip(g, -clip.clip_value, clip.clip_value) for k, g in grads.items()}
    elif clip is not None:
        raise _no_clipping_rule(clip.type)
    l2 = float(recipe.regularization.l2)  # type: ignore[attr-defined]
    if l2:  # the gradient gains λw, w rounded on its way in (u|w|), and the sum's and product's roundings
        grads = {k: g + l2 * np.asarray(w0[k], dtype=np.float64) for k, g in grads.items()}
        deltas = {k: d + l2 * u * np.abs(w0[k]) + 3 * u * np.abs(grads[k]) for k, d in deltas.items()}
    c_opt = T.optimizer_ops(opt.type)
    w_rounding = T.parameter_roundings(opt.type)  # w handed over rounded (AdamW also rounds w·(1 − lr·wd))
    params: Arrays = {}
    states: dict[str, Arrays] = {}
    for k, g in grads.items():
        after_k = s1.get(k, {})
        dd, ds = T.one_step_errors(opt, s0.get(k, {}), after_k, g, deltas[k], t, u)
        w_old, w_new = np.asarray(w0[k], dtype=np.float64), np.asarray(w1[k], dtype=np.float64)
        params[k] = lr * dd + c_opt * u * np.abs(w_new - w_old) + w_rounding * u * np.abs(w_old) \
            + (c_opt + w_rounding) * lam  # each of the update's roundings, below the normal range
        states[k] = {n: (ds[n] if n in ds else T.FUNCTION_ULPS * u * np.abs(v)) + c_opt * lam
                     for n, v in after_k.items()}
    return params, states


def value_batch_rules(model: object, batch_size: int, loss: object, loss_value: float, grads: Arrays,
                      buffers: Arrays, dtype: str, floor: Arrays | None = None, lengths: object = None
                      ) -> BatchRules:
    """`batch_rules` with every magnitude M replaced by the reference's |value| (M ≥ |value|): each rule is at
    most the derived one, so what passes under these passes under `batch_rules`, without its magnitude pass
    (`reference.error_bounds.value_bounds`)."""
    from lockstep.reference.error_bounds import value_bounds

    b = value_bounds(model, batch_size, loss=loss, loss_value=loss_value, gradients=grads, buffers=buffers,
                     dtype=dtype, floor=floor, lengths=lengths)  # type: ignore[arg-type]
    assert b.loss is not None
    return BatchRules(b.loss.tolerance(dtype), {k: g.tolerance(dtype) for k, g in b.gradients.items()},
                      {k: v.tolerance(dtype) for k, v in b.buffers.items()})
