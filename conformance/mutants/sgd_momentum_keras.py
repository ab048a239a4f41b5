"""SGD momentum with the learning rate inside the buffer: Keras's formulation (keras.optimizers.SGD, Keras 2
and 3: `v ← μv − lr·g`, `w ← w + v`; Nesterov `w ← w + μv − lr·g`).

At a constant learning rate this equals torch.optim.SGD (`b ← μb + g`, `w ← w − lr·b`, so `v = −lr·b`)
to rounding; whenever lr changes (any schedule but `constant`) Keras's buffer still carries the old rates
and the step differs (docs/spec/v1-semantics.md, divergence 3). Only the lr placement is planted:
dampening and b₁ keep torch's meaning. The canonical `momentum_buffer` is reported as −v/lr with the
last step's lr, the conversion such an adapter would make.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    def __init__(self, model, recipe=None, dtype: str = "float64") -> None:
        super().__init__(model, recipe, dtype)
        self.velocity: Arrays = {}  # Keras's `v` per parameter: what this "framework" really keeps

    def optimizer_step(self, opt, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        if opt.type != "sgd" or opt.momentum == 0:
            return super().optimizer_step(opt, name, param, grad, state, lr, t)
        if t == 1 or name not in self.velocity:
            v = -lr * grad
        else:
            v = opt.momentum * self.velocity[name] - lr * (1.0 - opt.dampening) * grad  # the bug: lr inside
        self.velocity[name] = v
        if lr:
            state["momentum_buffer"][...] = -v / lr
        return param + (opt.momentum * v - lr * grad if opt.nesterov else v)

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        super().set_optimizer_state(step, state)
        lr = self.learning_rate(max(int(step) - 1, 0))
        self.velocity = {k: -lr * s["momentum_buffer"] for k, s in self.states.items() if "momentum_buffer" in s}


class SGDMomentumKerasAdapter(MutantAdapter):
    """SGD with Keras's lr-inside-the-buffer momentum."""

    name = "mutant-sgd_momentum_keras"
    session_class = _Session
