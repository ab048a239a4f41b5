"""rmsprop, PyTorch's formulation (torch.optim.RMSprop, foreach=False), ε outside the root:

    v ← ρ v + (1 − ρ) g²
    centered:  a ← ρ a + (1 − ρ) g,   den = √(v − a²) + ε
    else:                             den = √v + ε
    μ > 0:  b ← μ b + g / den,  w ← w − lr b
    else:   w ← w − lr g / den

No bias correction; lr multiplies the buffer on the way out (Keras puts ε inside the root and lr
inside the momentum buffer).
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.optimizers._rules import Arrays, StepTerms
from lockstep.spec.optimizers import RMSprop


def init_state(opt: RMSprop, param: np.ndarray) -> dict[str, np.ndarray]:
    state = {"square_avg": np.zeros_like(param, dtype=np.float64)}
    if opt.centered:
        state["grad_avg"] = np.zeros_like(param, dtype=np.float64)
    if opt.momentum > 0:
        state["momentum_buffer"] = np.zeros_like(param, dtype=np.float64)
    return state


def step(opt: RMSprop, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: float,
         t: int) -> np.ndarray:
    v = state["square_avg"]
    v[...] = opt.rho * v + (1.0 - opt.rho) * grad * grad
    if opt.centered:
        a = state["grad_avg"]
        a[...] = opt.rho * a + (1.0 - opt.rho) * grad
        den = np.sqrt(np.maximum(v - a * a, 0.0)) + opt.epsilon  # v ≥ a² exactly; rounding may say otherwise
    else:
        den = np.sqrt(v) + opt.epsilon
    if opt.momentum > 0:
        b = state["momentum_buffer"]
        b[...] = opt.momentum * b + grad / den
        return param - lr * b
    return param - lr * (grad / den)


# ------------------------------------------------------- float32 rules (reference/optimizers/_rules.py)
def state_names(opt: RMSprop) -> tuple[str, ...]:
    return ("square_avg", *(("grad_avg",) if opt.centered else ()), *(("momentum_buffer",) if opt.momentum > 0 else ()))


STATES = {"square_avg": "quadratic", "grad_avg": "linear", "momentum_buffer": "directions"}
OPS = 10
W_ROUNDINGS = 1


def sensitivity(opt: RMSprop, state: Arrays, grad: np.ndarray, t: int) -> np.ndarray:
    """(1 + |g|/den)/den (centered: 2|g|), times the momentum's geometric sum."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    v = state["square_avg"]
    if opt.centered:
        a = state["grad_avg"]
        den = np.sqrt(np.maximum(v - a * a, 0.0)) + opt.epsilon
        kappa = (1.0 + 2.0 * g / den) / den
    else:
        den = np.sqrt(v) + opt.epsilon
        kappa = (1.0 + g / den) / den
    mu = opt.momentum
    return kappa * ((1.0 - mu**t) / (1.0 - mu) if mu > 0 else 1.0)


def step_sensitivity(opt: RMSprop, state: Arrays, grad: np.ndarray, t: int) -> np.ndarray:
    """(1 + |g|√(1 − ρ)/den)/den (centered: √(v − a²) has slope √(ρ(1 − ρ)) ≤ √(1 − ρ))."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    v = state["square_avg"]
    if opt.centered:
        a = state["grad_avg"]
        den = np.sqrt(np.maximum(v - a * a, 0.0)) + opt.epsilon
    else:
        den = np.sqrt(v) + opt.epsilon
    return (1.0 + g * math.sqrt(1.0 - opt.rho) / den) / den


def step_errors(opt: RMSprop, s: StepTerms, t: int, u: float) -> tuple[np.ndarray, Arrays]:
    """v (and a) carry their weights on δ and their roundings; the root's error enters g/den; the momentum
    buffer sums directions."""
    g, dl, old, new = s.g, s.delta, s.old, s.new
    rho, mu = opt.rho, opt.momentum
    v_old, v = old["square_avg"], new["square_avg"]
    ev = (1.0 - rho) * (2 * g * dl + dl * dl) + u * rho * v_old + 3 * u * (rho * v_old + (1.0 - rho) * g * g)
    out = {"square_avg": ev}
    if opt.centered:
        a_old, a = old["grad_avg"], new["grad_avg"]
        ea_round = u * rho * a_old + 2 * u * (rho * a_old + (1.0 - rho) * g)
        out["grad_avg"] = (1.0 - rho) * dl + ea_round
        x = np.maximum(np.asarray(s.after["square_avg"], dtype=np.float64)
                       - np.asarray(s.after["grad_avg"], dtype=np.float64) ** 2, 0.0)
        ex = 4 * u * v + 2 * a * ea_round + 2 * u * (v + a * a)  # v's and a's roundings, a², the difference
        with np.errstate(divide="ignore", invalid="ignore"):
            droot = np.minimum(np.where(x > 0, ex / (2.0 * np.sqrt(x)), np.inf), np.sqrt(ex))
        den = np.sqrt(x) + opt.epsilon
    else:
        droot = 2 * u * np.sqrt(v)
        den = np.sqrt(v) + opt.epsilon
    # g/den over every den the root's error allows, not its first-order g·droot/den²: centered, x = v − a² may lie
    # within its rounding of 0, where a backend's den drops to ε (sweep X: ratio 2.0e3 at a correct TensorFlow)
    den_low = np.maximum(den - opt.epsilon - droot, 0.0) + opt.epsilon
    dq = s.kappa * dl + g * (1.0 / den_low - 1.0 / den)
    if mu > 0:
        b_old = old["momentum_buffer"]
        eb = dq + u * mu * b_old + 2 * u * (mu * b_old + g / den)
        out["momentum_buffer"] = eb
        return eb, out
    return dq, out
