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
