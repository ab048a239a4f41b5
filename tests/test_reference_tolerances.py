"""The tolerance rules of docs/spec/v1-semantics.md: their formulas, and that float32 computations
actually land inside the derived bounds (including adversarial sums that approach them)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from lockstep.conformance import strategies as cs
from lockstep.reference import optimizers, tolerances
from lockstep.reference.tolerances import Tolerance, gamma, tolerance
from lockstep.spec.layers import LAYER_TYPES
from lockstep.spec.optimizers import Optimizer

OPT = TypeAdapter(Optimizer)
U32 = 2.0**-24


def test_float64_rule() -> None:
    tol = tolerance("gradient", "float64", 10, 3.0)
    assert tol == Tolerance(1e-10, 3e-12)
    long = tolerance("output", "float64", 10**6, 1.0)
    assert long.atol == pytest.approx(2 * gamma(10**6, 2.0**-53))  # grows past the floor for long reductions


def test_float32_rule_grows_with_length() -> None:
    a, b = tolerance("output", "float32", 100, 1.0), tolerance("output", "float32", 1000, 1.0)
    assert a.rtol == b.rtol == 2 * U32
    assert b.atol == pytest.approx(10 * a.atol, rel=1e-3) and a.atol == pytest.approx(100 * U32, rel=1e-4)
    assert gamma(2**24, U32) == math.inf
    with pytest.raises(KeyError):
        tolerance("weights", "float32", 1, 1.0)
    with pytest.raises(KeyError):
        tolerance("output", "bfloat16", 1, 1.0)


def test_ratio() -> None:
    tol = Tolerance(0.0, 1e-3)
    assert tol.ratio(np.array([1.0005]), np.array([1.0])) == pytest.approx(0.5)
    assert tol.ratio(np.array([np.nan]), np.array([1.0])) == math.inf
    assert tol.ratio(np.zeros(2), np.zeros(3)) == math.inf


def test_every_layer_type_has_a_length_rule() -> None:
    from lockstep.spec.layers import LayerBase

    shapes = {"dense": [(3, 4)], "conv1d": [(2, 9)], "conv2d": [(2, 6, 6)], "max_pool2d": [(2, 6, 6)],
              "avg_pool2d": [(2, 6, 6)], "global_avg_pool": [(2, 6, 6)], "batch_norm": [(2, 6)],
              "layer_norm": [(3, 4)], "lstm": [(5, 3)], "gru": [(5, 3)], "multi_head_attention": [(5, 4)],
              "add": [(3,), (3,)], "concat": [(3,), (3,)], "softmax": [(3, 7)], "log_softmax": [(3, 7)],
              "multiply": [(3,), (3,)]}
    extra = {"dense": {"units": 2}, "conv1d": {"filters": 2, "kernel_size": 3},
             "conv2d": {"filters": 2, "kernel_size": [3, 2]}, "max_pool2d": {"kernel_size": 2},
             "avg_pool2d": {"kernel_size": 2}, "lstm": {"units": 2}, "gru": {"units": 2},
             "multi_head_attention": {"num_heads": 2}, "dropout": {"rate": 0.5}, "reshape": {"shape": [-1]},
             "embedding": {"input_dim": 5, "output_dim": 2},
             "positional_embedding": {"encoding": "learned", "max_length": 4}}
    for kind, cls in LAYER_TYPES.items():
        layer: LayerBase = cls.model_validate({"type": kind, **extra.get(kind, {})})
        ins = shapes.get(kind, [(3, 4)])
        assert tolerances.layer_length(layer, ins, training=True, batch=8) >= 0
        assert tolerances.batch_length(layer, ins, 8) >= 0
    dense = LAYER_TYPES["dense"].model_validate({"type": "dense", "units": 2})
    assert tolerances.layer_length(dense, [(3, 4)]) == 4 + tolerances.PRODUCT_ROUNDING + 1
    conv = LAYER_TYPES["conv2d"].model_validate({"type": "conv2d", "filters": 2, "kernel_size": [3, 2], "groups": 2})
    assert tolerances.layer_length(conv, [(4, 6, 6)]) == 2 * 6 + tolerances.PRODUCT_ROUNDING + 1
    assert tolerances.batch_length(conv, [(4, 6, 6)], 8) == 8 * 4 * 5
    bn = LAYER_TYPES["batch_norm"].model_validate({"type": "batch_norm"})
    assert tolerances.layer_length(bn, [(3, 5)], training=True, batch=4) == 2 * 4 * 5 + 2 * tolerances.FUNCTION_ULPS + 3


# ----------------------------------------------------------------- the bounds hold for float32 work
@settings(max_examples=25)
@given(n=st.integers(1, 3000), seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-3, 1.0, 1e4]))
def test_dense_forward_in_float32_is_inside_the_bound(n: int, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(4, n)) * scale, rng.normal(size=(n, 3))
    exact = x @ w
    got = x.astype(np.float32) @ w.astype(np.float32)
    magnitude = tolerances.dot_magnitude(x, w)
    for i, j in np.ndindex(exact.shape):
        tol = tolerance("output", "float32", n + tolerances.PRODUCT_ROUNDING, magnitude[i, j])
        assert tol.ratio(got[i, j], exact[i, j]) <= 1.0


def test_adversarial_sequential_sum_stays_inside_the_bound() -> None:
    # 1 + n tiny terms, each lost to rounding in a left-to-right float32 sum: the error approaches n·u·Σ|t|
    n = 4000
    terms = np.array([1.0] + [0.9 * U32] * n)
    s = np.float32(0.0)
    for v in terms.astype(np.float32):
        s = np.float32(s + v)
    exact = float(terms.sum())
    tol = tolerance("output", "float32", n + 1, float(np.abs(terms).sum()))
    observed = abs(float(s) - exact)
    assert observed > 0.5 * n * 0.9 * U32  # the error is real and of the bound's order ...
    assert tol.ratio(float(s), exact) <= 1.0  # ... and inside it


@pytest.mark.parametrize("kind", optimizers.TYPES)
@settings(max_examples=15)
@given(data=st.data())
def test_float32_optimizer_steps_are_inside_the_parameter_bound(kind: str, data: st.DataObject) -> None:
    """float32 gradients (the reference's, rounded: δ = u|g|) and a float32 transcription of the rule
    stay within parameter_tolerance of the float64 reference after 3 steps."""
    spec = data.draw(cs.optimizer_case(kind))
    opt = OPT.validate_python(spec)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    w0 = rng.normal(size=8)
    params, params32 = {"w": w0.copy()}, {"w": w0.astype(np.float32)}
    states = optimizers.init_states(opt, params)
    states32 = {"w": {k: v.astype(np.float32) for k, v in optimizers.init_states(opt, params)["w"].items()}}
    steps = []
    mod = optimizers.get(kind)
    for t in range(1, 4):
        g = rng.normal(size=8)
        g32 = g.astype(np.float32)
        delta = float(np.max(np.abs(g32.astype(np.float64) - g)))
        before = params["w"]
        params = optimizers.apply(opt, params, {"w": g}, states, opt.learning_rate, t)
        params32 = {"w": mod.step(opt, params32["w"], g32, states32["w"], np.float32(opt.learning_rate), t)}
        assert params32["w"].dtype == np.float32
        kappa = float(np.max(tolerances.update_sensitivity(opt, states["w"], g, t)))
        steps.append((opt.learning_rate, kappa, delta, float(np.max(np.abs(params["w"] - before)))))
    tol = tolerances.parameter_tolerance("float32", kind, steps, float(np.max(np.abs(params["w"]))))
    assert tol.ratio(params32["w"], params["w"]) <= 1.0
