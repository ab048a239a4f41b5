"""The edge strategies (conformance/edges.py) reach what they claim: exact kinks and ties in float32, exactly
saturated probabilities against zero-weight targets, logits in the hundreds, magnitudes near the dtype's limits,
clipping exactly at its threshold, schedule boundaries; every edge case is a valid, preparable spec; draws are
deterministic under the seed; and the default certification's draws land in every class."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockstep.conformance import edges, suite
from lockstep.conformance import strategies as cs
from lockstep.conformance.cases import Case
from lockstep.spec import constructs

SETTINGS = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
seeds = st.integers(0, 2**32 - 1)


def _relu_probe(seed: int, units: int) -> Case:
    model = cs.model_doc("case-relu", [units], [{"type": "dense", "name": "probe", "units": units},
                                                 {"type": "relu", "name": "relu"}])
    return Case("relu", model, seed=seed, batch=3, edges=("kink",))


def test_edge_tables_name_real_constructs_and_classes() -> None:
    for table, kind in ((edges.LAYER_EDGES, "layer"), (edges.LOSS_EDGES, "loss")):
        unknown = set(table) - set(constructs.names(kind))  # type: ignore[arg-type]
        assert not unknown, f"{kind} edge table names unknown constructs {sorted(unknown)}"
    used = {c for t in (edges.LAYER_EDGES, edges.LOSS_EDGES, edges.TRAINING_EDGES) for v in t.values() for c in v}
    assert used <= set(edges.CLASSES), f"undocumented edge classes {sorted(used - set(edges.CLASSES))}"
    assert set(edges.CLASSES) <= used, f"classes no construct uses: {sorted(set(edges.CLASSES) - used)}"


@SETTINGS
@given(seed=seeds, units=st.integers(1, 6))
def test_kink_edge_puts_a_unit_exactly_on_relus_kink_in_float32(seed: int, units: int) -> None:
    case = _relu_probe(seed, units)
    weights, x, _ = case.arrays("float32")
    z32 = x.astype(np.float32) @ weights["probe.weight"].astype(np.float32) + weights["probe.bias"].astype(np.float32)
    z64 = x @ weights["probe.weight"] + weights["probe.bias"]
    assert np.array_equal(z32.astype(np.float64), z64), f"lattice sums not exact in float32: {z32} vs {z64}"
    assert np.any(np.all(z64 == 0, axis=0)), f"no probe unit on the kink for every sample: {z64}"
    assert edges.reached(case)["kink"]


@SETTINGS
@given(seed=seeds, width=st.integers(2, 6))
def test_kink_edge_makes_exact_max_pool_ties(seed: int, width: int) -> None:
    model = cs.model_doc("case-max_pool2d", [2, 3, width], [
        {"type": "dense", "name": "probe", "units": width},
        {"type": "max_pool2d", "name": "max_pool2d", "kernel_size": 2, "stride": 1}])
    case = Case("max_pool2d", model, seed=seed, batch=2, edges=("kink",))
    assert edges.reached(case)["tie"], f"no tie in a 2×2 window at seed {seed}, width {width}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy"])
def test_saturated_edge_gives_exact_probabilities_against_zero_weights(dtype: str, loss: str) -> None:
    head = cs.HEADS[loss]
    hits = 0
    for seed in range(20):
        model = cs.model_doc(f"case-{loss}", [3], [{"type": "dense", "name": "out", "units": 3}, *head])
        case = Case(loss, model, {"loss": {"type": loss, "from_logits": False}}, seed=seed, batch=4,
                    targets=cs.LOSS_TARGETS[loss], edges=("saturated",))
        got = edges.reached(case, dtype)
        hits += got["saturated"] and got["zero_weight"]
        _, _, y = case.arrays(dtype)
        assert np.all((y == 0) | (y == 1)), f"targets not 0/1 at seed {seed}: {y}"
    assert hits >= 10, f"only {hits} of 20 saturated {loss} cases reach exact 0/1 under a zero weight in {dtype}"


@SETTINGS
@given(seed=seeds, batch=st.integers(1, 5))
def test_unnormalized_edge_gives_target_rows_not_summing_to_1(seed: int, batch: int) -> None:
    """TensorFlow's softmax cross-entropy took its gradient as softmax(y) - t, right only for rows summing to 1
    (docs/reproducers/keras-soft-target-gradient): the class reaches rows that do not, inside [0, 1]."""
    loss = "categorical_crossentropy"
    model = cs.model_doc(f"case-{loss}", [3], [{"type": "dense", "name": "out", "units": 4}])
    case = Case(loss, model, {"loss": {"type": loss, "from_logits": True}}, seed=seed, batch=batch,
                targets="probabilities", edges=("unnormalized",))
    _, _, y = case.arrays("float32")
    assert np.all((y >= 0) & (y <= 1)) and np.all(y[0] == 0), f"targets {y}"
    assert edges.reached(case)["unnormalized"], f"every row sums to 1: {y}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_magnitude_scale_keeps_products_and_squares_finite(dtype: str) -> None:
    info = np.finfo(np.float32 if dtype == "float32" else np.float64)
    big, small = edges.limit_scale(dtype, True), edges.limit_scale(dtype, False)
    assert math.log2(big).is_integer() and math.log2(small).is_integer(), (big, small)
    assert big ** 2 * 64 < float(info.max) and big ** 4 > float(info.max) ** 0.5, f"{dtype}: {big}"
    assert small ** 2 > float(info.tiny) and small < 1e-9, f"{dtype}: {small}"


@SETTINGS
@given(seed=seeds)
def test_offset_edge_puts_logits_in_the_hundreds(seed: int) -> None:
    model = cs.model_doc("case-softmax", [4], [{"type": "softmax", "name": "softmax"}])
    _, x, _ = Case("softmax", model, seed=seed, batch=2, edges=("offset",)).arrays()
    assert np.min(np.abs(x)) >= 1.0 and np.max(np.abs(x)) >= 100.0, f"offset logits {x}"


@pytest.mark.parametrize("kind", ["global_norm", "value"])
def test_threshold_edge_clips_exactly_at_the_first_gradient(kind: str) -> None:
    from lockstep.reference import losses
    from lockstep.reference.model import ReferenceModel
    from lockstep.spec.documents import Model
    from lockstep.spec.losses import MSE

    seen = [0]

    @settings(SETTINGS, max_examples=60)
    @given(case=cs.clipping_problem(kind))
    def run(case: Case) -> None:
        if case.edges != ("threshold",):
            return
        weights, x, y = case.arrays()
        net = ReferenceModel(Model.model_validate(case.model))
        _, g = losses.compute(MSE(type="mse"), net.forward(x, weights, dict(weights), training=True), y)
        grads = np.concatenate([v.ravel() for v in net.backward(g).values()])
        clip = case.recipe["gradient_clipping"]
        if kind == "global_norm":
            assert clip["max_norm"] == float(np.sqrt(np.sum(grads * grads))), (clip, grads)
        else:
            assert np.any(np.abs(grads) == clip["clip_value"]), (clip, grads)
        seen[0] += 1

    run()
    assert seen[0], f"no threshold edge drawn for {kind} in 60 examples"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["global_norm", "value"])
def test_overflow_norm_edge_overflows_the_sum_of_squares_not_the_norm(kind: str, dtype: str) -> None:
    """The class's promise, in the dtype: every gradient finite, their sum of squares not, ‖g‖ (the reference's
    float64 norm, scaled where float64 overflows too) and the loss well inside the dtype."""
    from lockstep.reference import clipping, losses
    from lockstep.reference.model import ReferenceModel
    from lockstep.spec.documents import Model
    from lockstep.spec.losses import MAE

    kind_ = np.float32 if dtype == "float32" else np.float64
    seen = [0]

    @settings(SETTINGS, max_examples=60)
    @given(case=cs.clipping_problem(kind))
    def run(case: Case) -> None:
        if case.edges != ("overflow_norm",):
            return
        assert case.recipe["loss"] == {"type": "mae"}, case.recipe
        weights, x, y = case.arrays(dtype)
        net = ReferenceModel(Model.model_validate(case.model))
        loss, g = losses.compute(MAE(type="mae"), net.forward(x, weights, dict(weights), training=True), y)
        grads = {k: v.astype(kind_) for k, v in net.backward(g).items()}
        with np.errstate(over="ignore"):
            squares = sum(np.sum(np.square(v)) for v in grads.values())
        norm = clipping.global_norm({k: v.astype(np.float64) for k, v in grads.items()})
        assert all(np.all(np.isfinite(v)) for v in grads.values()), grads
        assert not np.isfinite(squares), f"{dtype} sum of squares {squares} did not overflow"
        assert math.isfinite(norm) and norm < float(np.finfo(kind_).max), f"‖g‖ {norm} beyond {dtype}"
        assert abs(loss) < 1e6, f"loss {loss} is not moderate"
        seen[0] += 1

    run()
    assert seen[0], f"no overflow_norm edge drawn for {kind} in 60 examples"


@pytest.mark.parametrize("construct", ["constant", "step", "exponential", "cosine", "warmup"])
def test_schedule_boundary_edges_are_valid_recipes(construct: str, tmp_path: Path) -> None:
    from lockstep.runner import prepare_run

    drawn: list[dict] = []

    @SETTINGS
    @given(case=cs.schedule_problem(construct))
    def run(case: Case) -> None:
        if case.edges == ("boundary",):
            folder = tmp_path / str(len(drawn))
            prepare_run(case.write(folder, "float32"))  # raises RunError on an invalid recipe
            drawn.append(case.recipe["schedule"])

    run()
    assert drawn, f"no boundary edge drawn for {construct}"


def test_edge_draws_are_deterministic_under_the_seed() -> None:
    a = [(r[0], r[2], r[3]) for r in edges.census(examples=4, seed=3)]
    b = [(r[0], r[2], r[3]) for r in edges.census(examples=4, seed=3)]
    assert a == b


def test_the_default_certification_lands_in_every_edge_class() -> None:
    rows = edges.census() + edges.census(dtype="float64")  # a default certification runs both, each its own draws
    drawn = {k: sum(r[2].get(k, 0) for r in rows) for k in edges.CLASSES}
    reached = {k: sum(r[3].get(k, 0) for r in rows) for k in ("kink", "tie", "saturated", "zero_weight",
                                                               "large_logits", "overflow_norm")}
    assert all(drawn.values()), f"edge classes the default draws never reach: {drawn}"
    assert all(reached.values()), f"edge values the default arrays never contain: {reached}"
    n = sum(r[1] for r in rows)
    assert 0.25 * n <= sum(drawn.values()) <= 0.6 * n, f"{sum(drawn.values())} of {n} cases on an edge"


@pytest.mark.parametrize("spec", [s for s in suite.SPECS if s.levels != (5,) and s.construct not in suite.COMPOSITES],
                         ids=lambda s: s.construct)
def test_every_edge_case_is_a_valid_spec(spec: suite.Spec, tmp_path: Path) -> None:
    """Each strategy's edge cases write and prepare like any other case (in both dtypes: `magnitude` depends on it)."""
    from lockstep.runner import prepare_run

    count = [0]

    @settings(max_examples=60, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=spec.strategy(spec.construct))
    def run(case: Case) -> None:
        if not case.edges:
            return
        for dtype in ("float32", "float64"):
            prep = prepare_run(case.write(tmp_path / f"{count[0]}-{dtype}", dtype))
            assert prep.model is not None
            _, x, _ = case.arrays(dtype)
            assert np.all(np.isfinite(x)), f"{spec.construct} {case.edges}: non-finite inputs"
        count[0] += 1

    run()
    assert count[0] > 0, f"no edge case drawn for {spec.construct} in 60 examples"


def test_false_alarm_sweep_passes_the_reference_and_prints_a_mutants_failures(capsys, tmp_path: Path) -> None:
    """benchmarks/false_alarm_sweep.py: exit 0 on a correct adapter; on a wrong one exit 1, every failing check
    named with its reproducer folder; bad usage exits 2 with one line."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "false_alarm_sweep.py"
    spec = importlib.util.spec_from_file_location("false_alarm_sweep", path)
    assert spec is not None and spec.loader is not None
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    assert sweep.main(["--adapter", "reference", "--seeds", "0", "--construct", "relu", "--examples", "4"]) == 0
    assert "1 of 1 seeds certified" in capsys.readouterr().out
    mutant = "lockstep.conformance.mutants.relu_kink_gradient:ReLUKinkGradientAdapter"
    assert sweep.main(["--adapter", mutant, "--seeds", "0", "--construct", "relu", "--dtype", "float32",
                       "--report", str(tmp_path / "r")]) == 1
    out = capsys.readouterr().out
    assert "FAIL relu.gradients.float32.cpu" in out and "failures/relu.gradients.float32.cpu" in out, out
    assert (tmp_path / "r" / "seed-0" / "report.json").is_file()
    for bad in (["--adapter", "nope"], ["--adapter", "reference", "--construct", "nope"],
                ["--adapter", "reference", "--seeds", "x"], ["--adapter", "reference", "--examples", "0"]):
        assert sweep.main(bad) == 2, bad
        assert capsys.readouterr().err.startswith("false_alarm_sweep: ")
