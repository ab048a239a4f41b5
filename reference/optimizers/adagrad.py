"""adagrad, PyTorch's formulation (torch.optim.Adagrad, lr_decay = 0), ε outside the root:

    s ← s + g²          (s starts at initial_accumulator_value)
    w ← w − lr g / (√s + ε)
"""

from __future__ import annotations

import numpy as np

from lockstep.spec.optimizers import Adagrad


def init_state(opt: Adagrad, param: np.ndarray) -> dict[str, np.ndarray]:
    return {"sum": np.full_like(param, opt.initial_accumulator_value, dtype=np.float64)}


def step(opt: Adagrad, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: float,
         t: int) -> np.ndarray:
    s = state["sum"]
    s[...] = s + grad * grad
    return param - lr * (grad / (np.sqrt(s) + opt.epsilon))
