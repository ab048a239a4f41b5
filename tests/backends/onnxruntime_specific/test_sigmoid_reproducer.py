"""docs/reproducers/onnxruntime-sigmoid (docs/conformance.md, "Found in real frameworks"): onnxruntime's float32
Sigmoid is accurate in absolute terms only. If a release fixes it, `sigmoid.predictions.float32` certifies and the
entry in docs/conformance.md and docs/adapters/onnxruntime.md should say which release did."""

from __future__ import annotations

import re

import pytest
from tests_support import run_reproducer


def test_the_sigmoid_reproducer_still_shows_onnxruntime_s_behaviour() -> None:
    pytest.importorskip("onnxruntime")
    out = run_reproducer("onnxruntime-sigmoid/ort_only.py")
    errors = {float(x): float(e) for x, e in re.findall(r"x = +(\S+) .* relative error (\S+)", out)}
    assert errors[-1.0] < 1e-6 and errors[-20.0] == 1.0, out  # right near 0; 0 where σ(x) = 2e-9
    assert errors[-13.2] > 1e-4, ("onnxruntime's Sigmoid is accurate at -13.2 now: update the docs", out)
