"""The language-model constructs (#14 part 3): rms_norm, positional_embedding, multi_head_attention's rotary,
multiply and a dense head tied to an embedding.

- the reference's backward against central finite differences of its forward (hypothesis, derandomized);
- the pinned semantics: ε inside the root, the sinusoidal code's interleaved layout, the rotary pairings and
  their relative-position property, one array and summed gradients for a tied table;
- validation of `tied_to` and of rotary's even head size;
- every backend (torch, TensorFlow: each skips cleanly when missing) against the float64 reference on the
  same parameters and inputs, for each new construct, in float64 (tight) and float32 (the float32 rule).
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockstep.reference.layers import positional_embedding as ref_pe
from lockstep.reference.layers.context import ForwardContext
from lockstep.reference.layers.multi_head_attention import rotary_tables, rotate_pairs
from lockstep.reference.model import ReferenceModel
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph
from lockstep.spec.layers import LAYER_TYPES

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _model(shape: list[int], layers: list[dict] | None = None, *, nodes: list[dict] | None = None,
           outputs: list[str] | None = None, dtype: str = "float") -> Model:
    inp: dict = {"name": "x", "shape": shape}
    if dtype != "float":
        inp["dtype"] = dtype
    doc: dict = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "t"}, "inputs": [inp]}
    if nodes is not None:
        doc.update(nodes=nodes, outputs=outputs)
    else:
        doc["layers"] = layers
    return Model.model_validate(doc)


def _params(net: ReferenceModel, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {k: rng.normal(size=s.shape) for k, s in net.param_specs.items()}


def _input(net: ReferenceModel, rng: np.random.Generator, batch: int = 2) -> np.ndarray:
    name = net.input_names[0]
    shape = net.graph.input_shapes[name]
    if net.graph.input_dtypes[name] == "int64":
        vocab = min(n.layer.input_dim for n in net.graph.nodes if n.type == "embedding")
        return rng.integers(0, vocab, size=(batch, *shape))
    return rng.normal(size=(batch, *shape))


def _check_gradients(model: Model, seed: int) -> None:
    """Every parameter's (and the float input's) gradient of L = Σ w ⊙ y against central differences."""
    net = ReferenceModel(model)
    rng = np.random.default_rng(seed)
    params, x = _params(net, rng), _input(net, rng)
    y = net.forward(x, params)
    w = rng.normal(size=y.shape)
    grads = net.backward(w)
    dx = net.input_gradients[net.input_names[0]]

    def loss(p: dict[str, np.ndarray], xx: np.ndarray) -> float:
        return float(np.sum(w * ReferenceModel(model).forward(xx, p)))

    h = 1e-6
    for name, value in params.items():
        fd = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            up, down = dict(params), dict(params)
            up[name], down[name] = value.copy(), value.copy()
            up[name][i] += h
            down[name][i] -= h
            fd[i] = (loss(up, x) - loss(down, x)) / (2 * h)
        err = np.max(np.abs(fd - grads[name]), initial=0.0)
        assert err <= 1e-6 * (1 + np.max(np.abs(fd), initial=0.0)), f"{name}: |fd − backward| = {err:.3g}"
    if np.issubdtype(x.dtype, np.floating):
        fd = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            fd[i] = (loss(params, up) - loss(params, down)) / (2 * h)
        err = np.max(np.abs(fd - dx))
        assert err <= 1e-6 * (1 + np.max(np.abs(fd))), f"input: |fd − backward| = {err:.3g}"


# ------------------------------------------------------------------------------- finite differences
@SETTINGS
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), data=st.data(), seed=st.integers(0, 2**31))
def test_rms_norm_gradients(shape: list[int], data: st.DataObject, seed: int) -> None:
    layer = {"type": "rms_norm", "dims": data.draw(st.integers(1, len(shape))), "scale": data.draw(st.booleans()),
             "epsilon": data.draw(st.sampled_from([1e-6, 1e-2]))}
    _check_gradients(_model(shape, [layer]), seed)


@SETTINGS
@given(steps=st.integers(1, 4), width=st.integers(1, 4), encoding=st.sampled_from(["learned", "sinusoidal"]),
       seed=st.integers(0, 2**31))
def test_positional_embedding_gradients(steps: int, width: int, encoding: str, seed: int) -> None:
    _check_gradients(_model([steps, width], [{"type": "positional_embedding", "encoding": encoding,
                                              "max_length": steps + 2}]), seed)


@SETTINGS
@given(steps=st.integers(1, 4), heads=st.integers(1, 2), half=st.integers(1, 2),
       pairing=st.sampled_from(["half_split", "interleaved"]), causal=st.booleans(), seed=st.integers(0, 2**31))
def test_rotary_attention_gradients(steps: int, heads: int, half: int, pairing: str, causal: bool,
                                    seed: int) -> None:
    layer = {"type": "multi_head_attention", "num_heads": heads, "causal": causal,
             "rotary": {"base": 10.0, "pairing": pairing}}
    _check_gradients(_model([steps, heads * 2 * half], [layer]), seed)


@SETTINGS
@given(width=st.integers(1, 4), count=st.integers(2, 4), seed=st.integers(0, 2**31))
def test_multiply_gradients(width: int, count: int, seed: int) -> None:
    nodes = [{"name": f"b{i}", "type": "dense", "units": width, "inputs": ["x"]} for i in range(count)]
    nodes.append({"name": "m", "type": "multiply", "inputs": [f"b{i}" for i in range(count)]})
    _check_gradients(_model([3], nodes=nodes, outputs=["m"]), seed)


@SETTINGS
@given(vocab=st.integers(2, 6), width=st.integers(1, 4), steps=st.integers(1, 4), use_bias=st.booleans(),
       seed=st.integers(0, 2**31))
def test_tied_head_gradients(vocab: int, width: int, steps: int, use_bias: bool, seed: int) -> None:
    """The table's gradient is FD of the whole model: the lookup's and the head's contributions add."""
    layers = [{"type": "embedding", "name": "tok", "input_dim": vocab, "output_dim": width},
              {"type": "tanh"}, {"type": "dense", "units": vocab, "tied_to": "tok", "use_bias": use_bias}]
    _check_gradients(_model([steps], layers, dtype="int64"), seed)


# --------------------------------------------------------------------------------- pinned semantics
def test_rms_norm_puts_epsilon_inside_the_root() -> None:
    x = np.array([[3.0, 4.0]])  # mean x² = 12.5
    y, _ = __import__("lockstep.reference.layers.rms_norm", fromlist=["forward"]).forward(
        LAYER_TYPES["rms_norm"](type="rms_norm", epsilon=0.5), [x], {"weight": np.array([1.0, 2.0])},
        ForwardContext())
    expected = x / math.sqrt(12.5 + 0.5) * np.array([1.0, 2.0])
    assert np.allclose(y, expected, rtol=1e-15, atol=0), (y, expected)


def test_sinusoidal_code_is_interleaved_sin_cos() -> None:
    p = ref_pe.sinusoidal_table(5, 6, 10000.0)
    for t in range(5):
        for i in range(3):
            w = 10000.0 ** (-2 * i / 6)
            assert p[t, 2 * i] == pytest.approx(math.sin(t * w), abs=1e-15), (t, i)
            assert p[t, 2 * i + 1] == pytest.approx(math.cos(t * w), abs=1e-15), (t, i)
    odd = ref_pe.sinusoidal_table(3, 5, 100.0)  # odd width: the last column is a sine
    assert odd[2, 4] == pytest.approx(math.sin(2 * 100.0 ** (-4 / 5)), abs=1e-15)


@pytest.mark.parametrize("pairing", ["half_split", "interleaved"])
def test_rotary_scores_depend_on_relative_position(pairing: str) -> None:
    """q rotated at t, k rotated at s: their product is q · R((s − t)θ) k, whatever t is."""
    from lockstep.spec.layers import Rotary

    d, t_max = 6, 9
    rotary = Rotary(base=10.0, pairing=pairing)
    cos, sin = rotary_tables(rotary, t_max, d)
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=d), rng.normal(size=d)

    def rot(a: np.ndarray, t: int) -> np.ndarray:
        return a * cos[t] + rotate_pairs(a, pairing) * sin[t]

    for shift in range(3):
        dots = [rot(q, t) @ rot(k, t + shift) for t in range(t_max - shift)]
        assert np.allclose(dots, dots[0], rtol=0, atol=1e-12), (pairing, shift, dots)


def test_rotary_pairings_differ_by_a_column_permutation() -> None:
    """interleaved on columns permuted into pairs (2i, 2i+1) is half_split on the original columns: the same model
    up to a permutation, not the same function of the same weights."""
    from lockstep.spec.layers import Rotary

    d, t = 8, 5
    a = np.random.default_rng(1).normal(size=(t, d))
    perm = np.array([j for i in range(d // 2) for j in (i, i + d // 2)])  # half-split pairs, side by side

    def rope(v: np.ndarray, pairing: str) -> np.ndarray:
        cos, sin = rotary_tables(Rotary(pairing=pairing), t, d)
        return v * cos + rotate_pairs(v, pairing) * sin

    assert np.allclose(rope(a, "half_split")[:, perm], rope(a[:, perm], "interleaved"), atol=1e-14)
    assert not np.allclose(rope(a, "half_split"), rope(a, "interleaved"))


def test_tied_head_keeps_one_array() -> None:
    layers = [{"type": "embedding", "name": "tok", "input_dim": 5, "output_dim": 3},
              {"type": "dense", "name": "head", "units": 5, "tied_to": "tok", "use_bias": False}]
    net = ReferenceModel(_model([2], layers, dtype="int64"))
    assert list(net.param_specs) == ["tok.weight"]
    table = np.arange(15.0).reshape(5, 3) / 10
    x = np.array([[1, 4]])
    y = net.forward(x, {"tok.weight": table})
    assert np.allclose(y, table[x] @ table.T)


@pytest.mark.parametrize(("head", "message"), [
    ({"tied_to": "nope"}, "which is no layer of this model"),
    ({"tied_to": "mix"}, "a tanh: only an embedding's table can be tied"),
    ({"tied_to": "tok", "units": 4}, "it needs [4, 3]"),
])
def test_tied_to_is_validated(head: dict, message: str) -> None:
    layers = [{"type": "embedding", "name": "tok", "input_dim": 5, "output_dim": 3}, {"type": "tanh", "name": "mix"},
              {"type": "dense", "name": "head", "units": 5, **head}]
    problems = build_graph(_model([2], layers, dtype="int64")).problems
    assert problems and message in problems[0].message, [p.message for p in problems]
    assert problems[0].where[-1] == "tied_to"


def test_rotary_needs_an_even_head_size() -> None:
    layer = {"type": "multi_head_attention", "num_heads": 2, "rotary": {}}
    problems = build_graph(_model([3, 6], [layer])).problems
    assert problems and "rotary needs an even head size" in problems[0].message


def test_positional_embedding_refuses_longer_sequences() -> None:
    problems = build_graph(_model([5, 2], [{"type": "positional_embedding", "encoding": "sinusoidal",
                                             "max_length": 4}])).problems
    assert problems and "more than max_length=4" in problems[0].message


# ------------------------------------------------------------------------------ backend agreement
BACKENDS = ["torch", "tensorflow"]
CASES = {
    "rms_norm": ([2, 3, 4], [{"type": "rms_norm", "dims": 2}]),
    "rms_norm-no-scale": ([3, 4], [{"type": "dense", "units": 4}, {"type": "rms_norm", "scale": False,
                                                                    "epsilon": 1e-3}]),
    "learned-positions": ([4, 3], [{"type": "positional_embedding", "encoding": "learned", "max_length": 6}]),
    "sinusoidal-positions": ([5, 4], [{"type": "dense", "units": 4},
                                      {"type": "positional_embedding", "encoding": "sinusoidal", "max_length": 5}]),
    "rotary-half-split": ([5, 8], [{"type": "multi_head_attention", "num_heads": 2, "causal": True,
                                    "rotary": {"base": 100.0, "pairing": "half_split"}}]),
    "rotary-interleaved": ([5, 8], [{"type": "multi_head_attention", "num_heads": 2,
                                     "rotary": {"base": 100.0, "pairing": "interleaved"}}]),
    "tied-head": ([4], [{"type": "embedding", "name": "tok", "input_dim": 7, "output_dim": 3}, {"type": "tanh"},
                        {"type": "dense", "units": 7, "tied_to": "tok"}]),
}


def _adapter(backend: str):
    module = {"torch": "torch", "tensorflow": "tensorflow"}[backend]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    from lockstep.adapters import registry

    return registry.get(backend)


def _swiglu_doc() -> tuple[list[int], dict]:
    nodes = [{"name": "gate", "type": "dense", "units": 5, "use_bias": False, "inputs": ["x"]},
             {"name": "act", "type": "silu", "inputs": ["gate"]},
             {"name": "up", "type": "dense", "units": 5, "use_bias": False, "inputs": ["x"]},
             {"name": "m", "type": "multiply", "inputs": ["act", "up"]},
             {"name": "down", "type": "dense", "units": 3, "inputs": ["m"]}]
    return [4, 3], {"nodes": nodes, "outputs": ["down"]}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", [*CASES, "swiglu-multiply"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_agrees_with_reference(backend: str, case: str, dtype: str) -> None:
    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.conformance.checks import compare, compare_dicts
    from lockstep.spec.documents import Recipe

    adapter = _adapter(backend)
    if case == "swiglu-multiply":
        shape, extra = _swiglu_doc()
        model = _model(shape, nodes=extra["nodes"], outputs=extra["outputs"])
    else:
        shape, layers = CASES[case]
        model = _model(shape, layers, dtype="int64" if case == "tied-head" else "float")
    doc = model.model_dump(mode="json", exclude_none=True)
    recipe = Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "case"}, "model": doc, "seed": 0,
        "dtype": dtype, "data": {"source": {"type": "synthetic_regression", "num_samples": 8, "shape": [1]},
                                 "batch_size": 4},
        "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "training": {"steps": 1}})
    ref = ReferenceAdapter().build(model, dtype="float64", recipe=recipe)
    other = adapter.build(model, dtype=dtype, device="cpu", recipe=recipe)
    rng = np.random.default_rng(3)
    net = ReferenceModel(model)
    state = {k: rng.normal(size=s.shape) * 0.5 for k, s in net.param_specs.items()}
    ref.set_parameters(state)
    other.set_parameters(state)
    assert set(other.get_parameters()) == set(state), "one array per parameter, tied ones included"
    x = _input(net, rng, batch=3)
    checks = [compare("eval output", other.forward(x), ref.forward(x), dtype)]
    y = rng.normal(size=ref.forward(x).shape)
    lr, gr = ref.loss_and_gradients(x, y)
    lo, go = other.loss_and_gradients(x, y)
    checks.append(compare("loss", lo, lr, dtype))
    checks += compare_dicts("gradient", go, gr, dtype)
    bad = [f"{c.quantity}: error {c.error:.3g} > tolerance {c.tolerance:.3g}" for c in checks if not c.ok]
    assert not bad, f"{backend} {case} {dtype}: " + "; ".join(bad)
