"""adamw, PyTorch's formulation (torch.optim.AdamW): decoupled decay, then the Adam step of adam.py:

    w ← w (1 − lr · weight_decay)
    w ← adam(w, g)

The decay scales with the scheduled lr (as torch's does; Keras's AdamW also multiplies by lr).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.optimizers import adam
from lockstep.spec.optimizers import AdamW

init_state = adam.init_state


def step(opt: AdamW, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: float,
         t: int) -> np.ndarray:
    return adam.step(opt, param * (1.0 - lr * opt.weight_decay), grad, state, lr, t)


# ------------------------------------------------------- float32 rules (reference/optimizers/_rules.py)
state_names = adam.state_names
STATES = adam.STATES
OPS = 14  # adam's 12 and the decay's product and subtraction
W_ROUNDINGS = 3  # w handed over rounded, and w·(1 − lr·wd)'s two roundings
sensitivity = adam.sensitivity
step_sensitivity = adam.step_sensitivity
step_errors = adam.step_errors
