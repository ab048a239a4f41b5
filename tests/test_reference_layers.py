"""The reference layers against calculus, against plain loops, and against hand computation.

Backward: each layer's vector-Jacobian product is compared with central finite differences of the
scalar L = Σ y ⊙ ḡ (ḡ drawn at random), numeric_i = (L(θ + h eᵢ) - L(θ - h eᵢ)) / 2h, in float64 with
step h = 1e-6, and we assert |analytic - numeric| <= 1e-6 · max(1, |numeric|). Why that bound: central
differences carry O(h²) ≈ 1e-12 truncation and O(ε |L| / h) ≈ 1e-10 |L| round-off error for these smooth,
O(1)-scaled functions, so a correct backward sits about three orders of magnitude inside it, while a
wrong one (a missing term, a transposed weight) is off by O(1). Kinks are kept further than h away:
relu-like inputs are at least 1e-2 from 0 and max-pool inputs are distinct values 0.05 apart (no ties).

Forward: direct loop implementations (written to be obviously right, not fast) for convolution, pooling
and attention, and hand-computed values for the corners where frameworks differ.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from lockstep.conformance import strategies as cs
from lockstep.reference import layers as ref_layers
from lockstep.reference.layers.context import ForwardContext
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph
from lockstep.spec.layers import LAYER_TYPES, LayerBase, resolve_padding
from lockstep.spec.loader import dump_yaml

H = 1e-6
TOL = 1e-6
MAX_ENTRIES = 64  # finite differences per array (a random subset beyond that)
RELU_LIKE = {"relu", "leaky_relu", "elu"}
BATCH = 3


# ------------------------------------------------------------------------------ finite differences
def assert_matches_finite_differences(loss: Callable[[dict[str, np.ndarray]], float], arrays: dict[str, np.ndarray],
                                      grads: dict[str, np.ndarray], rng: np.random.Generator, what: str = "") -> None:
    """Compare each analytic gradient with central differences of `loss` at (up to MAX_ENTRIES) entries."""
    for key, grad in grads.items():
        arr = arrays[key]
        assert grad.shape == arr.shape, f"{what} d/d{key}: gradient shape {grad.shape} != {arr.shape}"
        picks = list(np.ndindex(arr.shape))
        if len(picks) > MAX_ENTRIES:
            picks = [picks[i] for i in rng.choice(len(picks), size=MAX_ENTRIES, replace=False)]
        for idx in picks:
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += H
            minus[idx] -= H
            numeric = (loss({**arrays, key: plus}) - loss({**arrays, key: minus})) / (2 * H)
            err = abs(grad[idx] - numeric)
            bound = TOL * max(1.0, abs(numeric))
            assert err <= bound, (f"{what} d/d{key}{list(idx)}: analytic {grad[idx]!r} vs numeric {numeric!r} "
                                  f"(error {err:.3g} > {bound:.3g})")


def layer_of(layer_doc: dict, shapes: list[list[int]]) -> LayerBase:
    """A validated spec layer, checked against its input shapes like the validator would."""
    layer = LAYER_TYPES[layer_doc["type"]].model_validate(layer_doc)
    layer.output_shape([tuple(s) for s in shapes])
    return layer


def draw_input(rng: np.random.Generator, layer_type: str, shape: tuple[int, ...]) -> np.ndarray:
    if layer_type == "max_pool2d":  # distinct values 0.05 apart: no ties within h
        return (rng.permutation(math.prod(shape)).reshape(shape) - math.prod(shape) / 2) * 0.05
    x = rng.normal(size=shape)
    if layer_type in RELU_LIKE:  # at least 1e-2 away from the kink at 0
        x = np.where(np.abs(x) < 1e-2, np.copysign(1e-2, x) + x, x)
    return x


def check_layer(layer: LayerBase, input_shapes: list[tuple[int, ...]], seed: int, training: bool,
                integer_input: bool = False) -> None:
    """Forward once, backward once, and compare every input and parameter gradient with finite differences."""
    rng = np.random.default_rng(seed)
    mod = ref_layers.get(layer.type)  # type: ignore[attr-defined]
    if integer_input:
        xs = [rng.integers(0, layer.input_dim, size=(BATCH, *s)) for s in input_shapes]  # type: ignore[attr-defined]
    else:
        xs = [draw_input(rng, layer.type, (BATCH, *s)) for s in input_shapes]  # type: ignore[attr-defined]
    params = {k: rng.normal(size=s.shape) for k, s in layer.parameters(input_shapes).items()}
    buffers = {k: rng.uniform(0.5, 1.5, size=s.shape) for k, s in layer.buffers(input_shapes).items()}
    mask = None
    if layer.type == "dropout" and training:  # type: ignore[attr-defined]
        mask = rng.random((BATCH, *input_shapes[0])) >= layer.rate  # type: ignore[attr-defined]

    def run(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, object]:
        ctx = ForwardContext(training, {k: v.copy() for k, v in buffers.items()}, mask)
        inputs = [arrays[f"input{i}"] for i in range(len(xs))]
        return mod.forward(layer, inputs, {k: arrays[k] for k in params}, ctx)

    arrays = {**{f"input{i}": x for i, x in enumerate(xs)}, **params}
    y, cache = run(arrays)
    assert y.shape == (BATCH, *layer.output_shape(input_shapes))
    gy = rng.normal(size=y.shape)
    d_inputs, d_params = mod.backward(layer, gy, cache)
    assert len(d_inputs) == len(xs) and set(d_params) == set(params)
    grads = {f"input{i}": d for i, d in enumerate(d_inputs) if d is not None}
    if integer_input:
        assert d_inputs == [None]
    grads.update(d_params)
    assert_matches_finite_differences(lambda a: float(np.sum(run(a)[0] * gy)), arrays, grads, rng,
                                      layer.type)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- every layer, every way
@pytest.mark.parametrize("construct", sorted(LAYER_TYPES))
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), training=st.booleans())
def test_backward_matches_finite_differences(construct: str, data: st.DataObject, seed: int,
                                             training: bool) -> None:
    doc = data.draw(cs.layer_model(construct))
    note(dump_yaml(doc))  # a failing example is printed as a spec file
    graph = build_graph(Model.model_validate(doc))
    assert not graph.problems, [p.message for p in graph.problems]
    node = graph.by_name[construct]  # the generators name the layer under test after its type
    assume(not node.layer.ties())  # a tied head has no parameter of its own: tests/test_llm_constructs.py checks it
    check_layer(node.layer, node.input_shapes, seed, training, integer_input=construct == "embedding")


@st.composite
def pool_geometry(draw: st.DrawFn) -> tuple[dict, list[int]]:
    """Non-square windows, strides apart from the window, explicit asymmetric padding: what cs leaves out."""
    kernel = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    size = [draw(st.integers(k, 6)) for k in kernel]
    padding = draw(st.one_of(
        st.sampled_from(["valid", "same"]),
        st.tuples(*(st.integers(0, k - 1) for k in kernel for _ in range(2))).map(list),
    ))
    layer = {"type": draw(st.sampled_from(["max_pool2d", "avg_pool2d"])), "kernel_size": kernel,
             "stride": [draw(st.integers(1, 3)), draw(st.integers(1, 3))], "padding": padding}
    return layer, [draw(st.integers(1, 2)), *size]


@given(pool_geometry(), st.integers(0, 2**32 - 1))
def test_pool_geometry_matches_loops_and_finite_differences(case: tuple[dict, list[int]], seed: int) -> None:
    doc, shape = case
    note(doc)
    layer = layer_of(doc, [shape])
    x = draw_input(np.random.default_rng(seed), "max_pool2d", (2, *shape))
    y, _ = ref_layers.get(layer.type).forward(layer, [x], {}, ForwardContext())
    np.testing.assert_allclose(y, pool_by_loops(layer, x), rtol=1e-14, atol=0)
    check_layer(layer, [tuple(shape)], seed, training=False)


@st.composite
def conv_geometry(draw: st.DrawFn) -> tuple[dict, list[int]]:
    spatial = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, 2, 3]))
    kernel = [draw(st.integers(1, 3)) for _ in range(spatial)]
    dilation = [draw(st.integers(1, 2)) for _ in range(spatial)]
    size = [draw(st.integers((k - 1) * d + 1, 7)) for k, d in zip(kernel, dilation, strict=True)]
    padding = draw(st.one_of(st.sampled_from(["valid", "same"]),
                             st.lists(st.integers(0, 2), min_size=2 * spatial, max_size=2 * spatial)))
    layer = {"type": f"conv{spatial}d", "filters": groups * draw(st.integers(1, 2)), "kernel_size": kernel,
             "stride": [draw(st.integers(1, 3)) for _ in range(spatial)], "dilation": dilation,
             "padding": padding, "groups": groups, "use_bias": draw(st.booleans())}
    return layer, [groups * draw(st.integers(1, 2)), *size]


@given(conv_geometry(), st.integers(0, 2**32 - 1))
def test_conv_matches_the_definition_by_loops(case: tuple[dict, list[int]], seed: int) -> None:
    doc, shape = case
    note(doc)
    layer = layer_of(doc, [shape])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, *shape))
    params = {k: rng.normal(size=s.shape) for k, s in layer.parameters([tuple(shape)]).items()}
    y, _ = ref_layers.get(layer.type).forward(layer, [x], params, ForwardContext())
    np.testing.assert_allclose(y, conv_by_loops(layer, x, params), rtol=1e-12, atol=1e-12)


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 2), st.booleans(), st.integers(0, 2**32 - 1))
def test_attention_matches_the_definition_by_loops(heads: int, t: int, d: int, causal: bool, seed: int) -> None:
    e = heads * d
    layer = layer_of({"type": "multi_head_attention", "num_heads": heads, "causal": causal}, [[t, e]])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, t, e))
    params = {k: rng.normal(size=s.shape) for k, s in layer.parameters([(t, e)]).items()}
    y, _ = ref_layers.get("multi_head_attention").forward(layer, [x], params, ForwardContext())
    np.testing.assert_allclose(y, attention_by_loops(layer, x, params), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------- oracles written as loops
def conv_by_loops(layer: LayerBase, x: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """y[n, f, o] = b[f] + Σ_{c in group(f), k} w[f, c, k] x[n, c, o·s + k·d - pad_before], zero outside."""
    kernel, stride, dilation, pads = layer.geometry(x.shape[1:])  # type: ignore[attr-defined]
    out = layer.output_shape([x.shape[1:]])[1:]
    w = params["weight"]
    filters, c_per_group = w.shape[:2]
    f_per_group = filters // layer.groups  # type: ignore[attr-defined]
    y = np.zeros((x.shape[0], filters, *out))
    for f in range(filters):
        group = f // f_per_group
        for o in itertools.product(*map(range, out)):
            acc = np.zeros(x.shape[0]) + (params["bias"][f] if "bias" in params else 0.0)
            for c in range(c_per_group):
                for k in itertools.product(*map(range, kernel)):
                    pos = [o[i] * stride[i] + k[i] * dilation[i] - pads[i][0] for i in range(len(kernel))]
                    if all(0 <= p < x.shape[2 + i] for i, p in enumerate(pos)):
                        acc = acc + w[(f, c, *k)] * x[(slice(None), group * c_per_group + c, *pos)]
            y[(slice(None), f, *o)] = acc
    return y


def pool_by_loops(layer: LayerBase, x: np.ndarray) -> np.ndarray:
    """Max or mean over each window's in-bounds positions."""
    kernel, stride, pads = layer.geometry(x.shape[1:])  # type: ignore[attr-defined]
    out = layer.output_shape([x.shape[1:]])[1:]
    y = np.zeros((*x.shape[:2], *out))
    for p, q in itertools.product(*map(range, out)):
        top, left = p * stride[0] - pads[0][0], q * stride[1] - pads[1][0]
        win = x[:, :, max(top, 0):top + kernel[0], max(left, 0):left + kernel[1]]
        y[:, :, p, q] = win.max(axis=(2, 3)) if layer.type == "max_pool2d" else win.mean(axis=(2, 3))  # type: ignore[attr-defined]
    return y


def attention_by_loops(layer: LayerBase, x: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    n, t, e = x.shape
    heads = layer.num_heads  # type: ignore[attr-defined]
    d = e // heads
    y = np.zeros_like(x)
    for s in range(n):
        q, k, v = (x[s] @ p[f"{m}_weight"] + p[f"{m}_bias"] for m in ("query", "key", "value"))
        concat = np.zeros((t, e))
        for h in range(heads):
            cols = slice(h * d, (h + 1) * d)
            for i in range(t):
                allowed = range(i + 1) if layer.causal else range(t)  # type: ignore[attr-defined]
                scores = [float(q[i, cols] @ k[j, cols]) / math.sqrt(d) for j in allowed]
                top = max(scores)
                weights = [math.exp(sc - top) for sc in scores]
                total = sum(weights)
                concat[i, cols] = sum(wj / total * v[j, cols] for wj, j in zip(weights, allowed, strict=True))
        y[s] = concat @ p["output_weight"] + p["output_bias"]
    return y


# ------------------------------------------------------------------------------ known values by hand
def forward(doc: dict, shapes: list[list[int]], inputs: list[np.ndarray], params: dict | None = None,
            ctx: ForwardContext | None = None) -> np.ndarray:
    layer = layer_of(doc, shapes)
    return ref_layers.get(doc["type"]).forward(layer, inputs, params or {}, ctx or ForwardContext())[0]


def test_registry_has_every_v1_layer() -> None:
    assert set(ref_layers.MODULES) == set(LAYER_TYPES)
    for name in LAYER_TYPES:
        mod = ref_layers.get(name)
        assert callable(mod.forward) and callable(mod.backward)
    with pytest.raises(KeyError, match="no reference implementation"):
        ref_layers.get("conv3d")


def test_same_padding_with_stride_2_puts_the_extra_element_at_the_end() -> None:
    # 4x4, kernel 3, stride 2 -> output 2x2; total padding (2 - 1)·2 + 3 - 4 = 1 per axis -> (0 before, 1 after)
    assert resolve_padding("same", (4, 4), (3, 3), (2, 2), (1, 1)) == ((0, 1), (0, 1))
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y = forward({"type": "conv2d", "filters": 1, "kernel_size": 3, "stride": 2, "padding": "same",
                 "use_bias": False}, [[1, 4, 4]], [x], {"weight": np.ones((1, 1, 3, 3))})
    # windows: rows 0-2 / 2-3 (+ one padded row), columns likewise
    assert y[0, 0].tolist() == [[0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10, 2 + 3 + 6 + 7 + 10 + 11],
                                [8 + 9 + 10 + 12 + 13 + 14, 10 + 11 + 14 + 15]]
    # conv1d: L = 4, kernel 3, stride 2 -> windows over [1, 2, 3, 4, 0]
    y1 = forward({"type": "conv1d", "filters": 1, "kernel_size": 3, "stride": 2, "padding": "same",
                  "use_bias": False}, [[1, 4]], [np.arange(1.0, 5.0).reshape(1, 1, 4)], {"weight": np.ones((1, 1, 3))})
    assert y1.ravel().tolist() == [6.0, 7.0]


def test_conv_groups_and_dilation_by_hand() -> None:
    # two groups of one channel each: filter 0 sees channel 0 only, filter 1 channel 1 only; dilation 2 skips
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 40.0, 50.0]]])
    w = np.array([[[1.0, -1.0]], [[2.0, 0.5]]])  # [filters 2, in/groups 1, k 2]
    y = forward({"type": "conv1d", "filters": 2, "kernel_size": 2, "dilation": 2, "groups": 2},
                [[2, 5]], [x], {"weight": w, "bias": np.array([0.0, 1.0])})
    assert y[0].tolist() == [[1 - 3, 2 - 4, 3 - 5], [20 + 15 + 1, 40 + 20 + 1, 60 + 25 + 1]]


def test_avg_pool_divides_by_the_positions_inside_the_input() -> None:
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y = forward({"type": "avg_pool2d", "kernel_size": 2, "stride": 2, "padding": "same"}, [[1, 3, 3]], [x])
    assert y[0, 0].tolist() == [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8.0]]
    y = forward({"type": "avg_pool2d", "kernel_size": 3, "stride": 1, "padding": 1}, [[1, 3, 3]], [x])
    assert y[0, 0, 0, 0] == (0 + 1 + 3 + 4) / 4  # a corner window holds 4 of its 9 positions
    assert y[0, 0, 0, 1] == (0 + 1 + 2 + 3 + 4 + 5) / 6 and y[0, 0, 1, 1] == 4.0


def test_max_pool_padding_never_wins() -> None:
    y = forward({"type": "max_pool2d", "kernel_size": 2, "stride": 2, "padding": "same"}, [[1, 3, 3]],
                [-np.ones((1, 1, 3, 3))])
    assert (y == -1).all()


def test_max_pool_gradient_goes_to_the_first_of_tied_maxima() -> None:
    layer = layer_of({"type": "max_pool2d", "kernel_size": 2}, [[1, 2, 2]])
    mod = ref_layers.get("max_pool2d")
    _, cache = mod.forward(layer, [np.ones((1, 1, 2, 2))], {}, ForwardContext())
    (dx,), _ = mod.backward(layer, np.full((1, 1, 1, 1), 3.0), cache)
    assert dx[0, 0].tolist() == [[3.0, 0.0], [0.0, 0.0]]


def test_batch_norm_training_updates_running_statistics_with_the_unbiased_variance() -> None:
    x = np.array([[1.0], [3.0]])  # one channel, two values: mean 2, biased var 1, unbiased var 2
    buffers = {"running_mean": np.zeros(1), "running_var": np.ones(1)}
    y = forward({"type": "batch_norm", "momentum": 0.1}, [[1]], [x], {"weight": np.ones(1), "bias": np.zeros(1)},
                ForwardContext(training=True, buffers=buffers))
    assert buffers["running_mean"][0] == pytest.approx(0.9 * 0 + 0.1 * 2.0, rel=1e-15)
    assert buffers["running_var"][0] == pytest.approx(0.9 * 1 + 0.1 * 2.0, rel=1e-15)
    assert y.ravel() == pytest.approx([-1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5)], rel=1e-15)


def test_batch_norm_normalizes_per_channel_over_batch_and_space_and_eval_uses_running_statistics() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 2, 2)) * 5 + 7
    p = {"weight": np.ones(3), "bias": np.zeros(3)}
    buffers = {"running_mean": np.zeros(3), "running_var": np.ones(3)}
    y = forward({"type": "batch_norm", "epsilon": 1e-12}, [[3, 2, 2]], [x], p, ForwardContext(True, buffers))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-9)
    rm, rv = np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 0.25])
    ev = forward({"type": "batch_norm", "epsilon": 1e-5}, [[3, 2, 2]], [x], {"weight": np.full(3, 2.0),
                 "bias": np.full(3, 0.5)}, ForwardContext(False, {"running_mean": rm, "running_var": rv}))
    want = 2.0 * (x - rm.reshape(1, 3, 1, 1)) / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-5) + 0.5
    np.testing.assert_allclose(ev, want, rtol=1e-14)
    assert rm.tolist() == [1.0, 2.0, 3.0]  # eval never moves the buffers


def test_layer_norm_normalizes_each_sample_over_its_last_dims_axes() -> None:
    x = np.random.default_rng(1).normal(size=(2, 3, 4)) * 3 + 1
    y = forward({"type": "layer_norm", "dims": 2, "epsilon": 1e-12}, [[3, 4]], [x],
                {"weight": np.ones((3, 4)), "bias": np.zeros((3, 4))})
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-9)


def _sigma(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_lstm_two_steps_by_hand() -> None:
    # one unit; gates (i, f, g, o); the second step sees h_1 through weight_hh
    wi, wh, b = [0.5, -0.5, 1.0, 2.0], [0.3, 0.2, -0.4, 0.1], [0.1, 0.2, 0.0, -0.1]
    p = {"weight_ih": np.array([wi]), "weight_hh": np.array([wh]), "bias": np.array(b)}
    xs = [1.0, -2.0]
    h = c = 0.0
    hs = []
    for xt in xs:
        z = [xt * wi[k] + h * wh[k] + b[k] for k in range(4)]
        i, f, g, o = _sigma(z[0]), _sigma(z[1]), math.tanh(z[2]), _sigma(z[3])
        c = f * c + i * g
        h = o * math.tanh(c)
        hs.append(h)
    x = np.array(xs).reshape(1, 2, 1)
    y = forward({"type": "lstm", "units": 1, "return_sequences": True}, [[2, 1]], [x], p)
    assert y.ravel() == pytest.approx(hs, rel=1e-14)
    assert forward({"type": "lstm", "units": 1}, [[2, 1]], [x], p).ravel() == pytest.approx([hs[-1]], rel=1e-14)


def test_gru_two_steps_by_hand() -> None:
    # gates (r, z, n), reset after the recurrent matmul, two biases
    wi, wh, bi, bh = [1.0, 0.5, 0.5], [0.3, -0.6, 0.8], [0.1, -0.2, 0.3], [0.0, 0.4, 2.0]
    p = {"weight_ih": np.array([wi]), "weight_hh": np.array([wh]), "bias_ih": np.array(bi), "bias_hh": np.array(bh)}
    xs = [1.0, -1.5]
    h = 0.0
    hs = []
    for xt in xs:
        r = _sigma(xt * wi[0] + bi[0] + h * wh[0] + bh[0])
        z = _sigma(xt * wi[1] + bi[1] + h * wh[1] + bh[1])
        n = math.tanh(xt * wi[2] + bi[2] + r * (h * wh[2] + bh[2]))
        h = (1 - z) * n + z * h
        hs.append(h)
    y = forward({"type": "gru", "units": 1, "return_sequences": True}, [[2, 1]], [np.array(xs).reshape(1, 2, 1)], p)
    assert y.ravel() == pytest.approx(hs, rel=1e-14)


def test_causal_attention_ignores_the_future() -> None:
    layer_doc = {"type": "multi_head_attention", "num_heads": 2, "causal": True}
    layer = layer_of(layer_doc, [[3, 4]])
    rng = np.random.default_rng(0)
    p = {k: rng.normal(size=s.shape) for k, s in layer.parameters([(3, 4)]).items()}
    x = rng.normal(size=(1, 3, 4))
    y1 = forward(layer_doc, [[3, 4]], [x], p)
    x2 = x.copy()
    x2[0, 2] += 10.0
    y2 = forward(layer_doc, [[3, 4]], [x2], p)
    np.testing.assert_array_equal(y1[0, :2], y2[0, :2])
    assert not np.allclose(y1[0, 2], y2[0, 2])
    # position 0 attends to itself alone: its output is its own value projection, projected out
    v0 = x[0, 0] @ p["value_weight"] + p["value_bias"]
    np.testing.assert_allclose(y1[0, 0], v0 @ p["output_weight"] + p["output_bias"], rtol=1e-13)


def test_gelu_is_x_times_the_normal_cdf_to_float64_accuracy() -> None:
    x = np.array([-40.0, -10.0, -1.0, -1e-9, 0.0, 0.5, 1.0, 3.0, 30.0])
    y = forward({"type": "gelu"}, [[9]], [x.reshape(1, -1)]).ravel()
    want = [v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x]
    np.testing.assert_allclose(y, want, rtol=1e-15, atol=0)
    assert y[6] == pytest.approx(0.8413447460685429, rel=1e-15)  # Φ(1)
    assert y[1] == pytest.approx(-10 * 7.619853024160527e-24, rel=1e-13)  # Φ(-10): no cancellation
    yt = forward({"type": "gelu", "approximate": "tanh"}, [[9]], [x.reshape(1, -1)]).ravel()
    def half_one_plus_tanh(u: float) -> float:  # ½(1 + tanh u) = σ(2u), which keeps its digits for u ≪ 0
        e = math.exp(-abs(2 * u))
        return 1 / (1 + e) if u >= 0 else e / (1 + e)

    want_t = [v * half_one_plus_tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)) for v in x]
    np.testing.assert_allclose(yt, want_t, rtol=1e-15, atol=0)  # against 400 digits: test_reference_accuracy.py
    assert yt[1] < 0, "½x(1 + tanh u) gave −0.0 at −10; the value is x·e^(2u)/(1 + e^(2u)), −7e-45, not 0"


def test_elu_and_tanh_gelu_slopes_far_out_are_the_normative_values() -> None:
    """Sweep L (2026-12-06): elu's slope was computed as y + α, which cancels to 0 below x ≈ -37 where the
    normative αeˣ is 4e-18·α at -40; tanh-gelu's was NaN (0·∞ from x² in u′) for |x| ≥ 1.3e154, where it is
    exactly 1 or 0."""
    from lockstep.reference.layers import elu, gelu
    from lockstep.spec.layers import ELU, GELU

    x = np.array([-40.0, -30.0, -20.0, -1e-3, 0.0, 2.0])
    layer = ELU(type="elu", alpha=1.5)
    _, cache = elu.forward(layer, [x], {}, None)
    slope = elu.backward(layer, np.ones_like(x), cache)[0][0]
    want = [1.5 * math.exp(v) if v <= 0 else 1.0 for v in x]
    np.testing.assert_allclose(slope, want, rtol=1e-15, atol=0)
    x = np.array([1e155, -1e155, 1e300, -1e300, 1e103])
    layer = GELU(type="gelu", approximate="tanh")
    with np.errstate(all="raise"):  # and no warning on the way
        y, cache = gelu.forward(layer, [x], {}, None)
        slope = gelu.backward(layer, np.ones_like(x), cache)[0][0]
    assert np.array_equal(slope, [1.0, 0.0, 1.0, 0.0, 1.0]) and np.array_equal(y, [1e155, 0.0, 1e300, 0.0, 1e103])


def test_activations_at_extremes_stay_finite() -> None:
    x = np.array([[-800.0, -30.0, 0.0, 30.0, 800.0]])
    for kind in ("sigmoid", "silu", "elu", "tanh", "softmax", "log_softmax"):
        assert np.all(np.isfinite(forward({"type": kind}, [[5]], [x]))), kind
    tiny = math.exp(-30) / (1 + math.exp(-30))
    y = forward({"type": "sigmoid"}, [[5]], [x]).ravel()
    assert y.tolist() == [0.0, pytest.approx(tiny, rel=1e-15), 0.5, pytest.approx(1 - tiny, rel=1e-15), 1.0]
    assert np.isnan(forward({"type": "relu"}, [[1]], [np.array([[np.nan]])])).all()  # NaN is reported, not hidden


def test_softmax_axis_is_per_sample() -> None:
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    for axis, batched in ((0, 1), (1, 2), (-1, 2), (-2, 1)):
        y = forward({"type": "softmax", "axis": axis}, [[3, 4]], [x])
        np.testing.assert_allclose(y.sum(axis=batched), 1.0, rtol=1e-15)
        ly = forward({"type": "log_softmax", "axis": axis}, [[3, 4]], [x])
        np.testing.assert_allclose(np.exp(ly), y, rtol=1e-14)


def test_dropout_scales_kept_units_and_needs_the_mask_in_training() -> None:
    x = np.arange(1.0, 5.0).reshape(1, 4)
    doc = {"type": "dropout", "rate": 0.25}
    assert forward(doc, [[4]], [x]) is x  # eval: identity
    mask = np.array([[True, False, True, True]])
    y = forward(doc, [[4]], [x], ctx=ForwardContext(training=True, dropout_mask=mask))
    assert y.tolist() == [[1 / 0.75, 0.0, 3 / 0.75, 4 / 0.75]]
    with pytest.raises(ValueError, match="keep-mask"):
        forward(doc, [[4]], [x], ctx=ForwardContext(training=True))
    with pytest.raises(ValueError, match="shape"):
        forward(doc, [[4]], [x], ctx=ForwardContext(training=True, dropout_mask=mask[:, :2]))


def test_embedding_gradient_accumulates_repeated_indices() -> None:
    layer = layer_of({"type": "embedding", "input_dim": 4, "output_dim": 2}, [[3]])
    mod = ref_layers.get("embedding")
    w = np.arange(8.0).reshape(4, 2)
    idx = np.array([[1, 3, 1]])
    y, cache = mod.forward(layer, [idx], {"weight": w}, ForwardContext())
    assert y[0].tolist() == [[2, 3], [6, 7], [2, 3]]
    d_in, d_p = mod.backward(layer, np.ones((1, 3, 2)), cache)
    assert d_in == [None] and d_p["weight"].tolist() == [[0, 0], [2, 2], [0, 0], [1, 1]]
    with pytest.raises(ValueError, match="out of range"):
        mod.forward(layer, [np.array([[0, 4, 1]])], {"weight": w}, ForwardContext())
    with pytest.raises(ValueError, match="integers"):
        mod.forward(layer, [np.array([[0.5, 1, 1]])], {"weight": w}, ForwardContext())


def test_flatten_is_row_major_over_channels_first() -> None:
    x = np.arange(24.0).reshape(1, 2, 3, 4)
    y = forward({"type": "flatten"}, [[2, 3, 4]], [x])
    c, h, w = 1, 2, 3
    assert y[0, c * 12 + h * 4 + w] == x[0, c, h, w]


def test_dense_applies_over_the_last_axis_of_any_rank() -> None:
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(4, 6)), rng.normal(size=6)
    y = forward({"type": "dense", "units": 6}, [[3, 5, 4]], [x], {"weight": w, "bias": b})
    np.testing.assert_allclose(y[1, 2, 3], x[1, 2, 3] @ w + b, rtol=1e-14)
