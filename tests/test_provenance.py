"""Provenance is declared for every construct and is true: what an adapter calls `native` or `bridged` runs the
framework class or op its note names (spied on, or found in the built model), and Keras's own optimizers and
schedules, where the TensorFlow adapter uses them, reach the reference's numbers (float64 to 1e-12; float32
through the bias-correction bridge)."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import find, settings

from lockstep.adapters.base import PROVENANCES, UNDECLARED, FrameworkAdapter, Support, provenance_table
from lockstep.adapters.reference import ReferenceAdapter
from lockstep.conformance import strategies as cs
from lockstep.spec.constructs import construct_names
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.graph import build_graph


def _adapter(name: str) -> FrameworkAdapter:
    pytest.importorskip(name)
    if name == "torch":
        from lockstep.adapters.torch import TorchAdapter

        return TorchAdapter()
    from lockstep.adapters.tensorflow import TensorFlowAdapter

    return TensorFlowAdapter()


BACKENDS = ["torch", "tensorflow"]


# ------------------------------------------------------------------------------------- declarations
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_construct_a_backend_runs_is_declared(backend: str) -> None:
    adapter = _adapter(backend)
    run, _ = construct_names()
    missing = [(c, dt) for c in sorted(run) for dt in ("float32", "float64") if adapter.declared(c, dt) is None]
    assert not missing, f"{backend}: no provenance declared for {missing} (PROVENANCE in adapters/{backend}/adapter.py)"
    for construct, _, by_dtype in provenance_table(adapter):
        for dtype, s in by_dtype.items():
            assert s.status in PROVENANCES and s.note, f"{backend} {construct} {dtype}: {s}"
            if s.status != "written":  # native and bridged name the framework's class or op
                assert _named(s.note, backend), f"{backend} {construct}: `{s.note}` names no framework class or op"


def test_undeclared_reads_written_and_subclass_is_folded() -> None:
    class Bare(FrameworkAdapter):
        name = "bare"

        def versions(self) -> dict[str, str]:
            return {}

        def devices(self) -> list[str]:
            return ["cpu"]

        def build(self, *a: Any, **k: Any) -> Any:
            raise NotImplementedError

    assert Bare().support("dense") == UNDECLARED and UNDECLARED.provenance == "written"
    assert Support("subclass", "x").status == "written"
    assert Bare().support("glorot_uniform").status == "written"  # prepared by the standard, not the framework
    with pytest.raises(ValueError, match="expected one of native, bridged, written"):
        Support("fused")  # type: ignore[arg-type]


def test_reference_and_onnxruntime_speak_the_same_vocabulary() -> None:
    for construct, _, by_dtype in provenance_table(ReferenceAdapter()):
        assert all(s.status == "written" and "oracle" in s.note for s in by_dtype.values()), construct
    pytest.importorskip("onnxruntime")
    from lockstep.adapters.onnxruntime import OnnxRuntimeAdapter

    a = OnnxRuntimeAdapter()
    assert a.support("dense").status == "native" and a.support("conv2d", dtype="float64").status == "written"
    assert a.support("batch_norm", dtype="float64").status == "bridged"
    assert a.support("multi_head_attention").status == "written"
    assert a.support("gelu").status == "written" and OnnxRuntimeAdapter(opset=20).support("gelu").status == "native"


def test_adapters_details_cli(capsys) -> None:
    from lockstep.cli import main

    assert main(["adapters", "--details", "--adapter", "reference"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reference: native 0, bridged 0, written ") and "\n  dense " in out
    assert "\n  execution: NumPy in float64" in out
    assert main(["adapters", "--details", "--adapter", "reference", "--format", "json"]) == 0
    detail = json.loads(capsys.readouterr().out)["reference"]
    assert detail["execution"].startswith("NumPy") and detail["constructs"][0]["construct"] == "dense"
    assert main(["adapters", "--details", "--adapter", "no-such"]) == 2
    assert "not an available adapter" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- claims are true
_NAME = re.compile(r"\b((?:torch|keras|tf|F)\.[A-Za-z_][\w.]*[A-Za-z0-9_])")
_METHODS = ("update_step", "step", "get_lr", "forward", "call", "__call__")


def _named(note: str, backend: str) -> Any:
    """The first framework class or function the note names, resolved, or None."""
    m = _NAME.search(note)
    if m is None:
        return None
    path = m.group(1).replace("F.", "torch.nn.functional.", 1) if m.group(1).startswith("F.") else m.group(1)
    path = path.replace("tf.", "tensorflow.", 1) if path.startswith("tf.") else path
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            return None
        return obj, ".".join(parts[:-1]), parts[-1]
    return None


def _spy(named: tuple[Any, str, str]):
    """A patch counting calls of the named class's working method (or of the function), and the counter."""
    obj, module, attr = named
    calls = []
    if isinstance(obj, type):
        method = next(m for m in _METHODS if callable(getattr(obj, m, None)))
        original = getattr(obj, method)

        def counted(self, *a, **k):
            calls.append(method)
            return original(self, *a, **k)

        return mock.patch.object(obj, method, counted), calls
    original = obj

    def counted_fn(*a, **k):
        calls.append(attr)
        return original(*a, **k)

    return mock.patch(f"{module}.{attr}", counted_fn), calls


MODEL = cs.model_doc("m", [3], [{"type": "dense", "name": "a", "units": 4}, {"type": "tanh"},
                                {"type": "dense", "name": "b", "units": 2}])
TRAINING: dict[str, dict] = {  # construct -> recipe fields that exercise it (the rest: sgd, no schedule)
    "sgd": {"optimizer": {"type": "sgd", "learning_rate": 0.1}},
    "adam": {"optimizer": {"type": "adam", "learning_rate": 0.1}},
    "adamw": {"optimizer": {"type": "adamw", "learning_rate": 0.1, "weight_decay": 0.1}},
    "rmsprop": {"optimizer": {"type": "rmsprop", "learning_rate": 0.1}},
    "adagrad": {"optimizer": {"type": "adagrad", "learning_rate": 0.1}},
    "step": {"schedule": {"type": "step", "step_size": 1, "gamma": 0.5}},
    "exponential": {"schedule": {"type": "exponential", "gamma": 0.5}},
    "cosine": {"schedule": {"type": "cosine", "decay_steps": 3}},
    "warmup": {"schedule": {"type": "constant", "warmup": {"steps": 2, "start_factor": 0.5}}},
    "constant": {"schedule": {"type": "constant"}},
    "global_norm": {"gradient_clipping": {"type": "global_norm", "max_norm": 1e-3}},
    "value": {"gradient_clipping": {"type": "value", "clip_value": 1e-3}},
    "l2": {"regularization": {"l2": 0.1}},
    "mse": {"loss": {"type": "mse"}}, "mae": {"loss": {"type": "mae"}}, "huber": {"loss": {"type": "huber"}},
    "binary_crossentropy": {"loss": {"type": "binary_crossentropy", "from_logits": True}},
    "categorical_crossentropy": {"loss": {"type": "categorical_crossentropy", "from_logits": True}},
    "sparse_categorical_crossentropy": {"loss": {"type": "sparse_categorical_crossentropy", "from_logits": True}},
    "nll": {"loss": {"type": "nll"}},
}


def _recipe(fields: dict, dtype: str = "float64") -> Recipe:
    doc = {"apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "p"}, "model": MODEL, "seed": 0,
           "dtype": dtype, "data": {"source": {"type": "synthetic_regression", "num_samples": 4, "shape": [1]},
                                    "batch_size": 4},
           "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "training": {"steps": 2}}
    return Recipe.model_validate({**doc, **fields})


def _targets(recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    if recipe.loss.type in ("sparse_categorical_crossentropy", "nll"):
        return rng.integers(0, 2, size=4)
    if recipe.loss.type == "categorical_crossentropy":
        return rng.dirichlet(np.ones(2), size=4)
    if recipe.loss.type == "binary_crossentropy":
        return rng.integers(0, 2, size=(4, 2)).astype(float)
    return rng.normal(size=(4, 2))


def _train(adapter: Any, recipe: Recipe, steps: int = 2) -> None:
    model = Model.model_validate(MODEL)
    session = adapter.build(model, dtype=recipe.dtype, recipe=recipe)
    rng = np.random.default_rng(0)
    session.set_parameters({k: rng.normal(size=s.shape) for k, s in build_graph(model).parameters().items()})
    for _ in range(steps):
        session.train_step(rng.normal(size=(4, 3)), _targets(recipe, rng))


def _claims(backend: str) -> list[tuple[str, str]]:
    return [(backend, c) for c in TRAINING]


def claim_violation(adapter: Any, construct: str, fields: dict) -> str | None:
    """Why `adapter`'s native/bridged claim for `construct` is false on a recipe with `fields` (the class or op
    its note names was never called in two training steps), or None (true, or nothing native to check)."""
    s = adapter.support(construct, dtype="float64")
    named = _named(s.note, "")
    if s.status == "written" or named is None or isinstance(named[0], type(np)):
        return None
    patch, calls = _spy(named)
    with patch:
        _train(adapter, _recipe(fields))
    return None if calls else (f"{adapter.name} declares {construct} {s.status} on `{s.note}`, but a training step "
                               f"with {fields} never called it")


@pytest.mark.parametrize(("backend", "construct"), [*_claims("torch"), *_claims("tensorflow")],
                         ids=lambda v: v)
def test_native_and_bridged_training_constructs_run_the_named_class(backend: str, construct: str) -> None:
    """Every optimizer, schedule, clipping and loss declared native or bridged calls what its note names."""
    adapter = _adapter(backend)
    s = adapter.support(construct, dtype="float64")
    if s.status == "written" or _named(s.note, backend) is None:
        pytest.skip(f"{construct} is declared {s.status} (`{s.note[:60]}`): nothing native to spy on")
    assert claim_violation(adapter, construct, TRAINING[construct]) is None


NESTEROV = {"optimizer": {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True}}


def test_the_false_native_claim_of_the_mutant_is_flagged() -> None:
    """conformance/mutants/claims_native_sgd.py says `native: torch.optim.SGD` but hand-writes Nesterov: the
    provenance check flags it there, and passes the real torch adapter on the same recipe."""
    from lockstep.conformance.mutants import MUTANTS

    _adapter("torch")
    mutant = MUTANTS["claims_native_sgd"].load()
    assert mutant.support("sgd").status == "native" and "torch.optim.SGD" in mutant.support("sgd").note
    assert claim_violation(_adapter("torch"), "sgd", NESTEROV) is None
    flagged = claim_violation(mutant, "sgd", NESTEROV)
    assert flagged is not None and "never called it" in flagged, flagged
    assert claim_violation(mutant, "sgd", TRAINING["sgd"]) is None  # only the one case is hand-written


def test_tensorflow_sgd_without_momentum_is_keras_sgd_and_with_momentum_is_not() -> None:
    """The written SGD declaration's note says which configuration is native: both halves hold."""
    import keras

    adapter = _adapter("tensorflow")
    for momentum, native in ((0.0, True), (0.9, False)):
        patch, calls = _spy((keras.optimizers.SGD, "keras.optimizers", "SGD"))
        with patch:
            _train(adapter, _recipe({"optimizer": {"type": "sgd", "learning_rate": 0.1, "momentum": momentum}}))
        assert bool(calls) == native, f"momentum {momentum}: keras.optimizers.SGD.update_step calls {calls}"


def _layer_case(construct: str):
    """The simplest case in which `construct` is a layer of its own (dense's tied variant is a TiedDense)."""
    def plain(case) -> bool:
        layers = case.model.get("layers") or case.model.get("nodes") or []
        return any(layer.get("type") == construct and not layer.get("tied_to") for layer in layers)

    return find(cs.layer_problem(construct), plain, settings=settings(database=None, max_examples=50,
                                                                       derandomize=True))


def _layers(backend: str, construct: str) -> list[tuple[str, str]]:
    return [(backend, c) for c in cs.LAYERS]


@pytest.mark.parametrize(("backend", "construct"), [*_layers("torch", ""), *_layers("tensorflow", "")], ids=str)
def test_native_and_bridged_layers_are_built_from_the_named_class(backend: str, construct: str) -> None:
    adapter = _adapter(backend)
    for dtype in ("float32", "float64"):
        s = adapter.support(construct, dtype=dtype)
        named = _named(s.note, backend)
        if s.status == "written" or named is None or not isinstance(named[0], type):
            continue  # functions (keras.activations.*) are not layers to look for
        case = _layer_case(construct)
        session = adapter.build(Model.model_validate(case.model), dtype=dtype)
        built = (list(session.net.modules()) if backend == "torch"
                 else [layer for step in session.net.steps for layer in _keras_layers(step.layer)])
        assert any(isinstance(m, named[0]) for m in built), \
            f"{backend} declares {construct} {s.status} on `{named[0].__name__}`, but builds {built}"


def _keras_layers(layer: Any) -> list[Any]:
    return [layer, *getattr(layer, "_layers", [])]


# ------------------------------------------------------------------------------------- Keras's numbers
ADAMS = [{"type": "adam", "learning_rate": 0.05, "beta1": 0.8, "beta2": 0.999, "epsilon": 1e-3},
         {"type": "adam", "learning_rate": 0.05, "amsgrad": True, "beta2": 0.97},
         {"type": "adamw", "learning_rate": 0.05, "weight_decay": 0.3, "beta1": 0.85, "epsilon": 1e-6},
         {"type": "sgd", "learning_rate": 0.3}]
SCHEDULES = [None, {"type": "step", "step_size": 2, "gamma": 0.3}, {"type": "exponential", "gamma": 0.77},
             {"type": "cosine", "decay_steps": 3, "min_learning_rate": 0.001},
             {"type": "cosine", "decay_steps": 3, "warmup": {"steps": 2, "start_factor": 0.25}}]


def _matrix() -> list:
    """Every optimizer with no schedule and with cosine + warm-up by default; the rest of the grid is slow."""
    out = []
    for opt in ADAMS:
        for sched in SCHEDULES:
            name = opt["type"] + ("-amsgrad" if opt.get("amsgrad") else "") + "/" + (
                "none" if sched is None else sched["type"] + ("-warmup" if sched.get("warmup") else ""))
            quick = sched is None or "warmup" in sched
            out.append(pytest.param(opt, sched, id=name, marks=() if quick else pytest.mark.slow))
    return out


@pytest.mark.parametrize(("opt", "sched"), _matrix())
def test_keras_optimizers_and_schedules_agree_with_the_reference_in_float64(opt: dict, sched: dict | None) -> None:
    """6 steps in float64: parameters, optimizer state and learning rate within 1e-12 (relative to the scale)."""
    adapter = _adapter("tensorflow")
    fields = {"optimizer": opt, **({"schedule": sched} if sched else {})}
    recipe = _recipe(fields)
    model = Model.model_validate(MODEL)
    rng = np.random.default_rng(3)
    start = {k: rng.normal(size=s.shape) for k, s in build_graph(model).parameters().items()}
    ref, tfs = ReferenceAdapter().build(model, dtype="float64", recipe=recipe), adapter.build(
        model, dtype="float64", recipe=recipe)
    ref.set_parameters(start)
    tfs.set_parameters(start)
    for step in range(6):
        x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
        rr, rt = ref.train_step(x, y), tfs.train_step(x, y)
        assert abs(rt.learning_rate - rr.learning_rate) <= 1e-15 * rr.learning_rate + 1e-300, (step, rt, rr)
        a, r = ref.get_state(), tfs.get_state()
        for k, v in a.parameters.items():
            err = np.max(np.abs(r.parameters[k] - v)) / max(1.0, np.max(np.abs(v)))
            assert err <= 1e-12, f"step {step + 1} {k}: relative error {err:.3g}"
        for p, states in a.optimizer.items():
            for n, v in states.items():
                err = np.max(np.abs(r.optimizer[p][n] - v)) / max(1e-300, np.max(np.abs(v)))
                assert err <= 1e-12, f"step {step + 1} {n} of {p}: relative error {err:.3g}"


@pytest.mark.parametrize("kind", ["adam", "adamw"])
def test_float32_adam_uses_the_standards_bias_corrections(kind: str) -> None:
    """Keras computes 1 - β₂ᵗ from float32(β₂) in float32: at β₂ = 0.999, t = 1 that is 1.3e-5 off, √ of it
    6.4e-6 in the step. From w = 0 with lr = 1 the step is ±1: the bridge lands within a few float32 ulps."""
    adapter = _adapter("tensorflow")
    opt = {"type": kind, "learning_rate": 1.0, "beta2": 0.999, "epsilon": 1e-8,
           **({"weight_decay": 0.0} if kind == "adamw" else {})}
    recipe = _recipe({"optimizer": opt}, dtype="float32")
    model = Model.model_validate(MODEL)
    rng = np.random.default_rng(1)
    start = {k: np.zeros(s.shape) if k.startswith("b.") else rng.normal(size=s.shape)
             for k, s in build_graph(model).parameters().items()}
    ref = ReferenceAdapter().build(model, dtype="float32", recipe=recipe)
    tfs = adapter.build(model, dtype="float32", recipe=recipe)
    x32 = np.asarray(rng.normal(size=(4, 3)), np.float32).astype(np.float64)
    y32 = np.asarray(rng.normal(size=(4, 2)), np.float32).astype(np.float64)
    start = {k: np.asarray(v, np.float32).astype(np.float64) for k, v in start.items()}
    ref.set_parameters(start)
    tfs.set_parameters(start)
    ref.train_step(x32, y32)
    tfs.train_step(x32, y32)
    r, t = ref.get_parameters()["b.bias"], tfs.get_parameters()["b.bias"]
    assert np.allclose(np.abs(r), 1.0, rtol=1e-3), r  # the first Adam step moves every element by ±lr
    err = np.max(np.abs(t - r))
    assert err <= 8 * np.finfo(np.float32).eps, f"b.bias after one float32 step: error {err:.3g} (reference {r})"
