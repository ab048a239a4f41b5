"""adagrad, PyTorch's formulation (torch.optim.Adagrad, lr_decay = 0), ε outside the root:

    s ← s + g²          (s starts at initial_accumulator_value)
    w ← w − lr g / (√s + ε)
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.optimizers._rules import Arrays, StepTerms
from lockstep.spec.optimizers import Adagrad


def init_state(opt: Adagrad, param: np.ndarray) -> dict[str, np.ndarray]:
    return {"sum": np.full_like(param, opt.initial_accumulator_value, dtype=np.float64)}


def step(opt: Adagrad, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: float,
         t: int) -> np.ndarray:
    s = state["sum"]
    s[...] = s + grad * grad
    return param - lr * (grad / (np.sqrt(s) + opt.epsilon))


# ------------------------------------------------------- float32 rules (reference/optimizers/_rules.py)
def state_names(opt: Adagrad) -> tuple[str, ...]:
    return ("sum",)


STATES = {"sum": "quadratic"}
OPS = 6
W_ROUNDINGS = 1


def sensitivity(opt: Adagrad, state: Arrays, grad: np.ndarray, t: int) -> np.ndarray:
    """(1 + √t)/(√s + ε): the accumulated squares move the denominator by at most √t of the errors."""
    return (1.0 + math.sqrt(t)) / (np.sqrt(state["sum"]) + opt.epsilon)


def step_sensitivity(opt: Adagrad, state: Arrays, grad: np.ndarray, t: int) -> np.ndarray:
    """(1 + |g|/den)/den, den = √s + ε."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    den = np.sqrt(state["sum"]) + opt.epsilon
    return (1.0 + g / den) / den


def step_errors(opt: Adagrad, s: StepTerms, t: int, u: float) -> tuple[np.ndarray, Arrays]:
    """s carries 2|g|δ + δ² and its update's roundings; the direction κδ and g/den's own roundings."""
    g, dl = s.g, s.delta
    s_old, s_new = s.old["sum"], s.new["sum"]
    es = 2 * g * dl + dl * dl + u * s_old + 2 * u * (s_old + g * g)
    den = np.sqrt(s_new) + opt.epsilon
    return s.kappa * dl + 1.5 * u * g / den, {"sum": es}
