"""layer_norm's input gradient with its statistics held constant: dL/dx = weight ⊙ g / √(σ² + ε), dropping the
two terms through μ and σ² (what a backward gives that treats the mean and variance as stop-gradient constants,
as a hand-written kernel or a fused op with a missing term does).

The forward and the weight and bias gradients stay exact; only the gradient *into* the layer is wrong, so only
a parameter upstream of layer_norm shows it. layer_norm has parameters of its own, so its cases were the layer
alone, and level 2's parameter gradients never passed through its input gradient: this mutant was certified.
A layer with parameters is checked behind a dense probe in a drawn half of its plain cases
(conformance/strategies.py, `layer_model`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, layer_session
from lockstep.reference.layers import layer_norm


def _backward(layer: Any, grad_output: np.ndarray, cache: Any) -> Any:
    _x_hat, inv_std, weight, _axes = cache
    _, grads = layer_norm.backward(layer, grad_output, cache)  # the parameters' gradients, exact
    return [grad_output * weight * inv_std], grads  # the bug: no terms through μ and σ²


class LayerNormStatisticsDetachedAdapter(MutantAdapter):
    """layer_norm's input gradient without the terms through its statistics."""

    name = "mutant-layer_norm_statistics_detached"
    session_class = layer_session("layer_norm", backward=_backward)
