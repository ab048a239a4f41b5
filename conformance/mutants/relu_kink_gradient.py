"""relu's derivative at its kink taken from the other side: relu'(0) = 1 (a `x >= 0` mask where the standard's
is `x > 0`).

It is the mask of an adapter that builds relu's backward from `torch.where(x >= 0, g, 0)` or from the output
(`y >= 0`, true everywhere): the forward is right, and the gradient differs only where a pre-activation is
exactly 0. The standard fixes relu'(0) = 0, as torch's `threshold_backward` and TensorFlow's `ReluGrad` do
(docs/spec/v1-semantics.md, activations). N(0, 1) inputs never land on 0; the `kink` edge class puts a dense
probe's unit there exactly, in float32 too (conformance/edges.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, layer_session


def _forward(layer: Any, inputs: list[np.ndarray], params: Any, ctx: Any) -> tuple[np.ndarray, Any]:
    (x,) = inputs
    return np.maximum(x, 0.0), x >= 0  # the bug: the kink counted as the positive side


class ReLUKinkGradientAdapter(MutantAdapter):
    """relu'(0) = 1."""

    name = "mutant-relu_kink_gradient"
    session_class = layer_session("relu", forward=_forward)
