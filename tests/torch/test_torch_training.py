"""Training on torch against the float64 reference: every optimizer (with and without coupled L2), schedule
and warm-up, clipping, loss; the non-finite contract; resume; the example recipes.

Each case compares, after every step, the loss, the learning rate, every parameter and every optimizer
state with the reference: float64 |a - r| <= 1e-10·|r| + 1e-12·s, running freely; float32 each step judged
re-synchronized (from the reference's state before it, under the derived one-step bounds), never free-running.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

pytest.importorskip("torch.nn")  # not "torch": without torch installed, this folder would import as `torch`
import torch
from pydantic import TypeAdapter
from torch_test_cases import assert_checks, judged_checks, random_state, recipe, sessions, state_checks

from lockstep.adapters.base import NonFiniteError
from lockstep.adapters.torch import TorchAdapter, schedules
from lockstep.adapters.torch.session import configure_tf32
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare, compare_dicts
from lockstep.reference import schedules as ref_schedules
from lockstep.runner import masks_for, prepare_run
from lockstep.spec.documents import Model
from lockstep.spec.schedules import Schedule

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/recipe.yaml"))


def _model_for(loss: dict | None) -> dict:
    layers = [{"type": "dense", "name": "a", "units": 4}, {"type": "tanh"},
              {"type": "batch_norm", "name": "bn"}, {"type": "dense", "name": "b", "units": 3}]
    kind = (loss or {}).get("type")
    if kind == "nll":
        layers.append({"type": "log_softmax"})
    elif kind in ("categorical_crossentropy", "sparse_categorical_crossentropy") and not loss["from_logits"]:
        layers.append({"type": "softmax"})
    elif kind == "binary_crossentropy" and not loss["from_logits"]:
        layers.append({"type": "sigmoid"})
    return cs.model_doc("m", [3], layers)


def _targets(kind: str, rng: np.random.Generator, n: int = 5) -> np.ndarray:
    if kind in ("sparse_categorical_crossentropy", "nll"):
        return rng.integers(0, 3, size=n)
    if kind == "categorical_crossentropy":
        return rng.dirichlet(np.ones(3), size=n)  # soft targets
    if kind == "binary_crossentropy":
        return rng.integers(0, 2, size=(n, 3)).astype(float)
    return rng.normal(size=(n, 3))


def train_case(opt: dict, sched: dict | None = None, clip: dict | None = None, l2: float = 0.0,
               loss: dict | None = None, seed: int = 0, steps: int = 4, dtype: str = "float64") -> None:
    doc = _model_for(loss)
    extra: dict = {"regularization": {"l2": l2}}
    if sched:
        extra["schedule"] = sched
    if clip:
        extra["gradient_clipping"] = clip
    r = recipe(doc, loss, opt, dtype=dtype, **extra)
    model = Model.model_validate(doc)
    rng = np.random.default_rng(seed)
    ref, tch = sessions(model, r, dtype)
    state = random_state(model, rng)
    ref.set_parameters(state)
    tch.set_parameters(state)
    if dtype == "float32":
        batches = [(rng.normal(size=(5, 3)), _targets(r.loss.type, rng)) for _ in range(steps)]
        assert_checks(judged_checks(model, r, ref, tch, batches, dtype))
        return
    checks = []
    for step in range(1, steps + 1):
        x = rng.normal(size=(5, 3))
        y = _targets(r.loss.type, rng)
        rr, rt = ref.train_step(x, y), tch.train_step(x, y)
        checks.append(compare(f"step {step} loss", rt.loss, rr.loss, dtype))
        checks.append(compare(f"step {step} lr", rt.learning_rate, rr.learning_rate, dtype))
        if r.gradient_clipping is not None and r.gradient_clipping.type == "global_norm":
            checks.append(compare(f"step {step} grad norm", rt.grad_norm, rr.grad_norm, dtype))
        checks += compare_dicts(f"step {step} parameter", tch.get_parameters(), ref.get_parameters(), dtype)
        (ts, so), (rs, sr) = tch.get_optimizer_state(), ref.get_optimizer_state()
        assert ts == rs == step and all(set(so[p]) == set(sr[p]) for p in sr)
        checks += state_checks(f"step {step} state", so, sr, dtype)
    assert_checks(checks)


@pytest.mark.parametrize("kind", cs.OPTIMIZERS)
@settings(max_examples=20)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_optimizer_updates(kind: str, data, seed: int) -> None:
    opt = data.draw(cs.optimizer_case(kind))
    l2 = data.draw(st.sampled_from([0.0, 0.01]))
    note(f"optimizer: {opt}, l2: {l2}")
    train_case(opt, l2=l2, seed=seed)


@pytest.mark.parametrize("kind", cs.SCHEDULES)
@settings(max_examples=10)
@given(data=st.data())
def test_schedules(kind: str, data) -> None:
    sched = data.draw(cs.schedule_case(kind))
    note(f"schedule: {sched}")
    train_case({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}, sched=sched, steps=7)


@pytest.mark.parametrize("kind", cs.CLIPPING)
@settings(max_examples=10)
@given(data=st.data())
def test_clipping(kind: str, data) -> None:
    clip = data.draw(cs.clipping_case(kind))
    note(f"clipping: {clip}")
    train_case({"type": "adam", "learning_rate": 0.01}, clip=clip, l2=0.01)


@pytest.mark.parametrize("kind", cs.LOSSES)
@settings(max_examples=10)
@given(data=st.data())
def test_losses_in_training(kind: str, data) -> None:
    loss = data.draw(cs.loss_case(kind, 3))
    note(f"loss: {loss}")
    train_case({"type": "sgd", "learning_rate": 0.1}, loss=loss)


@pytest.mark.parametrize("kind", cs.OPTIMIZERS)
def test_float32_training_steps(kind: str) -> None:
    """float32 steps judged re-synchronized: every optimizer, a warm-up and cosine schedule, global-norm
    clipping and coupled L2, past the schedule's end (the bias corrections and momenta of later steps)."""
    opt = {"type": kind, "learning_rate": 0.01}
    train_case(opt, sched={"type": "cosine", "decay_steps": 3, "warmup": {"steps": 2}},
               clip={"type": "global_norm", "max_norm": 0.5}, l2=0.01, dtype="float32", steps=8)


SCHEDULE_CASES = [
    {"type": "constant", "warmup": {"steps": 7}},
    {"type": "step", "step_size": 17, "gamma": 0.5, "warmup": {"steps": 13, "start_factor": 0.25}},
    {"type": "exponential", "gamma": 0.999},
    {"type": "cosine", "decay_steps": 300, "min_learning_rate": 1e-4, "warmup": {"steps": 10}},
    {"type": "cosine", "decay_steps": 1},
    {"type": "cosine", "decay_steps": 50, "min_learning_rate": 0.5},  # min above base: the rate rises
]


@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=lambda c: c["type"])
def test_native_schedulers_follow_the_closed_forms_for_long(case: dict) -> None:
    """torch's schedulers are recursive; over 3000 steps they stay within a few ulps of the closed forms,
    hold the cosine minimum past T (CosineAnnealingLR alone would rise again) and warm up from 0."""
    schedule = TypeAdapter(Schedule).validate_python(case)
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.1)
    scheduler = schedules.build(schedule, opt)
    worst = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(3000):
            lr, want = opt.param_groups[0]["lr"], ref_schedules.learning_rate(schedule, 0.1, t)
            worst = max(worst, abs(lr - want) / abs(want) if want else abs(lr))
            opt.step()
            if scheduler is not None:
                scheduler.step()
    assert worst < 1e-13, worst


# ---------------------------------------------------------------------------------- non-finite steps
def _session(opt: dict, **extra):
    doc = _model_for(None)
    model = Model.model_validate(doc)
    s = TorchAdapter().build(model, dtype="float64", recipe=recipe(doc, None, opt, **extra))
    s.set_parameters(random_state(model, np.random.default_rng(0)))
    return s


@pytest.mark.parametrize("clip", [None, {"type": "global_norm", "max_norm": 1.0}, {"type": "value", "clip_value": 1}])
def test_non_finite_loss_or_gradient_changes_nothing(clip: dict | None) -> None:
    extra = {"gradient_clipping": clip} if clip else {}
    s = _session({"type": "adam", "learning_rate": 0.1}, **extra)
    rng = np.random.default_rng(1)
    s.train_step(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))
    before, state_before = s.get_parameters(), s.get_optimizer_state()
    x = rng.normal(size=(5, 3))
    x[0, 0] = np.nan
    with pytest.raises(NonFiniteError) as info:
        s.train_step(x, rng.normal(size=(5, 3)))
    assert info.value.quantity == "loss"
    real = s.loss_fn
    s.loss_fn = lambda y, t: torch.sqrt((y * 0).sum()) + real(y, t)  # finite loss, NaN gradient
    with pytest.raises(NonFiniteError) as info:
        s.train_step(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))
    assert info.value.quantity == "gradient of a.weight"
    after, state_after = s.get_parameters(), s.get_optimizer_state()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # batch-norm statistics included
    assert state_before[0] == state_after[0]
    for p, st_ in state_before[1].items():
        assert all(np.array_equal(st_[n], state_after[1][p][n]) for n in st_)


def test_grad_norm_is_reported_only_when_clipping_computes_it() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    assert _session({"type": "sgd", "learning_rate": 0.1}).train_step(x, y).grad_norm is None
    clipped = _session({"type": "sgd", "learning_rate": 0.1}, gradient_clipping={"type": "global_norm",
                                                                                 "max_norm": 1e-3})
    assert clipped.train_step(x, y).grad_norm > 1e-3


# ------------------------------------------------------------------------------------------- resume
@pytest.mark.parametrize("opt", [
    {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "dampening": 0.1},
    {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    {"type": "adam", "learning_rate": 0.01, "amsgrad": True},
    {"type": "adamw", "learning_rate": 0.01, "weight_decay": 0.1},
    {"type": "rmsprop", "learning_rate": 0.01, "centered": True, "momentum": 0.5},
    {"type": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.1},
], ids=lambda o: f"{o['type']}-{len(o)}")
@pytest.mark.parametrize("at", [0, 3])
def test_resume_from_canonical_state_is_bit_identical(opt: dict, at: int) -> None:
    extra = {"schedule": {"type": "cosine", "decay_steps": 4, "warmup": {"steps": 2}},
             "regularization": {"l2": 0.01}}
    rng = np.random.default_rng(3)
    batches = [(rng.normal(size=(5, 3)), rng.normal(size=(5, 3))) for _ in range(6)]
    whole = _session(opt, **extra)
    for x, y in batches:
        whole.train_step(x, y)
    first = _session(opt, **extra)
    for x, y in batches[:at]:
        first.train_step(x, y)
    params, (step, state) = first.get_parameters(), first.get_optimizer_state()
    second = _session(opt, **extra)
    second.set_parameters(params)
    second.set_optimizer_state(step, state)
    lrs = [second.train_step(x, y).learning_rate for x, y in batches[at:]]
    a, b = whole.get_parameters(), second.get_parameters()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    sa, sb = whole.get_optimizer_state()[1], second.get_optimizer_state()[1]
    assert all(np.array_equal(sa[p][n], sb[p][n]) for p in sa for n in sa[p])
    assert lrs[-1] == ref_schedules.learning_rate(whole.recipe.schedule, opt["learning_rate"], 5)


# ------------------------------------------------------------------------------------------ examples
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_example_recipes(path: Path, dtype: str) -> None:
    """The first steps of every example: losses, parameters and eval outputs (float64: 1e-10 rule, free-running;
    float32: each step judged re-synchronized, the eval output from the reference's parameters)."""
    steps = 5 if dtype == "float64" else 10
    prep = prepare_run(path, steps=steps, dtype=dtype)
    r = prep.recipe
    ref, tch = sessions(prep.model, r, dtype)
    ref.set_parameters(prep.initial)
    tch.set_parameters(prep.initial)
    if dtype == "float32":
        from lockstep.conformance.checks import check
        from lockstep.conformance.tolerance import output_rule

        batches = []
        for step in range(steps):
            _, x, y = prep.data.batch(step)
            batches.append((x, y, masks_for(prep, step, len(x))))
        checks = judged_checks(prep.model, r, ref, tch, batches, dtype)
        params = ref.get_parameters()
        tch.set_parameters(params)
        x_eval = prep.data.x_eval[:64]
        expected = ref.forward(x_eval)
        checks.append(check("eval output", tch.forward(x_eval), expected,
                            output_rule(prep.model, params, x_eval, expected, dtype)))
        assert_checks(checks)
        return
    checks = []
    for step in range(steps):
        _, x, y = prep.data.batch(step)
        masks = masks_for(prep, step, len(x))
        rr, rt = ref.train_step(x, y, masks=masks), tch.train_step(x, y, masks=masks)
        checks.append(compare(f"step {step + 1} loss", rt.loss, rr.loss, dtype))
        checks += compare_dicts(f"step {step + 1}", tch.get_parameters(), ref.get_parameters(), dtype)
    x_eval = prep.data.x_eval[:64]
    checks.append(compare("eval output", tch.forward(x_eval), ref.forward(x_eval), dtype))
    assert_checks(checks)


def test_tf32_is_off_unless_asked(monkeypatch) -> None:
    monkeypatch.delenv("LOCKSTEP_ALLOW_TF32", raising=False)
    assert configure_tf32() is False
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    monkeypatch.setenv("LOCKSTEP_ALLOW_TF32", "1")
    assert configure_tf32() is True and torch.backends.cudnn.allow_tf32
    assert configure_tf32(False) is False and not torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("loss", [{"type": "categorical_crossentropy", "from_logits": True},
                                  {"type": "sparse_categorical_crossentropy", "from_logits": True}, {"type": "nll"}],
                         ids=lambda d: d["type"])
@pytest.mark.parametrize("shape", [[2, 1, 2], [4, 1, 4], [3, 2, 1]], ids=str)
def test_class_loss_over_positions_after_batch_norm(loss: dict, shape: list[int]) -> None:
    """Regression: conv2d -> batch_norm -> a class loss over [C, 1, W] outputs (found by `lockstep certify`'s
    random models). torch 2.13's CPU batch-norm backward mis-read the strided gradient that `movedim` handed
    it (wrong gradients, or "grad_input must be contiguous"); the adapter now feeds it row-major gradients."""
    layers = [{"type": "conv2d", "name": "c", "filters": shape[0], "kernel_size": 1},
              {"type": "batch_norm", "name": "bn"}]
    if loss["type"] == "nll":
        layers.append({"type": "log_softmax"})
    doc = cs.model_doc("m", shape, layers)
    r = recipe(doc, loss)
    model = Model.model_validate(doc)
    rng = np.random.default_rng(3)
    ref, tch = sessions(model, r)
    state = random_state(model, rng)
    ref.set_parameters(state)
    tch.set_parameters(state)
    x = rng.normal(size=(3, *shape))
    classes = shape[-1]
    y = (rng.dirichlet(np.ones(classes), size=(3, *shape[:-1])) if loss["type"] == "categorical_crossentropy"
         else rng.integers(0, classes, size=(3, *shape[:-1])))
    lr, gr = ref.loss_and_gradients(x, y)
    lt, gt = tch.loss_and_gradients(x, y)
    assert_checks([compare("loss", lt, lr), *compare_dicts("gradient", gt, gr)])
