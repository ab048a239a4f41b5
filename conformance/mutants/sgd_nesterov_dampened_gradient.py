"""SGD Nesterov with dampening, its look-ahead built from the dampened gradient: `d = (1 − dampening)·g + μ·b_t`
where the standard's is `d = g + μ·b_t`.

torch.optim.SGD refuses Nesterov with dampening, so there is no framework formula to copy: an adapter that writes
it (TensorFlow's does: Keras has no dampening) must transcribe the standard, and reusing the dampened gradient the
buffer update just computed is the natural slip. Only visible with momentum > 0, dampening > 0 and Nesterov, a
combination the SGD strategy never drew until 2026-12-05 (it drew Nesterov only without dampening, the
combination torch accepts): this mutant was certified. torch skips those cases (unsupported, counted).
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    def optimizer_step(self, opt, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        if opt.type != "sgd" or opt.momentum == 0 or not opt.nesterov:
            return super().optimizer_step(opt, name, param, grad, state, lr, t)
        b = state["momentum_buffer"]
        damped = grad if t == 1 else (1.0 - opt.dampening) * grad
        b[...] = grad if t == 1 else opt.momentum * b + damped
        d = damped + opt.momentum * b  # the bug: the dampened gradient in the look-ahead
        return param - lr * d


class SGDNesterovDampenedGradientAdapter(MutantAdapter):
    """SGD Nesterov whose look-ahead adds the dampened gradient."""

    name = "mutant-sgd_nesterov_dampened_gradient"
    session_class = _Session
