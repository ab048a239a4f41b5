"""A max-pool tie routed to the *last* maximum of the window (row-major) instead of the first.

Both are "a" subgradient; the standard picks the first (docs/spec/v1-semantics.md § max_pool2d), as torch's
`max_pool2d_with_indices` and TensorFlow's `MaxPoolGrad` do. An adapter that scans windows with `>=`, or flips
a layout before an argmax, routes ties to the last. The forward is unchanged; only a window with an exact tie
moves a gradient, which the `kink` edge class makes (two equal columns from a dense probe, exact in float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, layer_session
from lockstep.reference.layers._conv import pad, windows


def _forward(layer: Any, inputs: list[np.ndarray], params: Any, ctx: Any) -> tuple[np.ndarray, Any]:
    (x,) = inputs
    kernel, stride, pads = layer.geometry(x.shape[1:])
    out = layer.output_shape([x.shape[1:]])[1:]
    xp = pad(x, pads, -np.inf)
    flat = windows(xp, kernel, stride, (1, 1), out).reshape(*x.shape[:2], *out, -1)
    arg = flat.shape[-1] - 1 - flat[..., ::-1].argmax(axis=-1)  # the bug: the last maximum wins a tie
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    return y, (arg, flat.shape, xp.shape, kernel, stride, out, pads)


class MaxPoolLastTieAdapter(MutantAdapter):
    """Max-pool ties routed to the last maximum."""

    name = "mutant-max_pool_last_tie"
    session_class = layer_session("max_pool2d", forward=_forward)
