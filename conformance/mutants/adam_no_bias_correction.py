"""Adam without bias correction: BERT's `AdamWeightDecayOptimizer` (google-research/bert, optimization.py),
reproduced by Hugging Face transformers' `AdamW(correct_bias=False)`.

The update is `w ← w − lr·m/(√v + ε)` with the raw moments: at β₁ = 0.9, β₂ = 0.999 the first step is
(1 − β₁)/√(1 − β₂) ≈ 3.2 times the standard's, and the two only come together after ~1/(1 − β₂) steps.
The standard divides m by 1 − β₁ᵗ and v by 1 − β₂ᵗ (torch.optim.Adam, keras.optimizers.Adam). Planted in
`adam` and `adamw`.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession, adam_moments


class _Session(MutantSession):
    def optimizer_step(self, opt, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        if opt.type not in ("adam", "adamw"):
            return super().optimizer_step(opt, name, param, grad, state, lr, t)
        param, m, v = adam_moments(opt, param, grad, state, lr)
        return param - lr * m / (np.sqrt(v) + opt.epsilon)  # the bug: no 1 − βᵗ anywhere


class AdamNoBiasCorrectionAdapter(MutantAdapter):
    """Adam/AdamW without bias correction."""

    name = "mutant-adam_no_bias_correction"
    session_class = _Session
