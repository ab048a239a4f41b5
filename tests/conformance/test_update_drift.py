"""Level 3's float32 bounds of parameters and optimizer state after k free steps were first order in the gradients'
rounding alone: a parameter difference they accepted at one step moved the next step's gradient through the loss's
curvature, unbounded. With Adam's β₂ = 0 (drawn since 2026-12-07; Keras once cancelled it, docs/conformance.md) no
average damps v = g², and a correct torch went 1.64× over the bound of exp_avg_sq at step 3 (seed 0). The feedback is
now measured: the reference's own gradient at the adapter's parameters against its own (`_gradient_drift`)."""

from __future__ import annotations

import pytest

import lockstep
from lockstep.conformance.levels import updates


def test_a_correct_torch_holds_adam_with_a_beta2_of_0_for_three_free_steps() -> None:
    pytest.importorskip("torch")
    cert = lockstep.certify("torch", levels=3, dtypes="float32", constructs="adam", seed=0, report=False)
    worst = {(c.construct, c.level, c.dtype): (c.outcome, c.message) for c in cert.checks}
    assert cert.certified, worst


class _Side:
    """A backend stand-in: parameters to hand out, and the reference's gradients at whatever it was set to."""

    def __init__(self, params: dict, grads_at: dict | None = None) -> None:
        self.params, self.grads_at = params, grads_at or {}

    def get_parameters(self) -> dict:
        return dict(self.params)

    def set_parameters(self, params: dict) -> None:
        self.params = dict(params)

    def loss_and_gradients(self, x: object, y: object, masks: object = None) -> tuple[float, dict]:
        return 0.0, self.grads_at[float(self.params["w"][0])]


def test_the_drift_is_the_reference_gradient_moved_by_the_adapter_s_parameters() -> None:
    import numpy as np

    class Pair:
        reference = _Side({"w": np.array([1.0])}, {1.0: {"w": np.array([2.0])}, 1.5: {"w": np.array([2.25])}})
        actual = _Side({"w": np.array([1.5], dtype=np.float32)})

    before = {"w": np.array([1.0])}
    assert updates._gradient_drift(Pair(), before, {"w": np.array([2.0])}, None, None, None) == {"w": 0.25}
    assert float(Pair.reference.params["w"][0]) == 1.0  # put back where it was
    Pair.actual.params = {"w": np.array([np.nan], dtype=np.float32)}  # failed at the step before: no widening
    assert updates._gradient_drift(Pair(), before, {"w": np.array([2.0])}, None, None, None) == {}
