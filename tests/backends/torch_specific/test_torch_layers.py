"""What only torch's layer mappings have: native padding options where they suffice (subclasses elsewhere),
LSTM's second bias frozen at zero, attention's fused projections, bitwise parameter round trips, the standard's
dropout mask and torch's RNG left alone. Every layer's agreement with the reference, on torch and TensorFlow
alike, is tests/backends/test_agreement.py.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
import torch
from backend_support import assert_checks, random_state, recipe, sessions

from lockstep.adapters.torch import TorchAdapter
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare
from lockstep.spec.documents import Model


# ------------------------------------------------------------------------------- where torch differs
def _net(doc_layers: list[dict], shape: list[int], dtype: str = "float64"):
    model = Model.model_validate(cs.model_doc("m", shape, doc_layers))
    return model, TorchAdapter().build(model, dtype=dtype)


@pytest.mark.parametrize(("layer", "padded"), [
    ({"type": "conv2d", "filters": 2, "kernel_size": 3, "stride": 2, "padding": "same"}, "PaddedConv2d"),
    ({"type": "conv2d", "filters": 2, "kernel_size": 3, "stride": 1, "padding": "same"}, "Conv2d"),
    ({"type": "conv1d", "filters": 2, "kernel_size": 2, "padding": "same"}, "PaddedConv1d"),
    ({"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": [0, 1, 1, 0]}, "PaddedConv2d"),
    ({"type": "max_pool2d", "kernel_size": 2, "padding": "same"}, "MaxPool2d"),
    ({"type": "max_pool2d", "kernel_size": 3, "stride": 2, "padding": "same"}, "PaddedMaxPool2d"),
    ({"type": "avg_pool2d", "kernel_size": 3, "stride": 1, "padding": "same"}, "AvgPool2d"),
    ({"type": "avg_pool2d", "kernel_size": 2, "stride": 1, "padding": "same"}, "PaddedAvgPool2d"),
])
def test_padding_uses_native_options_where_they_suffice(layer: dict, padded: str) -> None:
    """Symmetric padding within torch's limits is the native option; the rest is the documented subclass."""
    shape = [2, 6] if layer["type"] == "conv1d" else [2, 6, 6]
    model, s = _net([{**layer, "name": "l"}], shape)
    assert type(s.net[0]).__name__ == padded
    rng = np.random.default_rng(0)
    state = random_state(model, rng)
    s.set_parameters(state)
    ref, _ = sessions(model, recipe(cs.model_doc("m", shape, [{**layer, "name": "l"}])))
    ref.set_parameters(state)
    x = rng.normal(size=(3, *shape))
    assert_checks([compare("output", s.forward(x), ref.forward(x))])


def test_max_pool_padding_never_wins() -> None:
    _, s = _net([{"type": "max_pool2d", "kernel_size": 3, "stride": 2, "padding": "same"}], [1, 4, 4])
    out = s.forward(-np.ones((1, 1, 4, 4)))
    assert np.all(out == -1.0)  # zero padding would have produced 0


def test_lstm_second_bias_stays_zero_and_frozen() -> None:
    layers = [{"type": "lstm", "name": "lstm", "units": 3}, {"type": "dense", "name": "out", "units": 2}]
    model = Model.model_validate(cs.model_doc("m", [4, 2], layers))
    r = recipe(cs.model_doc("m", [4, 2], layers), optimizer={"type": "adam", "learning_rate": 0.1})
    s = TorchAdapter().build(model, dtype="float64", recipe=r)
    s.set_parameters(random_state(model, np.random.default_rng(1)))
    for _ in range(3):
        s.train_step(np.random.default_rng(2).normal(size=(5, 4, 2)), np.zeros((5, 2)))
    lstm = s.net[0]
    assert not lstm.bias_hh_l0.requires_grad and torch.count_nonzero(lstm.bias_hh_l0) == 0
    assert set(s.get_parameters()) == {"lstm.weight_ih", "lstm.weight_hh", "lstm.bias", "out.weight", "out.bias"}


def test_attention_projections_are_rows_of_in_proj_weight() -> None:
    model, s = _net([{"type": "multi_head_attention", "name": "att", "num_heads": 2}], [3, 4])
    state = random_state(model, np.random.default_rng(3))
    s.set_parameters(state)
    w = s.net[0].in_proj_weight.detach().numpy()
    for i, p in enumerate(("query", "key", "value")):
        assert np.array_equal(w[4 * i:4 * (i + 1)], state[f"att.{p}_weight"].T)
    assert np.array_equal(s.net[0].out_proj.weight.detach().numpy(), state["att.output_weight"].T)


def test_parameters_round_trip_bit_for_bit() -> None:
    doc = cs.model_doc("m", [2, 6, 6], [
        {"type": "conv2d", "name": "c", "filters": 3, "kernel_size": 3, "padding": "same"},
        {"type": "batch_norm", "name": "bn"}, {"type": "flatten"}, {"type": "dense", "name": "d", "units": 2}])
    model = Model.model_validate(doc)
    state = random_state(model, np.random.default_rng(4))
    s = TorchAdapter().build(model, dtype="float64")
    s.set_parameters(state)
    got = s.get_parameters()
    assert set(got) == set(state) and all(np.array_equal(got[k], state[k]) for k in state)
    got["d.weight"][0, 0] = 123.0  # a copy: the session is untouched
    assert s.get_parameters()["d.weight"][0, 0] == state["d.weight"][0, 0]
    with pytest.raises(KeyError, match=r"bn\.running_var"):
        s.set_parameters({k: v for k, v in state.items() if k != "bn.running_var"})
    with pytest.raises(ValueError, match=r"d\.weight"):
        s.set_parameters({**state, "d.weight": np.zeros((2, 2))})


def test_dropout_in_training_needs_the_standard_mask() -> None:
    doc = cs.model_doc("m", [3], [{"type": "dense", "name": "d", "units": 3}, {"type": "dropout", "name": "drop",
                                                                                "rate": 0.5}])
    model = Model.model_validate(doc)
    s = TorchAdapter().build(model, dtype="float64", recipe=recipe(doc))
    s.set_parameters(random_state(model, np.random.default_rng(5)))
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="keep-mask"):
        s.loss_and_gradients(x, np.zeros((2, 3)))
    keep = np.array([[True, False, True], [False, False, True]])
    out = s.forward(x, training=True, masks={"drop": keep})
    assert np.array_equal(out == 0, ~keep)
    assert np.array_equal(s.forward(x), s.forward(x, training=False))


def test_building_leaves_torch_rng_alone() -> None:
    state = torch.get_rng_state()
    _net([{"type": "dense", "units": 64}, {"type": "lstm", "units": 8}], [5, 3])
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("scale", [True, False])
def test_rms_norm_exports_at_opset_17_and_is_put_back(tmp_path, scale: bool) -> None:
    """The TorchScript exporter has no ONNX form of aten::rms_norm below opset 23: the export writes it out (the
    same formula and weight), ONNX Runtime then gives torch's outputs, and the session keeps its nn.RMSNorm."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model, s = _net([{"type": "dense", "name": "d", "units": 6},
                     {"type": "rms_norm", "name": "n", "scale": scale}], [3, 4])
    rng = np.random.default_rng(0)
    s.set_parameters(random_state(model, rng))
    x = rng.normal(size=(5, 3, 4))
    path = s.export(tmp_path / "m.onnx", opset=17)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, s.forward(x), rtol=1e-12, atol=1e-12)
    assert any(isinstance(m, torch.nn.RMSNorm) for m in s.net.modules())
