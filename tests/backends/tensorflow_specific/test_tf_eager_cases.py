"""A TensorFlow session told it serves a few calls (`Session.expect_few_calls`, what the conformance suite does for
every generated case at levels 1-3) runs its entry points eagerly: nothing is traced, and every number it gives
(forward in both modes, loss and gradients, steps with their learning rate and norm, parameters, optimizer state,
the full training state) is bit for bit the compiled session's, because the ops and kernels are the same
(adapters/tensorflow/session.py; docs/adapters/tensorflow.md, "Eager for a few calls")."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("tensorflow")

from lockstep.adapters.base import NonFiniteError
from lockstep.adapters.tensorflow import TensorFlowAdapter
from lockstep.adapters.tensorflow import session as tf_session
from lockstep.conformance import strategies as cs
from lockstep.conformance.cases import Case
from lockstep.runner import masks_for


def _run(session, prep, steps: int) -> dict[str, object]:
    """Everything the conformance levels read from a session, over `steps` training steps."""
    session.set_parameters(prep.initial)
    _, x, y = prep.data.batch(0)
    masks = masks_for(prep, 0, len(x))
    out: dict[str, object] = {"eval": session.forward(x), "train": session.forward(x, training=True, masks=masks)}
    session.set_parameters(prep.initial)
    loss, grads = session.loss_and_gradients(x, y, masks=masks)
    out["loss"], out["grads"] = loss, grads
    session.set_parameters(prep.initial)
    for k in range(steps):
        _, x, y = prep.data.batch(k)
        try:
            r = session.train_step(x, y, masks=masks_for(prep, k, len(x)))
            out[f"step {k + 1}"] = (r.loss, r.learning_rate, r.grad_norm)
        except NonFiniteError as exc:
            out[f"step {k + 1}"] = f"non-finite: {exc}"
            break
        out[f"parameters after {k + 1}"] = session.get_parameters()
    out["optimizer"] = session.get_optimizer_state()
    state = session.get_state()
    out["state"] = (state.step, state.parameters, state.optimizer)
    _, x, y = prep.data.batch(0)
    try:  # a case whose steps overflow (a magnitude edge trained for steps) must fail the same way in both modes
        result, after = session.step_from(state, x, y, masks=masks_for(prep, 0, len(x)))
        out["step_from"] = (result.loss, result.learning_rate, after.step, after.parameters, after.optimizer)
    except NonFiniteError as exc:
        out["step_from"] = f"non-finite: {exc}"
    return out


RECURRENT = frozenset({"lstm", "gru"})
"""Layers whose weights are used at every time step: their gradient is a sum over steps, which the compiled
graph accumulates in the while loop's backward pass and eager autodiff adds up in another order, so the two
differ at round-off (docs/adapters/tensorflow.md, "Eager for a few calls"). Everything else is bitwise."""


def _assert_same(a: object, b: object, where: str, rtol: float = 0.0) -> None:
    """Equality of nested results (NaN equal to NaN): bitwise, or within `rtol` of each array's largest magnitude;
    the message names the first place they differ."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}", rtol)
    elif isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), f"{where}: {a!r} vs {b!r}"
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _assert_same(u, v, f"{where}[{i}]", rtol)
    elif isinstance(a, str) or a is None:
        assert a == b, f"{where}: {a!r} vs {b!r}"
    else:
        u, v = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        assert u.shape == v.shape, f"{where}: shapes {u.shape} vs {v.shape}"
        scale = float(np.nanmax(np.abs(u), initial=0.0))
        same = (np.abs(u - v) <= rtol * scale) | (np.isnan(u) & np.isnan(v))
        assert same.all(), (f"{where}: eager differs from compiled (rtol {rtol:g} of {scale:.3g}) at "
                            f"{np.argwhere(~same)[:3].tolist()}: {u[~same][:3]} vs {v[~same][:3]}")


def _assert_equivalent(compiled: dict, eager: dict, model: dict, dtype: str, where: str) -> None:
    """Bitwise everywhere, except what follows a recurrent layer's gradient: round-off of a reordered sum there
    (forward passes and the loss stay bitwise)."""
    if not any(layer.get("type") in RECURRENT for layer in model.get("layers") or model.get("nodes") or []):
        _assert_same(compiled, eager, where)
        return
    for key in ("eval", "train", "loss"):
        _assert_same(compiled[key], eager[key], f"{where}.{key}")
    _assert_same(compiled, eager, where, rtol=1e-4 if dtype == "float32" else 1e-12)


def _both(case: Case, dtype: str) -> tuple[dict, dict, tf_session.TFSession]:
    with tempfile.TemporaryDirectory() as tmp:
        prep = case.prepare(Path(tmp), dtype)
    adapter = TensorFlowAdapter()
    compiled = adapter.build(prep.model, dtype=dtype, recipe=prep.recipe)
    eager = adapter.build(prep.model, dtype=dtype, recipe=prep.recipe)
    eager.expect_few_calls()
    steps = min(prep.total_steps, 3)
    return _run(compiled, prep, steps), _run(eager, prep, steps), eager


def _case() -> Case:
    """Dense, batch norm, dropout (keep-masks), Adam with a warm-up cosine schedule, clipping and L2: most of what
    a compiled step holds (the optimizer's apply, the schedule, the non-finite guard, the moved statistics)."""
    model = cs.model_doc("eager-case", [5], [{"type": "dense", "name": "d1", "units": 6},
                                             {"type": "batch_norm", "name": "bn"}, {"type": "tanh"},
                                             {"type": "dropout", "name": "drop", "rate": 0.25},
                                             {"type": "dense", "name": "out", "units": 3}])
    recipe = {"optimizer": {"type": "adam", "learning_rate": 0.01},
              "schedule": {"type": "cosine", "decay_steps": 2, "warmup": {"steps": 1, "start_factor": 0.5}},
              "gradient_clipping": {"type": "global_norm", "max_norm": 0.5},
              "regularization": {"l2": 0.01}}
    return Case("eager", model, recipe, seed=3, batch=4, steps=3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eager_session_traces_nothing_and_equals_compiled_bitwise(dtype: str) -> None:
    compiled, eager, session = _both(_case(), dtype)
    assert session.execution == "eager", f"expect_few_calls must switch to eager, got {session.execution!r}"
    assert session._functions == {}, f"an eager session must trace nothing, traced {sorted(session._functions)}"
    _assert_same(compiled, eager, dtype)


def test_compiled_is_the_default_and_compile_always_keeps_it(monkeypatch) -> None:
    adapter = TensorFlowAdapter()
    model = cs.model_doc("m", [3], [{"type": "dense", "name": "d", "units": 2}])
    from lockstep.spec.documents import Model

    session = adapter.build(Model.model_validate(model), dtype="float64")
    assert session.execution == "compiled", f"a plain session compiles (lockstep run), got {session.execution!r}"
    session.forward(np.ones((2, 3)))
    assert sorted(session._functions) == ["eval"], f"the compiled forward traces once: {sorted(session._functions)}"
    monkeypatch.setattr(tf_session, "COMPILE_ALWAYS", True)
    kept = adapter.build(Model.model_validate(model), dtype="float64")
    kept.expect_few_calls()
    assert kept.execution == "compiled", "LOCKSTEP_TF_COMPILE_ALWAYS=1 must keep the compiled path"


def test_switching_after_a_compiled_call_drops_the_graphs() -> None:
    """A session that already compiled an entry point and is then told it serves few calls runs eagerly from then
    on (its graphs are dropped, not kept half in use), with the same numbers."""
    from lockstep.spec.documents import Model

    model = Model.model_validate(cs.model_doc("m", [3], [{"type": "dense", "name": "d", "units": 2}]))
    session = TensorFlowAdapter().build(model, dtype="float64")
    x = np.arange(6.0).reshape(2, 3)
    before = session.forward(x)
    session.expect_few_calls()
    assert session._functions == {} and session._compiled == {}, "the compiled graphs must be dropped"
    np.testing.assert_array_equal(session.forward(x), before, err_msg="eager forward vs the compiled one")
    assert session._functions == {}, f"nothing traced after the switch: {sorted(session._functions)}"


def test_the_optimizer_is_built_on_first_use() -> None:
    """Levels 1 and 2 never step: their sessions create no optimizer variables (a third of a small session's
    build); the first step, state read or optimizer-state call builds it."""
    _, _, session = _both(_case(), "float64")
    assert session.opt is not None, "after training the optimizer exists"
    with tempfile.TemporaryDirectory() as tmp:
        prep = _case().prepare(Path(tmp), "float64")
    fresh = TensorFlowAdapter().build(prep.model, dtype="float64", recipe=prep.recipe)
    fresh.expect_few_calls()
    fresh.set_parameters(prep.initial)
    _, x, y = prep.data.batch(0)
    fresh.loss_and_gradients(x, y, masks=masks_for(prep, 0, len(x)))
    assert fresh._opt is None, "loss_and_gradients must not build the optimizer"
    step, states = fresh.get_optimizer_state()
    assert step == 0 and fresh._opt is not None, "get_optimizer_state builds it (step 0)"
    assert all(np.all(v == 0) for s in states.values() for v in s.values()), "fresh Adam moments are zeros"


@pytest.mark.slow
@settings(max_examples=30, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_generated_cases_are_bitwise_the_same_eager_and_compiled(data) -> None:
    """Over the suite's own strategies (layers, optimizers, schedules, clipping): eager equals compiled, bit for
    bit, in both dtypes."""
    construct = data.draw(st.sampled_from(["conv2d", "lstm", "gru", "multi_head_attention", "layer_norm", "gelu",
                                           "max_pool2d", "embedding", "rmsprop", "sgd", "adagrad", "adamw",
                                           "warmup", "step", "value"]), label="construct")
    if construct in cs.LAYERS:
        case = data.draw(cs.layer_problem(construct), label="case")
    elif construct in cs.OPTIMIZERS:
        case = data.draw(cs.optimizer_problem(construct), label="case")
    elif construct in cs.SCHEDULES:
        case = data.draw(cs.schedule_problem(construct), label="case")
    else:
        case = data.draw(cs.clipping_problem(construct), label="case")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    compiled, eager, _ = _both(case, dtype)
    _assert_equivalent(compiled, eager, case.model, dtype, f"{construct} {dtype}")
