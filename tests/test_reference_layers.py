"""The reference layers' backward passes against calculus itself (central finite differences).

Tolerance: with step h = 1e-6 in float64, central differences carry O(h²) truncation and O(ε/h)
round-off error, about 1e-9 relative for these smooth, O(1)-scaled functions; we assert
|analytic - numeric| <= 1e-6 · max(1, |numeric|), leaving three orders of margin for kinks
approached within h (relu at 0, max-pool near-ties), which the inputs are drawn to avoid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from lockstep.conformance import strategies as cs
from lockstep.reference import layers as ref_layers
from lockstep.reference.layers.context import ForwardContext
from lockstep.reference.model import ReferenceModel
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph
from lockstep.spec.loader import dump_yaml
from lockstep.spec.validate import validate_document

H = 1e-6
TOL = 1e-6
KINKED = {"relu", "leaky_relu", "max_pool2d", "elu"}


def _inputs(rng, shapes, dtype, kinked, input_dim=None):
    out = []
    for s in shapes:
        if dtype == "int64":
            out.append(rng.integers(0, input_dim, size=(3, *s)))
            continue
        x = rng.normal(size=(3, *s))
        if kinked:  # keep away from the kink at 0 by more than h
            x = np.where(np.abs(x) < 1e-2, x + np.sign(x + 1e-12) * 1e-2, x)
        out.append(x)
    return out


def _check(doc: dict, seed: int, training: bool) -> None:
    model = Model.model_validate(doc)
    graph = build_graph(model)
    assert not graph.problems, [p.message for p in graph.problems]
    rng = np.random.default_rng(seed)
    node = next(n for n in graph.nodes if n.name == doc["metadata"]["name"].removeprefix("case-")) \
        if any(n.name == doc["metadata"]["name"].removeprefix("case-") for n in graph.nodes) else graph.nodes[-1]
    layer = node.layer
    mod = ref_layers.get(layer.type)
    kinked = layer.type in KINKED
    xs = _inputs(rng, node.input_shapes, model.inputs[0].dtype, kinked, getattr(layer, "input_dim", None))
    params = {k: rng.normal(size=s.shape) for k, s in layer.parameters(node.input_shapes).items()}
    buffers = {k: np.abs(rng.normal(size=s.shape)) + 0.5 for k, s in layer.buffers(node.input_shapes).items()}
    mask = None
    if layer.type == "dropout" and training:
        mask = rng.random((3, *node.input_shapes[0])) >= layer.rate

    def run(xs_, params_):
        ctx = ForwardContext(training, {k: v.copy() for k, v in buffers.items()}, mask)
        return mod.forward(layer, xs_, params_, ctx)

    y, cache = run(xs, params)
    gy = rng.normal(size=y.shape)
    dxs, dparams = mod.backward(layer, gy, cache)

    def loss(xs_, params_):
        return float(np.sum(run(xs_, params_)[0] * gy))

    targets = [("input", i, xs[i], dxs[i]) for i in range(len(xs)) if dxs[i] is not None]
    targets += [("param", k, params[k], dparams[k]) for k in params]
    for kind, key, arr, grad in targets:
        assert grad.shape == arr.shape, f"{kind} {key}: gradient shape {grad.shape} != {arr.shape}"
        flat = list(np.ndindex(arr.shape))
        pick = [flat[i] for i in rng.choice(len(flat), size=min(8, len(flat)), replace=False)]
        for idx in pick:
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += H
            minus[idx] -= H
            if kind == "input":
                xp, xm = list(xs), list(xs)
                xp[key], xm[key] = plus, minus
                num = (loss(xp, params) - loss(xm, params)) / (2 * H)
            else:
                num = (loss(xs, {**params, key: plus}) - loss(xs, {**params, key: minus})) / (2 * H)
            err = abs(grad[idx] - num)
            assert err <= TOL * max(1.0, abs(num)), (
                f"{layer.type}: d/d {kind} {key}{list(idx)}: analytic {grad[idx]!r} vs numeric {num!r} "
                f"(error {err:.3g} > {TOL * max(1.0, abs(num)):.3g})")


@pytest.mark.parametrize("construct", cs.LAYERS)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), training=st.booleans())
def test_backward_matches_finite_differences(construct: str, data, seed: int, training: bool) -> None:
    doc = data.draw(cs.layer_model(construct))
    note(dump_yaml(doc))  # a failing example is printed as a spec file
    _check(doc, seed, training)


@given(st.one_of(cs.sequence_model(), cs.graph_model()), st.integers(0, 2**32 - 1))
def test_whole_models_match_finite_differences(doc: dict, seed: int) -> None:
    note(dump_yaml(doc))
    model = Model.model_validate(doc)
    ref = ReferenceModel(model)
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s.shape) for k, s in ref.param_specs.items()}
    buffers = {k: np.ones(s.shape) for k, s in ref.buffer_specs.items()}
    x = rng.normal(size=(4, *model.inputs[0].shape))
    x = np.where(np.abs(x) < 1e-2, 0.5, x)
    masks = {n: rng.random((4, *s)) >= r for n, (s, r) in ref.dropout_layers().items()}

    def loss(p):
        out = ref.forward(x, p, {k: v.copy() for k, v in buffers.items()}, training=True, masks=masks)
        return float(np.sum(out * gy))

    out = ref.forward(x, params, {k: v.copy() for k, v in buffers.items()}, training=True, masks=masks)
    gy = rng.normal(size=out.shape)
    loss(params)
    grads = ref.backward(gy)
    for k, arr in params.items():
        for idx in list(np.ndindex(arr.shape))[:4]:
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += H
            minus[idx] -= H
            num = (loss({**params, k: plus}) - loss({**params, k: minus})) / (2 * H)
            assert abs(grads[k][idx] - num) <= TOL * max(1.0, abs(num)), (k, idx, grads[k][idx], num)


def test_generated_layer_models_are_valid_documents() -> None:
    @given(st.sampled_from(cs.LAYERS).flatmap(cs.layer_model))
    def check(doc):
        from lockstep.spec.loader import load_text

        loaded = load_text(dump_yaml(doc), "gen.yaml")[0]
        assert not validate_document(loaded)[1]

    check()


# ----------------------------------------------------------------------- known values by hand
def _layer(doc: dict, shape: list[int]):
    model = Model.model_validate({"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
                                  "inputs": [{"name": "x", "shape": shape}], "layers": [doc]})
    return build_graph(model).nodes[0].layer


def test_same_padding_with_stride_puts_the_extra_element_at_the_end() -> None:
    # L=4, k=2, s=2 -> out 2, total pad 0; L=5, k=3, s=2 -> out 3, total 2 -> (1, 1); L=4, k=3, s=2 -> (0, 1)
    layer = _layer({"type": "conv1d", "filters": 1, "kernel_size": 3, "stride": 2, "padding": "same",
                    "use_bias": False}, [1, 4])
    x = np.arange(1.0, 5.0).reshape(1, 1, 4)
    w = np.ones((1, 1, 3))
    y, _ = ref_layers.get("conv1d").forward(layer, [x], {"weight": w}, ForwardContext())
    # windows over [1, 2, 3, 4, 0]: (1+2+3), (3+4+0)
    assert y.ravel().tolist() == [6.0, 7.0]


def test_avg_pool_does_not_count_padding() -> None:
    layer = _layer({"type": "avg_pool2d", "kernel_size": 2, "stride": 2, "padding": "same"}, [1, 3, 3])
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y, _ = ref_layers.get("avg_pool2d").forward(layer, [x], {}, ForwardContext())
    assert y[0, 0].tolist() == [[2.0, 3.5], [6.5, 8.0]]


def test_max_pool_padding_never_wins() -> None:
    layer = _layer({"type": "max_pool2d", "kernel_size": 2, "stride": 2, "padding": "same"}, [1, 3, 3])
    x = -np.ones((1, 1, 3, 3))
    y, _ = ref_layers.get("max_pool2d").forward(layer, [x], {}, ForwardContext())
    assert (y == -1).all()


def test_batch_norm_running_statistics_use_unbiased_variance() -> None:
    layer = _layer({"type": "batch_norm", "momentum": 0.1}, [1])
    x = np.array([[1.0], [3.0]])
    buffers = {"running_mean": np.zeros(1), "running_var": np.ones(1)}
    y, _ = ref_layers.get("batch_norm").forward(layer, [x], {"weight": np.ones(1), "bias": np.zeros(1)},
                                                ForwardContext(True, buffers))
    assert buffers["running_mean"][0] == pytest.approx(0.2)
    assert buffers["running_var"][0] == pytest.approx(0.9 + 0.1 * 2.0)  # unbiased var of {1, 3} is 2
    assert y.ravel() == pytest.approx([-1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5)])


def test_lstm_one_step_by_hand() -> None:
    layer = _layer({"type": "lstm", "units": 1}, [1, 1])
    p = {"weight_ih": np.array([[0.5, -0.5, 1.0, 2.0]]), "weight_hh": np.zeros((1, 4)), "bias": np.zeros(4)}
    y, _ = ref_layers.get("lstm").forward(layer, [np.ones((1, 1, 1))], p, ForwardContext())
    s = 1 / (1 + math.exp(-0.5))
    c = s * math.tanh(1.0)  # f * 0 + i * g
    assert y[0, 0] == pytest.approx((1 / (1 + math.exp(-2.0))) * math.tanh(c))


def test_gru_one_step_by_hand() -> None:
    layer = _layer({"type": "gru", "units": 1}, [1, 1])
    p = {"weight_ih": np.array([[1.0, 0.0, 0.5]]), "weight_hh": np.zeros((1, 3)),
         "bias_ih": np.zeros(3), "bias_hh": np.array([0.0, 0.0, 2.0])}
    y, _ = ref_layers.get("gru").forward(layer, [np.ones((1, 1, 1))], p, ForwardContext())
    r = 1 / (1 + math.exp(-1.0))
    n = math.tanh(0.5 + r * 2.0)
    assert y[0, 0] == pytest.approx(0.5 * n)  # z = σ(0) = 0.5, h0 = 0


def test_causal_attention_ignores_the_future() -> None:
    layer = _layer({"type": "multi_head_attention", "num_heads": 1, "causal": True}, [3, 2])
    rng = np.random.default_rng(0)
    p = {k: rng.normal(size=s.shape) for k, s in layer.parameters([(3, 2)]).items()}
    x = rng.normal(size=(1, 3, 2))
    y1, _ = ref_layers.get("multi_head_attention").forward(layer, [x], p, ForwardContext())
    x2 = x.copy()
    x2[0, 2] += 10.0
    y2, _ = ref_layers.get("multi_head_attention").forward(layer, [x2], p, ForwardContext())
    assert np.allclose(y1[0, :2], y2[0, :2]) and not np.allclose(y1[0, 2], y2[0, 2])
