"""The float32 magnitude pass (reference/error_bounds.py, docs/spec/v1-semantics.md § Tolerances): its rules
against hand calculation, and its soundness: torch in float32 against the float64 reference stays within
the derived tolerance (ratio ≤ 1) for outputs, losses and every gradient, for every layer type.

Worst ratios observed in one sweep (torch 2.13 CPU, float32, LOCKSTEP_HYPOTHESIS=random
LOCKSTEP_BOUNDS_EXAMPLES=1000: 1000 examples per layer type, per random sequence/graph and per loss,
inputs and parameters as in tests/backends plus stressed spreads and offsets; 4.5 minutes), as
output / loss / gradient:

    add 0.43/0.062/0.090  avg_pool2d 0.33/0.061/0.066  batch_norm 0.36/0.021/0.019  concat 0.46/0.046/0.085
    conv1d 0.44/0.050/0.050  conv2d 0.42/0.020/0.041  dense 0.41/0.054/0.080  dropout 0.43/0.052/0.085
    elu 0.21/0.044/0.055  embedding 0.32/0.065/0.10  flatten 0.45/0.079/0.079  gelu 0.29/0.068/0.036
    global_avg_pool 0.29/0.045/0.059  gru 0.082/0.022/0.010  layer_norm 0.066/0.015/0.017
    leaky_relu 0.35/0.061/0.078  log_softmax 0.13/0.022/0.036  lstm 0.083/0.023/0.036  max_pool2d 0.37/0.033/0.049
    multi_head_attention 0.059/0.020/0.060  relu 0.46/0.081/0.080  reshape 0.42/0.062/0.081
    sigmoid 0.27/0.042/0.033  silu 0.28/0.052/0.034  softmax 0.21/0.026/0.024  tanh 0.24/0.036/0.021
    sequence 0.33/0.050/0.094  graph 0.18/0.037/0.066
    losses (on dense heads): mse 0.43/0.062/0.088  mae 0.49/0.056/0.067  huber 0.50/0.074/0.071
    binary_ce 0.24/0.034/0.018  categorical_ce 0.14/0.025/0.0072  sparse_categorical_ce 0.41/0.030/0.081
    nll 0.13/0.020/0.033

The largest ratios are outputs of short reductions (n of 4 to 10, where the final rounding is a large part
of the allowed error); gradients sit 10-100× inside. No constant was adjusted to pass: the bound is worst
case (errors grow like √n·u in practice, the bound like n·u, and M ≥ |value|). Losses from probabilities
on saturated heads are reported not representable in float32 (skipped, counted in SKIPPED).
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from tests_support import loss_recipe

from lockstep.conformance import strategies as cs
from lockstep.reference import error_bounds as eb
from lockstep.reference import layers as ref_layers
from lockstep.reference.layers.context import ForwardContext
from lockstep.reference.tolerances import (
    FUNCTION_ULPS,
    PRODUCT_ROUNDING,
    gamma,
    gradient_length,
    layer_length,
    loss_length,
)
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph
from lockstep.spec.layers import LAYER_TYPES
from lockstep.spec.loader import dump_yaml

U = 2.0**-24
EXAMPLES = int(os.environ.get("LOCKSTEP_BOUNDS_EXAMPLES", "5"))
WORST: dict[str, dict[str, float]] = {}  # case -> kind (output, loss, gradient) -> worst ratio (pytest -s)

SKIPPED: dict[str, int] = {}  # model -> quantities not representable in float32 (their magnitudes overflow)


def _layer(kind: str, **fields: object) -> object:
    return LAYER_TYPES[kind].model_validate({"type": kind, **fields})


def _model(shape: list[int], layers: list[dict]) -> Model:
    return Model.model_validate(cs.model_doc("m", shape, layers))


# ------------------------------------------------------------------------------------ hand calculation
def test_every_layer_module_has_magnitude_rules() -> None:
    assert set(ref_layers.MODULES) == set(LAYER_TYPES)
    for name, mod in ref_layers.MODULES.items():
        assert callable(getattr(mod, "magnitude", None)) and callable(getattr(mod, "magnitude_backward", None)), name


def test_dense_rule_is_abs_x_abs_w_plus_abs_b() -> None:
    layer = _layer("dense", units=2)
    x = np.array([[1.0, -2.0]])
    w = np.array([[0.5, -1.0], [0.25, 2.0]])
    b = np.array([-0.1, 0.3])
    params = {"weight": w, "bias": b}
    _, cache = ref_layers.dense.forward(layer, [x], params, ForwardContext())
    a, mcache = ref_layers.dense.magnitude(layer, [x], [np.abs(x)], params, cache)
    assert np.allclose(a, [[1 * 0.5 + 2 * 0.25 + 0.1, 1 * 1 + 2 * 2 + 0.3]])
    g, gm = np.array([[1.0, -1.0]]), np.array([[1.0, 1.0]])
    (gx,), pg = ref_layers.dense.magnitude_backward(layer, g, gm, cache, mcache, params)
    assert np.allclose(gx, [[0.5 + 1.0, 0.25 + 2.0]])  # G |W|ᵀ
    assert np.allclose(pg["weight"], [[1.0, 1.0], [2.0, 2.0]])  # A_xᵀ G
    assert np.allclose(pg["bias"], [1.0, 1.0])


def test_activation_rules() -> None:
    x = np.array([[-2.0, 0.5, 3.0]])
    a = np.array([[4.0, 0.5, 3.0]])  # the input's magnitude may exceed |x| (an upstream cancellation)
    y, cache = ref_layers.sigmoid.forward(_layer("sigmoid"), [x], {}, ForwardContext())
    a_y, _ = ref_layers.sigmoid.magnitude(_layer("sigmoid"), [x], [a], {}, cache)
    assert np.allclose(a_y, np.maximum(y * (1 - y) * a, y))  # the local slope, own rounding relative to σ
    layer = _layer("leaky_relu", negative_slope=0.2)
    _, cache = ref_layers.leaky_relu.forward(layer, [x], {}, ForwardContext())
    assert np.allclose(ref_layers.leaky_relu.magnitude(layer, [x], [a], {}, cache)[0], a)  # max(1, 0.2)·A
    y, cache = ref_layers.tanh.forward(_layer("tanh"), [x], {}, ForwardContext())
    a_y, mc = ref_layers.tanh.magnitude(_layer("tanh"), [x], [a], {}, cache)
    g = np.array([[1.0, -2.0, 0.5]])
    (gx,), _ = ref_layers.tanh.magnitude_backward(_layer("tanh"), g, np.abs(g), cache, mc, {})
    assert np.allclose(a_y, np.maximum((1 - y**2) * a, np.abs(y)))
    assert np.allclose(gx, (1 - y**2) * np.abs(g) + np.abs(g) * np.maximum(2 * np.abs(y) * a_y, 1 + y**2))


def test_softmax_backward_magnitude_does_not_cancel() -> None:
    """softmax's dx = s ⊙ (g − Σ g s) is 0 for g ∝ 1, its magnitude s ⊙ (|g| + Σ |g| s) (+ s's error) is not."""
    layer = _layer("softmax")
    x = np.array([[0.0, 1.0, 2.0]])
    s, cache = ref_layers.softmax.forward(layer, [x], {}, ForwardContext())
    _, mc = ref_layers.softmax.magnitude(layer, [x], [np.abs(x)], {}, cache)
    g = np.ones_like(x)
    (dx,), _ = ref_layers.softmax.backward(layer, g, cache)
    (gx,), _ = ref_layers.softmax.magnitude_backward(layer, g, g, cache, mc, {})
    assert np.allclose(dx, 0.0)
    assert np.all(gx >= s * (1 + np.sum(s)))


def test_layer_norm_over_one_value_has_a_magnitude() -> None:
    """x̂ = 0 exactly, but float32's x·r − μ·r leaves ~u|x|/√ε: the rule's r·(|x| + |μ| + mean|x|) covers it."""
    layer = _layer("layer_norm", dims=1, epsilon=1e-5)
    x = np.array([[3.0]])
    params = {"weight": np.array([1.5]), "bias": np.array([0.0])}
    y, cache = ref_layers.layer_norm.forward(layer, [x], params, ForwardContext())
    a_y, _ = ref_layers.layer_norm.magnitude(layer, [x], [np.abs(x)], params, cache)
    assert y[0, 0] == 0.0
    assert a_y[0, 0] >= 1.5 * 3 * 3.0 / math.sqrt(1e-5 + 0.0) * 0.999


def test_model_bounds_lengths_and_shapes() -> None:
    model = _model([3], [{"type": "dense", "name": "a", "units": 4}, {"type": "relu", "name": "t"},
                         {"type": "dense", "name": "b", "units": 2}])
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s.shape) for k, s in build_graph(model).parameters().items()}
    x = rng.normal(size=(5, 3))
    mse = loss_recipe(cs.model_doc("m", [3], []), {"type": "mse"}).loss
    b = eb.model_bounds(model, params, x, training=True, loss=mse, y=rng.normal(size=(5, 2)))
    graph = build_graph(model)
    n_out = sum(layer_length(nd.layer, nd.input_shapes) for nd in graph.nodes)
    assert b.output.length == n_out == (3 + PRODUCT_ROUNDING + 1) + 0 + (4 + PRODUCT_ROUNDING + 1)
    n_loss = loss_length(mse, (5, 2))
    assert n_loss == FUNCTION_ULPS + 3 + 10 + 1  # one subtraction and one function per element, then 10 of them
    assert b.loss is not None and b.loss.length == n_out + n_loss
    # backward excess: `a` sums dx over 4 outputs where its forward summed 3 inputs (+1), the input's rounding (+1)
    assert b.gradients["a.weight"].length == gradient_length(n_out, n_loss, [5], 2)
    assert b.gradients["a.weight"].magnitude.shape == (3, 4) and b.output.magnitude.shape == (5, 2)
    w1, b1, w2 = (np.abs(params[k]) for k in ("a.weight", "a.bias", "b.weight"))
    assert np.allclose(b.output.magnitude, (np.abs(x) @ w1 + b1) @ w2 + np.abs(params["b.bias"]))  # relu: 1-Lipschitz
    tol = b.output.tolerance("float32")
    assert tol.rtol == 2 * U
    assert np.allclose(tol.atol, (gamma(n_out, U) + gamma(n_out, 2.0**-53)) * b.output.magnitude, rtol=0, atol=1e-30)
    t64 = b.output.tolerance("float64", scale=2.0)
    assert t64.rtol == 1e-10 and t64.atol == pytest.approx(2e-12)
    assert set(b.gradient_tolerances("float64")) == set(params)


def test_graph_fan_out_sums_gradient_magnitudes() -> None:
    doc = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "g"},
           "inputs": [{"name": "x", "shape": [2]}],
           "nodes": [{"name": "d", "type": "dense", "units": 2, "inputs": ["x"]},
                     {"name": "s", "type": "add", "inputs": ["d", "d"]}], "outputs": ["s"]}
    model = Model.model_validate(doc)
    params = {"d.weight": np.eye(2), "d.bias": np.zeros(2)}
    x = np.array([[1.0, -1.0]])
    mse = loss_recipe(cs.model_doc("m", [2], []), {"type": "mse", "reduction": "sum"}).loss
    b = eb.model_bounds(model, params, x, training=True, loss=mse, y=np.zeros((1, 2)))
    seed = eb.loss_terms(mse, 2 * x, np.zeros((1, 2)), 2 * np.abs(x))[1]
    assert np.allclose(b.gradients["d.bias"].magnitude, 2 * seed[0])  # both paths of the fan-out


def test_several_inputs_and_an_embedding() -> None:
    doc = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "g"},
           "inputs": [{"name": "ids", "shape": [3], "dtype": "int64"}, {"name": "f", "shape": [3, 2]}],
           "nodes": [{"name": "e", "type": "embedding", "input_dim": 5, "output_dim": 2, "inputs": ["ids"]},
                     {"name": "c", "type": "concat", "axis": -1, "inputs": ["e", "f"]},
                     {"name": "d", "type": "dense", "units": 1, "inputs": ["c"]}], "outputs": ["d"]}
    model = Model.model_validate(doc)
    rng = np.random.default_rng(2)
    params = {k: rng.normal(size=s.shape) for k, s in build_graph(model).parameters().items()}
    x = {"ids": np.array([[0, 4, 4], [1, 2, 3]]), "f": rng.normal(size=(2, 3, 2))}
    mse = loss_recipe(cs.model_doc("m", [3], []), {"type": "mse"}).loss
    b = eb.model_bounds(model, params, x, training=True, loss=mse, y=np.zeros((2, 3, 1)))
    a_c = np.concatenate([np.abs(params["e.weight"])[x["ids"]], np.abs(x["f"])], axis=-1)
    assert np.allclose(b.output.magnitude, a_c @ np.abs(params["d.weight"]) + np.abs(params["d.bias"]))
    assert b.gradients["e.weight"].magnitude[0].sum() > 0 and np.all(b.gradients["e.weight"].magnitude[4] > 0)
    assert b.output.length == (4 + PRODUCT_ROUNDING + 1)  # the embedding and the concat are exact


def test_batch_norm_and_dropout_in_training_leave_the_callers_arrays_alone() -> None:
    model = _model([3], [{"type": "batch_norm", "name": "bn"}, {"type": "dropout", "name": "do", "rate": 0.5}])
    rng = np.random.default_rng(1)
    params = {"bn.weight": rng.normal(size=3), "bn.bias": rng.normal(size=3), "bn.running_mean": np.zeros(3),
              "bn.running_var": np.ones(3)}
    before = {k: v.copy() for k, v in params.items()}
    x = rng.normal(size=(4, 3))
    masks = {"do": rng.random((4, 3)) >= 0.5}
    b = eb.model_bounds(model, params, x, training=True, masks=masks)
    assert all(np.array_equal(params[k], before[k]) for k in params)
    assert np.all(b.output.magnitude[~masks["do"]] == 0.0)


def test_saturated_softmax_underflow_term() -> None:
    """e^(x − m) below float32's normal range rounds absolutely: the n·λ term keeps the bound honest."""
    model = _model([2], [{"type": "softmax", "name": "s"}])
    x = np.array([[100.0, 0.0]])
    b = eb.model_bounds(model, {}, x, training=False)
    ref = np.exp(x - 100.0) / np.exp(x - 100.0).sum()
    got = (np.exp((x - 100.0).astype(np.float32)) / np.exp((x - 100.0).astype(np.float32)).sum()).astype(np.float64)
    assert b.output.tolerance("float32").ratio(got, ref) <= 1.0


# ------------------------------------------------------------------------------------------ soundness
def _state(model: Model, rng: np.random.Generator, spread: float = 1.0) -> dict[str, np.ndarray]:
    """Parameters ~ N(0, 0.25·spread²), buffers positive (running variances must be), as the backend tests draw
    them (tests/backends/backend_support.py)."""
    graph = build_graph(model)
    out = {k: rng.normal(size=s.shape) * 0.5 * spread for k, s in graph.parameters().items()}
    out.update({k: np.abs(rng.normal(size=s.shape)) + 0.5 for k, s in graph.buffers().items()})
    return out


def _input(model: Model, rng: np.random.Generator, n: int = 4, spread: float = 1.0, offset: float = 0.0
           ) -> np.ndarray:
    graph = build_graph(model)
    (name, shape), = graph.input_shapes.items()
    if graph.input_dtypes[name] == "int64":
        dim = min(nd.layer.input_dim for nd in graph.nodes if nd.type == "embedding")
        return rng.integers(0, dim, size=(n, *shape))
    return offset + spread * rng.normal(size=(n, *shape))


def _targets(loss: dict, out_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    kind = loss["type"]
    if kind in ("sparse_categorical_crossentropy", "nll"):
        return rng.integers(0, out_shape[-1], size=out_shape[:-1])
    if kind == "categorical_crossentropy":
        t = rng.random(out_shape)
        return t / t.sum(axis=-1, keepdims=True)
    if kind == "binary_crossentropy":
        return rng.random(out_shape)
    return rng.normal(size=out_shape)


def soundness_ratios(doc: dict, seed: int, loss: dict, stress: tuple[float, float] = (1.0, 0.0)) -> dict[str, float]:
    """max |a − r| / allowed per compared quantity: torch float32 against the reference, derived rule.

    `stress` (spread, offset): inputs offset + spread·N(0, 1) and parameters spread·N(0, 0.25): large
    spreads saturate gates and softmaxes, offsets make normalizations cancel."""
    model = Model.model_validate(doc)
    rng = np.random.default_rng(seed)
    spread, offset = stress
    state = _state(model, rng, spread)
    x = _input(model, rng, spread=spread, offset=offset)
    graph = build_graph(model)
    masks = {n.name: rng.random((len(x), *n.shape)) >= n.layer.rate for n in graph.nodes if n.type == "dropout"}
    out_shape = (len(x), *graph.output_shapes()[0])
    return soundness_ratios_at(doc, state, x, _targets(loss, out_shape, rng), loss, masks)


def soundness_ratios_at(doc: dict, state: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, loss: dict,
                        masks: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """`soundness_ratios` at given parameters, inputs and targets; also each gradient's ratio without the
    kinks' branch term (`without branches NAME`), where it has one."""
    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.adapters.torch import TorchAdapter

    model = Model.model_validate(doc)
    r = loss_recipe(doc, loss)
    ref = ReferenceAdapter().build(model, dtype="float64", recipe=r)
    tch = TorchAdapter().build(model, dtype="float32", recipe=r)
    ref.set_parameters(state)
    tch.set_parameters(state)
    out = ref.forward(x)
    compared = [("output", eb.model_bounds(model, state, x, training=False).output, tch.forward(x), out)]
    lr, gr = ref.loss_and_gradients(x, y, masks=masks)
    lt, gt = tch.loss_and_gradients(x, y, masks=masks)
    b = eb.model_bounds(model, state, x, training=True, masks=masks, loss=r.loss, y=y)
    assert b.loss is not None
    compared.append(("loss", b.loss, lt, lr))
    compared += [(f"gradient {k}", b.gradients[k], gt[k], g) for k, g in gr.items()]
    compared += [(f"without branches {k}", dataclasses.replace(b.gradients[k], branches=0.0), gt[k], g)
                 for k, g in gr.items() if np.any(b.gradients[k].branches)]
    ratios = {}
    for name, bound, actual, reference in compared:
        if bound.representable("float32"):  # else float32 may overflow on the way: nothing to compare
            ratios[name] = bound.tolerance("float32").ratio(actual, reference)
        else:
            SKIPPED[doc["metadata"]["name"]] = SKIPPED.get(doc["metadata"]["name"], 0) + 1
    return ratios


LOSSES = st.one_of(
    st.builds(lambda red: {"type": "mse", "reduction": red}, st.sampled_from(["mean", "sum"])),
    st.builds(lambda red, s: {"type": "sparse_categorical_crossentropy", "from_logits": True,
                              "label_smoothing": s, "reduction": red},
              st.sampled_from(["mean", "sum"]), st.sampled_from([0.0, 0.1])),
)


STRESS = st.sampled_from([(1.0, 0.0), (1.0, 0.0), (4.0, 0.0), (1.0, 30.0)])


def _loss_for(doc: dict, data: st.DataObject) -> dict:
    """mse or a class loss. Not a class loss on a batch-norm output of rank > 2: torch 2.x's CPU batch-norm
    backward mishandles the channels-last-strided gradient that the adapter's movedim(-1, 1) hands it (the
    gradients are wrong in float64 too; reported, not a rounding question)."""
    graph = build_graph(Model.model_validate(doc))
    if any(n.type == "batch_norm" for n in graph.nodes) and len(graph.output_shapes()[0]) > 1:
        return {"type": "mse", "reduction": data.draw(st.sampled_from(["mean", "sum"]))}
    return data.draw(LOSSES)


def _with_parameters(doc: dict) -> dict:
    """A parameter-free layer gets a dense layer in front, so that its input gradient is observed."""
    if "layers" in doc and not build_graph(Model.model_validate(doc)).parameters():
        doc["layers"].insert(0, {"type": "dense", "name": "pre", "units": doc["inputs"][0]["shape"][-1]})
    return doc


def _assert_sound(key: str, ratios: dict[str, float]) -> None:
    worst = WORST.setdefault(key, {})
    ratios = {k: v for k, v in ratios.items() if not k.startswith("without branches")}  # shown, not judged
    for name, ratio in ratios.items():
        kind = name.split(" ")[0]
        worst[kind] = max(worst.get(kind, 0.0), ratio)
    note(f"ratios: {ratios}")
    assert all(r <= 1.0 for r in ratios.values()), {k: v for k, v in ratios.items() if v > 1.0}


@pytest.mark.parametrize("construct", cs.LAYERS)
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_one_layer_models_are_inside_the_bound(construct: str, data: st.DataObject, seed: int) -> None:
    pytest.importorskip("torch.nn")
    doc = _with_parameters(data.draw(cs.layer_model(construct)))
    note(dump_yaml(doc))
    _assert_sound(construct, soundness_ratios(doc, seed, _loss_for(doc, data), data.draw(STRESS)))


@pytest.mark.parametrize("kind", ["sequence", "graph"])
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_random_models_are_inside_the_bound(kind: str, data: st.DataObject, seed: int) -> None:
    pytest.importorskip("torch.nn")
    doc = data.draw(cs.sequence_model() if kind == "sequence" else cs.graph_model())
    note(dump_yaml(doc))
    _assert_sound(kind, soundness_ratios(doc, seed, _loss_for(doc, data), data.draw(STRESS)))


LOSS_HEADS = {  # every loss on a dense model whose head makes its targets valid
    "mse": [], "mae": [], "huber": [], "binary_crossentropy": [{"type": "sigmoid", "name": "p"}],
    "categorical_crossentropy": [{"type": "softmax", "name": "p"}], "sparse_categorical_crossentropy": [],
    "nll": [{"type": "log_softmax", "name": "p"}],
}


@pytest.mark.parametrize("kind", sorted(LOSS_HEADS))
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_every_loss_is_inside_the_bound(kind: str, data: st.DataObject, seed: int) -> None:
    pytest.importorskip("torch.nn")
    loss = data.draw(cs.loss_case(kind, 1))
    if kind == "sparse_categorical_crossentropy":
        loss["from_logits"] = True  # from probabilities it needs a softmax head
    elif kind in ("binary_crossentropy", "categorical_crossentropy"):
        loss["from_logits"] = False
    units = data.draw(st.integers(1, 5))
    doc = cs.model_doc("loss", [data.draw(st.integers(1, 5))],
                       [{"type": "dense", "name": "d", "units": units}, *LOSS_HEADS[kind]])
    note(dump_yaml(doc))
    _assert_sound(f"loss {kind}", soundness_ratios(doc, seed, loss, data.draw(STRESS)))


def test_print_worst_ratios() -> None:
    """Runs last in this file: with `pytest -s` a sweep prints the worst ratio per layer type."""
    if WORST:
        print("\nworst ratio per case:  output  loss  gradient")
        for k, w in sorted(WORST.items()):
            print(f"  {k:40s}", "  ".join(f"{w.get(q, math.nan):.3g}" for q in ("output", "loss", "gradient")))
        print("not representable in float32, skipped:", SKIPPED)


# ------------------------------------------------------------------------------------ kinks' other branch
def _near_tie_case(gap: float) -> tuple[dict, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """conv 1×1 (weights [1, 1]) → max_pool [1, 2] → flatten → dense: the two pooled values are 1 and 1 + gap,
    from inputs that differ by 0.25 per channel, so the branch decides the conv weights' gradient."""
    doc = _model([2, 1, 2], [
        {"type": "conv2d", "name": "c", "filters": 1, "kernel_size": 1},
        {"type": "max_pool2d", "name": "p", "kernel_size": [1, 2]},
        {"type": "flatten", "name": "f"},
        {"type": "dense", "name": "d", "units": 1}]).model_dump(mode="json", exclude_none=True)
    state = {"c.weight": np.ones((1, 2, 1, 1)), "c.bias": np.zeros(1), "d.weight": np.ones((1, 1)),
             "d.bias": np.zeros(1)}
    x = np.array([[[[0.5, 0.25]], [[0.5, 0.75 + gap]]]])
    return doc, state, x, np.array([[3.0]])


@pytest.mark.parametrize(("gap", "carried"), [(1e-12, True), (0.0, False), (1e-3, False)])
def test_max_pool_near_tie_carries_the_other_branch(gap: float, carried: bool) -> None:
    """Only a runner-up within float32's error of the maximum, not equal to it, may win in float32."""
    doc, state, x, y = _near_tie_case(gap)
    b = eb.model_bounds(Model.model_validate(doc), state, x, training=True, loss=loss_recipe(doc, {"type": "mse"}).loss,
                        y=y)
    weight = np.asarray(b.gradients["c.weight"].branches)
    assert (np.all(weight > 0.1) if carried else np.all(weight == 0)), (gap, weight)
    assert np.all(np.asarray(b.gradients["d.weight"].branches) == 0), "nothing after the pool is a branch's"


def test_max_pool_near_tie_float32_is_inside_the_bound() -> None:
    """1 + 1e-12 rounds to 1 in float32: torch ties and routes the gradient to the first position, the
    reference to the second; the conv weights' gradients differ by 0.25·|g|, which only the branch term allows."""
    pytest.importorskip("torch.nn")
    doc, state, x, y = _near_tie_case(1e-12)
    ratios = soundness_ratios_at(doc, state, x, y, {"type": "mse"})
    assert ratios["gradient c.weight"] <= 1.0, ratios
    assert ratios["without branches c.weight"] > 1.0, ratios  # the case does take the other branch


@pytest.mark.parametrize("kind", ["relu", "leaky_relu", "elu"])
def test_activation_near_kink_carries_the_other_slope(kind: str) -> None:
    mod = ref_layers.get(kind)
    layer = _layer(kind)
    x = np.array([1e-12, 0.0, -1e-12, 0.5])
    e = np.full(4, 1e-9)
    (got,) = mod.branch_error(layer, [x], [e], np.full(4, 2.0), None)
    jump = {"relu": 1.0, "leaky_relu": 0.99, "elu": 0.0}[kind]  # elu's α = 1: its slope is continuous
    assert np.allclose(got, [2 * jump, 0.0, 2 * jump, 0.0]), got


@pytest.mark.parametrize("construct", cs.LAYERS)
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_magnitude_backward_bounds_a_perturbed_gradient(construct: str, data: st.DataObject, seed: int) -> None:
    """A kink's error E travels back through `magnitude_backward(g = 0, G = E)`: it must bound |Jᵀδ| for every
    |δ| ≤ E (`_Branches`), inputs and parameters alike."""
    doc = data.draw(cs.layer_model(construct))
    note(dump_yaml(doc))
    model = Model.model_validate(doc)
    rng = np.random.default_rng(seed)
    net = eb.ReferenceModel(model)
    state = _state(model, rng)
    x = _input(model, rng)
    values = net.forward_with_intermediates(x, state, {k: state[k] for k in net.buffer_specs}, training=False)
    for node, cache in net.tape:
        mod = ref_layers.get(node.type)
        p = {k: state[full] for k, full in net.graph.param_names(node).items()}
        p.update({k: state[f"{node.name}.{k}"] for k in node.layer.buffers(node.input_shapes)})
        ins = [values[i] if i in values else x for i in node.inputs]
        mags = [None if np.issubdtype(np.asarray(v).dtype, np.integer) else np.abs(v) for v in ins]
        _, mag_cache = mod.magnitude(node.layer, ins, mags, p, cache)
        e = rng.random(np.shape(values[node.name]))
        delta = e * rng.choice([-1.0, 1.0], size=e.shape)
        m_in, m_par = mod.magnitude_backward(node.layer, np.zeros_like(e), e, cache, mag_cache, p)
        d_in, d_par = mod.backward(node.layer, delta, cache)
        for got, bound in [*zip(d_in, m_in, strict=True), *((d_par[k], m_par[k]) for k in d_par)]:
            if got is not None:
                assert np.all(np.abs(got) <= bound * (1 + 1e-9) + 1e-300), (node.name, np.max(np.abs(got) - bound))


def test_mae_near_zero_carries_the_other_sign() -> None:
    """mae's d within its error of 0 may come out 0 or of the other sign: 2|g| at those elements only."""
    from lockstep.reference import losses as ref_losses
    from lockstep.spec.losses import MAE

    pred, target = np.array([[1.0 + 1e-12, 1.0, 2.0]]), np.array([[1.0, 1.0, 1.0]])
    _, grad = ref_losses.compute(MAE(type="mae"), pred, target)
    got = ref_losses.get("mae").branch_error(MAE(type="mae"), pred, target, np.full(3, 1e-7), grad, U)
    assert np.allclose(got, [[2 / 3, 0.0, 0.0]]), got
