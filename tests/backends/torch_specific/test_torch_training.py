"""What only torch's training has: its recursive schedulers against the closed forms over thousands of steps, a
NaN gradient under a finite loss, the gradient norm reported only when clipping computes it, TF32 off unless
asked, and the regression of torch 2.13's CPU batch-norm backward on strided gradients. Training agreement with
the reference, on torch and TensorFlow alike, is tests/backends/test_agreement.py.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")
import torch
from backend_support import assert_checks, random_state, recipe, sessions
from pydantic import TypeAdapter

from lockstep.adapters.base import NonFiniteError
from lockstep.adapters.torch import TorchAdapter, schedules
from lockstep.adapters.torch.session import configure_tf32, tf32_allowed
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare, compare_dicts
from lockstep.reference import schedules as ref_schedules
from lockstep.spec.documents import Model
from lockstep.spec.schedules import Schedule

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
    doc = cs.model_doc("m", [3], [{"type": "dense", "name": "a", "units": 4}, {"type": "tanh"},
                                  {"type": "batch_norm", "name": "bn"}, {"type": "dense", "name": "b", "units": 3}])
    model = Model.model_validate(doc)
    s = TorchAdapter().build(model, dtype="float64", recipe=recipe(doc, None, opt, **extra))
    s.set_parameters(random_state(model, np.random.default_rng(0)))
    return s


@pytest.mark.parametrize("clip", [None, {"type": "global_norm", "max_norm": 1.0}, {"type": "value", "clip_value": 1}])
def test_non_finite_gradient_changes_nothing(clip: dict | None) -> None:
    """A finite loss whose gradient is NaN: NonFiniteError naming the parameter, and nothing changed (the NaN-loss
    case runs on every backend: test_agreement.py::test_non_finite_loss_changes_nothing)."""
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


def test_tf32_is_off_unless_asked(monkeypatch) -> None:
    monkeypatch.delenv("LOCKSTEP_ALLOW_TF32", raising=False)
    assert configure_tf32() is False
    assert tf32_allowed() == (False, False)
    monkeypatch.setenv("LOCKSTEP_ALLOW_TF32", "1")
    assert configure_tf32() is True and tf32_allowed() == (True, True)
    assert configure_tf32(False) is False and tf32_allowed() == (False, False)


@pytest.mark.parametrize("allow", [False, True])
def test_tf32_setting_leaves_every_precision_setting_readable(allow: bool) -> None:
    """configure_tf32 wrote torch's legacy `allow_tf32` flags: after a session, the caller's own
    `torch.get_float32_matmul_precision()` raised ("a mix of the legacy and new APIs", torch 2.9 on); writing only the
    new `fp32_precision` settings made a read of `torch.backends.cudnn.allow_tf32` raise instead."""
    try:
        torch.set_float32_matmul_precision("high")
        configure_tf32(allow)
        assert torch.get_float32_matmul_precision() == ("high" if allow else "highest")
        assert torch.backends.cuda.matmul.allow_tf32 is allow and torch.backends.cudnn.allow_tf32 is allow
        assert tf32_allowed() == (allow, allow)
    finally:
        configure_tf32(False)


def test_the_callers_cpu_precision_does_not_reach_a_float32_session() -> None:
    """`torch.set_float32_matmul_precision("medium")` (bfloat16 matmuls where the CPU has them) or mkldnn's own
    `fp32_precision = "bf16"` set by the caller changed a CPU run's float32 losses: a session is IEEE float32."""
    losses, params, _ = _steps_under("none", width=64)
    try:
        torch.set_float32_matmul_precision("medium")
        if hasattr(getattr(torch.backends.mkldnn, "matmul", None), "fp32_precision"):
            torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        losses_m, params_m, _ = _steps_under("none", width=64)
    finally:
        configure_tf32(False)
    assert losses_m == losses and all(np.array_equal(params_m[k], v) for k, v in params.items()), (losses_m, losses)


def _steps_under(mode: str, width: int = 3) -> tuple[list[float], dict, np.ndarray]:
    """Build a float32 session (`width` inputs and units), train 3 steps and predict, all under the caller's
    `mode`."""
    modes = {"none": contextlib.nullcontext, "no_grad": torch.no_grad, "inference_mode": torch.inference_mode,
             "grad_disabled": lambda: torch.set_grad_enabled(False),
             "autocast": lambda: torch.autocast("cpu", dtype=torch.bfloat16)}
    doc = cs.model_doc("m", [width], [{"type": "dense", "name": "a", "units": width + 1}, {"type": "tanh"},
                                      {"type": "dense", "name": "b", "units": 3}])
    model = Model.model_validate(doc)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5 * width, width)), rng.normal(size=(5 * width, 3))
    with modes[mode]():
        sgd = recipe(doc, None, {"type": "sgd", "learning_rate": 0.1})
        s = TorchAdapter().build(model, dtype="float32", recipe=sgd)
        s.set_parameters(random_state(model, np.random.default_rng(0)))
        losses = [s.train_step(x, y).loss for _ in range(3)]
        return losses, s.get_parameters(), s.forward(x)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "grad_disabled", "autocast"])
def test_the_callers_torch_modes_change_nothing(mode: str) -> None:
    """Under the caller's `torch.no_grad()` a run recorded no graph, skipped every backward and reported `ok` with
    its parameters unmoved; under `torch.autocast` it trained in bfloat16. A session works in torch's default modes
    whatever its caller's: the same bits."""
    losses, params, out = _steps_under("none")
    losses_m, params_m, out_m = _steps_under(mode)
    assert losses_m == losses, (mode, losses_m, losses)
    for name, value in params.items():
        assert np.array_equal(params_m[name], value), (mode, name, np.abs(params_m[name] - value).max())
    assert np.array_equal(out_m, out), (mode, np.abs(out_m - out).max())
    assert torch.is_grad_enabled()  # the caller's mode ended with its block, not changed by the session


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
