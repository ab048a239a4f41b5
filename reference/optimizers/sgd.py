"""sgd, PyTorch's formulation (torch.optim.SGD, foreach=False):

    μ = 0:   w ← w − lr g                                   (no state)
    μ > 0:   b_1 = g,  b_t = μ b_{t−1} + (1 − dampening) g  (t ≥ 2: dampening never touches b_1)
             d = g + μ b_t  (nesterov)   or   d = b_t
             w ← w − lr d

lr multiplies the step, not the buffer, so a schedule changes the step at once (Keras's `v = μv − lr g`
carries old learning rates inside v).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.optimizers._rules import Arrays, StepTerms
from lockstep.spec.optimizers import SGD


def init_state(opt: SGD, param: np.ndarray) -> dict[str, np.ndarray]:
    return {"momentum_buffer": np.zeros_like(param, dtype=np.float64)} if opt.momentum > 0 else {}


def step(opt: SGD, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: float,
         t: int) -> np.ndarray:
    d = grad
    if opt.momentum > 0:
        b = state["momentum_buffer"]
        b[...] = grad if t == 1 else opt.momentum * b + (1.0 - opt.dampening) * grad
        d = grad + opt.momentum * b if opt.nesterov else b.copy()
    return param - lr * d


# ------------------------------------------------------- float32 rules (reference/optimizers/_rules.py)
def state_names(opt: SGD) -> tuple[str, ...]:
    return ("momentum_buffer",) if opt.momentum > 0 else ()


STATES = {"momentum_buffer": "linear"}
OPS = 3
W_ROUNDINGS = 1


def sensitivity(opt: SGD, state: Arrays, grad: np.ndarray, t: int) -> np.ndarray:
    """κ_t: the buffer accumulates at most 1 + μ + … + μ^(t−1) of the gradients' errors (Nesterov adds μ·that)."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    mu = opt.momentum
    if mu == 0:
        return np.ones_like(g)
    geo = (1.0 - mu**t) / (1.0 - mu)
    return np.full_like(g, 1.0 + mu * geo if opt.nesterov else geo)


def step_sensitivity(opt: SGD, state: Arrays, grad: np.ndarray, t: int) -> np.ndarray:
    """1 − dampening (1 at t = 1, where the buffer is the gradient); Nesterov 1 + μ·that."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    mu = opt.momentum
    if mu == 0:
        return np.ones_like(g)
    c = 1.0 if t == 1 else 1.0 - opt.dampening
    return np.full_like(g, 1.0 + mu * c if opt.nesterov else c)


def step_errors(opt: SGD, s: StepTerms, t: int, u: float) -> tuple[np.ndarray, Arrays]:
    """The buffer carries (1 − d)δ plus its own update's roundings; at t = 1 it is the gradient itself."""
    mu = opt.momentum
    g, dl = s.g, s.delta
    if mu == 0:
        return s.kappa * dl, {}
    damp = 0.0 if t == 1 else opt.dampening
    b_old = s.old["momentum_buffer"]
    eb = (1.0 - damp) * dl + (0.0 if t == 1 else u * mu * b_old + 2 * u * (mu * b_old + (1.0 - damp) * g))
    dd = dl + mu * eb + u * (g + mu * s.new["momentum_buffer"]) if opt.nesterov else eb
    return dd, {"momentum_buffer": eb}
