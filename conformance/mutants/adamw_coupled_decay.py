"""AdamW run as Adam with coupled L2: `weight_decay` added to the gradient (`g ← g + wd·w`) and then
normalized by Adam, which is what torch.optim.Adam(weight_decay=wd) does (and what an adapter that maps
`adamw` onto it gets), instead of torch.optim.AdamW's decoupled `w ← w·(1 − lr·wd)` before the step.

Loshchilov & Hutter's point: under Adam a coupled decay is divided by √v̂, so large-gradient weights are
barely decayed (docs/spec/v1-semantics.md, divergence 4).
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.reference.optimizers import adam


class _Session(MutantSession):
    def optimizer_step(self, opt, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        if opt.type != "adamw":
            return super().optimizer_step(opt, name, param, grad, state, lr, t)
        return adam.step(opt, param, grad + opt.weight_decay * param, state, lr, t)  # the bug: coupled


class AdamWCoupledDecayAdapter(MutantAdapter):
    """AdamW with coupled (L2) weight decay."""

    name = "mutant-adamw_coupled_decay"
    session_class = _Session
