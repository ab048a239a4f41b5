"""The reference math of every v1 loss, one module per spec `type`."""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

TYPES = ("mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy",
         "sparse_categorical_crossentropy", "nll")


def get(type_name: str) -> ModuleType:
    if type_name not in TYPES:
        raise KeyError(f"no reference implementation for loss `{type_name}`")
    return importlib.import_module(f"lockstep.reference.losses.{type_name}")


def compute(loss, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss value and d loss / d prediction, in float64."""
    mod = get(loss.type)
    value, cache = mod.forward(loss, np.asarray(prediction, dtype=np.float64), target)
    return value, mod.backward(loss, cache)
