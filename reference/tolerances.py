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

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


def kink_error(x: np.ndarray, error: np.ndarray, jump: np.ndarray) -> np.ndarray | None:
    """`branch_error` of a kink at 0: `jump` (the derivative's change across it, times |g|) where x is within
    its error bound of 0 but not on it; None where no value is."""
    near = (x != 0) & (np.abs(x) <= error)
    return np.where(near, jump, 0.0) if near.any() else None


def kink_shift(x: np.ndarray, error: np.ndarray, grad: np.ndarray, jump: float) -> float:
    """`kink_loss_error` of a kink at 0: the loss's adjoint form weighs x's error by the slope on the reference's side;
    an x within its error bound of 0 (or on it) may be computed on the other, and the output then moves by up to
    jump·error more, which the output's gradient carries to the loss: Σ jump·|g|·error there."""
    near = np.abs(x) <= error
    return float(jump * np.sum(np.where(near, np.abs(grad) * error, 0.0)))


def underflow(dtype: str) -> float:
    """λ, the smallest normal number of `dtype`: a rounding below the normal range is absolute (≤ λ, flushed
    to zero included, as TensorFlow's CPU kernels and GPU kernels may do), not relative."""
    return float(np.finfo(np.dtype(dtype)).tiny)


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
# Each construct's rules sit next to its math (reference/layers/<type>.py, reference/losses/<type>.py,
# reference/optimizers/<type>.py, found through spec/constructs.py); the functions here dispatch to them, and a
# construct without one is an error naming the file to write (never a silent 0).
@functools.cache
def construct_rule(kind: str, type_name: str, name: str) -> Any:
    from lockstep.spec import constructs

    return constructs.get(type_name, kind).rule("tolerance", name)  # type: ignore[arg-type]


def layer_length(layer: object, input_shapes: Sequence[Sequence[int]], *, training: bool = False,
                 batch: int = 1) -> int:
    """k_l of one layer's forward: the longest chain of roundings from its inputs to one output element
    (`reduction_length` of reference/layers/<type>.py: reductions count their length, products with parameters
    PRODUCT_ROUNDING, library functions FUNCTION_ULPS each, per the table in the doc). `batch` matters only for
    batch-norm statistics."""
    rule = construct_rule("layer", layer.type, "reduction_length")  # type: ignore[attr-defined]
    return int(rule(layer, input_shapes, training=training, batch=batch))


def batch_length(layer: object, input_shapes: Sequence[Sequence[int]], batch: int) -> int:
    """The length of the sum over batch × positions that ends each of the layer's parameter gradients
    (`batch_length` of reference/layers/<type>.py; 0 for a layer without parameters, which says so)."""
    return int(construct_rule("layer", layer.type, "batch_length")(layer, input_shapes, batch))  # type: ignore[attr-defined]


def path_length(lengths: Iterable[int]) -> int:
    """n of a chain: γ_p + γ_q ≤ γ_{p+q}, so lengths along a path add."""
    return sum(int(n) for n in lengths)


def gradient_length(forward: int, loss: int, batch_reductions: Iterable[int], backward_extra: int = 0) -> int:
    """n of a parameter gradient: the forward path (whose errors enter the cached activations), the
    loss, the backward path (transposed reductions: the forward ones plus `backward_extra`, see
    `backward_excess`) and the sums over the batch that every parameter gradient ends with."""
    return 2 * int(forward) + int(loss) + sum(int(n) for n in batch_reductions) + int(backward_extra)


def backward_excess(layer: object, input_shapes: Sequence[Sequence[int]]) -> int:
    """How much longer a layer's input-gradient reduction is than its forward one (`backward_excess` of
    reference/layers/<type>.py: dense sums dx over its `units` outputs where the forward summed over its inputs,
    a convolution over filters/groups·∏k instead of C/groups·∏k, an LSTM (GRU) step over its 4H (3H) gate columns
    where the forward summed F + H; 0 for most layers, which say so)."""
    return int(construct_rule("layer", layer.type, "backward_excess")(layer, input_shapes))  # type: ignore[attr-defined]


def loss_length(loss: object, shape: Sequence[int]) -> int:
    """n of the loss after the output, for a batched prediction of `shape` (`length` of
    reference/losses/<type>.py: the per-position reduction, log-sum-exp over C for the class losses, one
    subtraction and one function for element losses, and the reduction over the positions)."""
    return int(construct_rule("loss", loss.type, "length")(loss, tuple(shape)))  # type: ignore[attr-defined]


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
    direction, w_t = w_{t−1} − lr_t d_t). Evaluated at the reference's state after step t (`sensitivity` of
    reference/optimizers/<type>.py)."""
    return construct_rule("optimizer", opt.type, "sensitivity")(opt, state, grad, t)  # type: ignore[attr-defined]


def optimizer_ops(opt_type: str) -> int:
    """c_opt: roundings in one element's update (the chain from g to the new w), counted from each rule
    (`OPS` of reference/optimizers/<type>.py)."""
    return int(construct_rule("optimizer", opt_type, "OPS"))


def state_class(opt_type: str, state: str) -> str:
    """How optimizer state `state` weighs the gradients: "linear", "quadratic" or "directions" (`STATES` of
    reference/optimizers/<type>.py; conformance/tolerance.py's StepTracker)."""
    classes = construct_rule("optimizer", opt_type, "STATES")
    if state not in classes:
        from lockstep.spec import constructs

        raise constructs.MissingPart(f"optimizer `{opt_type}` has no class for its state `{state}`: add it to "
                                     f"`STATES` in reference/optimizers/{opt_type}.py")
    return str(classes[state])


def parameter_roundings(opt_type: str) -> int:
    """c_w: roundings of the handed-over parameter itself in one step (`W_ROUNDINGS` of
    reference/optimizers/<type>.py: 1, AdamW's decay adds two)."""
    return int(construct_rule("optimizer", opt_type, "W_ROUNDINGS"))


def parameter_tolerance(dtype: str, opt_type: str, steps: Sequence[tuple[float, float, float, float]],
                        param_magnitude: float) -> Tolerance:
    """Tolerance for a parameter after k steps from identical starting values on identical batches.

    `steps` holds, per step s: (lr_s, max κ_s, δ_s the gradient atol at that step, max lr_s·|d_s|).
    atol = Σ_s (lr_s κ_s δ_s + c_opt u lr_s |d_s|) + k u M_w + k (c_opt + 1) λ, first order: the feedback of
    parameter differences through the loss's curvature (≈ lr‖H‖ per step) is neglected, so it holds for few
    steps. λ, the smallest normal number: each rounding below the normal range is absolute (flushed to zero
    too). float64 uses the fixed rule of `tolerance`.
    """
    if dtype == "float64":
        return tolerance("parameter", dtype, 1, param_magnitude)
    u = unit_roundoff(dtype)
    c = optimizer_ops(opt_type)
    atol = sum(lr * kappa * delta + c * u * step for lr, kappa, delta, step in steps)
    return Tolerance(2.0 * u, atol + len(steps) * (u * abs(param_magnitude) + (c + 1) * underflow(dtype)))


# ------------------------------------------------------------------- one re-synchronized step
def step_sensitivity(opt: object, state: dict[str, np.ndarray], grad: np.ndarray, t: int) -> np.ndarray:
    """κ of one step from an exact state, elementwise: |Δd_t| ≤ κ·δ when only this step's gradient is off by
    at most δ (the re-synchronized comparison: the state before the step is the reference's). Evaluated at
    the reference's state after step t; `grad` is the gradient the optimizer saw (clipped, L2 added).

    Square roots of running squares are Lipschitz in g (√(a + c·g²) has slope ≤ √c), so the bounds hold
    however small v is: sgd (1 − dampening, 1 at t = 1; Nesterov 1 + μ·that), adam
    (1 − β₁)/(c₁ den) + |m̂|·√((1 − β₂)/c₂)/den², rmsprop (1 + |g|√(1 − ρ)/den)/den (centered: √(v − a²)
    has slope √(ρ(1 − ρ)) ≤ √(1 − ρ)), adagrad (1 + |g|/den)/den: `step_sensitivity` of
    reference/optimizers/<type>.py."""
    return construct_rule("optimizer", opt.type, "step_sensitivity")(opt, state, grad, t)  # type: ignore[attr-defined]


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
    `optimizer_ops` counts them (the caller's c_opt u lr|d|). At t = 1 SGD's buffer is the gradient itself.
    Each optimizer's terms: `step_errors` of reference/optimizers/<type>.py."""
    from lockstep.reference.optimizers._rules import StepTerms

    g = np.abs(np.asarray(grad, dtype=np.float64))
    dl = np.asarray(delta, dtype=np.float64) * np.ones_like(g)
    old = {n: np.abs(np.asarray(before[n], dtype=np.float64)) if n in before else np.zeros_like(g) for n in after}
    new = {n: np.abs(np.asarray(a, dtype=np.float64)) for n, a in after.items()}
    kappa = step_sensitivity(opt, after, grad, t)
    terms = StepTerms(g, dl, old, new, after, kappa)
    return construct_rule("optimizer", opt.type, "step_errors")(opt, terms, t, u)  # type: ignore[attr-defined]
