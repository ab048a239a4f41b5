"""adam, PyTorch's formulation (torch.optim.Adam, foreach=False), ε outside the root of the
bias-corrected second moment:

    m ← β1 m + (1 − β1) g
    v ← β2 v + (1 − β2) g²
    amsgrad:  v_max ← max(v_max, v), and v_max replaces v below (the max of the *uncorrected* v)
    w ← w − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)

which is w − lr m̂ / (√v̂ + ε) with m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t); the code keeps torch's order
of operations so that float64 backends agree to the last bits, not just to 1e-10.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.optimizers._rules import Arrays, StepTerms
from lockstep.spec.optimizers import Adam


def init_state(opt: Adam, param: np.ndarray) -> dict[str, np.ndarray]:
    state = {"exp_avg": np.zeros_like(param, dtype=np.float64), "exp_avg_sq": np.zeros_like(param, dtype=np.float64)}
    if opt.amsgrad:
        state["max_exp_avg_sq"] = np.zeros_like(param, dtype=np.float64)
    return state


def step(opt: Adam, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: float,
         t: int) -> np.ndarray:
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m[...] = opt.beta1 * m + (1.0 - opt.beta1) * grad
    v[...] = opt.beta2 * v + (1.0 - opt.beta2) * grad * grad
    if opt.amsgrad:
        v_max = state["max_exp_avg_sq"]
        np.maximum(v_max, v, out=v_max)
        v = v_max
    step_size = lr / (1.0 - opt.beta1**t)
    denom = np.sqrt(v) / math.sqrt(1.0 - opt.beta2**t) + opt.epsilon
    return param - step_size * (m / denom)


# ------------------------------------------------------- float32 rules (reference/optimizers/_rules.py)
def state_names(opt: Adam) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if opt.amsgrad else ("exp_avg", "exp_avg_sq")


STATES = {"exp_avg": "linear", "exp_avg_sq": "quadratic", "max_exp_avg_sq": "quadratic"}
OPS = 12
W_ROUNDINGS = 1


def sensitivity(opt: Adam, state: Arrays, grad: np.ndarray, t: int) -> np.ndarray:
    """(1 + |m̂|/den)/den, den = √v̂ + ε: the direction m̂/den moves with m̂ and with den."""
    v = state["max_exp_avg_sq"] if opt.amsgrad else state["exp_avg_sq"]
    m_hat = np.abs(state["exp_avg"]) / (1.0 - opt.beta1**t)
    den = np.sqrt(v / (1.0 - opt.beta2**t)) + opt.epsilon
    return (1.0 + m_hat / den) / den


def step_sensitivity(opt: Adam, state: Arrays, grad: np.ndarray, t: int) -> np.ndarray:
    """(1 − β₁)/(c₁ den) + |m̂|·√((1 − β₂)/c₂)/den² (√v is Lipschitz in g with slope ≤ √(1 − β₂))."""
    v = state["max_exp_avg_sq"] if opt.amsgrad else state["exp_avg_sq"]
    c1, c2 = 1.0 - opt.beta1**t, 1.0 - opt.beta2**t
    den = np.sqrt(v / c2) + opt.epsilon
    m_hat = np.abs(state["exp_avg"]) / c1
    return (1.0 - opt.beta1) / (c1 * den) + m_hat * math.sqrt((1.0 - opt.beta2) / c2) / den**2


def step_errors(opt: Adam, s: StepTerms, t: int, u: float) -> tuple[np.ndarray, Arrays]:
    """m and v carry their weights on δ (on g²: 2|g|δ + δ²) and their updates' roundings; see below for d."""
    g, dl, old, new = s.g, s.delta, s.old, s.new
    b1, b2 = opt.beta1, opt.beta2
    c1, c2 = 1.0 - b1**t, 1.0 - b2**t
    m_old, v_old = old["exp_avg"], old["exp_avg_sq"]
    em = (1.0 - b1) * dl + u * b1 * m_old + 2 * u * (b1 * m_old + (1.0 - b1) * g)
    ev = (1.0 - b2) * (2 * g * dl + dl * dl) + u * b2 * v_old + 3 * u * (b2 * v_old + (1.0 - b2) * g * g)
    out = {"exp_avg": em, "exp_avg_sq": ev}
    v = new["exp_avg_sq"]
    if opt.amsgrad:
        out["max_exp_avg_sq"] = np.maximum(ev, u * old["max_exp_avg_sq"])
        v = new["max_exp_avg_sq"]
    den = np.sqrt(v / c2) + opt.epsilon
    d = new["exp_avg"] / c1 / den
    # κ·δ carries the gradient's error; the rounding of m (handed over and updated) divides by c1·den; v's
    # roundings (≤ 4u·v: terms ≥ 0) move √v̂ by ≤ 2u√v̂ ≤ 2u·den, the direction by ≤ 2u|d|
    dd = s.kappa * dl + (u * b1 * m_old + 2 * u * (b1 * m_old + (1.0 - b1) * g)) / (c1 * den) + 2 * u * d
    return dd, out
