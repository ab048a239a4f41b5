"""The spec's own ONNX export on ONNX Runtime, against the float64 reference (adapters/onnxruntime/)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from lockstep.adapters.base import UnsupportedConstruct
from lockstep.adapters.onnxruntime import OnnxRuntimeAdapter, layers
from lockstep.adapters.onnxruntime.export import OPSETS, export_model
from lockstep.adapters.reference import ReferenceAdapter
from lockstep.adapters.registry import get
from lockstep.conformance import strategies as cs
from lockstep.conformance import suite
from lockstep.spec.documents import Model
from lockstep.spec.layers import LAYER_TYPES

FLOAT32_FINDINGS = ("sigmoid", "silu")
"""ONNX Runtime's float32 Sigmoid has absolute, not relative, accuracy (docs/conformance.md, "Found in real
frameworks"): the float32 certification of these depends on the CPU's MLAS kernel and is not asserted here."""


def _model(shape: list[int], layers_: list[dict], dtype: str = "float") -> Model:
    return Model.model_validate({"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
                                 "inputs": [{"name": "x", "shape": shape, "dtype": dtype}], "layers": layers_})


def _results(cert) -> str:
    return "\n".join(f"  {c.name}: {c.outcome} {c.message}" for c in cert.checks)


def test_every_layer_type_has_an_onnx_module_named_like_the_reference() -> None:
    for t in LAYER_TYPES:
        module = layers.get(t)
        assert module.__name__.rsplit(".", 1)[1] == t
        assert isinstance(module.OP, str) and module.OP and callable(module.export), t


def test_the_registry_finds_the_adapter_by_name_and_alias() -> None:
    assert isinstance(get("onnxruntime"), OnnxRuntimeAdapter) and isinstance(get("ort"), OnnxRuntimeAdapter)
    assert OnnxRuntimeAdapter.levels == (1,)


def test_support_names_the_onnx_operator_and_refuses_training() -> None:
    a = OnnxRuntimeAdapter()
    dense = a.support("dense")
    assert dense.status == "native" and "Gemm" in dense.note
    assert a.support("conv2d", dtype="float64").status == "written"
    assert "Conv" in a.support("conv2d", dtype="float64").note
    for construct in ("adam", "mse", "cosine", "global_norm", "l2", "warmup"):
        s = a.support(construct)
        assert s.status == "unsupported" and "predictions only" in s.note, (construct, s)
    assert a.support("dense", device="cuda:7").status in ("unsupported", "native")
    assert a.support("dense", dtype="bfloat16").status == "unsupported"


def test_float64_certification_of_every_layer_passes_the_float64_rule_and_reports_training_unsupported() -> None:
    """Export of every layer type matches the reference in float64 ORT under the float64 rule (1e-10)."""
    options = suite.Options(dtypes=("float64",), constructs=(*cs.LAYERS, "random_model", "mse", "adam"))
    cert = suite.certify(OnnxRuntimeAdapter(), "onnxruntime", options)
    assert cert.certified, _results(cert)
    by_level: dict[int, set[str]] = {}
    for c in cert.checks:
        by_level.setdefault(c.level, set()).add(c.outcome)
    assert by_level[1] == {"pass"}, _results(cert)
    assert by_level[2] == {"unsupported"} and by_level[3] == {"unsupported"}, _results(cert)
    assert {c.construct for c in cert.checks if c.level == 1} == {*cs.LAYERS, "random_model"}


def test_float32_certification_of_the_layers_passes() -> None:
    constructs = tuple(c for c in cs.LAYERS if c not in FLOAT32_FINDINGS)
    cert = suite.certify(OnnxRuntimeAdapter(), "onnxruntime",
                         suite.Options(levels=(1,), dtypes=("float32",), constructs=constructs))
    assert cert.certified, _results(cert)
    assert all(c.outcome == "pass" for c in cert.checks), _results(cert)


def test_gelu_none_has_no_float64_form_and_says_so() -> None:
    model = _model([3], [{"type": "gelu", "approximate": "none"}])
    with pytest.raises(UnsupportedConstruct) as err:
        OnnxRuntimeAdapter().build(model, dtype="float64")
    assert err.value.construct == "gelu" and "Erf" in err.value.reason
    OnnxRuntimeAdapter().build(model, dtype="float32")  # float32 exports it (Gelu / Erf)


def test_training_is_refused_with_a_clear_reason() -> None:
    session = OnnxRuntimeAdapter().build(_model([3], [{"type": "dense", "units": 2}]), dtype="float32")
    for call in (lambda: session.loss_and_gradients(np.zeros((1, 3)), np.zeros((1, 2))),
                 lambda: session.train_step(np.zeros((1, 3)), np.zeros((1, 2))),
                 session.get_optimizer_state, lambda: session.forward(np.zeros((1, 3)), training=True)):
        with pytest.raises(UnsupportedConstruct, match="predictions only"):
            call()


EVERY_LAYER = [
    ([2, 6, 7], [{"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2, "padding": "same"},
                 {"type": "batch_norm", "epsilon": 1e-3}, {"type": "elu"},
                 {"type": "max_pool2d", "kernel_size": 2, "padding": "same"},
                 {"type": "avg_pool2d", "kernel_size": 2, "stride": 1, "padding": [0, 1, 1, 0]},
                 {"type": "global_avg_pool"}, {"type": "dense", "units": 6}, {"type": "layer_norm"},
                 {"type": "leaky_relu"}, {"type": "gelu", "approximate": "tanh"}, {"type": "reshape", "shape": [3, 2]},
                 {"type": "lstm", "units": 3, "return_sequences": True}, {"type": "gru", "units": 4},
                 {"type": "softmax"}]),
    ([4, 6], [{"type": "conv1d", "filters": 6, "kernel_size": 2, "groups": 2, "padding": "same"},
              {"type": "multi_head_attention", "num_heads": 2, "causal": True}, {"type": "silu"},
              {"type": "flatten"}, {"type": "dropout", "rate": 0.5}, {"type": "tanh"}, {"type": "sigmoid"},
              {"type": "relu"}, {"type": "dense", "units": 3}, {"type": "log_softmax"}]),
]


@pytest.mark.parametrize("opset", [OPSETS[0], 17, OPSETS[-1]])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("case", range(len(EVERY_LAYER)))
def test_models_of_many_layers_export_check_and_agree_at_every_opset(case: int, dtype: str, opset: int) -> None:
    shape, stack = EVERY_LAYER[case]
    model = _model(shape, stack)
    reference = ReferenceAdapter().build(model, dtype="float64")
    rng = np.random.default_rng(case)
    params = {k: rng.normal(size=v.shape) * 0.5 for k, v in reference.get_parameters().items()}
    params.update({k: np.abs(v) + 0.5 for k, v in params.items() if k.endswith("running_var")})
    reference.set_parameters(params)
    proto = export_model(model, params, dtype=dtype, opset=opset)  # onnx.checker full_check inside
    assert proto.opset_import[0].version == opset
    session = OnnxRuntimeAdapter(opset=opset).build(model, dtype=dtype)
    session.set_parameters(params)
    x = rng.normal(size=(3, *shape))
    got, want = session.forward(x), reference.forward(x)
    tol = {"float64": 1e-10, "float32": 1e-4, "float16": 5e-2}[dtype]
    assert np.allclose(got, want, rtol=tol, atol=tol), (dtype, opset, float(np.max(np.abs(got - want))))


def test_the_batch_axis_is_dynamic_and_the_names_are_the_models() -> None:
    model = Model.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "g"},
        "inputs": [{"name": "tokens", "shape": [5], "dtype": "int64"}],
        "nodes": [{"name": "embed", "type": "embedding", "input_dim": 7, "output_dim": 4, "inputs": ["tokens"]},
                  {"name": "a", "type": "dense", "units": 4, "inputs": ["embed"]},
                  {"name": "sum", "type": "add", "inputs": ["a", "embed"]},
                  {"name": "cat", "type": "concat", "axis": -1, "inputs": ["sum", "a"]}],
        "outputs": ["cat"]})
    reference = ReferenceAdapter().build(model, dtype="float64")
    params = {k: np.random.default_rng(1).normal(size=v.shape) for k, v in reference.get_parameters().items()}
    reference.set_parameters(params)
    session = OnnxRuntimeAdapter().build(model, dtype="float64")
    session.set_parameters(params)
    proto = session.proto()
    assert [i.name for i in proto.graph.input] == ["tokens"] and [o.name for o in proto.graph.output] == ["cat"]
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    for n in (1, 4, 9):
        x = np.random.default_rng(n).integers(0, 7, size=(n, 5))
        np.testing.assert_allclose(session.forward(x), reference.forward(x), rtol=1e-12, atol=1e-12)


def test_export_writes_a_checked_file(tmp_path) -> None:
    session = OnnxRuntimeAdapter().build(_model([3], [{"type": "dense", "units": 2}]), dtype="float32")
    session.set_parameters({"dense_0.weight": np.ones((3, 2)), "dense_0.bias": np.zeros(2)})
    path = session.export(tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert {i.name for i in onnx.load(str(path)).graph.initializer} == {"dense_0.weight", "dense_0.bias"}


@pytest.mark.parametrize("kind, row", [("rms_norm", [0.0, 0.0, 0.0, 0.0]), ("layer_norm", [3.0, 3.0, 3.0, 3.0])])
def test_a_float64_epsilon_that_float32_holds_as_0_is_kept(kind: str, row: list[float]) -> None:
    """onnxruntime's NoopElimination deleted `Add(x, 1e-50)` from a float64 graph (1e-50 is 0 in float32): a
    constant row normalized to NaN where the standard (and every other backend) gives 0 (sweep, 2026-12-08)."""
    from lockstep.spec.documents import Model

    doc = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
           "inputs": [{"name": "x", "shape": [4]}], "layers": [{"type": kind, "name": "n", "epsilon": 1e-50}]}
    session = OnnxRuntimeAdapter().build(Model.model_validate(doc), dtype="float64")
    session.set_parameters({"n.weight": np.ones(4)} | ({"n.bias": np.zeros(4)} if kind == "layer_norm" else {}))
    y = session.forward(np.array([row]))
    assert np.array_equal(y, np.zeros((1, 4))), y
