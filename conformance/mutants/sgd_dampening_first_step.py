"""SGD whose momentum buffer starts at zero, so dampening scales the first step too: `b₁ = (1 − dampening)·g`.

torch.optim.SGD special-cases the first step (`buf = clone(grad)`: dampening never touches b₁, as the
standard says); an implementation on zero-initialized slot variables that applies the general rule
`b ← μb + (1 − dampening)·g` from step 1 (how a Keras/TF adapter emulating torch's dampening on
`add_variable` slots, or a hand-written optimizer, naturally comes out) scales b₁ by 1 − dampening.
Only visible with momentum > 0 and dampening > 0.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    def optimizer_step(self, opt, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        if opt.type != "sgd" or opt.momentum == 0:
            return super().optimizer_step(opt, name, param, grad, state, lr, t)
        b = state["momentum_buffer"]  # zeros before step 1
        b[...] = opt.momentum * b + (1.0 - opt.dampening) * grad  # the bug: also at t = 1
        d = grad + opt.momentum * b if opt.nesterov else b.copy()
        return param - lr * d


class SGDDampeningFirstStepAdapter(MutantAdapter):
    """SGD with dampening applied to the first momentum buffer."""

    name = "mutant-sgd_dampening_first_step"
    session_class = _Session
