"""Reference vs torch in float64, construct by construct: forward outputs, loss, gradients, and
parameters plus optimizer state after several steps, to |a - r| <= 1e-10·|r| + 1e-12·max|r|."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

pytest.importorskip("torch")

from lockstep.adapters.reference import ReferenceAdapter
from lockstep.adapters.torch import TorchAdapter
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare, compare_dicts
from lockstep.runner import prepare_run
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.graph import build_graph
from lockstep.spec.loader import dump_yaml

ROOT = Path(__file__).resolve().parents[2]


def _recipe(model_doc: dict, loss: dict | None = None, optimizer: dict | None = None, **extra) -> Recipe:
    return Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "case"}, "model": model_doc,
        "seed": 0, "dtype": "float64",
        "data": {"source": {"type": "synthetic_regression", "num_samples": 8, "shape": [1]}, "batch_size": 4},
        "loss": loss or {"type": "mse"}, "optimizer": optimizer or {"type": "sgd", "learning_rate": 0.1},
        "training": {"steps": 3}, **extra})


def _state(model: Model, rng) -> dict[str, np.ndarray]:
    graph = build_graph(model)
    out = {k: rng.normal(size=s.shape) * 0.5 for k, s in graph.parameters().items()}
    out.update({k: np.abs(rng.normal(size=s.shape)) + 0.5 for k, s in graph.buffers().items()})
    return out


def _input(model: Model, rng, n: int = 4):
    graph = build_graph(model)
    (name, shape), = graph.input_shapes.items()
    if graph.input_dtypes[name] == "int64":
        dim = next(nd.layer.input_dim for nd in graph.nodes if nd.type == "embedding")
        return rng.integers(0, dim, size=(n, *shape))
    return rng.normal(size=(n, *shape))


def _sessions(model: Model, recipe: Recipe):
    ref = ReferenceAdapter().build(model, dtype="float64", recipe=recipe)
    tch = TorchAdapter().build(model, dtype="float64", recipe=recipe)
    return ref, tch


def _assert(checks) -> None:
    bad = [c for c in checks if not c.ok]
    assert not bad, "; ".join(f"{c.quantity}: error {c.error:.3g} > tolerance {c.tolerance:.3g}" for c in bad)


@pytest.mark.parametrize("construct", cs.LAYERS)
@settings(max_examples=15)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_layer_forward_and_gradients(construct: str, data, seed: int) -> None:
    doc = data.draw(cs.layer_model(construct))
    if "layers" in doc and not build_graph(Model.model_validate(doc)).parameters():
        # a parameter-free layer: a dense layer in front makes its input gradient observable
        doc["layers"].insert(0, {"type": "dense", "name": "pre", "units": doc["inputs"][0]["shape"][-1]})
    note(dump_yaml(doc))
    model = Model.model_validate(doc)
    rng = np.random.default_rng(seed)
    ref, tch = _sessions(model, _recipe(doc))
    state = _state(model, rng)
    ref.set_parameters(state)
    tch.set_parameters(state)
    x = _input(model, rng)
    graph = build_graph(model)
    masks = {n.name: rng.random((len(x), *n.shape)) >= n.layer.rate for n in graph.nodes
             if n.type == "dropout"}
    checks = [compare("eval output", tch.forward(x), ref.forward(x))]
    out = ref.forward(x, training=False)
    y = rng.normal(size=out.shape)
    lr, gr = ref.loss_and_gradients(x, y, masks=masks)
    lt, gt = tch.loss_and_gradients(x, y, masks=masks)
    checks.append(compare("loss", lt, lr))
    checks += compare_dicts("gradient", gt, gr)
    checks += compare_dicts("buffer", tch.get_parameters(), ref.get_parameters())
    _assert(checks)


def _train_case(opt: dict, sched: dict | None = None, clip: dict | None = None, l2: float = 0.0, loss=None,
                seed: int = 0, steps: int = 4) -> None:
    layers = [{"type": "dense", "name": "a", "units": 4}, {"type": "tanh"}, {"type": "dense", "name": "b", "units": 3}]
    kind = (loss or {}).get("type")
    if kind == "nll":
        layers.append({"type": "log_softmax"})
    elif kind in ("categorical_crossentropy", "sparse_categorical_crossentropy") and not loss["from_logits"]:
        layers.append({"type": "softmax"})
    elif kind == "binary_crossentropy" and not loss["from_logits"]:
        layers.append({"type": "sigmoid"})
    doc = cs.model_doc("m", [3], layers)
    extra = {"schedule": sched} if sched else {}
    if clip:
        extra["gradient_clipping"] = clip
    extra["regularization"] = {"l2": l2}
    recipe = _recipe(doc, loss, opt, **extra)
    model = Model.model_validate(doc)
    rng = np.random.default_rng(seed)
    ref, tch = _sessions(model, recipe)
    state = _state(model, rng)
    ref.set_parameters(state)
    tch.set_parameters(state)
    checks = []
    for step in range(steps):
        x = rng.normal(size=(5, 3))
        if recipe.loss.type in ("sparse_categorical_crossentropy", "nll"):
            y = rng.integers(0, 3, size=5)
        elif recipe.loss.type == "categorical_crossentropy":
            y = np.eye(3)[rng.integers(0, 3, size=5)]
        elif recipe.loss.type == "binary_crossentropy":
            y = rng.integers(0, 2, size=(5, 3)).astype(float)
        else:
            y = rng.normal(size=(5, 3))
        rr, rt = ref.train_step(x, y), tch.train_step(x, y)
        checks.append(compare(f"step {step + 1} loss", rt.loss, rr.loss))
        checks.append(compare(f"step {step + 1} lr", rt.learning_rate, rr.learning_rate))
        checks += compare_dicts(f"step {step + 1} parameter", tch.get_parameters(), ref.get_parameters())
        _, so = tch.get_optimizer_state()
        _, sr = ref.get_optimizer_state()
        for p in sr:
            checks += compare_dicts(f"step {step + 1} state {p}", so.get(p, {}), sr[p])
    _assert(checks)


@pytest.mark.parametrize("kind", cs.OPTIMIZERS)
@settings(max_examples=20)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_optimizer_updates(kind: str, data, seed: int) -> None:
    opt = data.draw(cs.optimizer_case(kind))
    l2 = data.draw(st.sampled_from([0.0, 0.01]))
    note(f"optimizer: {opt}, l2: {l2}")
    _train_case(opt, l2=l2, seed=seed)


@pytest.mark.parametrize("kind", cs.SCHEDULES)
@settings(max_examples=10)
@given(data=st.data())
def test_schedules(kind: str, data) -> None:
    sched = data.draw(cs.schedule_case(kind))
    note(f"schedule: {sched}")
    _train_case({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}, sched=sched, steps=6)


@pytest.mark.parametrize("kind", cs.CLIPPING)
@settings(max_examples=10)
@given(data=st.data())
def test_clipping(kind: str, data) -> None:
    clip = data.draw(cs.clipping_case(kind))
    note(f"clipping: {clip}")
    _train_case({"type": "adam", "learning_rate": 0.01}, clip=clip)


@pytest.mark.parametrize("kind", cs.LOSSES)
@settings(max_examples=10)
@given(data=st.data())
def test_losses_in_training(kind: str, data) -> None:
    loss = data.draw(cs.loss_case(kind, 3))
    note(f"loss: {loss}")
    _train_case({"type": "sgd", "learning_rate": 0.1}, loss=loss)


@pytest.mark.parametrize("recipe", sorted((ROOT / "examples").glob("*/recipe.yaml")), ids=lambda p: p.parent.name)
def test_example_recipes_float64(recipe: Path) -> None:
    prep = prepare_run(recipe, steps=5)
    r64 = prep.recipe.model_copy(update={"dtype": "float64"})
    ref = ReferenceAdapter().build(prep.model, dtype="float64", recipe=r64)
    tch = TorchAdapter().build(prep.model, dtype="float64", recipe=r64)
    ref.set_parameters(prep.initial)
    tch.set_parameters(prep.initial)
    from lockstep.runner import masks_for

    checks = []
    for step in range(5):
        _, x, y = prep.data.batch(step)
        x = x.astype(np.float64) if x.dtype.kind == "f" else x
        y = y.astype(np.float64) if y.dtype.kind == "f" else y
        masks = masks_for(prep, step, len(x))
        checks.append(compare(f"step {step + 1} loss", tch.train_step(x, y, masks=masks).loss,
                              ref.train_step(x, y, masks=masks).loss))
        checks += compare_dicts(f"step {step + 1}", tch.get_parameters(), ref.get_parameters())
    checks.append(compare("eval output", tch.forward(prep.data.x_eval[:64].astype(np.float64)
                                                     if prep.data.x_eval.dtype.kind == "f" else prep.data.x_eval[:64]),
                          ref.forward(prep.data.x_eval[:64])))
    _assert(checks)
