"""tanh's derivative from the wrong saved tensor: 1 − x² (the input) where the standard's is 1 − y² (the output).

A backward that saves the input where it meant the output (both are at hand in a fused kernel) computes
dy/dx = 1 − x²: right at x = 0, close for small |x|, and negative past |x| = 1, while the forward stays exact.
Only a gradient that flows *through* the activation shows it: until the layer cases of a parameter-free construct
put a dense probe in front of it (conformance/strategies.py, `layer_model`), tanh's own check had no parameter
upstream of tanh, its level 2 compared the loss alone, and this mutant was certified.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, layer_session


def _forward(layer: Any, inputs: list[np.ndarray], params: Any, ctx: Any) -> tuple[np.ndarray, Any]:
    (x,) = inputs
    return np.tanh(x), x  # the bug: the input saved for the backward, which reads it as y


class TanhGradientFromInputAdapter(MutantAdapter):
    """tanh′ = 1 − x²."""

    name = "mutant-tanh_gradient_from_input"
    session_class = layer_session("tanh", forward=_forward)
