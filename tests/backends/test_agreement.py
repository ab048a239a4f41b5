"""Every framework against the float64 reference, one test body per property, run on each backend (`backend`
fixture: torch, TensorFlow; skipped where one is not installed):

- every v1 layer: eval output, training loss, every gradient and the buffers after a training forward (float64
  |a - r| <= 1e-10·|r| + 1e-12·s, s the largest magnitude of that kind; float32 the provisional one-shot rule
  1e-4·|r| + 1e-5·s, conformance/checks.py), hyper-parameters drawn by conformance/strategies.py, and the corners
  where frameworks differ (padding with stride, dilation, layouts between convs, channels-first ops);
- training: every optimizer (with coupled L2 through batch norm; and with schedules and clipping drawn alongside),
  schedule and warm-up, clipping and loss, free-running in float64 after each of several steps (loss, learning
  rate, parameters, optimizer state); float32 each step judged re-synchronized, never free-running;
- a non-finite step changes nothing; resuming from canonical state is bitwise; the example recipes agree.

What only one framework has (its regressions, GPU runs, CLI paths, data-parallel engine) lives in
`torch_specific/` and `tensorflow_specific/`. TensorFlow traces fresh graphs for every example (~0.3 s), so it
draws fewer hypothesis examples than torch (`EXAMPLES`); `-m slow` runs many more on both.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from backend_support import (
    CORNERS,
    adapter,
    assert_checks,
    judged_checks,
    random_input,
    random_state,
    recipe,
    sessions,
    state_checks,
)
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from lockstep.adapters.base import NonFiniteError, UnsupportedConstruct
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare, compare_dicts
from lockstep.reference import schedules as ref_schedules
from lockstep.runner import masks_for, prepare_run
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph
from lockstep.spec.loader import dump_yaml

pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # size-1 axes are valid

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_RECIPES = sorted((ROOT / "examples").glob("*/recipe.yaml"))

EXAMPLES: dict[str, dict[str, int]] = {  # hypothesis examples per test and backend
    "layer": {"torch": 15, "tensorflow": 3},
    "layer_float32": {"torch": 4, "tensorflow": 2},
    "layer_many": {"torch": 30, "tensorflow": 30},
    "optimizer": {"torch": 20, "tensorflow": 4},
    "optimizer_setup": {"torch": 4, "tensorflow": 4},
    "optimizer_many": {"torch": 25, "tensorflow": 25},
    "schedule": {"torch": 10, "tensorflow": 2},
    "clipping": {"torch": 10, "tensorflow": 3},
    "loss": {"torch": 10, "tensorflow": 3},
}
LOSS_STEPS = {"torch": 4, "tensorflow": 2}


def _examples(test: str, backend: str) -> settings:
    return settings(max_examples=EXAMPLES[test][backend])


# ------------------------------------------------------------------------------------------- layers
def agreement_checks(backend: str, doc: dict, seed: int, n: int = 4, training_output: bool = False,
                     dtype: str = "float64") -> list:
    """Eval output, training loss, gradients and buffers of one model, reference vs `backend` in `dtype`;
    with `training_output`, the training-mode forward too."""
    model = Model.model_validate(doc)
    rng = np.random.default_rng(seed)
    ref, actual = sessions(model, recipe(doc, dtype=dtype), dtype, backend=backend)
    state = random_state(model, rng)
    ref.set_parameters(state)
    actual.set_parameters(state)
    x = random_input(model, rng, n)
    graph = build_graph(model)
    masks = {nd.name: rng.random((len(x), *nd.shape)) >= nd.layer.rate for nd in graph.nodes if nd.type == "dropout"}
    checks = [compare("eval output", actual.forward(x), ref.forward(x), dtype)]
    y = rng.normal(size=ref.forward(x).shape)
    lr, gr = ref.loss_and_gradients(x, y, masks=masks)
    la, ga = actual.loss_and_gradients(x, y, masks=masks)
    checks.append(compare("loss", la, lr, dtype))
    checks += compare_dicts("gradient", ga, gr, dtype)
    checks += compare_dicts("after a training forward:", actual.get_parameters(), ref.get_parameters(), dtype)
    if training_output:
        checks.append(compare("training output", actual.forward(x, training=True, masks=masks),
                              ref.forward(x, training=True, masks=masks), dtype))
    return checks


def _layer_doc(data, construct: str) -> dict:
    doc = data.draw(cs.layer_model(construct))
    if "layers" in doc and not build_graph(Model.model_validate(doc)).parameters():
        # a parameter-free layer: a dense layer in front makes its input gradient observable
        doc["layers"].insert(0, {"type": "dense", "name": "pre", "units": doc["inputs"][0]["shape"][-1]})
    note(dump_yaml(doc))
    return doc


@pytest.mark.parametrize("construct", cs.LAYERS)
def test_layer_agreement(backend: str, construct: str) -> None:
    @_examples("layer", backend)
    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def check(data, seed: int) -> None:
        assert_checks(agreement_checks(backend, _layer_doc(data, construct), seed))

    check()


@pytest.mark.parametrize("construct", cs.LAYERS)
def test_layer_agreement_float32(backend: str, construct: str) -> None:
    """float32 against the float64 reference, the provisional float32 rule (1e-4·|r| + 1e-5·s)."""
    @_examples("layer_float32", backend)
    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def check(data, seed: int) -> None:
        doc = _layer_doc(data, construct)
        # layer_norm over one element: x̂ is 0 exactly, but float32's x·rstd - μ·rstd leaves ~ulp(|x|/√ε), beyond
        # the provisional rule (the conformance suite's derived bounds account for 1/√ε; docs/adapters/torch.md)
        layer = doc["layers"][-1] if "layers" in doc else {}
        assume(not (construct == "layer_norm" and math.prod(doc["inputs"][0]["shape"][-layer["dims"]:]) == 1))
        assert_checks(agreement_checks(backend, doc, seed, dtype="float32"))

    check()


@pytest.mark.slow
@pytest.mark.parametrize("construct", cs.LAYERS)
def test_layer_agreement_many(backend: str, construct: str) -> None:
    @_examples("layer_many", backend)
    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def check(data, seed: int) -> None:
        assert_checks(agreement_checks(backend, _layer_doc(data, construct), seed, training_output=True))

    check()


@pytest.mark.parametrize("name", list(CORNERS))
def test_corner_cases(backend: str, name: str) -> None:
    assert_checks(agreement_checks(backend, CORNERS[name], seed=len(name), n=3, training_output=True))


GRAPHS = {
    "dense add concat, a value used twice": {
        "apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "g"},
        "inputs": [{"name": "a", "shape": [3]}, {"name": "b", "shape": [3]}],
        "nodes": [{"name": "da", "type": "dense", "units": 3, "inputs": ["a"]},
                  {"name": "s", "type": "add", "inputs": ["da", "b", "da"]},
                  {"name": "c", "type": "concat", "inputs": ["s", "a"], "axis": -1},
                  {"name": "out", "type": "dense", "units": 2, "inputs": ["c"]}],
        "outputs": ["out"]},
    "conv pool and dense, a value used twice": {
        "apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "two"},
        "inputs": [{"name": "a", "shape": [3]}, {"name": "b", "shape": [2, 4, 4]}],
        "nodes": [{"name": "c", "type": "conv2d", "filters": 2, "kernel_size": 2, "inputs": ["b"]},
                  {"name": "p", "type": "global_avg_pool", "inputs": ["c"]},
                  {"name": "d", "type": "dense", "units": 2, "inputs": ["a"]},
                  {"name": "s", "type": "add", "inputs": ["p", "d", "d"]},
                  {"name": "o", "type": "dense", "units": 1, "inputs": ["s"]}],
        "outputs": ["o"]},
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_graph_with_two_inputs_and_a_shared_value(backend: str, name: str) -> None:
    """Two model inputs and a value consumed twice (its gradients add): output, loss and gradients, then three
    training steps."""
    doc = GRAPHS[name]
    model = Model.model_validate(doc)
    rng = np.random.default_rng(6)
    ref, actual = sessions(model, recipe(doc), backend=backend)
    state = random_state(model, rng)
    ref.set_parameters(state)
    actual.set_parameters(state)
    x = {n: rng.normal(size=(4, *s)) for n, s in build_graph(model).input_shapes.items()}
    y = rng.normal(size=ref.forward(x).shape)
    lr, gr = ref.loss_and_gradients(x, y)
    la, ga = actual.loss_and_gradients(x, y)
    checks = [compare("output", actual.forward(x), ref.forward(x)), compare("loss", la, lr),
              *compare_dicts("gradient", ga, gr)]
    for step in range(3):
        checks.append(compare(f"step {step} loss", actual.train_step(x, y).loss, ref.train_step(x, y).loss))
        checks += compare_dicts(f"step {step}", actual.get_parameters(), ref.get_parameters())
    assert_checks(checks)


# ------------------------------------------------------------------------------------------ adapter
SUPPORT = {  # what each adapter says of a few constructs, and how its build refuses a missing device
    "torch": {"status": {"conv2d": "bridged", "dense": "native", "warmup": "written"}, "note": {},
              "device": r"cuda:99|no CUDA", "versions": {"torch", "lockstep"}},
    "tensorflow": {"status": {"dense": "native", "he_uniform": "written", "adam": "bridged"}, "note": {"adam": "ε"},
                   "device": "GPU", "versions": {"tensorflow", "keras", "lockstep"}},
}


def test_support_answers_every_spec_construct(backend: str) -> None:
    """Every construct of the spec is supported on the CPU in float32 and float64, each one not native says how
    it closes its gap (provenance: bridged or written); what is not a construct, a dtype or a device it lacks is
    unsupported."""
    from lockstep.spec.constructs import construct_names

    a = adapter(backend)
    run, prepared = construct_names()
    for construct in sorted(run | prepared):
        for dtype in ("float32", "float64"):
            s = a.support(construct, dtype=dtype)
            assert s.supported and (s.status == "native" or s.note), (construct, s)
    expect = SUPPORT[backend]
    for construct, status in expect["status"].items():
        assert a.support(construct).status == status, (construct, a.support(construct))
    for construct, text in expect["note"].items():
        assert text in a.support(construct).note
    for bad in ("no_such_layer", "nonsense"):
        assert a.support(bad).status == "unsupported"
    assert not a.support("dense", dtype="float16").supported
    assert not a.support("dense", device="tpu").supported
    assert not a.support("dense", device="cuda:99").supported
    assert a.devices()[0] == "cpu" and expect["versions"] <= set(a.versions())
    model = Model.model_validate(cs.model_doc("m", [2], [{"type": "dense", "units": 1}]))
    with pytest.raises(UnsupportedConstruct):
        a.build(model, dtype="float16")
    with pytest.raises(UnsupportedConstruct, match=expect["device"]):
        a.build(model, dtype="float32", device="cuda:99")
    with pytest.raises(RuntimeError, match="without a recipe"):
        a.build(model, dtype="float32").train_step(np.zeros((1, 2), np.float32), np.zeros((1, 1)))


@pytest.mark.parametrize(("name", "extra"), [("torch", "torch"), ("tensorflow", "tensorflow")])
def test_importing_the_adapter_package_does_not_import_the_framework(name: str, extra: str) -> None:
    """Without the framework, `import lockstep.adapters.<name>` works and the registry says what to install
    (no fixture: this holds whether the framework is installed or not)."""
    code = (f"import sys; sys.modules[{name!r}] = None\n"
            f"import lockstep.adapters.{name} as t\n"
            "from lockstep.adapters.registry import AdapterNotFound, get\n"
            f"try:\n    get({name!r})\nexcept AdapterNotFound as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"pip install 'lockstep-standard[{extra}]'" in out


# ----------------------------------------------------------------------------------------- training
def _model_for(loss: dict | None, batch_norm: bool = True) -> dict:
    norm = [{"type": "batch_norm", "name": "bn"}] if batch_norm else []
    layers = [{"type": "dense", "name": "a", "units": 4}, {"type": "tanh"}, *norm,
              {"type": "dense", "name": "b", "units": 3}]
    kind = (loss or {}).get("type")
    if kind == "nll":
        layers.append({"type": "log_softmax"})
    elif kind in ("categorical_crossentropy", "sparse_categorical_crossentropy") and not loss["from_logits"]:
        layers.append({"type": "softmax"})
    elif kind == "binary_crossentropy" and not loss["from_logits"]:
        layers.append({"type": "sigmoid"})
    return cs.model_doc("m", [3], layers)


def _targets(kind: str, rng: np.random.Generator, n: int = 5, soft: bool = False) -> np.ndarray:
    if kind in ("sparse_categorical_crossentropy", "nll"):
        return rng.integers(0, 3, size=n)
    if kind == "categorical_crossentropy":
        return rng.dirichlet(np.ones(3), size=n)  # soft targets
    if kind == "binary_crossentropy":  # hard or soft, by seed
        return rng.random((n, 3)) if soft else rng.integers(0, 2, size=(n, 3)).astype(float)
    return rng.normal(size=(n, 3))


def train_case(backend: str, opt: dict, sched: dict | None = None, clip: dict | None = None, l2: float = 0.0,
               loss: dict | None = None, seed: int = 0, steps: int = 4, dtype: str = "float64",
               batch_norm: bool = True) -> None:
    """Several steps of a small MLP (with batch norm unless told otherwise) on the reference and `backend`: float64
    every step's loss, learning rate, gradient norm (when the backend reports it), parameters and buffers, step
    count and optimizer state (per state name across parameters), free-running; float32 each step judged
    re-synchronized."""
    doc = _model_for(loss, batch_norm)
    extra: dict = {"regularization": {"l2": l2}}
    if sched:
        extra["schedule"] = sched
    if clip:
        extra["gradient_clipping"] = clip
    r = recipe(doc, loss, opt, dtype=dtype, **extra)
    model = Model.model_validate(doc)
    rng = np.random.default_rng(seed)
    if backend == "torch" and opt.get("type") == "sgd" and opt.get("nesterov") and opt.get("dampening"):
        with pytest.raises(UnsupportedConstruct, match="refuses Nesterov momentum with dampening"):
            sessions(model, r, dtype, backend=backend)
        assume(False)  # documented (docs/adapters/torch.md): torch.optim.SGD refuses the combination
    ref, actual = sessions(model, r, dtype, backend=backend)
    state = random_state(model, rng)
    ref.set_parameters(state)
    actual.set_parameters(state)
    soft = bool(seed % 2)
    if dtype == "float32":
        batches = [(rng.normal(size=(5, 3)), _targets(r.loss.type, rng, soft=soft)) for _ in range(steps)]
        assert_checks(judged_checks(model, r, ref, actual, batches, dtype))
        return
    checks = []
    for step in range(1, steps + 1):
        x = rng.normal(size=(5, 3))
        y = _targets(r.loss.type, rng, soft=soft)
        rr, ra = ref.train_step(x, y), actual.train_step(x, y)
        checks.append(compare(f"step {step} loss", ra.loss, rr.loss, dtype))
        checks.append(compare(f"step {step} lr", ra.learning_rate, rr.learning_rate, dtype))
        if ra.grad_norm is not None or (clip or {}).get("type") == "global_norm":
            checks.append(compare(f"step {step} grad norm", ra.grad_norm, rr.grad_norm, dtype))
        checks += compare_dicts(f"step {step} parameter", actual.get_parameters(), ref.get_parameters(), dtype)
        (sa, so), (sr, sref) = actual.get_optimizer_state(), ref.get_optimizer_state()
        assert sa == sr == step and all(set(so[p]) == set(sref[p]) for p in sref)
        checks += state_checks(f"step {step} state", so, sref, dtype)
    assert_checks(checks)


@pytest.mark.parametrize("kind", cs.OPTIMIZERS)
def test_optimizer_updates(backend: str, kind: str) -> None:
    """Every optimizer's hyper-parameters, with and without coupled L2, through batch norm (a bias before it has
    a gradient that is mathematically 0: its state is round-off, compared per state name)."""
    @_examples("optimizer", backend)
    @given(opt=cs.optimizer_case(kind), l2=st.sampled_from([0.0, 0.01]), seed=st.integers(0, 2**16))
    def check(opt: dict, l2: float, seed: int) -> None:
        note(f"optimizer: {opt}, l2: {l2}")
        train_case(backend, opt, l2=l2, seed=seed)

    check()


@st.composite
def training_setup(draw, kind: str) -> dict:
    """An optimizer with coupled L2, a schedule (warm-up included) and clipping drawn alongside."""
    return {"opt": draw(cs.optimizer_case(kind)), "l2": draw(st.sampled_from([0.0, 0.01])),
            "sched": draw(st.one_of(st.none(), st.sampled_from(cs.SCHEDULES).flatmap(cs.schedule_case))),
            "clip": draw(st.one_of(st.none(), st.sampled_from(cs.CLIPPING).flatmap(cs.clipping_case)))}


def _with_schedule_and_clipping(backend: str, kind: str, examples: str) -> None:
    """Without batch norm: value clipping at a tiny bound turns an adaptive optimizer's update into ±lr for every
    element, and through batch norm four such free-running float64 steps amplify round-off past the 1e-10 rule on
    every framework (centered rmsprop, lr 0.3, clip_value 0.001: error/tolerance 24 on torch at step 4, 39 on
    TensorFlow at step 3); the re-synchronized judgement, not this free-running test, is the rule for such runs."""
    @_examples(examples, backend)
    @given(setup=training_setup(kind), seed=st.integers(0, 2**16))
    def check(setup: dict, seed: int) -> None:
        note(f"{setup}")
        train_case(backend, **setup, seed=seed, batch_norm=False)

    check()


@pytest.mark.parametrize("kind", cs.OPTIMIZERS)
def test_optimizer_with_schedule_and_clipping(backend: str, kind: str) -> None:
    _with_schedule_and_clipping(backend, kind, "optimizer_setup")


@pytest.mark.slow
@pytest.mark.parametrize("kind", cs.OPTIMIZERS)
def test_optimizer_with_schedule_and_clipping_many(backend: str, kind: str) -> None:
    _with_schedule_and_clipping(backend, kind, "optimizer_many")


@pytest.mark.parametrize("kind", cs.SCHEDULES)
def test_schedules(backend: str, kind: str) -> None:
    @_examples("schedule", backend)
    @given(sched=cs.schedule_case(kind))
    def check(sched: dict) -> None:
        note(f"schedule: {sched}")
        train_case(backend, {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}, sched=sched, steps=7)

    check()


@pytest.mark.parametrize("kind", cs.CLIPPING)
def test_clipping(backend: str, kind: str) -> None:
    @_examples("clipping", backend)
    @given(clip=cs.clipping_case(kind))
    def check(clip: dict) -> None:
        note(f"clipping: {clip}")
        train_case(backend, {"type": "adam", "learning_rate": 0.01}, clip=clip, l2=0.01)

    check()


@pytest.mark.parametrize("kind", cs.LOSSES)
def test_losses_in_training(backend: str, kind: str) -> None:
    @_examples("loss", backend)
    @given(loss=cs.loss_case(kind, 3), seed=st.integers(0, 1))
    def check(loss: dict, seed: int) -> None:
        note(f"loss: {loss}")
        train_case(backend, {"type": "sgd", "learning_rate": 0.1}, loss=loss, seed=seed, steps=LOSS_STEPS[backend])

    check()


@pytest.mark.parametrize("kind", cs.OPTIMIZERS)
def test_float32_training_steps(backend: str, kind: str) -> None:
    """float32 steps judged re-synchronized: every optimizer, a warm-up and cosine schedule, global-norm
    clipping and coupled L2, past the schedule's end (the bias corrections and momenta of later steps)."""
    train_case(backend, {"type": kind, "learning_rate": 0.01},
               sched={"type": "cosine", "decay_steps": 3, "warmup": {"steps": 2}},
               clip={"type": "global_norm", "max_norm": 0.5}, l2=0.01, dtype="float32", steps=8)


@pytest.mark.parametrize("loss", [
    {"type": "sparse_categorical_crossentropy", "from_logits": True, "label_smoothing": 0.1},
    {"type": "sparse_categorical_crossentropy", "from_logits": True, "reduction": "sum"},
    {"type": "categorical_crossentropy", "from_logits": False},
    {"type": "nll"},
    {"type": "binary_crossentropy", "from_logits": True, "label_smoothing": 0.2},
    {"type": "huber", "delta": 0.5, "reduction": "sum"},
], ids=lambda d: f"{d['type']}-{d.get('reduction', 'mean')}")
def test_losses_over_sequence_outputs(backend: str, loss: dict) -> None:
    """Per-position losses over [N, T, C] outputs reduce over every position (and element) as the standard says."""
    head = {"nll": [{"type": "log_softmax"}], "categorical_crossentropy": [{"type": "softmax"}]}.get(loss["type"], [])
    doc = cs.model_doc("seq", [5, 3], [{"type": "gru", "name": "g", "units": 4, "return_sequences": True},
                                      {"type": "dense", "name": "d", "units": 3}, *head])
    model = Model.model_validate(doc)
    rng = np.random.default_rng(5)
    ref, actual = sessions(model, recipe(doc, loss), backend=backend)
    state = {k: rng.normal(size=s.shape) * 0.5 for k, s in build_graph(model).parameters().items()}
    ref.set_parameters(state)
    actual.set_parameters(state)
    x = rng.normal(size=(4, 5, 3))
    if loss["type"] in ("sparse_categorical_crossentropy", "nll"):
        y = rng.integers(0, 3, size=(4, 5))
    elif loss["type"] == "categorical_crossentropy":
        y = rng.dirichlet(np.ones(3), size=(4, 5))
    elif loss["type"] == "binary_crossentropy":
        y = rng.integers(0, 2, size=(4, 5, 3)).astype(float)
    else:
        y = rng.normal(size=(4, 5, 3))
    la, ga = actual.loss_and_gradients(x, y)
    lr, gr = ref.loss_and_gradients(x, y)
    assert_checks([compare("loss", la, lr), *compare_dicts("gradient", ga, gr)])


# ------------------------------------------------------------------------------------ non-finite steps
def _session(backend: str, opt: dict, **extra):
    doc = _model_for(None)
    model = Model.model_validate(doc)
    s = adapter(backend).build(model, dtype="float64", recipe=recipe(doc, None, opt, **extra))
    s.set_parameters(random_state(model, np.random.default_rng(0)))
    return s


@pytest.mark.parametrize("clip", [None, {"type": "global_norm", "max_norm": 1.0}, {"type": "value", "clip_value": 1}],
                         ids=["no-clipping", "global_norm", "value"])
def test_non_finite_loss_changes_nothing(backend: str, clip: dict | None) -> None:
    """A NaN in the batch: NonFiniteError("loss") and nothing changed, batch-norm statistics, the step count and
    the optimizer state included (tests/backends/*_specific: a NaN gradient under a finite loss)."""
    extra = {"gradient_clipping": clip} if clip else {}
    s = _session(backend, {"type": "adam", "learning_rate": 0.1}, **extra)
    rng = np.random.default_rng(1)
    s.train_step(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))
    before, (step, state) = s.get_parameters(), s.get_optimizer_state()
    x = rng.normal(size=(5, 3))
    x[0, 0] = np.nan
    with pytest.raises(NonFiniteError) as info:
        s.train_step(x, rng.normal(size=(5, 3)))
    assert info.value.quantity == "loss"
    after, (step2, state2) = s.get_parameters(), s.get_optimizer_state()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # batch-norm statistics included
    assert step2 == step == 1
    for p, st_ in state.items():
        assert all(np.array_equal(st_[n], state2[p][n]) for n in st_)


# ------------------------------------------------------------------------------------------- resume
RESUME_OPTIMIZERS = [
    {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "dampening": 0.1},
    {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    {"type": "adam", "learning_rate": 0.01, "amsgrad": True},
    {"type": "adamw", "learning_rate": 0.01, "weight_decay": 0.1},
    {"type": "rmsprop", "learning_rate": 0.01, "centered": True, "momentum": 0.5},
    {"type": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.1},
]


@pytest.mark.parametrize("opt", RESUME_OPTIMIZERS, ids=lambda o: f"{o['type']}-{len(o)}")
@pytest.mark.parametrize("at", [0, 3])
def test_resume_from_canonical_state_is_bit_identical(backend: str, opt: dict, at: int) -> None:
    """get/set_parameters + get/set_optimizer_state carry everything: a run stopped after `at` steps and continued
    in a fresh session ends with the bits (parameters, buffers, state), losses and learning rates of an
    uninterrupted one, and its learning rate is the standard's closed form (to its last bits)."""
    extra = {"schedule": {"type": "cosine", "decay_steps": 4, "warmup": {"steps": 2}},
             "regularization": {"l2": 0.01}}
    rng = np.random.default_rng(3)
    batches = [(rng.normal(size=(5, 3)), rng.normal(size=(5, 3))) for _ in range(6)]
    whole = _session(backend, opt, **extra)
    results = [whole.train_step(x, y) for x, y in batches]
    first = _session(backend, opt, **extra)
    for x, y in batches[:at]:
        first.train_step(x, y)
    params, (step, state) = first.get_parameters(), first.get_optimizer_state()
    second = _session(backend, opt, **extra)
    second.set_parameters(params)
    second.set_optimizer_state(step, state)
    resumed = [second.train_step(x, y) for x, y in batches[at:]]
    assert [(r.loss, r.learning_rate) for r in resumed] == [(r.loss, r.learning_rate) for r in results[at:]]
    a, b = whole.get_parameters(), second.get_parameters()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    sa, sb = whole.get_optimizer_state()[1], second.get_optimizer_state()[1]
    assert all(np.array_equal(sa[p][n], sb[p][n]) for p in sa for n in sa[p])
    # the closed form to an ulp or two: each framework's own cos or sin (its libm) rounds the last bit its own way
    assert resumed[-1].learning_rate == pytest.approx(
        ref_schedules.learning_rate(whole.recipe.schedule, opt["learning_rate"], 5), rel=1e-15, abs=0)


# ------------------------------------------------------------------------------------------ examples
def _example_param(path: Path, backend: str, dtype: str):
    # TensorFlow's float32 examples are judged over whole runs by test_crossframework.py: here `-m slow` only
    slow = backend == "tensorflow" and dtype == "float32"
    return pytest.param(backend, path, dtype, id=f"{backend}-{path.parent.name}-{dtype}",
                        marks=(pytest.mark.slow,) if slow else ())


@pytest.mark.parametrize(("backend", "path", "dtype"), [
    _example_param(p, b, d) for b in ("torch", "tensorflow") for d in ("float64", "float32") for p in EXAMPLE_RECIPES],
    indirect=["backend"])
def test_example_recipes(backend: str, path: Path, dtype: str) -> None:
    """The first steps of every example. float64, free-running: step 1's loss and gradients before any update,
    then every step's loss and parameters, and the eval outputs (1e-10 rule); float32: each step judged
    re-synchronized, the eval output from the reference's parameters under the derived rule."""
    steps = 5 if dtype == "float64" else 10
    prep = prepare_run(path, steps=steps, dtype=dtype)
    r = prep.recipe
    ref, actual = sessions(prep.model, r, dtype, backend=backend)
    ref.set_parameters(prep.initial)
    actual.set_parameters(prep.initial)
    if dtype == "float32":
        from lockstep.conformance.checks import check
        from lockstep.conformance.tolerance import output_rule

        batches = []
        for step in range(steps):
            _, x, y = prep.data.batch(step)
            batches.append((x, y, masks_for(prep, step, len(x))))
        checks = judged_checks(prep.model, r, ref, actual, batches, dtype)
        params = ref.get_parameters()
        actual.set_parameters(params)
        x_eval = prep.data.x_eval[:64]
        expected = ref.forward(x_eval)
        checks.append(check("eval output", actual.forward(x_eval), expected,
                            output_rule(prep.model, params, x_eval, expected, dtype)))
        assert_checks(checks)
        return
    checks = []
    for step in range(steps):
        _, x, y = prep.data.batch(step)
        masks = masks_for(prep, step, len(x))
        if step == 0:
            la, ga = actual.loss_and_gradients(x, y, masks=masks)
            lr, gr = ref.loss_and_gradients(x, y, masks=masks)
            checks += [compare("step 1 loss (no update)", la, lr), *compare_dicts("step 1 gradient", ga, gr)]
            actual.set_parameters(prep.initial)  # undo the batch-norm statistics of that forward
            ref.set_parameters(prep.initial)
        rr, ra = ref.train_step(x, y, masks=masks), actual.train_step(x, y, masks=masks)
        checks.append(compare(f"step {step + 1} loss", ra.loss, rr.loss, dtype))
        checks += compare_dicts(f"step {step + 1}", actual.get_parameters(), ref.get_parameters(), dtype)
    x_eval = prep.data.x_eval[:64]
    checks.append(compare("eval output", actual.forward(x_eval), ref.forward(x_eval), dtype))
    assert_checks(checks)


@pytest.mark.parametrize("tokens", [[0, -1], [0, 5], [-5, 1]])
def test_embedding_indices_outside_the_table_are_errors(backend: str, tokens: list[int]) -> None:
    """v1.md: "An index outside [0, input_dim) is an error, never clamped." Keras's take wrapped -1 to the last row
    (the TensorFlow session returned W[4] for it); torch raises on its own."""
    import numpy as np

    from lockstep.adapters.registry import get
    from lockstep.spec.documents import Model

    doc = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
           "inputs": [{"name": "tok", "shape": [2], "dtype": "int64"}],
           "layers": [{"type": "embedding", "name": "e", "input_dim": 5, "output_dim": 2}]}
    session = get(backend).build(Model.model_validate(doc), dtype="float64")
    session.set_parameters({"e.weight": np.arange(10.0).reshape(5, 2)})
    assert np.array_equal(session.forward(np.array([[0, 4]])), [[[0.0, 1.0], [8.0, 9.0]]])
    with pytest.raises(IndexError):
        session.forward(np.array([tokens]))
