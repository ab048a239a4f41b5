"""multi_head_attention's scores scaled by 1/d, the head's width, where the standard's scale is 1/√d.

A scale written from the head's width rather than its square root (`scale = 1 / head_dim`, or `q / d` in a
hand-written kernel) keeps every shape, and every softmax row a distribution; it only flattens the attention, not at
all at d = 1 and more as √d grows. Forward and backward agree with each other (the backward takes the scale the
forward cached), so no gradient check against the mutant's own forward could see it: only the standard's numbers do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, layer_session
from lockstep.reference.layers import multi_head_attention as standard


def _forward(layer: Any, inputs: list[np.ndarray], params: Any, ctx: Any) -> tuple[np.ndarray, Any]:
    width = inputs[0].shape[2] // layer.num_heads
    return standard.forward(layer, inputs, params, ctx, scale=1.0 / width)  # the bug: 1/d, not 1/√d


class AttentionScaleByWidthAdapter(MutantAdapter):
    """Attention scores q·k/d."""

    name = "mutant-attention_scale_by_width"
    session_class = layer_session("multi_head_attention", forward=_forward)
