"""Tolerances for comparing a backend with the float64 reference, as derived in
docs/spec/v1-semantics.md § Tolerances (that page is normative; this module is its executable form).

Every check is |a − r| ≤ rtol·|r| + atol, elementwise, r the reference's value.

float64:  rtol = 1e-10, atol = max(1e-12, 2·γ_n(2⁻⁵³))·M.
float32:  rtol = 2u (the backend's final rounding of r plus one ulp of slack for comparing a rounded value),
          atol = (γ_n(u) + γ_n(2⁻⁵³))·M,  u = 2⁻²⁴,  γ_n(u) = n·u / (1 − n·u),
          n the quantity's effective reduction length and M its magnitude (the value of the same
          computation with every term replaced by its absolute value), both defined per quantity below
          and in the doc. The bound is first order in u and worst case: it is never tuned to pass.

Quantities: "output", "loss", "gradient", "parameter", "optimizer_state", "learning_rate".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

QUANTITIES = ("output", "loss", "gradient", "parameter", "optimizer_state", "learning_rate")

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}
"""u: half the distance from 1 to the next float. (TF32 matmuls would have u = 2⁻¹¹: conformance runs
switch TF32 off, and this table has no entry for it on purpose.)"""

FLOAT64_RTOL = 1e-10
FLOAT64_ATOL = 1e-12  # × M: the floor for quantities that are mathematically 0

FUNCTION_ULPS = 4
"""c_f: a library function (exp, log, tanh, erf, sigmoid, pow, cos) is assumed correct to 2 ulp, i.e. a
relative error ≤ 4u (glibc's and CUDA's documented maximum errors for these are ≤ 2 ulp)."""

PRODUCT_ROUNDING = 2
"""Rounding both factors of a product to the working precision adds ≤ 2u relative: a layer whose
parameters and inputs arrive as float32 roundings of float64 values pays 2 extra reduction steps."""


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def allowed(self, reference: np.ndarray | float) -> np.ndarray:
        return self.rtol * np.abs(np.asarray(reference, dtype=np.float64)) + self.atol

    def ratio(self, actual: np.ndarray | float, reference: np.ndarray | float) -> float:
        """max |a − r| / (rtol |r| + atol): ≤ 1 passes, 1/ratio is the margin (inf for non-finite a)."""
        a = np.asarray(actual, dtype=np.float64)
        r = np.asarray(reference, dtype=np.float64)
        if a.shape != r.shape or not np.all(np.isfinite(a)):
            return math.inf
        if r.size == 0:
            return 0.0
        allowed = np.maximum(self.allowed(r), np.finfo(np.float64).tiny)
        return float(np.max(np.abs(a - r) / allowed))


def unit_roundoff(dtype: str) -> float:
    try:
        return UNIT_ROUNDOFF[dtype]
    except KeyError:
        raise KeyError(f"no tolerance rule for dtype `{dtype}`; expected one of {sorted(UNIT_ROUNDOFF)}") from None


def gamma(n: int, u: float) -> float:
    """γ_n = n u / (1 − n u): Higham's bound on the relative error of n chained roundings; inf once n u ≥ 1."""
    nu = max(int(n), 0) * u
    return math.inf if nu >= 1.0 else nu / (1.0 - nu)


def tolerance(quantity: str, dtype: str, reduction_length: int, magnitude: float) -> Tolerance:
    """(rtol, atol) for `quantity` computed in `dtype`, effective reduction length n, magnitude M."""
    if quantity not in QUANTITIES:
        raise KeyError(f"unknown quantity `{quantity}`; expected one of {', '.join(QUANTITIES)}")
    n, m = max(int(reduction_length), 1), abs(float(magnitude))
    u64 = UNIT_ROUNDOFF["float64"]
    if dtype == "float64":
        return Tolerance(FLOAT64_RTOL, max(FLOAT64_ATOL, 2.0 * gamma(n, u64)) * m)
    u = unit_roundoff(dtype)
    return Tolerance(2.0 * u, (gamma(n, u) + gamma(n, u64)) * m)


# ------------------------------------------------------------------------------- reduction lengths
def layer_length(layer: object, input_shapes: Sequence[Sequence[int]], *, training: bool = False,
                 batch: int = 1) -> int:
    """k_l of one layer's forward: the longest chain of roundings from its inputs to one output element.

    Reductions count their length, products with parameters PRODUCT_ROUNDING, library functions
    FUNCTION_ULPS each (per the table in the doc). `batch` matters only for batch-norm statistics.
    """
    t = layer.type  # type: ignore[attr-defined]
    x = tuple(input_shapes[0]) if input_shapes else ()
    f, p = FUNCTION_ULPS, PRODUCT_ROUNDING
    if t == "dense":
        return x[-1] + p + 1
    if t in ("conv1d", "conv2d"):
        k = layer.kernel_size  # type: ignore[attr-defined]
        ks = [k] * (1 if t == "conv1d" else 2) if isinstance(k, int) else list(k)
        return (x[0] // layer.groups) * math.prod(ks) + p + 1  # type: ignore[attr-defined]
    if t == "max_pool2d" or t in ("flatten", "reshape", "embedding", "concat", "relu"):
        return 0
    if t == "avg_pool2d":
        k = layer.kernel_size  # type: ignore[attr-defined]
        return (k * k if isinstance(k, int) else math.prod(k)) + 1
    if t == "global_avg_pool":
        return math.prod(x[1:]) + 1
    if t == "dropout":
        return 2 if training else 0
    if t == "add":
        return len(input_shapes) - 1
    if t == "batch_norm":
        return 2 * batch * math.prod(x[1:]) + 2 * f + 3 if training else f + 3
    if t == "layer_norm":
        d = math.prod(x[-layer.dims:])  # type: ignore[attr-defined]
        return 2 * d + 2 * f + 3
    if t in ("lstm", "gru"):
        steps, feat, h = x[0], x[1], layer.units  # type: ignore[attr-defined]
        return steps * (feat + h + 2 * p + 3 * f + 3)
    if t == "multi_head_attention":
        steps, e = x
        d = e // layer.num_heads  # type: ignore[attr-defined]
        return 2 * (e + p + 1) + (d + 1) + (steps + 2 * f) + steps
    if t == "leaky_relu":
        return 1
    if t in ("elu", "sigmoid", "tanh", "silu"):
        return f + 2
    if t == "gelu":
        return 2 * f + 4
    if t in ("softmax", "log_softmax"):
        return x[layer.axis] + 2 * f + 1  # type: ignore[attr-defined]
    raise KeyError(f"no reduction length rule for layer type `{t}`")


def batch_length(layer: object, input_shapes: Sequence[Sequence[int]], batch: int) -> int:
    """The length of the sum over batch × positions that ends each of the layer's parameter gradients."""
    t = layer.type  # type: ignore[attr-defined]
    x = tuple(input_shapes[0]) if input_shapes else ()
    if t == "batch_norm":
        return batch * math.prod(x[1:])
    if t == "dense":
        return batch * math.prod(x[:-1])
    if t in ("conv1d", "conv2d"):
        out = layer.output_shape([tuple(s) for s in input_shapes])  # type: ignore[attr-defined]
        return batch * math.prod(out[1:])
    if t == "layer_norm":
        return batch * math.prod(x[:len(x) - layer.dims])  # type: ignore[attr-defined]
    if t == "embedding":
        return batch * math.prod(x)
    if t in ("lstm", "gru", "multi_head_attention"):
        return batch * x[0]
    return 0


def path_length(lengths: Iterable[int]) -> int:
    """n of a chain: γ_p + γ_q ≤ γ_{p+q}, so lengths along a path add."""
    return sum(int(n) for n in lengths)


def gradient_length(forward: int, loss: int, batch_reductions: Iterable[int], backward_extra: int = 0) -> int:
    """n of a parameter gradient: the forward path (whose errors enter the cached activations), the
    loss, the backward path (transposed reductions: the forward ones plus `backward_extra`, see
    `backward_excess`) and the sums over the batch that every parameter gradient ends with."""
    return 2 * int(forward) + int(loss) + sum(int(n) for n in batch_reductions) + int(backward_extra)


def backward_excess(layer: object, input_shapes: Sequence[Sequence[int]]) -> int:
    """How much longer a layer's input-gradient reduction is than its forward one (0 for most layers).

    dense sums dx over its `units` outputs where the forward summed over its inputs; a convolution sums over
    filters/groups·∏k instead of C/groups·∏k; an LSTM (GRU) step sums the recurrent gradient over its 4H (3H)
    gate columns where the forward summed F + H."""
    t = layer.type  # type: ignore[attr-defined]
    x = tuple(input_shapes[0]) if input_shapes else ()
    if t == "dense":
        return max(0, layer.units - x[-1])  # type: ignore[attr-defined]
    if t in ("conv1d", "conv2d"):
        k = layer.kernel_size  # type: ignore[attr-defined]
        ks = math.prod([k] * (1 if t == "conv1d" else 2) if isinstance(k, int) else list(k))
        return max(0, (layer.filters - x[0]) // layer.groups * ks)  # type: ignore[attr-defined]
    if t in ("lstm", "gru"):
        gates = 4 if t == "lstm" else 3
        steps, feat, h = x[0], x[1], layer.units  # type: ignore[attr-defined]
        return steps * max(0, gates * h - (feat + h))
    return 0


def loss_length(loss_type: str, classes: int, positions: int) -> int:
    """n of the loss after the output: the per-position reduction (log-sum-exp over C for the class
    losses, one subtraction and one function for element losses) and the reduction over m positions."""
    per = classes + 3 * FUNCTION_ULPS + 2 if loss_type in ("categorical_crossentropy",
                                                          "sparse_categorical_crossentropy", "nll") else (
        FUNCTION_ULPS + 3)
    return per + positions + 1


def loss_magnitude(loss_abs: float, grad_prediction: np.ndarray, output_magnitude: np.ndarray | float) -> float:
    """M of the loss: |L| (its own reduction) plus Σ_i |∂L/∂y_i| · M_y,i (the output's error carried
    through the loss's derivative), from the reference's loss gradient."""
    return abs(float(loss_abs)) + float(np.sum(np.abs(grad_prediction) * output_magnitude))


def dot_magnitude(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a| @ |b|: M of a matrix product, the bound Higham's dot-product lemma multiplies γ_n by."""
    return np.abs(a) @ np.abs(b)


# ------------------------------------------------------------------------------------- optimizers
def update_sensitivity(opt: object, state: dict[str, np.ndarray], grad: np.ndarray, t: int) -> np.ndarray:
    """κ_t, elementwise: |Δd_t| ≤ κ_t · δ when every gradient so far is off by at most δ (d_t the step
    direction, w_t = w_{t−1} − lr_t d_t). Evaluated at the reference's state after step t."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    kind = opt.type  # type: ignore[attr-defined]
    if kind == "sgd":
        mu = opt.momentum  # type: ignore[attr-defined]
        if mu == 0:
            return np.ones_like(g)
        geo = (1.0 - mu**t) / (1.0 - mu)
        return np.full_like(g, 1.0 + mu * geo if opt.nesterov else geo)  # type: ignore[attr-defined]
    if kind in ("adam", "adamw"):
        v = state["max_exp_avg_sq"] if opt.amsgrad else state["exp_avg_sq"]  # type: ignore[attr-defined]
        m_hat = np.abs(state["exp_avg"]) / (1.0 - opt.beta1**t)  # type: ignore[attr-defined]
        den = np.sqrt(v / (1.0 - opt.beta2**t)) + opt.epsilon  # type: ignore[attr-defined]
        return (1.0 + m_hat / den) / den
    if kind == "rmsprop":
        v = state["square_avg"]
        if opt.centered:  # type: ignore[attr-defined]
            a = state["grad_avg"]
            den = np.sqrt(np.maximum(v - a * a, 0.0)) + opt.epsilon  # type: ignore[attr-defined]
            kappa = (1.0 + 2.0 * g / den) / den
        else:
            den = np.sqrt(v) + opt.epsilon  # type: ignore[attr-defined]
            kappa = (1.0 + g / den) / den
        mu = opt.momentum  # type: ignore[attr-defined]
        return kappa * ((1.0 - mu**t) / (1.0 - mu) if mu > 0 else 1.0)
    if kind == "adagrad":
        return (1.0 + math.sqrt(t)) / (np.sqrt(state["sum"]) + opt.epsilon)  # type: ignore[attr-defined]
    raise KeyError(f"no sensitivity rule for optimizer `{kind}`")


OPTIMIZER_OPS = {"sgd": 3, "adam": 12, "adamw": 14, "rmsprop": 10, "adagrad": 6}
"""Roundings in one element's update (the chain from g to the new w), counted from each rule."""


def parameter_tolerance(dtype: str, opt_type: str, steps: Sequence[tuple[float, float, float, float]],
                        param_magnitude: float) -> Tolerance:
    """Tolerance for a parameter after k steps from identical starting values on identical batches.

    `steps` holds, per step s: (lr_s, max κ_s, δ_s the gradient atol at that step, max lr_s·|d_s|).
    atol = Σ_s (lr_s κ_s δ_s + c_opt u lr_s |d_s|) + k u M_w, first order: the feedback of parameter
    differences through the loss's curvature (≈ lr‖H‖ per step) is neglected, so it holds for few steps.
    float64 uses the fixed rule of `tolerance`.
    """
    if dtype == "float64":
        return tolerance("parameter", dtype, 1, param_magnitude)
    u = unit_roundoff(dtype)
    c = OPTIMIZER_OPS[opt_type]
    atol = sum(lr * kappa * delta + c * u * step for lr, kappa, delta, step in steps)
    return Tolerance(2.0 * u, atol + len(steps) * u * abs(param_magnitude))


# ------------------------------------------------------------------- one re-synchronized step
def step_sensitivity(opt: object, state: dict[str, np.ndarray], grad: np.ndarray, t: int) -> np.ndarray:
    """κ of one step from an exact state, elementwise: |Δd_t| ≤ κ·δ when only this step's gradient is off by
    at most δ (the re-synchronized comparison: the state before the step is the reference's). Evaluated at
    the reference's state after step t; `grad` is the gradient the optimizer saw (clipped, L2 added).

    Square roots of running squares are Lipschitz in g (√(a + c·g²) has slope ≤ √c), so the bounds hold
    however small v is: sgd (1 − dampening, 1 at t = 1; Nesterov 1 + μ·that), adam
    (1 − β₁)/(c₁ den) + |m̂|·√((1 − β₂)/c₂)/den², rmsprop (1 + |g|√(1 − ρ)/den)/den (centered: √(v − a²)
    has slope √(ρ(1 − ρ)) ≤ √(1 − ρ)), adagrad (1 + |g|/den)/den."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    kind = opt.type  # type: ignore[attr-defined]
    if kind == "sgd":
        mu = opt.momentum  # type: ignore[attr-defined]
        if mu == 0:
            return np.ones_like(g)
        c = 1.0 if t == 1 else 1.0 - opt.dampening  # type: ignore[attr-defined]
        return np.full_like(g, 1.0 + mu * c if opt.nesterov else c)  # type: ignore[attr-defined]
    if kind in ("adam", "adamw"):
        v = state["max_exp_avg_sq"] if opt.amsgrad else state["exp_avg_sq"]  # type: ignore[attr-defined]
        c1, c2 = 1.0 - opt.beta1**t, 1.0 - opt.beta2**t  # type: ignore[attr-defined]
        den = np.sqrt(v / c2) + opt.epsilon  # type: ignore[attr-defined]
        m_hat = np.abs(state["exp_avg"]) / c1
        return (1.0 - opt.beta1) / (c1 * den) + m_hat * math.sqrt((1.0 - opt.beta2) / c2) / den**2  # type: ignore[attr-defined]
    if kind == "rmsprop":
        v = state["square_avg"]
        if opt.centered:  # type: ignore[attr-defined]
            a = state["grad_avg"]
            den = np.sqrt(np.maximum(v - a * a, 0.0)) + opt.epsilon  # type: ignore[attr-defined]
        else:
            den = np.sqrt(v) + opt.epsilon  # type: ignore[attr-defined]
        return (1.0 + g * math.sqrt(1.0 - opt.rho) / den) / den  # type: ignore[attr-defined]
    if kind == "adagrad":
        den = np.sqrt(state["sum"]) + opt.epsilon  # type: ignore[attr-defined]
        return (1.0 + g / den) / den
    raise KeyError(f"no sensitivity rule for optimizer `{kind}`")


def one_step_errors(opt: object, before: dict[str, np.ndarray], after: dict[str, np.ndarray], grad: np.ndarray,
                    delta: np.ndarray, t: int, u: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Elementwise error bounds of one optimizer step t from a handed-over state (the re-synchronized step):
    (|Δd|, the step direction's error, and {state name: |Δ state after|}).

    Three sources, each bounded elementwise, first order in u and δ:
    - the gradient's error δ (the batch bound, after clipping and L2): the direction moves by κ·δ
      (`step_sensitivity`), a state by its weight on g times δ (or on g²: times 2|g|δ + δ²);
    - the state handed over, each element rounded to the working precision (≤ u|s_old|);
    - the state's own update a·s_old + b·(g or g²): ≤ 2u(|a·s_old| + |b·term|) for two products and a sum
      (3u with the square), relative to the terms, not to the result, which may cancel.
    A running square v (all terms ≥ 0) is off by ≤ 4u·v, so √v by ≤ 2u√v and the direction, where √v
    divides, by ≤ 2u|d|. The roundings of d from its states and of the final w − lr·d are relative to lr|d|:
    `OPTIMIZER_OPS` counts them (the caller's c_opt u lr|d|). At t = 1 SGD's buffer is the gradient itself."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    dl = np.asarray(delta, dtype=np.float64) * np.ones_like(g)
    kind = opt.type  # type: ignore[attr-defined]
    old = {n: np.abs(np.asarray(before[n], dtype=np.float64)) if n in before else np.zeros_like(g) for n in after}
    new = {n: np.abs(np.asarray(a, dtype=np.float64)) for n, a in after.items()}
    kappa = step_sensitivity(opt, after, grad, t)
    if kind == "sgd":
        mu = opt.momentum  # type: ignore[attr-defined]
        if mu == 0:
            return kappa * dl, {}
        damp = 0.0 if t == 1 else opt.dampening  # type: ignore[attr-defined]
        b_old = old["momentum_buffer"]
        eb = (1.0 - damp) * dl + (0.0 if t == 1 else u * mu * b_old + 2 * u * (mu * b_old + (1.0 - damp) * g))
        dd = dl + mu * eb + u * (g + mu * new["momentum_buffer"]) if opt.nesterov else eb  # type: ignore[attr-defined]
        return dd, {"momentum_buffer": eb}
    if kind in ("adam", "adamw"):
        b1, b2 = opt.beta1, opt.beta2  # type: ignore[attr-defined]
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        m_old, v_old = old["exp_avg"], old["exp_avg_sq"]
        em = (1.0 - b1) * dl + u * b1 * m_old + 2 * u * (b1 * m_old + (1.0 - b1) * g)
        ev = (1.0 - b2) * (2 * g * dl + dl * dl) + u * b2 * v_old + 3 * u * (b2 * v_old + (1.0 - b2) * g * g)
        out = {"exp_avg": em, "exp_avg_sq": ev}
        v = new["exp_avg_sq"]
        if opt.amsgrad:  # type: ignore[attr-defined]
            out["max_exp_avg_sq"] = np.maximum(ev, u * old["max_exp_avg_sq"])
            v = new["max_exp_avg_sq"]
        den = np.sqrt(v / c2) + opt.epsilon  # type: ignore[attr-defined]
        d = new["exp_avg"] / c1 / den
        # κ·δ carries the gradient's error; the rounding of m (handed over and updated) divides by c1·den; v's
        # roundings (≤ 4u·v: terms ≥ 0) move √v̂ by ≤ 2u√v̂ ≤ 2u·den, the direction by ≤ 2u|d|
        dd = kappa * dl + (u * b1 * m_old + 2 * u * (b1 * m_old + (1.0 - b1) * g)) / (c1 * den) + 2 * u * d
        return dd, out
    if kind == "rmsprop":
        rho, mu = opt.rho, opt.momentum  # type: ignore[attr-defined]
        v_old, v = old["square_avg"], new["square_avg"]
        ev = (1.0 - rho) * (2 * g * dl + dl * dl) + u * rho * v_old + 3 * u * (rho * v_old + (1.0 - rho) * g * g)
        out = {"square_avg": ev}
        if opt.centered:  # type: ignore[attr-defined]
            a_old, a = old["grad_avg"], new["grad_avg"]
            ea_round = u * rho * a_old + 2 * u * (rho * a_old + (1.0 - rho) * g)
            out["grad_avg"] = (1.0 - rho) * dl + ea_round
            x = np.maximum(np.asarray(after["square_avg"], dtype=np.float64)
                           - np.asarray(after["grad_avg"], dtype=np.float64) ** 2, 0.0)
            ex = 4 * u * v + 2 * a * ea_round + 2 * u * (v + a * a)  # v's and a's roundings, a², the difference
            with np.errstate(divide="ignore", invalid="ignore"):
                droot = np.minimum(np.where(x > 0, ex / (2.0 * np.sqrt(x)), np.inf), np.sqrt(ex))
            den = np.sqrt(x) + opt.epsilon  # type: ignore[attr-defined]
        else:
            droot = 2 * u * np.sqrt(v)
            den = np.sqrt(v) + opt.epsilon  # type: ignore[attr-defined]
        dq = kappa * dl + g * droot / den**2
        if mu > 0:
            b_old = old["momentum_buffer"]
            eb = dq + u * mu * b_old + 2 * u * (mu * b_old + g / den)
            out["momentum_buffer"] = eb
            return eb, out
        return dq, out
    if kind == "adagrad":
        s_old, s_new = old["sum"], new["sum"]
        es = 2 * g * dl + dl * dl + u * s_old + 2 * u * (s_old + g * g)
        den = np.sqrt(s_new) + opt.epsilon  # type: ignore[attr-defined]
        return kappa * dl + 1.5 * u * g / den, {"sum": es}
    raise KeyError(f"no step rule for optimizer `{kind}`")
