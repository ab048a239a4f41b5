"""Comparing a backend's numbers with the reference's: the observed error, the tolerance, the margin.

One primitive, `check(quantity, actual, reference, rule)`, serves the conformance suite, `lockstep compare`
and the adapters' tests, so that every report measures errors the same way: elementwise
|a - r| <= rtol·|r| + atol (docs/spec/v1-semantics.md, Tolerances), with `atol` a number or an array of
the quantity's shape (the derived float32 bounds are elementwise).

`compare`/`compare_dicts` apply the fixed rules that need no derivation: float64 rtol = 1e-10 and
atol = 1e-12·s, s the scale of the quantity's kind (the largest magnitude among all reference tensors of
that kind: all gradients, all parameters), so a quantity that is mathematically zero (the gradient of a key
bias in attention) must agree to round-off of its kind, not to 0; and a loose float32 rule rtol = 1e-4,
atol = 1e-5·s for the adapters' one-shot tests from identical inputs (one forward, one gradient). No verdict
on a float32 *trajectory* uses it: those are judged step by step from a shared state (conformance/resync.py).
`CheckPlan`/`check_many` are `check` of many quantities over one flat array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lockstep.reference.tolerances import FLOAT64_ATOL, FLOAT64_RTOL, Tolerance

FLOAT64 = (FLOAT64_RTOL, FLOAT64_ATOL)
FLOAT32_WHOLE_RUN = (1e-4, 1e-5)
"""(rtol, atol as a multiple of the kind's scale) of the adapters' one-shot float32 tests (a forward or a
gradient from identical inputs). Free-running float32 trajectories are never compared by any rule: they
drift apart by design; `lockstep compare` judges each step re-synchronized instead."""


@dataclass(frozen=True)
class Check:
    """One compared quantity at its worst element, the one whose error is the largest part of its tolerance: the
    error there, the tolerance there and their ratio. (The largest error and the tolerance where the ratio
    peaks, two elements, read "error 2.6e-07 > tolerance 2.3e-07" on a check that passed.)"""

    quantity: str
    error: float  # |a - r| at the element where the ratio is largest; inf where none can be measured (`why`)
    tolerance: float  # rtol |r| + atol at that element: at a non-finite value's, the one it had to meet; 0 where
    # no element could be compared (a shape, a missing name)
    ratio: float  # max over elements of |a - r| / (rtol |r| + atol): <= 1 passes; 1/ratio is the margin
    why: str = ""  # where no error can be measured: what was wrong ("shape [3], the reference's [2, 3]")

    @property
    def ok(self) -> bool:
        return self.ratio <= 1.0

    @property
    def margin(self) -> float:
        return math.inf if self.ratio == 0 else 1.0 / self.ratio

    def describe(self) -> str:
        """`gradient dense.weight: error 3.2e-07 > tolerance 1.1e-07 (ratio 2.9)` or the passing form."""
        if self.why:
            return f"{self.quantity}: {self.why}"
        if not math.isfinite(self.ratio) and self.tolerance == 0.0 and math.isinf(self.error):
            return f"{self.quantity}: non-finite or wrongly shaped"
        op = "<=" if self.ok else ">"
        return f"{self.quantity}: error {self.error:.3g} {op} tolerance {self.tolerance:.3g} (ratio {self.ratio:.3g})"


class Missing:
    """A name absent from an adapter's answer to `call` ("get_parameters()"): `check` says it missing (a NaN in
    its place said "shape [], the reference's [1, 1]")."""

    def __init__(self, call: str) -> None:
        self.call = call


def entry(answer: Any, name: str, call: str) -> Any:
    """`answer[name]`, or Missing(call) where the adapter's answer to `call` has no such name."""
    return answer[name] if name in answer else Missing(call)


def check(quantity: str, actual: Any, reference: np.ndarray | float, rule: Tolerance) -> Check:
    """Compare elementwise under `rule` (its atol may be an array of the reference's shape)."""
    if isinstance(actual, Missing):
        return Check(quantity, math.inf, 0.0, math.inf, f"missing from {actual.call}'s answer")
    if actual is None:  # an adapter's answer: np.asarray(None) is a NaN of shape [], which said "shape []"
        return Check(quantity, math.inf, 0.0, math.inf, "None, where the adapter's array is due")
    a, unreal = real(actual)
    if a is None:
        return Check(quantity, math.inf, 0.0, math.inf, unreal)
    r = np.asarray(reference, dtype=np.float64)
    if a.shape != r.shape:
        return Check(quantity, math.inf, 0.0, math.inf, _shape_why(a.shape, r.shape))
    if r.size == 0:
        return Check(quantity, 0.0, 0.0, 0.0)
    allowed = np.broadcast_to(np.maximum(rule.allowed(r), np.finfo(np.float64).tiny), r.shape)
    # an infinite tolerance marks an element the dtype cannot represent (reference/error_bounds.py): any
    # value, inf and nan included, is accepted there; everywhere else a non-finite value fails
    bounded = np.isfinite(allowed)
    if not np.all(np.isfinite(a) | ~bounded):  # no error to measure; the tolerance of that element was due
        at = _non_finite_at(a, bounded)
        return Check(quantity, math.inf, float(allowed[at]), math.inf, _non_finite_why(a, r, at))
    with np.errstate(invalid="ignore", over="ignore"):  # a huge error over a tiny tolerance is an inf ratio
        diff = np.where(bounded, measured(a, r), 0.0)
        ratios = np.where(bounded, diff / np.where(bounded, allowed, 1.0), 0.0)
    at = np.unravel_index(int(np.argmax(ratios)), ratios.shape) if ratios.ndim else ()
    return Check(quantity, float(diff[at]), float(allowed[at]), float(ratios[at]))


def real(actual: Any) -> tuple[np.ndarray | None, str]:
    """An adapter's answer as float64, or None and why it is no array of real numbers: a complex answer read as
    float64 lost its imaginary part without a word (`forward = ref + 1j` was certified), and text or objects
    are no numbers to compare."""
    a = np.asarray(actual)
    if np.iscomplexobj(a):
        return None, f"complex values ({a.dtype}), where real numbers are due"
    if a.dtype.kind in "USVM":  # text ("1.5" reads as a number), bytes, records, dates
        return None, f"not numbers ({a.dtype}), where real numbers are due"
    try:
        return np.asarray(a, dtype=np.float64), ""
    except (TypeError, ValueError):
        return None, f"not numbers ({a.dtype}), where real numbers are due"


def measured(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """|a − r|, but the largest float where two finite values differ by more than it (1e308 against −1e308): an
    error was measured, and read as inf it said "no finite error" (`Worst.no_error`), as a non-finite value does."""
    diff = np.abs(a - r)
    return np.where(np.isinf(diff) & np.isfinite(a) & np.isfinite(r), np.finfo(np.float64).max, diff)


def _shape_why(got: tuple[int, ...], want: tuple[int, ...]) -> str:
    return f"shape {list(got)}, the reference's {list(want)}"


def _non_finite_at(a: np.ndarray, bounded: np.ndarray) -> tuple[int, ...]:
    """The index of the first non-finite value where a finite one is due."""
    return tuple(int(i) for i in np.argwhere(~np.isfinite(a) & bounded)[0]) if a.ndim else ()


def _non_finite_why(a: np.ndarray, r: np.ndarray, at: tuple[int, ...]) -> str:
    """The non-finite value at `at` (`_non_finite_at`), where a finite one is due, and the reference's value there."""
    where = f" at index {at}" if at else ""
    return f"non-finite ({float(a[at])}{where}; the reference's is {float(r[at]):.6g})"


def tolerances(dtype: str) -> tuple[float, float]:
    """(rtol, atol scale) of the fixed rules: float64's, or float32's whole-run rule."""
    return FLOAT64 if dtype == "float64" else FLOAT32_WHOLE_RUN


def fixed_rule(dtype: str, scale: float) -> Tolerance:
    rtol, atol_scale = tolerances(dtype)
    return Tolerance(rtol, atol_scale * max(float(scale), 1e-300))


def scale_of(arrays: dict[str, np.ndarray] | list[np.ndarray]) -> float:
    """s of a kind: the largest magnitude among its reference tensors."""
    values = arrays.values() if isinstance(arrays, dict) else arrays
    return max((float(np.max(np.abs(v))) for v in values if np.size(v)), default=0.0)


def compare(quantity: str, actual: np.ndarray | float, reference: np.ndarray | float, dtype: str = "float64",
            scale: float | None = None) -> Check:
    """The fixed rule of `dtype`, s = `scale` or the reference's own largest magnitude."""
    r = np.asarray(reference, dtype=np.float64)
    s = scale if scale is not None else (float(np.max(np.abs(r))) if r.size else 0.0)
    return check(quantity, actual, reference, fixed_rule(dtype, s))


def compare_dicts(prefix: str, actual: dict, reference: dict, dtype: str = "float64") -> list[Check]:
    """Every tensor of one kind (all gradients, all parameters) under the fixed rule with the kind's scale."""
    scale = scale_of(reference)
    return [compare(f"{prefix} {k}", actual[k], v, dtype, scale) if k in actual
            else Check(f"{prefix} {k}", math.inf, 0.0, math.inf, "missing") for k, v in reference.items()]


def worst(checks: list[Check]) -> Check | None:
    """The check with the largest ratio (the nearest to, or furthest beyond, its tolerance)."""
    return max(checks, key=lambda c: c.ratio, default=None)


class CheckPlan:
    """`check` of many quantities against fixed reference values and rules, prepared once and run on several
    backends' values: one flat array for all of them (a re-synchronized step compares every parameter and
    optimizer state of each backend; per-tensor NumPy calls would cost more than the step itself)."""

    def __init__(self, items: list[tuple[str, np.ndarray | float, Tolerance]]) -> None:
        self.quantities = [q for q, _, _ in items]
        self.shapes = [np.shape(r) for _, r, _ in items]
        refs = [np.asarray(r, dtype=np.float64).reshape(-1) for _, r, _ in items]
        allowed = [np.broadcast_to(rule.allowed(r), np.shape(r)).reshape(-1) for (_, r, rule) in items]
        self.sizes = np.array([x.size for x in refs], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.r = np.concatenate(refs) if refs else np.zeros(0)
        self.allowed = np.maximum(np.concatenate(allowed), np.finfo(np.float64).tiny) if allowed else np.zeros(0)
        self.bounded = np.isfinite(self.allowed)
        self.safe_allowed = np.where(self.bounded, self.allowed, 1.0)

    def run(self, actuals: list[np.ndarray | float]) -> list[Check]:
        """The Checks of these values (in the plan's order): the same as `check` of each."""
        out: list[Check | None] = [None] * len(self.quantities)
        parts, ok = [], []
        for i, (given, shape, size) in enumerate(zip(actuals, self.shapes, self.sizes, strict=True)):
            a, unreal = real(given)
            if a is None:
                out[i] = Check(self.quantities[i], math.inf, 0.0, math.inf, unreal)
                parts.append(np.zeros(size))
            elif a.shape != shape:
                out[i] = Check(self.quantities[i], math.inf, 0.0, math.inf, _shape_why(a.shape, shape))
                parts.append(np.zeros(size))
            else:
                parts.append(a.reshape(-1))
                ok.append(i)
        if not len(self.r):
            return [c or Check(q, 0.0, 0.0, 0.0) for c, q in zip(out, self.quantities, strict=True)]
        a = np.concatenate(parts)
        bad = ~(np.isfinite(a) | ~self.bounded)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(self.bounded, measured(a, self.r), 0.0)
            ratios = np.where(self.bounded, diff / self.safe_allowed, 0.0)
        nonempty = self.sizes > 0
        starts = self.starts[nonempty]
        any_bad = np.zeros(len(self.sizes), dtype=bool)
        if len(starts):
            any_bad[nonempty] = np.maximum.reduceat(bad.astype(np.int8), starts) > 0
        for i in ok:
            quantity, size, start = self.quantities[i], int(self.sizes[i]), int(self.starts[i])
            if size == 0:
                out[i] = Check(quantity, 0.0, 0.0, 0.0)
            elif any_bad[i]:
                shape, part = self.shapes[i], slice(start, start + size)
                got, bounded = a[part].reshape(shape), self.bounded[part].reshape(shape)
                at = _non_finite_at(got, bounded)
                why = _non_finite_why(got, self.r[part].reshape(shape), at)
                out[i] = Check(quantity, math.inf, float(self.allowed[part].reshape(shape)[at]), math.inf, why)
            else:
                seg = ratios[start:start + size]
                k = int(np.argmax(seg))
                out[i] = Check(quantity, float(diff[start + k]), float(self.allowed[start + k]), float(seg[k]))
        return out  # type: ignore[return-value]


def check_many(items: list[tuple[str, np.ndarray | float, np.ndarray | float, Tolerance]]) -> list[Check]:
    """`check` of many (quantity, actual, reference, rule) at once, over one flat array (`CheckPlan`)."""
    return CheckPlan([(q, r, rule) for q, _, r, rule in items]).run([a for _, a, _, _ in items])
