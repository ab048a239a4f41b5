"""Adam with ε added to the *uncorrected* √v: Keras's formulation (keras.optimizers.Adam, Keras 2 and 3).

Keras folds both bias corrections into the step size, `α_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`, and then adds ε
to √v itself: `w ← w − α_t·m/(√v + ε)` (the paper's "ε̂" variant). That is the standard's update with an
effective `ε/√(1 − β₂ᵗ)`, which is up to ~30× larger in the first steps at β₂ = 0.999. The standard
(and torch.optim.Adam) adds ε outside the root of the corrected v̂ (docs/spec/v1-semantics.md, divergence 1).
Planted in `adam`, and in `adamw`, whose step is Adam's.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession, adam_moments


class _Session(MutantSession):
    def optimizer_step(self, opt, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        if opt.type not in ("adam", "adamw"):
            return super().optimizer_step(opt, name, param, grad, state, lr, t)
        param, m, v = adam_moments(opt, param, grad, state, lr)
        alpha = lr * math.sqrt(1.0 - opt.beta2**t) / (1.0 - opt.beta1**t)
        return param - alpha * m / (np.sqrt(v) + opt.epsilon)  # the bug: ε next to the uncorrected √v


class AdamEpsilonPlacementAdapter(MutantAdapter):
    """Adam/AdamW with Keras's ε placement."""

    name = "mutant-adam_epsilon_placement"
    session_class = _Session
