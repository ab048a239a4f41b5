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
