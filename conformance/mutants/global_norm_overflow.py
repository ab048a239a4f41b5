"""The global norm as a sum of squares in the run's dtype: ‖g‖ = √(Σ g²) overflows to inf once ‖g‖ passes
√max (2^64 in float32), though ‖g‖ itself is far inside the dtype, and clipping by an infinite norm turns
every gradient into NaN.

It is what `torch.nn.utils.get_total_norm` and `tf.linalg.global_norm` compute (both sum the squares in the
gradients' dtype; found by this suite, docs/conformance.md): a framework adapter that clips with the
framework's norm as it is stops, or trains on NaN, where the standard's step is finite. The standard's ‖g‖ is
the true norm (docs/spec/v1-semantics.md, clipping). N(0, 1) inputs never come near; the `overflow_norm` edge
class makes gradients of about 2^70 with a moderate loss (conformance/edges.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.reference import clipping


class _Session(MutantSession):
    def clip_gradients(self, grads: Any, clip: Any) -> tuple[Any, float]:
        if clip is None or clip.type != "global_norm":
            return super().clip_gradients(grads, clip)
        kind = np.float32 if self.bound is not None else np.float64  # the run's dtype (float32: a range bound)
        with np.errstate(over="ignore", invalid="ignore"):  # the bug: the squares summed in the dtype
            norm = float(np.sqrt(sum(np.sum(np.square(np.asarray(g, dtype=kind))) for g in grads.values())))
        return clipping.CLIPPING[clip.type](grads, clip, norm if math.isfinite(norm) else math.inf), norm


class GlobalNormOverflowAdapter(MutantAdapter):
    """‖g‖ summed in the dtype: inf beyond √max."""

    name = "mutant-global_norm_overflow"
    session_class = _Session
