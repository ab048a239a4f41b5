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

import numpy as np

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
        den = np.sqrt(v - a * a) + opt.epsilon
    else:
        den = np.sqrt(v) + opt.epsilon
    if opt.momentum > 0:
        b = state["momentum_buffer"]
        b[...] = opt.momentum * b + grad / den
        return param - lr * b
    return param - lr * (grad / den)
