"""Comparing an adapter's numbers with the reference's: the observed error, the tolerance, the margin.

The float64 rule of the normative docs: |a - r| <= rtol·|r| + atol_scale·s with rtol = 1e-10,
atol_scale = 1e-12 and s the scale of the quantity's kind: the largest magnitude among all reference
tensors of that kind (all gradients, all parameters). A quantity that is mathematically zero (the
gradient of a key bias in attention, say) then demands agreement to round-off of its kind, not to 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOAT64 = (1e-10, 1e-12)
# Provisional float32 rule until the conformance suite derives per-quantity bounds (docs/spec/v1-semantics.md).
FLOAT32 = (1e-4, 1e-5)


@dataclass(frozen=True)
class Check:
    quantity: str
    error: float  # max |a - r| - rtol |r| (<= atol means pass)
    tolerance: float
    ratio: float  # max over elements of |a - r| / (rtol |r| + atol): <= 1 passes; 1/ratio is the margin

    @property
    def ok(self) -> bool:
        return self.ratio <= 1.0


def tolerances(dtype: str) -> tuple[float, float]:
    return FLOAT64 if dtype == "float64" else FLOAT32


def compare(quantity: str, actual: np.ndarray, reference: np.ndarray, dtype: str = "float64",
            scale: float | None = None) -> Check:
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if a.shape != r.shape:
        return Check(quantity, float("inf"), 0.0, float("inf"))
    rtol, atol_scale = tolerances(dtype)
    if r.size == 0:
        return Check(quantity, 0.0, 0.0, 0.0)
    atol = atol_scale * max(scale if scale is not None else float(np.max(np.abs(r))), 1e-300)
    allowed = rtol * np.abs(r) + atol
    diff = np.abs(a - r)
    if not np.all(np.isfinite(a)):
        return Check(quantity, float("inf"), float(np.max(allowed)), float("inf"))
    ratio = float(np.max(diff / allowed))
    return Check(quantity, float(np.max(diff)), float(np.max(allowed)), ratio)


def compare_dicts(prefix: str, actual: dict, reference: dict, dtype: str = "float64") -> list[Check]:
    out = []
    scale = max((float(np.max(np.abs(v))) for v in reference.values() if np.size(v)), default=0.0)
    for k in reference:
        if k not in actual:
            out.append(Check(f"{prefix} {k} (missing)", float("inf"), 0.0, float("inf")))
        else:
            out.append(compare(f"{prefix} {k}", actual[k], reference[k], dtype, scale))
    return out
