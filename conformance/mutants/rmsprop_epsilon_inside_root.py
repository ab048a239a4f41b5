"""RMSprop with ε inside the square root: Keras's formulation (keras.optimizers.RMSprop, Keras 2 and 3, and
TensorFlow's tf.raw_ops.ApplyRMSProp), `g/√(v + ε)`.

torch.optim.RMSprop and the standard divide by `√v + ε` (docs/spec/v1-semantics.md, divergence 2). With
ε = 1e-8 the two differ by ~ε/(2v) relatively, invisible at a loose tolerance; with ε = 0.1 by a factor.
Only ε moves: Keras's other difference (lr inside the momentum buffer) is not planted here.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    def optimizer_step(self, opt, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        if opt.type != "rmsprop":
            return super().optimizer_step(opt, name, param, grad, state, lr, t)
        v = state["square_avg"]
        v[...] = opt.rho * v + (1.0 - opt.rho) * grad * grad
        if opt.centered:
            a = state["grad_avg"]
            a[...] = opt.rho * a + (1.0 - opt.rho) * grad
            den = np.sqrt(v - a * a + opt.epsilon)  # the bug: ε inside the root
        else:
            den = np.sqrt(v + opt.epsilon)  # the bug: ε inside the root
        if opt.momentum > 0:
            b = state["momentum_buffer"]
            b[...] = opt.momentum * b + grad / den
            return param - lr * b
        return param - lr * (grad / den)


class RMSpropEpsilonInsideRootAdapter(MutantAdapter):
    """RMSprop with Keras's ε inside the root."""

    name = "mutant-rmsprop_epsilon_inside_root"
    session_class = _Session
