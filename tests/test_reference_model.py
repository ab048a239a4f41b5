"""ReferenceModel: naming, shapes and canonical names; whole-model backward against finite differences.

The finite-difference rule is the one stated in test_reference_layers.py (h = 1e-6, float64,
|analytic - numeric| <= 1e-6 · max(1, |numeric|)), applied to the whole model's L = Σ y ⊙ ḡ, for every
parameter and every float input, so the graph plumbing (fan-out, merges, several outputs) is checked too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from test_reference_layers import assert_matches_finite_differences

from lockstep.conformance import strategies as cs
from lockstep.reference.model import ReferenceModel
from lockstep.spec.documents import Model
from lockstep.spec.loader import dump_yaml

API = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"}}


def model_of(**doc: object) -> ReferenceModel:
    return ReferenceModel(Model.model_validate({**API, **doc}))


def random_state(ref: ReferenceModel, rng: np.random.Generator) -> tuple[dict, dict]:
    params = {k: rng.normal(size=s.shape) for k, s in ref.param_specs.items()}
    buffers = {k: rng.uniform(0.5, 1.5, size=s.shape) for k, s in ref.buffer_specs.items()}
    return params, buffers


def check_model(ref: ReferenceModel, inputs: dict[str, np.ndarray], seed: int, training: bool = True) -> None:
    """Backward of the whole model (parameters and float inputs) against central differences."""
    rng = np.random.default_rng(seed)
    params, buffers = random_state(ref, rng)
    batch = next(iter(inputs.values())).shape[0]
    masks = {n: rng.random((batch, *s)) >= r for n, (s, r) in ref.dropout_layers().items()} if training else None
    out = ref.forward(inputs, params, {k: v.copy() for k, v in buffers.items()}, training=training, masks=masks)
    outs = out if isinstance(out, list) else [out]
    gys = [rng.normal(size=o.shape) for o in outs]
    grads = ref.backward(gys if isinstance(out, list) else gys[0])
    assert list(grads) == list(ref.param_specs)
    float_inputs = [k for k in inputs if ref.graph.input_dtypes[k] == "float"]
    grads.update({k: ref.input_gradients[k] for k in float_inputs})

    def loss(arrays: dict[str, np.ndarray]) -> float:
        xs = {k: arrays.get(k, v) for k, v in inputs.items()}
        y = ref.forward(xs, {k: arrays[k] for k in params}, {k: v.copy() for k, v in buffers.items()},
                        training=training, masks=masks)
        ys = y if isinstance(y, list) else [y]
        return float(sum(np.sum(a * g) for a, g in zip(ys, gys, strict=True)))

    assert_matches_finite_differences(loss, {**params, **{k: inputs[k] for k in float_inputs}}, grads, rng, "model")


def away_from_kinks(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 1e-2, 0.5, x)


@given(st.one_of(cs.sequence_model(), cs.graph_model()), st.integers(0, 2**32 - 1), st.booleans())
def test_whole_models_match_finite_differences(doc: dict, seed: int, training: bool) -> None:
    note(dump_yaml(doc))
    ref = ReferenceModel(Model.model_validate(doc))
    inp = ref.model.inputs[0]
    x = away_from_kinks(np.random.default_rng(seed).normal(size=(4, *inp.shape)))
    check_model(ref, {inp.name: x}, seed, training)


RESIDUAL_CONCAT = {
    "inputs": [{"name": "image", "shape": [2, 5, 5]}, {"name": "aux", "shape": [3]}],
    "nodes": [
        {"name": "stem", "type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same", "inputs": ["image"]},
        {"name": "bn", "type": "batch_norm", "inputs": ["stem"]},
        {"name": "act", "type": "tanh", "inputs": ["bn"]},
        {"name": "branch", "type": "conv2d", "filters": 2, "kernel_size": [1, 3], "padding": "same",
         "inputs": ["act"]},
        {"name": "residual", "type": "add", "inputs": ["stem", "branch", "act"]},  # stem and act fan out
        {"name": "pool", "type": "avg_pool2d", "kernel_size": 2, "padding": "same", "inputs": ["residual"]},
        {"name": "flat", "type": "flatten", "inputs": ["pool"]},
        {"name": "aux_proj", "type": "dense", "units": 4, "inputs": ["aux"]},
        {"name": "drop", "type": "dropout", "rate": 0.5, "inputs": ["aux_proj"]},
        {"name": "joined", "type": "concat", "inputs": ["flat", "drop", "aux"]},
        {"name": "head_a", "type": "dense", "units": 3, "inputs": ["joined"]},
        {"name": "probs", "type": "softmax", "inputs": ["head_a"]},
        {"name": "head_b", "type": "dense", "units": 2, "inputs": ["joined"]},
    ],
    "outputs": ["probs", "head_b", "head_a"],  # head_a is an output and also feeds probs
}


@pytest.mark.parametrize("training", [True, False])
def test_residual_concat_graph_with_several_outputs_matches_finite_differences(training: bool) -> None:
    ref = model_of(**RESIDUAL_CONCAT)
    rng = np.random.default_rng(7)
    check_model(ref, {"image": rng.normal(size=(3, 2, 5, 5)), "aux": rng.normal(size=(3, 3))}, 7, training)


def test_cnn_and_recurrent_sequences_match_finite_differences() -> None:
    rng = np.random.default_rng(11)
    cnn = model_of(inputs=[{"name": "x", "shape": [1, 6, 6]}], layers=[
        {"type": "conv2d", "filters": 3, "kernel_size": 3, "stride": 2, "padding": "same"},
        {"type": "batch_norm"}, {"type": "elu"},
        {"type": "max_pool2d", "kernel_size": 2, "stride": 1},
        {"type": "global_avg_pool"}, {"type": "dense", "units": 2}, {"type": "log_softmax"}])
    check_model(cnn, {"x": rng.permutation(36 * 2).reshape(2, 1, 6, 6) * 0.05 - 1.8}, 11)
    rnn = model_of(inputs=[{"name": "tokens", "shape": [5], "dtype": "int64"}], layers=[
        {"type": "embedding", "input_dim": 7, "output_dim": 4},
        {"type": "lstm", "units": 3, "return_sequences": True},
        {"type": "multi_head_attention", "num_heads": 1, "causal": True},
        {"type": "layer_norm"}, {"type": "gru", "units": 2}, {"type": "dense", "units": 1}])
    check_model(rnn, {"tokens": rng.integers(0, 7, size=(3, 5))}, 12)
    assert rnn.input_gradients == {"tokens": None}


def test_names_shapes_and_canonical_parameters() -> None:
    ref = model_of(inputs=[{"name": "x", "shape": [1, 4, 4]}], layers=[
        {"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same"},
        {"type": "batch_norm", "name": "bn"},
        {"type": "relu"},
        {"type": "dropout", "rate": 0.3},
        {"type": "dropout", "rate": 0.0},
        {"type": "flatten"},
        {"type": "dense", "units": 3, "use_bias": False}])
    assert ref.layer_names == ["conv2d_0", "bn", "relu_2", "dropout_3", "dropout_4", "flatten_5", "dense_6"]
    assert {k: s.shape for k, s in ref.param_specs.items()} == {
        "conv2d_0.weight": (2, 1, 3, 3), "conv2d_0.bias": (2,), "bn.weight": (2,), "bn.bias": (2,),
        "dense_6.weight": (32, 3)}
    assert list(ref.buffer_specs) == ["bn.running_mean", "bn.running_var"]
    assert ref.dropout_layers() == {"dropout_3": ((2, 4, 4), 0.3)}  # rate 0 needs no mask
    assert ref.shapes["flatten_5"] == (32,)


def test_forward_with_intermediates_and_buffers_updated_in_place() -> None:
    ref = model_of(inputs=[{"name": "x", "shape": [3]}], layers=[
        {"type": "dense", "units": 2}, {"type": "batch_norm", "name": "bn", "momentum": 0.5}, {"type": "sigmoid"}])
    rng = np.random.default_rng(0)
    params, _ = random_state(ref, rng)
    buffers = {"bn.running_mean": np.zeros(2), "bn.running_var": np.ones(2)}
    running_mean = buffers["bn.running_mean"]
    x = rng.normal(size=(5, 3))
    values = ref.forward_with_intermediates(x, params, buffers, training=True)
    assert list(values) == ref.layer_names
    h = x @ params["dense_0.weight"] + params["dense_0.bias"]
    np.testing.assert_allclose(values["dense_0"], h, rtol=1e-15)
    np.testing.assert_allclose(running_mean, 0.5 * h.mean(axis=0), rtol=1e-14)  # the caller's array moved
    np.testing.assert_allclose(buffers["bn.running_var"], 0.5 + 0.5 * h.var(axis=0, ddof=1), rtol=1e-14)
    y = ref.forward(x, params, buffers)  # eval: running statistics, buffers untouched
    np.testing.assert_array_equal(buffers["bn.running_mean"], running_mean)
    assert y.dtype == np.float64 and y.shape == (5, 2)


def test_float32_inputs_and_parameters_are_computed_in_float64() -> None:
    ref = model_of(inputs=[{"name": "x", "shape": [3]}], layers=[{"type": "dense", "units": 2}])
    rng = np.random.default_rng(0)
    params = {k: v.astype(np.float32) for k, v in random_state(ref, rng)[0].items()}
    y = ref.forward(rng.normal(size=(2, 3)).astype(np.float32), params, {})
    assert y.dtype == np.float64


def test_errors_name_what_is_missing_or_wrong() -> None:
    ref = model_of(inputs=[{"name": "x", "shape": [3]}], layers=[{"type": "dense", "units": 2},
                                                                   {"type": "dropout", "rate": 0.5}])
    params, _ = random_state(ref, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="forward first"):
        ref.backward(np.zeros((2, 2)))
    with pytest.raises(KeyError, match=r"dense_0\.bias"):
        ref.forward(np.zeros((2, 3)), {"dense_0.weight": params["dense_0.weight"]})
    with pytest.raises(ValueError, match=r"\[batch, 3\]"):
        ref.forward(np.zeros((2, 4)), params)
    with pytest.raises(ValueError, match="keep-mask"):
        ref.forward(np.zeros((2, 3)), params, training=True)
    with pytest.raises(KeyError, match="unknown layers"):
        ref.forward(np.zeros((2, 3)), params, masks={"nope": np.ones((2, 2), bool)})
    ref.forward(np.zeros((2, 3)), params)
    with pytest.raises(ValueError, match="1 outputs, got 2"):
        ref.backward([np.zeros((2, 2)), np.zeros((2, 2))])
    with pytest.raises(ValueError, match=r"cannot take"):
        model_of(inputs=[{"name": "x", "shape": [3]}], layers=[{"type": "conv2d", "filters": 1, "kernel_size": 1}])
