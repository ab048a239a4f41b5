"""Reference initializers and randomness: statistics on large tensors within a few standard errors,
fans from the canonical layouts, orthogonality, per-parameter streams, and pinned bits."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from pydantic import TypeAdapter

from lockstep.reference.initializers import initial_parameters, initial_value, initialize, orthogonal
from lockstep.reference.random import dropout_mask, name_words, stream
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph
from lockstep.spec.initializers import Initializer
from lockstep.spec.layers import ParamSpec

INIT = TypeAdapter(Initializer)
Z = 5.0  # standard errors allowed: a false alarm about once in 10^6 draws, and the draws are pinned anyway

DENSE = ParamSpec((400, 300), None, 400, 300)
CONV = ParamSpec((64, 16, 5, 5), None, 16 * 25, 64 * 25)


def draw(init: dict, spec: ParamSpec = DENSE, name: str = "p") -> np.ndarray:
    a = initialize(INIT.validate_python(init), spec, stream(0, "test", name))
    assert a.shape == spec.shape and a.dtype == np.float64
    return a


def check_moments(a: np.ndarray, mean: float, var: float, fourth: float) -> None:
    """Sample mean and variance within Z standard errors; `fourth` is the central 4th moment."""
    n = a.size
    assert abs(a.mean() - mean) <= Z * math.sqrt(var / n), (a.mean(), mean)
    assert abs(a.var() - var) <= Z * math.sqrt((fourth - var**2) / n), (a.var(), var)


def check_uniform(a: np.ndarray, limit: float) -> None:
    assert np.abs(a).max() <= limit and np.abs(a).max() > 0.999 * limit
    w = 2 * limit
    check_moments(a, 0.0, w**2 / 12, w**4 / 80)


def check_normal(a: np.ndarray, mean: float, std: float) -> None:
    check_moments(a, mean, std**2, 3 * std**4)


@pytest.mark.parametrize("spec", [DENSE, CONV], ids=["dense", "conv"])
def test_glorot_and_he_use_the_spec_fans(spec: ParamSpec) -> None:
    fi, fo = spec.fan_in, spec.fan_out
    check_uniform(draw({"type": "glorot_uniform"}, spec), math.sqrt(6 / (fi + fo)))
    check_uniform(draw({"type": "xavier_uniform", "gain": 2.0}, spec), 2 * math.sqrt(6 / (fi + fo)))
    check_normal(draw({"type": "glorot_normal", "gain": 0.5}, spec), 0.0, 0.5 * math.sqrt(2 / (fi + fo)))
    check_uniform(draw({"type": "he_uniform"}, spec), math.sqrt(6 / fi))
    check_uniform(draw({"type": "kaiming_uniform", "mode": "fan_out"}, spec), math.sqrt(6 / fo))
    check_normal(draw({"type": "he_normal"}, spec), 0.0, math.sqrt(2 / fi))
    check_normal(draw({"type": "kaiming_normal", "mode": "fan_out"}, spec), 0.0, math.sqrt(2 / fo))


def test_normals_are_not_truncated() -> None:
    a = draw({"type": "he_normal"})
    s = math.sqrt(2 / 400)
    assert np.abs(a).max() > 3.5 * s  # a truncated normal (Keras) never exceeds 2 s


def test_plain_distributions_and_constants() -> None:
    a = draw({"type": "uniform", "low": -1.0, "high": 3.0})
    assert a.min() >= -1.0 and a.max() < 3.0
    check_moments(a, 1.0, 16 / 12, 4**4 / 80)
    check_normal(draw({"type": "normal", "mean": 0.5, "std": 2.0}), 0.5, 2.0)
    assert (draw({"type": "constant", "value": -0.25}) == -0.25).all()
    assert not draw({"type": "zeros"}).any() and (draw({"type": "ones"}) == 1).all()


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (16, 4, 3, 3), (8, 8), (5,)])
def test_orthogonal(shape: tuple[int, ...]) -> None:
    a = orthogonal(shape, 1.5, stream(1, "o"))
    rows, cols = shape[0], math.prod(shape[1:])
    m = a.reshape(rows, cols) / 1.5
    gram = m.T @ m if rows >= cols else m @ m.T
    assert np.allclose(gram, np.eye(min(rows, cols)), atol=1e-12)
    # torch.nn.init.orthogonal_'s construction on the same standard normal draw [rows, cols]
    x = stream(1, "o").standard_normal((rows, cols))
    x = x.T if rows < cols else x
    q, r = np.linalg.qr(x)
    q = q * np.sign(np.diag(r))
    assert np.allclose(a, 1.5 * (q.T if rows < cols else q).reshape(shape), atol=1e-13)


def test_orthogonal_matches_torch_construction_when_installed() -> None:
    torch = pytest.importorskip("torch")
    for rows, cols in ((6, 10), (10, 6)):
        x = stream(2, "o").standard_normal((rows, cols))
        flat = torch.tensor(x)
        if rows < cols:
            flat = flat.t()
        q, r = torch.linalg.qr(flat)
        q = q * torch.diag(r, 0).sign()
        if rows < cols:
            q = q.t()
        assert np.allclose(orthogonal((rows, cols), 1.0, stream(2, "o")), q.numpy(), atol=1e-13)


# -------------------------------------------------------------------------------- whole models
MODEL = Model.model_validate({
    "apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
    "inputs": [{"name": "x", "shape": [3, 4]}],
    "layers": [
        {"type": "lstm", "units": 5, "return_sequences": True},
        {"type": "batch_norm"},
        {"type": "flatten"},
        {"name": "head", "type": "dense", "units": 2,
         "initializers": {"weight": {"type": "normal", "std": 1.0, "seed": 99}, "bias": {"type": "constant",
                                                                                        "value": 0.1}}},
    ],
})


def test_initial_parameters_of_a_graph() -> None:
    graph = build_graph(MODEL)
    p = initial_parameters(graph, 7)
    assert set(p) == {"lstm_0.weight_ih", "lstm_0.weight_hh", "lstm_0.bias", "batch_norm_1.weight",
                      "batch_norm_1.bias", "batch_norm_1.running_mean", "batch_norm_1.running_var",
                      "head.weight", "head.bias"}
    assert p["lstm_0.weight_ih"].shape == (4, 20) and p["head.weight"].shape == (15, 2)
    w_hh = p["lstm_0.weight_hh"]  # default orthogonal on [H, 4H]: orthonormal rows
    assert np.allclose(w_hh @ w_hh.T, np.eye(5), atol=1e-12)
    assert (p["head.bias"] == 0.1).all() and (p["batch_norm_1.running_var"] == 1).all()
    assert not p["lstm_0.bias"].any()
    # the per-parameter function and the specs form give the same bits
    specs = {**graph.parameters(), **graph.buffers()}
    overrides = {n.name: n.layer.initializers for n in graph.nodes}
    same = initial_parameters(specs, overrides, 7)
    assert all(np.array_equal(p[k], same[k]) for k in p)
    assert np.array_equal(p["lstm_0.weight_ih"], initial_value("lstm_0.weight_ih", specs["lstm_0.weight_ih"],
                                                               None, 7))
    # without overrides the defaults apply
    plain = initial_parameters(specs, None, 7)
    assert not plain["head.bias"].any()
    with pytest.raises(TypeError):
        initial_parameters(specs, 7)


def test_streams_are_per_parameter_and_seeded() -> None:
    graph = build_graph(MODEL)
    a, b = initial_parameters(graph, 7), initial_parameters(graph, 8)
    assert np.array_equal(a["head.weight"], b["head.weight"])  # its own seed 99 replaces the recipe seed
    assert not np.array_equal(a["lstm_0.weight_ih"], b["lstm_0.weight_ih"])
    assert np.array_equal(a["lstm_0.weight_ih"], initial_parameters(graph, 7)["lstm_0.weight_ih"])
    expected = np.random.default_rng(np.random.SeedSequence([99, *name_words("init", "head.weight")]))
    assert np.array_equal(a["head.weight"], expected.normal(0.0, 1.0, size=(15, 2)))


# ------------------------------------------------------------------------------------ randomness
def test_stream_derivation() -> None:
    digest = hashlib.sha256(b"init/dense_0.weight").digest()
    assert name_words("init", "dense_0.weight") == [int.from_bytes(digest[i:i + 4], "little") for i in (0, 4, 8, 12)]
    assert name_words("init", "dense_0.weight") == [262999207, 1705350097, 3036622214, 3402377061]
    a = stream(7, "init", "dense_0.weight").random(4)
    assert np.array_equal(a, stream(7, "init", "dense_0.weight").random(4))
    assert not np.array_equal(a, stream(7, "init", "dense_1.weight").random(4))
    assert not np.array_equal(a, stream(8, "init", "dense_0.weight").random(4))
    assert not np.array_equal(stream(0, "a/b").random(2), stream(0, "a", "c").random(2))
    with pytest.raises(ValueError):
        stream(-1, "x")


def test_pinned_bits() -> None:
    """The values the standard hands to every backend: a NumPy change to any Generator method the
    standard uses fails here instead of silently changing initial weights, data order or dropout."""
    assert stream(0, "golden").bit_generator.random_raw(2).tolist() == [5681162796582380249, 16542582812153178097]
    assert stream(0, "golden").random(3).tolist() == [0.307976452314922, 0.8967752111728919, 0.4399894633087571]
    assert stream(0, "golden").standard_normal(3).tolist() == [
        1.0657107853643983, -0.47603840609802883, -1.3810432720661419]
    assert stream(0, "golden").uniform(-1, 2, 3).tolist() == [
        -0.07607064305523403, 1.6903256335186758, 0.3199683899262713]
    assert stream(0, "golden").normal(1, 2, 3).tolist() == [3.1314215707287967, 0.047923187803942335,
                                                            -1.7620865441322837]
    assert stream(0, "golden").integers(0, 1000, 5).tolist() == [630, 307, 851, 896, 495]
    assert stream(0, "golden").permutation(8).tolist() == [5, 0, 4, 2, 3, 7, 6, 1]
    # random() is the top 53 bits of each raw word, exactly
    raw = stream(0, "golden").bit_generator.random_raw(3)
    assert ((raw >> np.uint64(11)).astype(np.float64) * 2.0**-53).tolist() == stream(0, "golden").random(3).tolist()


def test_dropout_mask() -> None:
    m = dropout_mask(3, "drop", 5, (200, 50), 0.3)
    assert m.dtype == bool and abs(m.mean() - 0.7) <= Z * math.sqrt(0.21 / m.size)
    assert np.array_equal(m, stream(3, "dropout", "drop", "5").random((200, 50)) >= 0.3)
    assert not np.array_equal(m, dropout_mask(3, "drop", 6, (200, 50), 0.3))
