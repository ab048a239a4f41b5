"""The reference math of every v1 optimizer, one module per spec `type` (PyTorch's formulation)."""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

TYPES = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


def get(type_name: str) -> ModuleType:
    if type_name not in TYPES:
        raise KeyError(f"no reference implementation for optimizer `{type_name}`")
    return importlib.import_module(f"lockstep.reference.optimizers.{type_name}")


def init_states(opt, params: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    mod = get(opt.type)
    return {k: mod.init_state(opt, np.asarray(v, dtype=np.float64)) for k, v in params.items()}


def apply(opt, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], states: dict[str, dict[str, np.ndarray]],
          lr: float, t: int, l2: float = 0.0) -> dict[str, np.ndarray]:
    """One step for every parameter: coupled L2 (g + l2·w) first, then the optimizer's rule. t is 1-based."""
    mod = get(opt.type)
    out = {}
    for k, w in params.items():
        g = grads[k] + l2 * w if l2 else grads[k]
        out[k] = mod.step(opt, w, g, states[k], lr, t)
    return out
