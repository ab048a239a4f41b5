"""The reference math of every v1 optimizer, one module per spec `type`, in PyTorch's formulation.

Each module has `init_state(opt, param) -> {state name: array}` and
`step(opt, param, grad, state, lr, t) -> new param` (t is the 1-based step count; state is updated in
place; the param passed in is never modified). State names are torch's (canonical names in the standard).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

from lockstep.spec import constructs
from lockstep.spec.optimizers import Optimizer

TYPES = constructs.names("optimizer")

Arrays = dict[str, np.ndarray]


def get(type_name: str) -> ModuleType:
    """The module `reference/optimizers/<type>.py` (MissingPart names the file when it is not written yet)."""
    if type_name not in TYPES:
        raise KeyError(f"no reference implementation for optimizer `{type_name}`")
    return constructs.get(type_name, "optimizer").load("reference")


def coupled_l2(grad: np.ndarray, param: np.ndarray, l2: float) -> np.ndarray:
    """Coupled L2 (`regularization.l2`): g ← g + l2 · w, after clipping, before the optimizer's rule."""
    return grad + l2 * param


REGULARIZATION: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {"l2": coupled_l2}
"""Every regularization construct of the recipe's `regularization` section, by name."""


def init_states(opt: Optimizer, params: Arrays) -> dict[str, Arrays]:
    """Fresh state for every parameter, by canonical name."""
    mod = get(opt.type)
    return {k: mod.init_state(opt, np.asarray(v, dtype=np.float64)) for k, v in params.items()}


StepFn = Callable[[Optimizer, str, np.ndarray, np.ndarray, Arrays, float, int], np.ndarray]
"""(opt, parameter name, w, g, state, lr, t) -> new w: one parameter's update."""


def rule(opt: Optimizer, name: str, w: np.ndarray, g: np.ndarray, state: Arrays, lr: float, t: int) -> np.ndarray:
    """The standard's update of one parameter: `reference/optimizers/<opt.type>.py`'s `step`."""
    return get(opt.type).step(opt, w, g, state, lr, t)


def apply(opt: Optimizer, params: Arrays, grads: Arrays, states: dict[str, Arrays], lr: float, t: int,
          l2: float = 0.0, step: StepFn = rule) -> Arrays:
    """One step for every parameter: coupled L2 (g ← g + l2 · w, after clipping), then the rule.

    `params` is not modified; the new parameters are returned. t is the 1-based step count. `step` is the
    per-parameter rule (the standard's; the conformance mutants pass a planted bug).
    """
    if t < 1:
        raise ValueError(f"optimizer steps count from 1, got t={t}")
    out: Arrays = {}
    for name, w in params.items():
        if name not in grads:
            raise KeyError(f"no gradient for parameter `{name}`")
        w = np.asarray(w, dtype=np.float64)
        g = np.asarray(grads[name], dtype=np.float64)
        if l2:
            g = coupled_l2(g, w, l2)
        out[name] = step(opt, name, w, g, states[name], lr, t)
    return out
