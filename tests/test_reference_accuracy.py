"""The reference as the standard's exact math gives it where the textbook forms lose digits, against the same
formulas in 400-digit decimals: the normalizations on a large offset (`x − mean x` carried the mean's rounding,
divided by σ: 6e-5 wrong at 1e8 ± 1e-3) and beyond the squares' range (x̂ was 0 above |x| ≈ 1.3e154); binary
cross-entropy, log_softmax and cross-entropy from logits at saturation (found by an accuracy sweep against mpmath)."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.reference import layers
from lockstep.reference.layers._moments import normalize
from lockstep.reference.layers.context import ForwardContext
from lockstep.spec.layers import LAYER_TYPES

EPSILON = 1e-5
DIGITS = 400  # e^-700 beside 1 needs ~310 digits; float64's smallest subnormal, 5e-324, ~330


def _exact(row: list[float], centre: bool) -> list[float]:
    """x̂ of one slice: (x − μ)/√(σ² + ε) (layer_norm) or x/√(mean x² + ε) (rms_norm), in DIGITS digits."""
    with localcontext() as ctx:
        ctx.prec = DIGITS
        xs = [Decimal(v) for v in row]
        mu = sum(xs) / len(xs) if centre else Decimal(0)
        dev = [v - mu for v in xs]
        root = (sum(d * d for d in dev) / len(dev) + Decimal(EPSILON)).sqrt()
        return [float(d / root) for d in dev]


_ROWS = st.builds(
    lambda offset, spread, unit: [offset + spread * u for u in unit],
    st.sampled_from([0.0, 1.0, -3.5, 1e8, -1e12, 1e15, 1e150, 2e154, -1e300]),
    st.sampled_from([1e-3, 1.0, 1e6, 1e154, 1e300]),
    st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=9))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(row=_ROWS)
def test_layer_norm_and_rms_norm_match_the_exact_math(row: list[float]) -> None:
    x = np.array([row])
    if not np.isfinite(x).all() or np.ptp(x) == 0:
        return
    for name, centre, params in (("layer_norm", True, {"weight": np.ones(len(row)), "bias": np.zeros(len(row))}),
                                 ("rms_norm", False, {"weight": np.ones(len(row))})):
        layer = LAYER_TYPES[name].model_validate({"type": name, "dims": 1, "epsilon": EPSILON})
        got = getattr(layers, name).forward(layer, [x], params, ForwardContext())[0][0]
        want = np.array(_exact(row, centre))
        assert np.all(np.abs(got - want) <= 1e-12 * max(1.0, np.abs(want).max())), (name, row, got, want)


def test_batch_norm_at_an_offset_and_beyond_the_squares_range() -> None:
    layer = LAYER_TYPES["batch_norm"].model_validate({"type": "batch_norm", "epsilon": EPSILON})
    for x in (1e8 + np.array([0.0, 1e-3, 2.5e-3, -4e-3]), np.array([2e154, -1e154, 5e153, 0.0])):
        buffers = {"running_mean": np.zeros(1), "running_var": np.ones(1)}
        out, _ = layers.batch_norm.forward(layer, [x.reshape(4, 1)], {"weight": np.ones(1), "bias": np.zeros(1)},
                                           ForwardContext(training=True, buffers=buffers))
        want = _exact(list(x), True)
        assert np.allclose(out[:, 0], want, rtol=1e-12, atol=1e-12), (x, out[:, 0], want)


def test_a_spread_beyond_float64_s_largest_number_still_normalizes() -> None:
    """x − x₀ overflowed for finite inputs whose spread passes 1.8e308 ([−1e308, 1e308, 0, 0]: NaN); scaled first,
    nothing overflows, and x̂ is the exact math's."""
    for row in ([-1e308, 1e308, 0.0, 0.0], [1.7e308, -1.7e308, 1e308, -5e307]):
        x = np.array([row])
        layer = LAYER_TYPES["layer_norm"].model_validate({"type": "layer_norm", "dims": 1, "epsilon": EPSILON})
        got = layers.layer_norm.forward(layer, [x], {"weight": np.ones(4), "bias": np.zeros(4)}, ForwardContext())[0]
        assert np.allclose(got[0], _exact(row, True), rtol=1e-13, atol=1e-15), (row, got)
        bn = LAYER_TYPES["batch_norm"].model_validate({"type": "batch_norm", "epsilon": EPSILON})
        buffers = {"running_mean": np.zeros(1), "running_var": np.ones(1)}
        out, _ = layers.batch_norm.forward(bn, [x.reshape(4, 1)], {"weight": np.ones(1), "bias": np.zeros(1)},
                                           ForwardContext(training=True, buffers=buffers))
        assert np.allclose(out[:, 0], _exact(row, True), rtol=1e-13, atol=1e-15), (row, out[:, 0])
        assert np.isfinite(buffers["running_mean"]).all() and buffers["running_var"][0] == np.inf  # beyond M


@settings(max_examples=200, derandomize=True, deadline=None)
@given(v=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=9), epsilon=st.sampled_from([1e-12, 1e-5, 1.0]))
def test_the_scaled_root_is_the_unscaled_one_bit_for_bit_where_nothing_overflows(v: list[float],
                                                                                  epsilon: float) -> None:
    """A power-of-two scale rounds nothing: the reference's figures elsewhere do not move."""
    a = np.array([v])
    plain = 1.0 / np.sqrt((a * a).mean(axis=(1,), keepdims=True) + epsilon)
    assert normalize(a, (1,), epsilon, centre=False)[1].tobytes() == plain.tobytes(), v


# ------------------------------------------------------------------------------------------ losses at saturation
def _dexp(v: Decimal) -> Decimal:
    return v.exp()


def _exact_bce_logit(y: float, t: float) -> tuple[float, float]:
    """ℓ = log(1 + e^y) − t y and ∂ℓ/∂y = σ(y) − t, in DIGITS digits."""
    with localcontext() as ctx:
        ctx.prec = DIGITS
        d = Decimal(y)
        value = (1 + _dexp(d)).ln() - Decimal(t) * d
        return float(value), float(1 / (1 + _dexp(-d)) - Decimal(t))


def _exact_log_softmax(row: list[float]) -> list[float]:
    with localcontext() as ctx:
        ctx.prec = DIGITS
        ds = [Decimal(v) for v in row]
        top = max(ds)
        log_sum = top + sum(_dexp(v - top) for v in ds).ln()
        return [float(v - log_sum) for v in ds]


def _close(got: float, want: float, rel: float = 1e-14) -> bool:
    return abs(got - want) <= rel * abs(want) or abs(got - want) <= 1e-300


@settings(max_examples=200, derandomize=True, deadline=None)
@given(y=st.floats(-700.0, 700.0), t=st.sampled_from([0.0, 1.0]))
def test_binary_crossentropy_from_logits_keeps_every_digit_at_saturation(y: float, t: float) -> None:
    """softplus(y) − t·y cancelled for t = 1 (2.9e-7 wrong at y = 20, 0 from y = 37, where ℓ = e^−y), and
    σ(y) − 1 did the same to the gradient."""
    from pydantic import TypeAdapter

    from lockstep.reference import losses
    from lockstep.spec.losses import Loss

    loss = TypeAdapter(Loss).validate_python({"type": "binary_crossentropy", "from_logits": True, "reduction": "sum"})
    value, grad = losses.compute(loss, np.array([y]), np.array([t]))
    want_value, want_grad = _exact_bce_logit(y, t)
    assert _close(value, want_value) and _close(float(grad[0]), want_grad, 1e-13), (y, t, value, want_value, grad)


def test_binary_crossentropy_from_probabilities_takes_log_1_minus_p_without_rounding_1_minus_p() -> None:
    from pydantic import TypeAdapter

    from lockstep.reference import losses
    from lockstep.spec.losses import Loss

    loss = TypeAdapter(Loss).validate_python({"type": "binary_crossentropy", "from_logits": False,
                                              "reduction": "sum"})
    for p in (1e-10, 1e-20, 3e-300):
        value, _ = losses.compute(loss, np.array([p]), np.array([0.0]))
        with localcontext() as ctx:
            ctx.prec = DIGITS
            want = float(-(1 - Decimal(p)).ln())
        assert _close(value, want), (p, value, want)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(row=st.lists(st.floats(-60.0, 60.0) | st.sampled_from([0.0, -20.0, -30.0, -40.0, 700.0]), min_size=1,
                    max_size=5), offset=st.sampled_from([0.0, 300.0, -1e4]))
def test_log_softmax_and_cross_entropy_from_logits_keep_every_digit_at_saturation(row: list[float],
                                                                                    offset: float) -> None:
    """log Σ e^z lost the digits of a saturated row's log-probability (logits [0, −20, −30]: 1.25e-8 wrong;
    [0, −40, −40]: 0 for 8.5e-18), and p − 1 those of its gradient."""
    from pydantic import TypeAdapter

    from lockstep.reference import losses
    from lockstep.reference.layers._act import log_softmax
    from lockstep.spec.losses import Loss

    x = np.array([row]) + offset
    want = _exact_log_softmax(list(x[0]))
    got = log_softmax(x)[0]
    assert all(_close(g, w, 1e-13) for g, w in zip(got, want, strict=True)), (row, offset, got, want)
    k = int(np.argmax(x[0]))
    loss = TypeAdapter(Loss).validate_python({"type": "categorical_crossentropy", "from_logits": True,
                                              "reduction": "sum"})
    target = np.zeros_like(x)
    target[0, k] = 1.0
    value, grad = losses.compute(loss, x, target)
    assert _close(value, -want[k], 1e-13), (row, value, -want[k])
    with localcontext() as ctx:
        ctx.prec = DIGITS
        others = sum(Decimal(w).exp() for j, w in enumerate(want) if j != k)  # 1 − p_k, the others' share
    assert _close(float(grad[0, k]), float(-others), 1e-13), (row, grad, -others)


# ------------------------------------------------------------------------------------------ cosine schedule's end
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706")


def _sin(x: Decimal) -> Decimal:
    """sin x by its Taylor series, in DIGITS digits (|x| ≤ π/2 here)."""
    with localcontext() as ctx:
        ctx.prec = DIGITS
        term, total, n = x, x, 1
        while abs(term) > Decimal(10) ** -(DIGITS - 5):
            term = -term * x * x / ((2 * n) * (2 * n + 1))
            total += term
            n += 1
        return total


@settings(max_examples=100, derandomize=True, deadline=None)
@given(big_t=st.sampled_from([1, 2, 3, 10, 999, 10**5, 10**6, 10**7, 10**9]), back=st.integers(0, 3),
       lo=st.sampled_from([0.0, 1e-6]))
def test_the_cosine_schedule_keeps_its_digits_up_to_its_end(big_t: int, back: int, lo: float) -> None:
    """lr(t) = min + (base − min)(1 + cos(πt/T))/2: 1 + cos cancelled near T (one step before the end of 10⁶:
    5.7e-6 wrong; of 10⁷: 1e-3); it is held at min exactly from T on and is base at 0."""
    from pydantic import TypeAdapter

    from lockstep.reference import schedules
    from lockstep.spec.schedules import Schedule

    schedule = TypeAdapter(Schedule).validate_python({"type": "cosine", "decay_steps": big_t, "min_learning_rate": lo})
    t = max(big_t - back, 0)
    got = schedules.learning_rate(schedule, 1.0, t)
    with localcontext() as ctx:
        ctx.prec = DIGITS
        half = _sin(_PI * (big_t - t) / (2 * big_t))
        want = float(Decimal(lo) + (1 - Decimal(lo)) * half * half)
    assert _close(got, want, 4e-16 * 8), (big_t, t, got, want)
    assert schedules.learning_rate(schedule, 1.0, big_t) == lo and schedules.learning_rate(schedule, 1.0, 0) == 1.0


# ------------------------------------------------------------------------------------------ gelu's tanh form
@settings(max_examples=200, derandomize=True, deadline=None)
@given(x=st.floats(-30.0, 30.0) | st.sampled_from([-5.0, -8.0, -12.0, 0.0, 1e-300, 3.0]))
def test_gelu_tanh_keeps_every_digit_for_large_negative_inputs(x: float) -> None:
    """½x(1 + tanh u) cancelled for x ≪ 0 (2.8e-10 wrong at x = −5, −0.0 for −3.1e-21 at −8)."""
    from lockstep.reference import layers as reference_layers

    layer = LAYER_TYPES["gelu"].model_validate({"type": "gelu", "approximate": "tanh"})
    y, cache = reference_layers.gelu.forward(layer, [np.array([x])], {}, ForwardContext())
    (dx,), _ = reference_layers.gelu.backward(layer, np.array([1.0]), cache)
    with localcontext() as ctx:
        ctx.prec = DIGITS
        d = Decimal(x)
        c = Decimal(math.sqrt(2.0 / math.pi))  # the reference's √(2/π) is float64's: the same constant here
        a = Decimal(reference_layers.gelu._A)  # float64's 0.044715, as the reference has it
        u = c * (d + a * d ** 3)
        e = (2 * u).exp()
        t = (e - 1) / (e + 1)
        want_y = d * (1 + t) / 2
        want_dx = (1 + t) / 2 + d * (1 - t * t) / 2 * c * (1 + 3 * a * d * d)
    rel = 2.2e-16 * (8.0 + 4.0 * abs(float(u)))  # e^2u's condition: u's own rounding, times 2|u|
    assert _close(float(y[0]), float(want_y), rel), (x, y, want_y)
    assert _close(float(dx[0]), float(want_dx), rel) or abs(float(dx[0]) - float(want_dx)) <= 1e-16, (x, dx, want_dx)


def test_global_norm_clipping_lands_on_a_tiny_max_norm_against_a_huge_norm() -> None:
    """max_norm / ‖g‖ underflowed to 0 (1e-300 / 5e300), and every clipped gradient was 0; the standard says the
    clipped norm lands on max_norm."""
    from lockstep.reference import clipping
    from lockstep.spec.schedules import ClipGlobalNorm

    grads = {"w": np.array([3e300, -4e300]), "b": np.array([0.0])}
    clipped, norm = clipping.clip(grads, ClipGlobalNorm(type="global_norm", max_norm=1e-300))
    assert norm == 5e300
    assert np.allclose(clipped["w"], [6e-301, -8e-301], rtol=1e-15, atol=0), clipped
    assert clipping.global_norm(clipped) == pytest.approx(1e-300, rel=1e-15)
