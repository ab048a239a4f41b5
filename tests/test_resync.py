"""The re-synchronized judgement (conformance/resync.py, lockstep/compare.py) without any framework: its
one-step bounds against perturbation, its lower-bound tiers against the derived bounds, the flat comparison
against `check`, the full training state of the reference session, planted bugs found at their first step,
and `lockstep compare`'s command line with the reference and the mutants as backends."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from lockstep.adapters.base import TrainingState
from lockstep.adapters.reference import ReferenceAdapter
from lockstep.cli import main
from lockstep.compare import FIRST_STEPS, format_table, judged_steps, run_compare
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import Check, CheckPlan, check, check_many
from lockstep.reference import optimizers
from lockstep.reference import tolerances as T
from lockstep.reference.tolerances import Tolerance
from lockstep.runner import build_session, masks_for, prepare_run
from lockstep.spec.optimizers import Optimizer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/recipe.yaml"))
MUTANTS = "lockstep.conformance.mutants"


# ----------------------------------------------------------------------------------------- check_many
finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)
odd = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1e-300, -1e300])


@st.composite
def _items(draw):
    n = draw(st.integers(1, 6))
    items = []
    for i in range(n):
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
        size = int(np.prod(shape))
        r = np.array(draw(st.lists(finite, min_size=size, max_size=size)), dtype=np.float64).reshape(shape)
        a = r + np.array(draw(st.lists(st.floats(-1e-3, 1e-3), min_size=size, max_size=size))).reshape(shape)
        if size and draw(st.booleans()):
            a.reshape(-1)[0] = draw(odd)
        if draw(st.integers(0, 9)) == 0:
            a = np.zeros((size + 1,))  # a wrongly shaped answer
        atol = (np.abs(np.array(draw(st.lists(finite, min_size=size, max_size=size)))).reshape(shape) * 1e-4
                if draw(st.booleans()) else draw(st.floats(0, 1e-2)))
        if size and draw(st.integers(0, 4)) == 0:
            atol = np.full(shape, math.inf)  # not representable: anything accepted
        items.append((f"q{i}", a if draw(st.booleans()) or a.shape != shape else a.tolist(), r,
                      Tolerance(draw(st.sampled_from([0.0, 1e-10, 2 ** -23])), atol)))
    return items


@settings(max_examples=200)
@given(items=_items())
def test_check_many_is_check_of_each(items) -> None:
    """The flat comparison a judged step uses gives exactly the Checks of `check`, NaN, inf, empty and wrongly
    shaped values included, and a plan prepared once serves any number of backends."""
    expected = [check(q, a, r, rule) for q, a, r, rule in items]
    got = check_many(items)
    assert got == expected, (got, expected)
    plan = CheckPlan([(q, r, rule) for q, _, r, rule in items])
    assert plan.run([a for _, a, _, _ in items]) == expected
    assert plan.run([r for _, _, r, _ in items]) == [check(q, r, r, rule) for q, _, r, rule in items]


@settings(max_examples=200)
@given(items=_items())
def test_a_check_s_error_and_tolerance_are_its_worst_element_s(items) -> None:
    """`error` and `tolerance` are read at one element, the one of the largest ratio, so that "error > tolerance"
    is said of a failing check only. The largest error with the tolerance of another element read "error 2.6e-07
    > tolerance 2.3e-07" on a check that passed (onnxruntime's silu.predictions.float32, ratio 0.64)."""
    for c in check_many(items):
        if c.why or not math.isfinite(c.ratio) or c.tolerance <= np.finfo(np.float64).tiny:
            continue
        assert c.error / c.tolerance == pytest.approx(c.ratio, rel=1e-12), c
        assert (c.error <= c.tolerance) == c.ok, c
    r = np.array([1e-3, 1.0])  # the largest error (1e-4 at 1.0) is not the worst element (1e-5 at 1e-3)
    c = check("output", r + np.array([1e-5, 1e-4]), r, Tolerance(1e-3, 0.0))
    assert (c.error, c.tolerance) == pytest.approx((1e-5, 1e-6)) and c.ratio == pytest.approx(10.0), c
    assert c.describe() == "output: error 1e-05 > tolerance 1e-06 (ratio 10)", c.describe()


@given(total=st.integers(1, 500), every=st.integers(1, 60))
def test_judged_steps(total: int, every: int) -> None:
    """Every step with --every 1; else the first steps, every N-th and the last, nothing else."""
    steps = judged_steps(total, every)
    assert steps <= set(range(1, total + 1)) and total in steps
    assert set(range(1, min(total, FIRST_STEPS) + 1)) <= steps
    assert {s for s in range(1, total + 1) if s % every == 0} <= steps
    if every == 1:
        assert steps == set(range(1, total + 1))
    else:
        assert all(s <= FIRST_STEPS or s % every == 0 or s == total for s in steps)


# ------------------------------------------------------------------------------- the one-step bounds
def _direction(opt, state: dict, g: np.ndarray, t: int) -> tuple[np.ndarray, dict]:
    """The reference's step direction d (w = 0, lr = 1: w' = −d) and the state after, from copies."""
    st_ = {k: np.array(v) for k, v in state.items()}
    w = np.zeros_like(g)
    return -optimizers.rule(opt, "p", w, g, st_, 1.0, t), st_


@pytest.mark.parametrize("kind", cs.OPTIMIZERS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_one_step_errors_bound_a_perturbed_step(kind: str, data) -> None:
    """|Δd| ≤ the bound, elementwise, when only this step's gradient moves by ≤ δ and the handed-over state by
    ≤ u relative (the re-synchronized step's two sources besides its own roundings), for every optimizer
    configuration the conformance suite draws, at steps 1 to 6, with gradients from 1e-9 to 10."""
    opt = TypeAdapter(Optimizer).validate_python(data.draw(cs.optimizer_case(kind)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n, t = 16, data.draw(st.integers(1, 6))
    scale = 10.0 ** rng.uniform(-9, 1, size=n)
    state = optimizers.init_states(opt, {"p": np.zeros(n)})["p"]
    for s in range(1, t):  # a state reached by real steps (running squares ≥ their terms, as the proof needs)
        _direction_state = _direction(opt, state, rng.normal(size=n) * scale, s)[1]
        state = _direction_state
    g = rng.normal(size=n) * scale
    d, after = _direction(opt, state, g, t)
    u = 2.0 ** -24
    delta = 1e-7 * np.abs(g) + 1e-12
    bound, _ = T.one_step_errors(opt, state, after, g, delta, t, u)
    for _ in range(4):
        g2 = g + delta * rng.choice([-1.0, 1.0], size=n) * rng.uniform(0, 1, size=n)
        s2 = {k: v * (1 + u * rng.uniform(-1, 1, size=np.shape(v))) for k, v in state.items()}
        d2, _ = _direction(opt, s2, g2, t)
        excess = np.abs(d2 - d) - (bound * 1.01 + 1e-300)
        assert np.all(excess <= 4 * np.finfo(float).eps * np.abs(d)), (
            f"{kind} t={t}: |Δd| {np.abs(d2 - d)[excess.argmax()]:.3g} > bound {bound[excess.argmax()]:.3g} "
            f"at g={g[excess.argmax()]:.3g}")


def _first_batch(prep, params):
    _, x, y = prep.data.batch(0)
    return x, y, masks_for(prep, 0, len(x))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_lower_tiers_never_exceed_the_derived_bounds(path: Path) -> None:
    """The tiers' premise, on every example's first batch: |value| and the layers' backward of |δ| are at most
    the magnitude pass's M, so their tolerances are at most the derived ones (a step passing them passes the
    derived rules); and the derived pass reusing the reference step's own forward and backward is the same."""
    from lockstep.reference.error_bounds import gradient_floor, model_bounds, value_bounds
    from lockstep.reference.model import ReferenceModel

    prep = prepare_run(path, steps=1, dtype="float32")
    ref = ReferenceAdapter().build(prep.model, dtype="float64", recipe=prep.recipe)
    ref.set_parameters(prep.initial)
    x, y, masks = _first_batch(prep, prep.initial)
    before = ref.get_parameters()
    res = ref.train_step(x, y, masks=masks)
    grads = res.extras["gradients"]
    after = ref.get_parameters()
    buffers = {k: after[k] for k in ref.net.buffer_specs}
    derived = model_bounds(ReferenceModel(prep.model), before, x, training=True, masks=masks, loss=prep.recipe.loss,
                           y=y)
    reused = model_bounds(ref.net, before, x, training=True, masks=masks, loss=prep.recipe.loss, y=y, reuse=True)
    floor = gradient_floor(ref.net)
    low = value_bounds(ref.net, len(y), loss=prep.recipe.loss, loss_value=res.loss, gradients=grads,
                       buffers=buffers, floor=floor)
    assert low.loss.length == derived.loss.length and np.all(low.loss.magnitude <= derived.loss.magnitude)
    for k, b in derived.gradients.items():
        assert low.gradients[k].length == b.length, k
        slack = 1e-12 * np.max(b.magnitude, initial=0.0)
        assert np.all(low.gradients[k].magnitude <= b.magnitude + slack), (k, np.max(low.gradients[k].magnitude
                                                                                  - b.magnitude))
        assert np.allclose(reused.gradients[k].magnitude, b.magnitude, rtol=1e-12, atol=0), k
    for k, b in derived.buffers.items():
        assert np.all(low.buffers[k].magnitude <= b.magnitude), k


# ------------------------------------------------------------------------------- training state
def test_reference_session_state_round_trip_and_step_from() -> None:
    """`get_state`/`set_state` carry everything the next step depends on, and `step_from` computes another
    trajectory's next step bit for bit while leaving the session's own state as it was (the defaults of
    adapters/base.py, on the reference session)."""
    prep = prepare_run(ROOT / "examples" / "small-cnn" / "recipe.yaml", steps=6)  # batch norm, momentum, warm-up
    a, b = (ReferenceAdapter().build(prep.model, dtype="float32", recipe=prep.recipe) for _ in range(2))
    a.set_parameters(prep.initial)
    b.set_parameters(prep.initial)
    for step in range(4):
        _, x, y = prep.data.batch(step)
        b.train_step(x, y, masks=masks_for(prep, step, len(x)))
    _, x, y = prep.data.batch(4)
    own = a.get_state()
    other = b.get_state()
    result, after = a.step_from(other, x, y)
    mine = a.get_state()
    assert mine.step == own.step == 0 and all(np.array_equal(mine.parameters[k], v) for k, v in own.parameters.items())
    expected = b.train_step(x, y)
    assert result.loss == expected.loss and result.learning_rate == expected.learning_rate
    now = b.get_state()
    assert after.step == now.step == 5
    assert all(np.array_equal(after.parameters[k], v) for k, v in now.parameters.items())
    assert all(np.array_equal(after.optimizer[p][n], v) for p, s in now.optimizer.items() for n, v in s.items())
    copy = now.copy()
    copy.parameters[next(iter(copy.parameters))][...] = 7.0
    assert not np.array_equal(copy.parameters[next(iter(copy.parameters))], now.parameters[next(iter(now.parameters))])
    with pytest.raises(KeyError):
        a.set_state(TrainingState(1, {}))


# ------------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize(("mutant", "recipe", "dtype", "step"), [
    ("adam_epsilon_placement", "digits-mlp", "float64", 1),
    ("adam_no_bias_correction", "digits-mlp", "float32", 1),
    ("rmsprop_epsilon_inside_root", "lstm-sequences", "float64", 1),
    ("sgd_momentum_keras", "small-cnn", "float64", 2),  # the first buffer is g either way; step 2 differs
    ("adamw_coupled_decay", "residual-graph", "float32", 1),
    ("batch_norm_momentum", "small-cnn", "float32", 1),
    ("schedule_one_step_late", "small-cnn", "float32", 2),  # step 1's rate is the warm-up's first either way
    ("same_padding_asymmetry", "small-cnn", "float32", 1),
    ("lstm_gate_order", "lstm-sequences", "float32", 1),
    # built on the torch adapter: its judged step ran on a TorchSession built anew, stock torch.optim.SGD, and the
    # mutant held at all 150 steps in both dtypes (sweep N, 2026-12-06)
    ("claims_native_sgd", "small-cnn", "float64", 1),
])
def test_planted_bugs_are_judged_at_their_first_step(mutant: str, recipe: str, dtype: str, step: int) -> None:
    """A mutant (one planted framework bug) against the reference: the re-synchronized verdict fails, first at
    the step the bug first touches, in float32 as in float64; the correct reference holds everywhere."""
    from lockstep.conformance.mutants import MUTANTS

    if MUTANTS[mutant].control != MUTANTS["adam_no_bias_correction"].control:  # built on a framework's adapter
        pytest.importorskip("torch")
    prep = prepare_run(ROOT / "examples" / recipe / "recipe.yaml", steps=step + 2, dtype=dtype)
    bad = MUTANTS[mutant].load().build(prep.model, dtype=dtype, recipe=prep.recipe)
    good = ReferenceAdapter().build(prep.model, dtype=dtype, recipe=prep.recipe)
    result = run_compare(prep, {"reference": build_session(prep, "reference")[1], "mutant": bad, "copy": good})
    assert result.first_divergence["mutant"].step == step, result.first_divergence["mutant"]
    assert "copy" not in result.first_divergence
    assert not result.agree


def test_compare_cli_with_a_mutant(tmp_path: Path, capsys) -> None:
    """`lockstep compare` with module:attribute backends: exit 1 naming the step; JSON carries the verdicts and
    the drift apart; --out writes compare.json (with the machine fingerprint) and the three-panel plot."""
    bug = f"{MUTANTS}.adam_no_bias_correction:AdamNoBiasCorrectionAdapter"
    recipe = str(ROOT / "examples" / "digits-mlp" / "recipe.yaml")
    out = tmp_path / "out"
    code = main(["compare", recipe, "--backends", f"reference,{bug}", "--steps", "30", "--every", "10",
                 "--format", "json", "--out", str(out), "-q", "--threads", "1"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["agree"] is False
    v = doc["verdict"]["backends"][bug]
    assert v["holds"] is False and v["first_divergence"]["step"] == 1 and doc["verdict"]["steps_judged"] == 6
    assert doc["drift"]["judged"] is False and doc["verdict"]["judged"] is True
    assert [s["step"] for s in doc["steps"] if s["judged"]] == [1, 2, 3, 10, 20, 30]
    saved = json.loads((out / "compare.json").read_text())
    assert saved["environment"]["cpu"]["logical_cpus"] >= 1 and "threads" in saved["environment"]
    assert (out / "compare.svg").read_text().count("<svg") == 4  # the document and its three panels
    assert main(["compare", recipe, "--backends", "reference,reference", "-q"]) == 2
    assert main(["compare", recipe, "--backends", "reference,Reference", "-q"]) == 2
    assert main(["compare", recipe, "--backends", f"reference,{bug}", "--dtype", "float16"]) == 2
    err = capsys.readouterr().err
    assert "more than once" in err and "Traceback" not in err
    assert main(["compare", recipe, "--backends", "reference,lockstep.adapters.reference:ReferenceAdapter"]) == 2
    assert ("--backends names one adapter twice: `reference` and `lockstep.adapters.reference:ReferenceAdapter` are "
            "both lockstep.adapters.reference.ReferenceAdapter") in capsys.readouterr().err


def test_compare_text_says_which_verdict_is_which(capsys) -> None:
    recipe = str(ROOT / "examples" / "huber-regression" / "recipe.yaml")
    code = main(["compare", recipe, "--backends", f"reference,{MUTANTS}.adam_no_bias_correction:"
                 "AdamNoBiasCorrectionAdapter", "--steps", "5", "-q"])
    out = capsys.readouterr().out
    assert code == 1
    assert "verdict: re-synchronized, judged" in out and "drift: free-running, shown, not judged" in out
    assert "DIVERGES from the reference at step 2" in out  # warm-up from 0: step 1 moves nothing


def test_out_is_checked_before_training(tmp_path: Path, capsys, monkeypatch) -> None:
    """An unusable --out is a usage error before any session is built (nothing trains for nothing)."""
    import lockstep.runner as runner

    def boom(*a, **k):
        raise AssertionError("prepared a run despite a bad --out")

    monkeypatch.setattr(runner, "prepare_sessions", boom)
    recipe = str(ROOT / "examples" / "digits-mlp" / "recipe.yaml")
    (tmp_path / "f").write_text("")
    for bad in (str(tmp_path / "f"), "", str(tmp_path / "f" / "below")):
        assert main(["compare", recipe, "--backends", "reference,reference2", "--out", bad]) == 2
    assert "--out" in capsys.readouterr().err


def test_level_4_seed_shifts_the_recipe(tmp_path: Path) -> None:
    """`certify --seed S` shifts each example recipe's own seed by S (its weights, data and masks follow)."""
    from lockstep.conformance.suite import _shift_seed

    path = tmp_path / "recipe.yaml"
    path.write_text("apiVersion: lockstep/v1\nkind: Recipe\nseed: 7\ndtype: float32\n")
    _shift_seed(path, 5)
    assert "seed: 12\n" in path.read_text()
    path.write_text("apiVersion: lockstep/v1\nkind: Recipe\ndtype: float32\n")
    _shift_seed(path, 3)
    assert "seed: 3" in path.read_text()


def test_level_4_judges_a_whole_recipe() -> None:
    """Level 4 on the reference itself: every step judged (capped here), margins from the derived bounds."""
    from lockstep.conformance.suite import Target, example_recipes, run_recipe

    recipe = next(p for p in example_recipes() if p.parent.name == "residual-graph")
    r = run_recipe(Target(ReferenceAdapter(), "reference", "float32", "cpu"), recipe, 12, None, seed=3)
    assert r.outcome == "pass", r.message
    assert r.worst is not None and r.worst.quantity.startswith(("output", "step "))


def test_threads_are_configured_and_recorded() -> None:
    from lockstep.fingerprint import _THREADS, default_threads, fingerprint
    from lockstep.runner import configure_threads

    got = configure_threads(ReferenceAdapter(), "reference", 1)
    assert got["requested"] == 1 and _THREADS["reference"]["requested"] == 1
    assert default_threads() >= 1
    fp = fingerprint()
    assert fp["threads"]["reference"]["requested"] == 1
    assert {"cpu", "env", "numpy", "python"} <= set(fp)
    assert isinstance(fp["cpu"].get("isa", []), list)
    import socket

    assert socket.gethostname() not in json.dumps(fp)


def test_every_judged_check_is_a_check() -> None:
    """The verdict objects hold Checks whose ratio decides them (≤ 1 holds)."""
    prep = prepare_run(ROOT / "examples" / "csv-binary" / "recipe.yaml", steps=3)
    result = run_compare(prep, {"reference": build_session(prep, "reference")[1],
                                "again": ReferenceAdapter().build(prep.model, dtype="float32", recipe=prep.recipe)})
    assert result.agree
    for row in result.rows:
        v = row.judged["again"]
        assert isinstance(v.worst, Check) and v.ok == (v.worst.ratio <= 1.0) and v.state is None


def test_table_cells_never_run_together(capsys: pytest.CaptureFixture[str]) -> None:
    """A loss as wide as its column (sgd at a learning rate of 1e30: -6.903626714e+112) printed against its
    neighbour, `46.903626714e+1126.903626714e+112`; every cell now keeps a space before it."""
    pytest.importorskip("torch")
    recipe = Path(__file__).resolve().parents[1] / "examples" / "huber-regression" / "recipe.yaml"
    main(["compare", str(recipe), "--backends", "reference,torch", "--steps", "7", "--quiet",
          "--set", "optimizer.type=sgd", "--set", "optimizer.learning_rate=1e30"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:6].strip().isdigit()]
    assert rows and all(len(r) == len(rows[0]) for r in rows), out
    assert any(len(cell) >= 16 for r in rows for cell in r), "a loss as wide as its column should be shown"
    for r in rows:
        for cell in r[1:]:
            assert cell in ("nan", "inf", "-inf", "FAIL") or float(cell) == float(cell), (cell, r)


def test_compare_says_where_its_bounds_cannot_tell_an_update_from_none(capsys) -> None:
    """Sweep N (2026-12-06): on tiny-gpt in float32 the derived bounds grow through the attention layers to
    parameter tolerances of 1e20, and a backend whose parameters never moved held at all 120 steps. The verdict
    stands as the bounds give it; the report now says at which steps they admit no update at all. digits-mlp's
    bounds tell every update from none."""
    gpt = ROOT / "examples" / "tiny-gpt" / "recipe.yaml"
    prep = prepare_run(gpt, steps=4, dtype="float32")
    sessions = {"reference": build_session(prep, "reference")[1],
                "copy": ReferenceAdapter().build(prep.model, dtype="float32", recipe=prep.recipe)}
    result = run_compare(prep, sessions)
    assert result.blind_steps == [2, 3, 4] and result.blind_checked == 4, result.blind_steps  # step 1: lr 0
    assert result.to_json()["verdict"]["blind_steps"] == [2, 3, 4]
    blind = result.to_json()["verdict"]["blind_quantities"]
    assert blind["parameter attn2.value_weight"] == 3 and blind["optimizer_state exp_avg of tok.weight"] == 4, blind
    assert "bounds: at the judged steps asked (the first 3, every 10th, the last) the derived bounds would also " \
           "pass unmoved what the step changed, for 21 parameters and 42 optimizer states (at up to 4 of the 4 " \
           "steps asked); at 3 steps, from step 2, for every parameter that moved: they exceed those updates" \
           in format_table(result), format_table(result)
    digits = prepare_run(ROOT / "examples" / "digits-mlp" / "recipe.yaml", steps=12)
    result = run_compare(digits, {"reference": build_session(digits, "reference")[1],
                                  "copy": ReferenceAdapter().build(digits.model, dtype="float32",
                                                                   recipe=digits.recipe)})
    assert result.blind_steps == [] and result.blind_checked == 5 and "bounds:" not in format_table(result)
    assert result.blind_quantities == {}


def test_compare_says_it_does_not_run_the_recipes_replicas(capsys) -> None:
    """Sweep N (2026-12-06): a recipe's `distribution` was ignored without a word ("holds", exit 0)."""
    recipe = str(ROOT / "examples" / "digits-mlp" / "recipe.yaml")
    bug = f"{MUTANTS}.adam_no_bias_correction:AdamNoBiasCorrectionAdapter"  # any second backend
    code = main(["compare", recipe, "--backends", f"reference,{bug}", "--set",
                 "distribution={strategy: data_parallel, replicas: 2}", "--steps", "2", "--format", "json", "-q"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["verdict"]["notes"] == [
        "the recipe's distribution (2 replicas) is not run: compare trains and judges one process, whose steps are "
        "the same math except `batch_norm: local` statistics; `lockstep run --replicas N` runs it, and `lockstep "
        "certify --level data_parallel` judges an adapter's replicas"]


def test_torch_judges_its_step_on_a_copy_of_its_session_without_a_warning() -> None:
    """The judged step runs on a deep copy of the adapter's own session (not a TorchSession built anew, which
    judged stock torch for an adapter built on it); the copy's optimizer lost the scheduler's step wrapper, and
    torch warned "optimizer.step() has been overridden" on a scheduled recipe's first judged step."""
    import warnings

    pytest.importorskip("torch")
    prep = prepare_run(ROOT / "examples" / "inline-model" / "recipe.yaml", steps=3)  # a schedule
    torch_session = build_session(prep, "torch")[1]
    reference = build_session(prep, "reference")[1]
    torch_session.set_parameters(prep.initial)
    reference.set_parameters(prep.initial)
    before = torch_session.get_parameters()
    _, x, y = prep.data.batch(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, got = torch_session.step_from(reference.get_state(), x, y)
    after = torch_session.get_parameters()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # its own state is untouched
    assert any(not np.array_equal(got.parameters[k], before[k]) for k in before)  # the copy stepped
    assert type(torch_session._shadow) is type(torch_session)


NEAR_TIE_RECIPE = """\
apiVersion: lockstep/v1
kind: Recipe
metadata: {name: near-tie}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: img, shape: [3, 9, 7]}]
  nodes:
  - {name: a, type: conv2d, filters: 4, kernel_size: 2, stride: 2, padding: same, inputs: [img]}
  - {name: d, type: dropout, rate: 0.3, inputs: [a]}
  - {name: bn, type: batch_norm, inputs: [d]}
  - {name: rn, type: rms_norm, dims: 3, inputs: [bn]}
  - {name: p, type: max_pool2d, kernel_size: 2, padding: same, inputs: [rn]}
  - {name: d2, type: dropout, rate: 0.5, inputs: [p]}
  - {name: f, type: flatten, inputs: [d2]}
  - {name: o, type: dense, units: 3, inputs: [f]}
  outputs: [o]
seed: 3
dtype: float32
data:
  source: {type: synthetic_classification, num_samples: 60, shape: [3, 9, 7], num_classes: 3, separation: 1.0}
  batch_size: 16
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer: {type: adam, learning_rate: 0.01}
training: {steps: 3}
"""


def test_a_max_pool_near_tie_that_float32_cannot_resolve_is_allowed_for(tmp_path: Path) -> None:
    """Sweep Q (2026-12-07): dropout → batch norm gives a channel's dropped units one value, and Adam's first
    step moves the rms_norm weights behind them by lr to within lr·ε/|g|, which float32 rounds away: torch ties
    and routes the gradient to the first position, the reference to the larger. Both frameworks failed at step
    2 (rn.weight, ratio 6.5e3); the bounds now carry the other branch of a near-tie (`branch_error`)."""
    pytest.importorskip("torch")
    path = tmp_path / "recipe.yaml"
    path.write_text(NEAR_TIE_RECIPE)
    prep = prepare_run(path)
    result = run_compare(prep, {"reference": build_session(prep, "reference")[1],
                                "torch": build_session(prep, "torch")[1]})
    assert result.agree, format_table(result)


def test_float64_carries_a_gradient_s_allowed_error_through_adam(tmp_path: Path) -> None:
    """2026-12-07: float64 compare said DIVERGE for correct torch and TensorFlow on tiny-attention with
    `use_bias: true`: the attention's key bias has a gradient that is pure round-off (softmax cancels it), Adam
    divides by it, and a 1e-17 difference, inside the gradient's own rule, moved the bias beyond the fixed
    parameter rule (ratio 1.15 at step 1, 17 of 20 steps). A backend whose every gradient element is off by a
    tenth of the float64 gradient rule's atol now holds; a planted ε bug still fails at step 1."""
    from lockstep.conformance.mutants import MUTANTS
    from lockstep.conformance.mutants._base import MutantAdapter, MutantSession

    class _Session(MutantSession):
        def optimizer_step(self, opt, name, param, grad, state, lr, t):  # type: ignore[no-untyped-def]
            rng = np.random.default_rng(t)
            scale = max(float(np.max(np.abs(g))) for g in self._all_grads.values())
            wobble = 0.1 * T.FLOAT64_ATOL * scale * rng.choice([-1.0, 1.0], size=np.shape(grad))
            return super().optimizer_step(opt, name, param, grad + wobble, state, lr, t)

        def clip_gradients(self, grads, clip):  # type: ignore[no-untyped-def]
            self._all_grads = grads  # the step's gradients, for their scale
            return super().clip_gradients(grads, clip)

    class _Adapter(MutantAdapter):
        session_class = _Session

    folder = ROOT / "examples" / "tiny-attention"
    (tmp_path / "model.yaml").write_text(
        (folder / "model.yaml").read_text(encoding="utf-8").replace("use_bias: false", "use_bias: true"),
        encoding="utf-8")
    (tmp_path / "recipe.yaml").write_text((folder / "recipe.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    prep = prepare_run(tmp_path / "recipe.yaml", steps=4, dtype="float64")
    result = run_compare(prep, {"reference": build_session(prep, "reference")[1],
                                "wobbly": _Adapter().build(prep.model, dtype="float64", recipe=prep.recipe),
                                "mutant": MUTANTS["adam_epsilon_placement"].load().build(
                                    prep.model, dtype="float64", recipe=prep.recipe)})
    assert "wobbly" not in result.first_divergence, result.first_divergence["wobbly"]
    assert result.first_divergence["mutant"].step == 1, result.first_divergence["mutant"]


def test_centered_rmsprop_bound_covers_a_root_that_rounds_to_0() -> None:
    """Sweep X (2026-12-07): with a steady gradient, v − a² (1e-8 v at step 4, ρ = 0.01) lies within the float32
    rounding of the handed-over v; a correct backend that computes it ≤ 0 divides by ε, not by 1e-4|g|, and the
    first-order bound g·Δroot/den² allowed 0.0068 of a difference of 13.7 (ratio 2.0e3). The bound now takes g/den
    over every den the root's error allows."""
    opt = TypeAdapter(Optimizer).validate_python({"type": "rmsprop", "learning_rate": 1.0, "rho": 0.01,
                                                  "centered": True})
    g = np.array([0.7, -1.3, 2.1])
    state = optimizers.init_states(opt, {"p": np.zeros(3)})["p"]
    for s in range(1, 4):
        state = _direction(opt, state, g, s)[1]
    u = 2.0 ** -24
    worst = 0.0
    for scale in (1.0, 0.3, 3.0, 1e-3):  # a backend computing in float32 from the state rounded to it
        s2 = {k: (v * scale**(1 + (k == "square_avg"))).astype(np.float32) for k, v in state.items()}
        d2, _ = _direction(opt, s2, (g * scale).astype(np.float32), 4)
        d_ref, after_ref = _direction(opt, {k: v * scale**(1 + (k == "square_avg")) for k, v in state.items()},
                                      g * scale, 4)
        b, _ = T.one_step_errors(opt, {k: v * scale**(1 + (k == "square_avg")) for k, v in state.items()},
                                 after_ref, g * scale, np.zeros(3), 4, u)
        worst = max(worst, float(np.max(np.abs(d2.astype(np.float64) - d_ref) / b)))
    assert worst <= 1.0 + 1e-12, f"|Δd| up to {worst:.3g}× the bound"
    assert worst > 0.5, "some handed-over states do round v − a² to 0: the case is the one asked about"
