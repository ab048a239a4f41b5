"""What only TensorFlow's training has: the compiled step's contract (one trace for every batch size, nothing
applied on a non-finite step, the non-finite gradient named, resume from canonical state bitwise with dropout
masks), the example recipes on a GPU, the SavedModel export, and the user's paths (`lockstep run --backend
tensorflow`, resuming through the runner). Training agreement with the reference, on TensorFlow and torch alike,
is tests/backends/test_agreement.py; reference, torch and TensorFlow judged together, test_crossframework.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from backend_support import assert_checks
from backend_support import recipe as case_recipe

from lockstep.adapters.base import NonFiniteError
from lockstep.adapters.reference import ReferenceAdapter
from lockstep.adapters.tensorflow import TensorFlowAdapter
from lockstep.cli import main
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare, compare_dicts
from lockstep.runner import masks_for, prepare_run
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*/recipe.yaml"))


def _example_checks(recipe_path: Path, steps: int, device: str = "cpu") -> list:
    prep = prepare_run(recipe_path, steps=steps)
    r64 = prep.recipe.model_copy(update={"dtype": "float64"})
    ref = ReferenceAdapter().build(prep.model, dtype="float64", recipe=r64)
    tfs = TensorFlowAdapter().build(prep.model, dtype="float64", device=device, recipe=r64)
    ref.set_parameters(prep.initial)
    tfs.set_parameters(prep.initial)
    checks = []
    for step in range(steps):
        _, x, y = prep.data.batch(step)
        x = x.astype(np.float64) if x.dtype.kind == "f" else x
        y = y.astype(np.float64) if y.dtype.kind == "f" else y
        masks = masks_for(prep, step, len(x))
        if step == 0:
            lt, gt = tfs.loss_and_gradients(x, y, masks=masks)
            lr, gr = ref.loss_and_gradients(x, y, masks=masks)
            checks += [compare("step 1 loss (no update)", lt, lr), *compare_dicts("step 1 gradient", gt, gr)]
            tfs.set_parameters(prep.initial)  # undo the batch-norm statistics of that forward
            ref.set_parameters(prep.initial)
        checks.append(compare(f"step {step + 1} loss", tfs.train_step(x, y, masks=masks).loss,
                              ref.train_step(x, y, masks=masks).loss))
        checks += compare_dicts(f"step {step + 1}", tfs.get_parameters(), ref.get_parameters())
    xe = prep.data.x_eval[:64]
    xe = xe.astype(np.float64) if xe.dtype.kind == "f" else xe
    checks.append(compare("eval output", tfs.forward(xe), ref.forward(xe)))
    return checks


def _gpus() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


@pytest.mark.gpu
@pytest.mark.parametrize("recipe", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_recipes_float64_on_gpu(recipe: Path) -> None:
    """The same 5-step float64 agreement on the first GPU (TF32 off), where TensorFlow sees one."""
    if not _gpus():
        pytest.skip("TensorFlow sees no GPU")
    assert_checks(_example_checks(recipe, 5, device="cuda:0"))


# ---------------------------------------------------------------------------------- the compiled step
CNN = cs.model_doc("cnn", [1, 6, 6], [
    {"type": "conv2d", "name": "c", "filters": 2, "kernel_size": 3, "padding": "same"},
    {"type": "batch_norm", "name": "bn"}, {"type": "relu"}, {"type": "dropout", "name": "drop", "rate": 0.5},
    {"type": "flatten"}, {"type": "dense", "name": "d", "units": 3}])


def _cnn_session(dtype: str = "float32", opt: dict | None = None):
    recipe = case_recipe(CNN, {"type": "sparse_categorical_crossentropy", "from_logits": True},
                     opt or {"type": "adam", "learning_rate": 0.01, "amsgrad": True}, dtype=dtype,
                     schedule={"type": "cosine", "decay_steps": 5, "warmup": {"steps": 2}})
    model = Model.model_validate(CNN)
    session = TensorFlowAdapter().build(model, dtype=dtype, recipe=recipe)
    rng = np.random.default_rng(3)
    init = {k: rng.normal(size=s.shape) * 0.3 for k, s in build_graph(model).parameters().items()}
    init.update({"bn.running_mean": np.zeros(2), "bn.running_var": np.ones(2)})
    session.set_parameters(init)
    return session


def _batch(n: int, rng):
    return (rng.normal(size=(n, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, size=n),
            {"drop": rng.random((n, 2, 6, 6)) >= 0.5})


def test_one_trace_for_every_batch_size() -> None:
    """The last, shorter batch of an epoch reuses the compiled step (fixed signature, batch axis None)."""
    s = _cnn_session()
    rng = np.random.default_rng(0)
    for n in (8, 8, 3, 8, 5):
        x, y, m = _batch(n, rng)
        s.train_step(x, y, masks=m)
        s.forward(x)
    assert s._functions["step"].experimental_get_tracing_count() == 1
    assert s._functions["eval"].experimental_get_tracing_count() == 1


@pytest.mark.parametrize("eager", [False, True])
def test_non_finite_step_changes_nothing(eager: bool) -> None:
    """Compiled, the graph's `tf.cond` rolls the batch-norm statistics back; eagerly the same rule is judged on the
    host from the values at hand: either way nothing changes and the quantity is named."""
    s = _cnn_session()
    if eager:
        s.expect_few_calls()
    rng = np.random.default_rng(1)
    x, y, m = _batch(4, rng)
    s.train_step(x, y, masks=m)
    before, (step, state) = s.get_parameters(), s.get_optimizer_state()
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError) as err:
        s.train_step(x, y, masks=m)
    assert err.value.quantity == "loss"
    after, (step2, state2) = s.get_parameters(), s.get_optimizer_state()
    assert step2 == step == 1 and int(s.opt.iterations.numpy()) == 1
    for k in before:  # batch-norm statistics included
        np.testing.assert_array_equal(after[k], before[k])
    for p in state:
        for n in state[p]:
            np.testing.assert_array_equal(state2[p][n], state[p][n])


def test_non_finite_gradient_is_named() -> None:
    doc = cs.model_doc("m", [2], [{"type": "dense", "name": "d", "units": 1}])
    recipe = case_recipe(doc, {"type": "mse"}, {"type": "sgd", "learning_rate": 0.1})
    s = TensorFlowAdapter().build(Model.model_validate(doc), dtype="float64", recipe=recipe)
    s.set_parameters({"d.weight": np.array([[0.0], [1e300]]), "d.bias": np.zeros(1)})
    with pytest.raises(NonFiniteError) as err:  # the loss overflows too: named first
        s.train_step(np.array([[1e300, 1.0]]), np.array([[0.0]]))
    assert err.value.quantity == "loss"


def test_resume_from_canonical_state_is_bitwise() -> None:
    """get/set_parameters + get/set_optimizer_state carry everything: an interrupted run continues exactly."""
    rng = np.random.default_rng(2)
    batches = [_batch(5, rng) for _ in range(6)]
    a = _cnn_session(opt={"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "dampening": 0.1})
    b = _cnn_session(opt={"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "dampening": 0.1})
    for x, y, m in batches[:3]:
        a.train_step(x, y, masks=m)
    step, state = a.get_optimizer_state()
    b.set_parameters(a.get_parameters())
    b.set_optimizer_state(step, state)
    for x, y, m in batches[3:]:
        ra, rb = a.train_step(x, y, masks=m), b.train_step(x, y, masks=m)
        assert ra.loss == rb.loss and ra.learning_rate == rb.learning_rate
    pa, pb = a.get_parameters(), b.get_parameters()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])


def _states_equal(a, b) -> None:
    assert a.step == b.step, (a.step, b.step)
    assert set(a.parameters) == set(b.parameters) and set(a.optimizer) == set(b.optimizer)
    for k in a.parameters:
        np.testing.assert_array_equal(a.parameters[k], b.parameters[k], err_msg=k)
    for p in a.optimizer:
        for n in a.optimizer[p]:
            np.testing.assert_array_equal(a.optimizer[p][n], b.optimizer[p][n], err_msg=f"{n} of {p}")


@pytest.mark.parametrize("opt", [{"type": "adam", "learning_rate": 0.01},
                                 {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True}])
def test_fused_step_from_is_set_step_get_and_leaves_its_own_state(opt: dict) -> None:
    """`step_from` is one compiled call (load, the step's own graph, read, put back): bitwise the same as loading
    the state into another session and stepping it there, and this session's own state (batch-norm statistics,
    optimizer state, step count) is exactly as before; a non-finite step still raises, naming the quantity."""
    rng = np.random.default_rng(3)
    batches = [_batch(5, rng) for _ in range(4)]
    judged, own, scratch = (_cnn_session(opt=opt) for _ in range(3))
    for x, y, m in batches[:3]:
        judged.train_step(x, y, masks=m)
    start = judged.get_state()
    own.train_step(*batches[3][:2], masks=batches[3][2])  # a different state of its own
    mine = own.get_state()
    x, y, m = batches[0]
    result, after = own.step_from(start, x, y, masks=m)
    assert own._functions["step_from"].experimental_get_tracing_count() == 1
    assert own._functions["step"].experimental_get_tracing_count() == 1  # the step's graph was not traced again
    scratch.set_state(start)
    expected = scratch.train_step(x, y, masks=m)
    assert (result.loss, result.learning_rate, result.grad_norm) == (
        expected.loss, expected.learning_rate, expected.grad_norm)
    _states_equal(after, scratch.get_state())
    _states_equal(own.get_state(), mine)
    assert own.step == mine.step
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError) as err:
        own.step_from(start, bad, y, masks=m)
    assert err.value.quantity == "loss"
    _states_equal(own.get_state(), mine)


def test_step_from_alone_traces_no_state_transfer() -> None:
    """A session judged only through the fused `step_from` (certify's level 4) traces the step and the fused call,
    not the separate state reads and writes (each a trace of every variable); `get_state`/`set_state` trace theirs
    on first use and agree with what the fused call returned."""
    rng = np.random.default_rng(5)
    source, judged = _cnn_session(opt={"type": "adam", "learning_rate": 0.01}), _cnn_session(
        opt={"type": "adam", "learning_rate": 0.01})
    start = source.get_state()
    x, y, m = _batch(4, rng)
    _, after = judged.step_from(start, x, y, masks=m)
    assert judged._io is not None and judged._io._transfers == {}
    assert set(judged._functions) == {"step", "step_from"}
    judged.set_state(after)
    assert set(judged._io._transfers) == {"set"}
    _states_equal(judged.get_state(), after)
    assert set(judged._io._transfers) == {"get", "set"}


def test_export_savedmodel(tmp_path: Path) -> None:
    """The eval forward as a SavedModel whose serving signature reproduces the session's outputs."""
    import tensorflow as tf

    from lockstep.adapters.base import UnsupportedConstruct

    s = _cnn_session()
    rng = np.random.default_rng(4)
    x, y, m = _batch(6, rng)
    s.train_step(x, y, masks=m)
    loaded = tf.saved_model.load(str(s.export(tmp_path / "model")))
    out = loaded.signatures["serving_default"](x=tf.constant(x))["output"].numpy()
    np.testing.assert_array_equal(out, s.forward(x))
    with pytest.raises(UnsupportedConstruct):
        s.export(tmp_path / "m.onnx", format="onnx")


# --------------------------------------------------------------------------------------- the CLI paths
def test_lockstep_run_tensorflow(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["run", str(ROOT / "examples" / "small-cnn" / "recipe.yaml"), "--backend", "tensorflow",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "ok" and report["backend"] == "tensorflow" and report["steps"] == 150
    assert report["final_metrics"]["accuracy"] > 0.8
    assert report["versions"]["onednn"] == "off"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 150


def test_run_interrupted_and_resumed_is_bitwise(tmp_path: Path) -> None:
    """`lockstep run --resume` semantics through the runner: stopped after step 130 (checkpoint at 100), resumed
    on a fresh session, it ends with the bits and the metrics.jsonl of an uninterrupted run."""
    from lockstep.runner import build_session, load_checkpoint, train

    class Stop(Exception):
        pass

    class StopAt:
        def resume(self, step: int) -> None:
            pass

        def update(self, step: int, loss: float) -> None:
            if step == 130:
                raise Stop

    prep = prepare_run(ROOT / "examples" / "digits-mlp" / "recipe.yaml")
    full, cut = tmp_path / "full", tmp_path / "cut"
    train(prep, build_session(prep, "tensorflow")[1], out=full)
    with pytest.raises(Stop):
        train(prep, build_session(prep, "tensorflow")[1], out=cut, progress=StopAt())  # type: ignore[arg-type]
    result = train(prep, build_session(prep, "tensorflow")[1], out=cut, resume=True)
    assert result.resumed_from == 100
    _, a, sa = load_checkpoint(sorted((full / "checkpoints").glob("*.npz"))[-1])
    _, b, sb = load_checkpoint(sorted((cut / "checkpoints").glob("*.npz"))[-1])
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    for p in sa:
        for n in sa[p]:
            np.testing.assert_array_equal(sa[p][n], sb[p][n])
    assert (full / "metrics.jsonl").read_text() == (cut / "metrics.jsonl").read_text()


def test_adam_with_a_beta_of_0_takes_this_step_s_moments_exactly() -> None:
    """Keras's m += (g - m)(1 - β) loses a small g after a large m when β = 0 (docs/reproducers/keras-adam-beta-zero:
    v = 0 instead of 1e-4 in float32); the adapter clears that moment first. Before, `lockstep compare` of digits-mlp
    with beta2 0 diverged at step 3 (ratio 36.5; 24.7 in float64), where torch held."""
    from tests_support import run_reproducer

    import lockstep

    out = run_reproducer("keras-adam-beta-zero/keras_only.py", timeout=300)
    assert "float32: v = 0 after" in out, out  # Keras alone
    recipe = ROOT / "examples" / "digits-mlp" / "recipe.yaml"
    for dtype in ("float32", "float64"):
        found = lockstep.compare(recipe, ("reference", "tensorflow"), steps=5, dtype=dtype,
                                 overrides={"optimizer.beta1": 0.0, "optimizer.beta2": 0.0})
        assert found.agree, (dtype, found.first_divergence)
