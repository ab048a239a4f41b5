"""The reference math of every v1 loss, one module per spec `type` (the formula is in each docstring).

Predictions are [N, ..., C] with the class axis last; everything is float64.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from lockstep.reference.losses._common import smooth
from lockstep.spec import constructs
from lockstep.spec.losses import Loss

TYPES = constructs.names("loss")

__all__ = ["TYPES", "compute", "get", "smooth"]  # smooth: label smoothing, also for adapters' written losses


def get(type_name: str) -> ModuleType:
    """The module `reference/losses/<type>.py` with `forward` and `backward` (and the float32 rules `length`,
    `terms`, `singular`: reference/losses/_rules.py)."""
    if type_name not in TYPES:
        raise KeyError(f"no reference implementation for loss `{type_name}`")
    return constructs.get(type_name, "loss").load("reference")


def compute(loss: Loss, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """The reduced loss and ∂loss/∂prediction, both in float64 (the prediction is cast first)."""
    mod = get(loss.type)
    value, cache = mod.forward(loss, np.asarray(prediction, dtype=np.float64), target)
    return value, mod.backward(loss, cache)
