"""The frameworks follow the standard's values at kinks and ties (docs/spec/v1-semantics.md, "Values at kinks
and ties"): cases put exactly on relu/leaky_relu/elu's kink, on max-pool ties, on mae's 0 and huber's ±δ, and
clipping exactly at its threshold, pass levels 2-3 on torch and TensorFlow in float32 and float64, while the
mutant taking the other branch fails on the very same case (so each case does reach the kink)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockstep.conformance import edges, suite
from lockstep.conformance import strategies as cs
from lockstep.conformance.cases import Case
from lockstep.conformance.mutants.max_pool_last_tie import MaxPoolLastTieAdapter
from lockstep.conformance.mutants.relu_kink_gradient import ReLUKinkGradientAdapter

BACKENDS = [pytest.param("torch", id="torch"), pytest.param("tensorflow", id="tensorflow", marks=pytest.mark.slow)]


def _adapter(name: str):
    pytest.importorskip(name)
    from lockstep.adapters.registry import get

    return get(name)


def _layer_case(kind: str, seed: int, width: int, fields: dict | None = None) -> Case:
    shape = [2, 3, width] if kind == "max_pool2d" else [width]
    layer = {"type": kind, "name": kind, **(fields or {})}
    model = cs.model_doc(f"case-{kind}", shape, [{"type": "dense", "name": "probe", "units": width}, layer])
    return Case(kind, model, seed=seed, batch=3, edges=("kink",))


def _loss_case(kind: str, seed: int, fields: dict | None = None) -> Case:
    model = cs.model_doc(f"case-{kind}", [3], [{"type": "dense", "name": "out", "units": 2}])
    return Case(kind, model, {"loss": {"type": kind, **(fields or {})}}, seed=seed, batch=4, edges=("kink",))


def _failures(adapter, name: str, case: Case, dtype: str, levels: tuple[int, ...] = (2,)) -> list[str]:
    target = suite.Target(adapter, name, dtype, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        results = suite.run_pair(target, case, levels, Path(tmp))
    out = []
    for level, checks in results.items():
        if isinstance(checks, Exception):
            out.append(f"level {level}: {type(checks).__name__}: {checks}")
        else:
            out += [c.describe() for c in checks if not c.ok]
    return out


LAYERS = [("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.5}), ("elu", {"alpha": 1.0}),
          ("max_pool2d", {"kernel_size": 2, "stride": 1})]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("kind", "fields"), LAYERS, ids=[f"{k}{f.get('alpha', '')}" for k, f in LAYERS])
def test_layer_kinks_follow_the_standard(backend: str, dtype: str, kind: str, fields: dict) -> None:
    adapter = _adapter(backend)
    n = 3 if backend == "tensorflow" else 6

    @settings(max_examples=n, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 2**32 - 1), width=st.integers(2, 5))
    def run(seed: int, width: int) -> None:
        case = _layer_case(kind, seed, width, fields)
        got = edges.reached(case, dtype)
        assert got["tie" if kind == "max_pool2d" else "kink"], f"seed {seed} reaches no kink: {got}"
        bad = _failures(adapter, backend, case, dtype)
        assert not bad, f"{backend} {dtype} {kind} {fields} at an exact kink (seed {seed}, width {width}): {bad}"

    run()


@pytest.mark.parametrize(("kind", "mutant"), [("relu", ReLUKinkGradientAdapter), ("max_pool2d", MaxPoolLastTieAdapter)])
def test_the_same_cases_fail_the_other_branch(kind: str, mutant: type) -> None:
    """The kink cases above are not vacuous: the mutant taking the other branch fails on them."""
    fields = dict(LAYERS)[kind]
    caught = sum(bool(_failures(mutant(), "mutant", _layer_case(kind, seed, 4, fields), "float32"))
                 for seed in range(6))
    assert caught >= 4, f"the {kind} mutant fails only {caught} of 6 kink cases"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("kind", "fields"), [("mae", {}), ("huber", {"delta": 0.5}), ("huber", {"delta": 1.0})])
def test_loss_kinks_follow_the_standard(backend: str, dtype: str, kind: str, fields: dict) -> None:
    adapter = _adapter(backend)
    reached = 0
    for seed in range(8 if backend == "torch" else 4):
        case = _loss_case(kind, seed, fields)
        reached += edges.reached(case, dtype)["kink"]
        bad = _failures(adapter, backend, case, dtype)
        assert not bad, f"{backend} {dtype} {kind} {fields} on the lattice (seed {seed}): {bad}"
    assert reached, f"no {kind} case put d exactly on its kink"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("clip", ["global_norm", "value"])
def test_clipping_exactly_at_the_threshold(backend: str, clip: str) -> None:
    adapter = _adapter(backend)
    n = [0]

    @settings(max_examples=40, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cs.clipping_problem(clip))
    def run(case: Case) -> None:
        if case.edges != ("threshold",) or n[0] >= 3:
            return
        n[0] += 1
        for dtype in ("float32", "float64"):
            bad = _failures(adapter, backend, case, dtype, (3,))
            assert not bad, f"{backend} {dtype} {case.recipe['gradient_clipping']} at the threshold: {bad}"

    run()
    assert n[0], "no threshold case drawn"


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_causal_attention_masks_the_future_below_float32s_range(backend: str) -> None:
    """docs/reproducers/keras-causal-mask: step 0's only allowed score is -4e38 (float64); the standard's -inf mask
    keeps it on itself. Keras's own causal path gives the future step's value: the TensorFlow adapter masks itself
    in float64 (adapters/tensorflow/layers/multi_head_attention.py)."""
    from lockstep.runner import prepare_run

    adapter = _adapter(backend)
    recipe = Path(__file__).resolve().parents[2] / "docs" / "reproducers" / "keras-causal-mask" / "recipe.yaml"
    prep = prepare_run(recipe)
    _, x, _ = prep.data.batch(0)
    session = adapter.build(prep.model, dtype="float64", recipe=prep.recipe)
    session.set_parameters(prep.initial)
    got = session.forward(x).ravel()
    assert got.tolist() == [2e19, 4e19], f"{backend}: {got} (the reference: [2e19, 4e19])"
