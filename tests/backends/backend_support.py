"""Shared by the backend tests: recipes around a model, random states and inputs, sessions, the assertions.

The comparison rule is conformance/checks.py's (docs/spec/v1-semantics.md#tolerances):
float64 |a - r| <= 1e-10·|r| + 1e-12·s, s the largest magnitude of the quantity's kind;
float32 (one-shot comparisons from identical inputs, against the float64 reference) |a - r| <= 1e-4·|r| + 1e-5·s.
Training in float32 is never compared free-running: `judged_checks` judges each step re-synchronized
(conformance/resync.py), as `lockstep compare` does.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.reference import ReferenceAdapter
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import Check, compare_dicts
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.graph import build_graph


def adapter(backend: str):
    """The built-in adapter of `backend` ("torch", "tensorflow"), imported only when asked for."""
    if backend == "torch":
        from lockstep.adapters.torch import TorchAdapter

        return TorchAdapter()
    if backend == "tensorflow":
        from lockstep.adapters.tensorflow import TensorFlowAdapter

        return TensorFlowAdapter()
    raise KeyError(backend)


def recipe(model_doc: dict, loss: dict | None = None, optimizer: dict | None = None, dtype: str = "float64",
           **extra) -> Recipe:
    return Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "case"}, "model": model_doc,
        "seed": 0, "dtype": dtype,
        "data": {"source": {"type": "synthetic_regression", "num_samples": 8, "shape": [1]}, "batch_size": 4},
        "loss": loss or {"type": "mse"}, "optimizer": optimizer or {"type": "sgd", "learning_rate": 0.1},
        "training": {"steps": 3}, **extra})


def random_state(model: Model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters ~ N(0, 0.25), buffers positive (running variances must be)."""
    graph = build_graph(model)
    out = {k: rng.normal(size=s.shape) * 0.5 for k, s in graph.parameters().items()}
    out.update({k: np.abs(rng.normal(size=s.shape)) + 0.5 for k, s in graph.buffers().items()})
    return out


def random_input(model: Model, rng: np.random.Generator, n: int = 4) -> np.ndarray:
    graph = build_graph(model)
    (name, shape), = graph.input_shapes.items()
    if graph.input_dtypes[name] == "int64":
        dim = min(nd.layer.input_dim for nd in graph.nodes if nd.type == "embedding")
        return rng.integers(0, dim, size=(n, *shape))
    return rng.normal(size=(n, *shape))


def sessions(model: Model, r: Recipe, dtype: str = "float64", device: str = "cpu", backend: str = "torch"):
    """(the float64 reference, `backend`'s session in `dtype`), both built for the recipe."""
    ref = ReferenceAdapter().build(model, dtype="float64", recipe=r)
    actual = adapter(backend).build(model, dtype=dtype, device=device, recipe=r)
    return ref, actual


def state_checks(prefix: str, actual: dict[str, dict[str, np.ndarray]], reference: dict[str, dict[str, np.ndarray]],
                 dtype: str) -> list[Check]:
    """Optimizer state compared per state name across all parameters (the kind whose scale s applies): a
    parameter whose gradient is mathematically 0 (a bias before batch norm) has round-off-sized state."""
    assert set(actual) == set(reference), (sorted(actual), sorted(reference))
    names = {n for st in reference.values() for n in st}
    checks = []
    for n in sorted(names):
        ref = {p: st[n] for p, st in reference.items() if n in st}
        got = {p: st[n] for p, st in actual.items() if n in st}
        checks += compare_dicts(f"{prefix} {n} of", got, ref, dtype)
    return checks


def assert_checks(checks: list[Check]) -> None:
    bad = [c for c in checks if not c.ok]
    assert not bad, "; ".join(f"{c.quantity}: error {c.error:.3g} > tolerance {c.tolerance:.3g}" for c in bad)


def worst_ratio(checks: list[Check]) -> float:
    """The largest error/tolerance ratio (1/margin) of a list of passing checks."""
    return max((c.ratio for c in checks), default=0.0)


def judged_checks(model: Model, r: Recipe, ref, actual, batches, dtype: str) -> list[Check]:
    """Each step of `actual` judged re-synchronized against the reference session `ref` (both already at the
    same starting state): the worst check of every step, and every failing one, labelled with the step."""
    from types import SimpleNamespace

    from lockstep.conformance.resync import Judge

    judge = Judge(SimpleNamespace(model=model, recipe=r), ref, dtype)  # type: ignore[arg-type]
    out = []
    for t, (x, y, *masks) in enumerate(batches, 1):
        rs = judge.step(t, x, y, masks[0] if masks else None)
        v = judge.judge(rs, actual)
        out += [Check(f"step {t} {c.quantity}", c.error, c.tolerance, c.ratio) for c in (v.failed or [v.worst])
                if c is not None]
    return out


# ------------------------------------------------------------------- models where frameworks differ
def _seq(shape: list[int], layers: list[dict], dtype: str = "float") -> dict:
    return cs.model_doc("case", shape, layers, input_dtype=dtype)


CORNERS = {  # test_agreement.py runs each on every backend; tensorflow_specific reads their layouts
    # stride with dilation: Keras refuses it, PaddedConv runs stride 1 and keeps every stride-th output
    "conv2d stride+dilation same": _seq([2, 9, 8], [{"type": "conv2d", "filters": 3, "kernel_size": 3, "stride": 2,
                                                     "dilation": 2, "padding": "same"}]),
    "conv1d stride+dilation explicit": _seq([2, 11], [{"type": "conv1d", "filters": 2, "kernel_size": 2, "stride": 3,
                                                       "dilation": 2, "padding": [2, 1], "groups": 2}]),
    # the odd 'same' padding element goes at the end, as TensorFlow's SAME puts it
    "conv2d same stride 2": _seq([1, 8, 7], [{"type": "conv2d", "filters": 2, "kernel_size": [3, 2], "stride": 2,
                                              "padding": "same"}]),
    "conv2d explicit asymmetric": _seq([2, 5, 5], [{"type": "conv2d", "filters": 4, "kernel_size": 3, "groups": 2,
                                                    "padding": [0, 2, 1, 0]}]),
    "max_pool explicit": _seq([2, 5, 6], [{"type": "max_pool2d", "kernel_size": 3, "stride": 2, "padding": [2, 1]}]),
    "avg_pool explicit": _seq([2, 5, 6], [{"type": "avg_pool2d", "kernel_size": 3, "stride": 2,
                                           "padding": [1, 2, 0, 1]}]),
    "avg_pool same": _seq([1, 5, 5], [{"type": "avg_pool2d", "kernel_size": 2, "stride": 2, "padding": "same"}]),
    # a channels-last run in TensorFlow: conv -> batch norm -> leaky relu -> dropout -> pool -> flatten
    "cnn chain": _seq([2, 6, 6], [
        {"type": "conv2d", "name": "c1", "filters": 3, "kernel_size": 3, "padding": "same"},
        {"type": "batch_norm", "name": "bn", "momentum": 0.3},
        {"type": "leaky_relu", "negative_slope": 0.2},
        {"type": "dropout", "name": "drop", "rate": 0.25},
        {"type": "max_pool2d", "kernel_size": 2},
        {"type": "conv2d", "name": "c2", "filters": 2, "kernel_size": 2, "stride": 2, "padding": "same"},
        {"type": "gelu"},
        {"type": "flatten"},
        {"type": "dense", "name": "out", "units": 3}]),
    "conv1d then global pool": _seq([3, 7], [
        {"type": "conv1d", "name": "c", "filters": 4, "kernel_size": 3},
        {"type": "batch_norm", "name": "bn"}, {"type": "silu"}, {"type": "global_avg_pool"},
        {"type": "dense", "name": "out", "units": 2}]),
    "batch norm channels-first over a sequence": _seq([3, 4], [{"type": "batch_norm", "name": "bn", "momentum": 0.5},
                                                              {"type": "dense", "name": "d", "units": 2}]),
    "softmax over channels after conv": _seq([2, 4, 4], [
        {"type": "conv2d", "name": "c", "filters": 3, "kernel_size": 1}, {"type": "softmax", "axis": 0},
        {"type": "reshape", "shape": [3, -1]}, {"type": "log_softmax", "axis": -1}]),
    "gru sequences then lstm": _seq([5, 3], [
        {"type": "gru", "name": "g", "units": 4, "return_sequences": True},
        {"type": "lstm", "name": "l", "units": 3}, {"type": "dense", "name": "d", "units": 2}]),
    "embedding attention causal": _seq([6], [
        {"type": "embedding", "name": "e", "input_dim": 7, "output_dim": 4},
        {"type": "multi_head_attention", "name": "a", "num_heads": 2, "causal": True},
        {"type": "layer_norm", "name": "n", "dims": 2}, {"type": "flatten"},
        {"type": "dense", "name": "d", "units": 2}], dtype="int64"),
    "graph: add and concat of channels-last branches": {
        "apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "g"},
        "inputs": [{"name": "x", "shape": [2, 5, 5]}],
        "nodes": [
            {"name": "a", "type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same", "inputs": ["x"]},
            {"name": "b", "type": "conv2d", "filters": 3, "kernel_size": 1, "inputs": ["x"]},
            {"name": "s", "type": "add", "inputs": ["a", "b"]},
            {"name": "r", "type": "relu", "inputs": ["s"]},
            {"name": "c", "type": "concat", "inputs": ["r", "x"]},
            {"name": "p", "type": "avg_pool2d", "kernel_size": 2, "inputs": ["c"]},
            {"name": "f", "type": "flatten", "inputs": ["p"]},
            {"name": "o", "type": "dense", "units": 2, "inputs": ["f"]}],
        "outputs": ["o"]},
}
