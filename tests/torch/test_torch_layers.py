"""Every v1 layer on torch against the float64 reference: eval output, training loss, every gradient and
the buffers after a training forward.

float64: |a - r| <= 1e-10·|r| + 1e-12·s (s: the largest magnitude of that kind of quantity);
float32: the provisional float32 rule 1e-4·|r| + 1e-5·s (conformance/checks.py, docs/adapters.md).
Hyper-parameters (padding and stride corners, groups, dilation, heads, causal masks, axes, ...) are
drawn by hypothesis from conformance/strategies.py.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

pytest.importorskip("torch.nn")  # not "torch": without torch installed, this folder would import as `torch`
import torch
from torch_test_cases import assert_checks, random_input, random_state, recipe, sessions

from lockstep.adapters.base import UnsupportedConstruct
from lockstep.adapters.torch import TorchAdapter
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare, compare_dicts
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph
from lockstep.spec.loader import dump_yaml


def _layer_case(doc: dict, seed: int, dtype: str) -> list:
    if "layers" in doc and not build_graph(Model.model_validate(doc)).parameters():
        # a parameter-free layer: a dense layer in front makes its input gradient observable
        doc["layers"].insert(0, {"type": "dense", "name": "pre", "units": doc["inputs"][0]["shape"][-1]})
    note(dump_yaml(doc))
    model = Model.model_validate(doc)
    rng = np.random.default_rng(seed)
    ref, tch = sessions(model, recipe(doc, dtype=dtype), dtype)
    state = random_state(model, rng)
    ref.set_parameters(state)
    tch.set_parameters(state)
    x = random_input(model, rng)
    graph = build_graph(model)
    masks = {n.name: rng.random((len(x), *n.shape)) >= n.layer.rate for n in graph.nodes if n.type == "dropout"}
    checks = [compare("eval output", tch.forward(x), ref.forward(x), dtype)]
    y = rng.normal(size=ref.forward(x).shape)
    lr, gr = ref.loss_and_gradients(x, y, masks=masks)
    lt, gt = tch.loss_and_gradients(x, y, masks=masks)
    checks.append(compare("loss", lt, lr, dtype))
    checks += compare_dicts("gradient", gt, gr, dtype)
    checks += compare_dicts("after a training forward:", tch.get_parameters(), ref.get_parameters(), dtype)
    return checks


@pytest.mark.parametrize("construct", cs.LAYERS)
@settings(max_examples=15)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_layer_float64(construct: str, data, seed: int) -> None:
    assert_checks(_layer_case(data.draw(cs.layer_model(construct)), seed, "float64"))


@pytest.mark.parametrize("construct", cs.LAYERS)
@settings(max_examples=4)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_layer_float32(construct: str, data, seed: int) -> None:
    doc = data.draw(cs.layer_model(construct))
    # layer_norm over one element: x̂ is 0 exactly, but float32's x·rstd - μ·rstd leaves ~ulp(|x|/√ε), beyond the
    # provisional float32 rule (the conformance suite's derived bounds account for 1/√ε; docs/adapters/torch.md)
    assume(not (construct == "layer_norm" and math.prod(doc["inputs"][0]["shape"][-doc["layers"][0]["dims"]:]) == 1))
    assert_checks(_layer_case(doc, seed, "float32"))


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


def test_graph_with_two_inputs_and_shared_values() -> None:
    doc = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "g"},
           "inputs": [{"name": "a", "shape": [3]}, {"name": "b", "shape": [3]}],
           "nodes": [{"name": "da", "type": "dense", "units": 3, "inputs": ["a"]},
                     {"name": "s", "type": "add", "inputs": ["da", "b", "da"]},
                     {"name": "c", "type": "concat", "inputs": ["s", "a"], "axis": -1},
                     {"name": "out", "type": "dense", "units": 2, "inputs": ["c"]}],
           "outputs": ["out"]}
    model = Model.model_validate(doc)
    rng = np.random.default_rng(6)
    ref, tch = sessions(model, recipe(doc))
    state = random_state(model, rng)
    ref.set_parameters(state)
    tch.set_parameters(state)
    x = {"a": rng.normal(size=(4, 3)), "b": rng.normal(size=(4, 3))}
    y = rng.normal(size=(4, 2))
    lr, gr = ref.loss_and_gradients(x, y)
    lt, gt = tch.loss_and_gradients(x, y)
    assert_checks([compare("output", tch.forward(x), ref.forward(x)), compare("loss", lt, lr),
                   *compare_dicts("gradient", gt, gr)])


# ------------------------------------------------------------------------------------------ adapter
def test_support_answers_every_spec_construct() -> None:
    from lockstep.spec.constructs import construct_names

    adapter = TorchAdapter()
    run, prepared = construct_names()
    for construct in sorted(run | prepared):
        for dtype in ("float32", "float64"):
            s = adapter.support(construct, dtype=dtype)
            assert s.supported, (construct, s)
            assert s.status == "native" or s.note, construct  # every subclass says how it closes the gap
    assert adapter.support("conv2d").status == "bridged"
    assert adapter.support("dense").status == "native"
    assert adapter.support("warmup").status == "written"
    assert not adapter.support("no_such_layer").supported
    assert not adapter.support("dense", dtype="float16").supported
    assert not adapter.support("dense", device="tpu").supported


def test_devices_and_build_errors() -> None:
    adapter = TorchAdapter()
    assert adapter.devices()[0] == "cpu"
    assert "torch" in adapter.versions()
    model = Model.model_validate(cs.model_doc("m", [2], [{"type": "dense", "units": 1}]))
    with pytest.raises(UnsupportedConstruct):
        adapter.build(model, dtype="float16")
    with pytest.raises(UnsupportedConstruct, match=r"cuda:99|no CUDA"):
        adapter.build(model, dtype="float32", device="cuda:99")
    with pytest.raises(RuntimeError, match="without a recipe"):
        adapter.build(model, dtype="float32").train_step(np.zeros((1, 2), np.float32), np.zeros((1, 1)))


def test_importing_the_adapter_package_does_not_import_torch() -> None:
    """Without torch, `import lockstep.adapters.torch` works and the registry says what to install."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import lockstep.adapters.torch as t\n"
        "from lockstep.adapters.registry import AdapterNotFound, get\n"
        "try:\n    get('torch')\nexcept AdapterNotFound as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'lockstep-standard[torch]'" in out
