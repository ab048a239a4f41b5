"""A float32 recipe stops where float32 would, on every backend (docs/spec/v1-semantics.md, "Representable
values"): the float64 reference treats a value beyond float32's range as non-finite, so reference, torch and
TensorFlow stop at the same step and name the same quantity (before: Adam at lr 1e30 exited 0 on the
reference with loss 1e62 while torch and TensorFlow stopped at step 2)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockstep.reference.representable import FLOAT32_MAX, limit, loss_to_range, to_range
from lockstep.runner import RunFailed, build_session, prepare_run, train

RECIPE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {{name: range}}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {{name: m}}
  inputs: [{{name: x, shape: [4]}}]
  layers: {layers}
seed: 0
dtype: {dtype}
data:
  source: {source}
  batch_size: 16
loss: {loss}
optimizer: {optimizer}
{extra}
training: {{steps: 8}}
"""
MLP = "[{type: dense, units: 8}, {type: relu}, {type: dense, units: 1}]"
REGRESSION = "{type: synthetic_regression, num_samples: 64, shape: [4]}"
CLASSES = "{type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}"

# name -> (recipe fields, the step that fails, the quantity named). Steps and quantities are what torch and
# TensorFlow do natively in float32 (measured before the reference followed them).
CASES: dict[str, tuple[dict[str, str], int, str]] = {
    "adam-lr-1e30": ({"optimizer": "{type: adam, learning_rate: 1.0e+30}"}, 2, "loss"),
    "sgd-lr-1e30": ({"optimizer": "{type: sgd, learning_rate: 1.0e+30}"}, 2, "loss"),
    "sgd-momentum-lr-1e15": ({"optimizer": "{type: sgd, learning_rate: 1.0e+15, momentum: 0.9}"}, 2, "loss"),
    "rmsprop-lr-1e30-clipped": ({"optimizer": "{type: rmsprop, learning_rate: 1.0e+30}",
                                 "extra": "gradient_clipping: {type: value, clip_value: 1.0}"}, 2, "loss"),
    "sgd-l2-1e30": ({"optimizer": "{type: sgd, learning_rate: 1.0e+5}", "extra": "regularization: {l2: 1.0e+30}"},
                    2, "loss"),
    "batch-norm-adam-lr-1e30": ({"layers": "[{type: dense, units: 8}, {type: batch_norm}, {type: relu}, "
                                           "{type: dense, units: 1}]",
                                 "optimizer": "{type: adam, learning_rate: 1.0e+30}"}, 2, "loss"),
    # hyper-parameters beyond float32's range (torch raised "value cannot be converted to type float without
    # overflow" converting them or lr/(1 - β₁) for its float32 kernels: a traceback instead of the stop)
    "sgd-lr-1e39": ({"optimizer": "{type: sgd, learning_rate: 1.0e+39}"}, 2, "loss"),
    "adam-lr-1e38": ({"optimizer": "{type: adam, learning_rate: 1.0e+38}"}, 2, "loss"),
    "rmsprop-lr-1e39": ({"optimizer": "{type: rmsprop, learning_rate: 1.0e+39}"}, 2, "loss"),
    "adagrad-lr-1e39": ({"optimizer": "{type: adagrad, learning_rate: 1.0e+39}"}, 2, "loss"),
    "sgd-l2-1e39": ({"extra": "regularization: {l2: 1.0e+39}"}, 2, "loss"),
    "mse-targets-1e20": ({"source": "{type: npz, path: t1e20.npz}"}, 1, "loss"),
    "mse-targets-1e19": ({"source": "{type: npz, path: t1e19.npz}"}, 1, "loss"),  # terms overflow, not the mean
    "gradient-1e45": ({"layers": "[{type: dense, units: 1, initializers: {weight: {type: constant, value: 1.0e-25}}}]",
                       "source": "{type: npz, path: x1e30.npz}"}, 1, "gradient of dense_0.weight"),
}
FINISHING = {  # float32 holds these: no backend may stop
    "gradients-1e20": {"layers": "[{type: dense, units: 1}]", "source": "{type: npz, path: x1e20.npz}",
                       "loss": "{type: mae}", "optimizer": "{type: sgd, learning_rate: 1.0e-30}"},
    "mse-targets-1e18": {"source": "{type: npz, path: t1e18.npz}", "optimizer": "{type: sgd, learning_rate: 1.0e-30}"},
    # clipping thresholds beyond float32 clip nothing (torch raised converting c; TensorFlow's clip_by_global_norm
    # scaled by inf · 1/inf = NaN)
    "clip-value-1e39": {"extra": "gradient_clipping: {type: value, clip_value: 1.0e+39}"},
    "clip-norm-1e39": {"extra": "gradient_clipping: {type: global_norm, max_norm: 1.0e+39}"},
    "cross-entropy-adam-lr-1e30": {"layers": "[{type: dense, units: 8}, {type: tanh}, {type: dense, units: 3}]",
                                   "source": CLASSES, "loss": "{type: sparse_categorical_crossentropy, "
                                                             "from_logits: true}",
                                   "optimizer": "{type: adam, learning_rate: 1.0e+30}"},
}


def _write(folder: Path, fields: dict[str, str], dtype: str = "float32") -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    for name, scale in (("t1e20", 1e20), ("t1e19", 1e19), ("t1e18", 1e18)):
        np.savez(folder / f"{name}.npz", x=x, y=rng.normal(size=(64, 1)) * scale)
    np.savez(folder / "x1e30.npz", x=x * 1e30, y=rng.normal(size=(64, 1)) * 1e15)
    np.savez(folder / "x1e20.npz", x=x * 1e20, y=rng.normal(size=(64, 1)))
    values = {"layers": MLP, "source": REGRESSION, "loss": "{type: mse}", "extra": "", "dtype": dtype,
              "optimizer": "{type: sgd, learning_rate: 0.01}", **fields}
    path = folder / "recipe.yaml"
    path.write_text(RECIPE.format(**values))
    return path


def _stop(recipe: Path, backend: str) -> tuple[int, str] | None:
    """(failing step, quantity) of a run, or None when it completes."""
    prep = prepare_run(recipe)
    _, session = build_session(prep, backend)
    try:
        train(prep, session)
    except RunFailed as exc:
        message = str(exc)
        step = int(message.split(":")[0].removeprefix("step "))
        return step, message.split("non-finite ")[1].split(";")[0]
    return None


BACKENDS = ["reference", "torch", "tensorflow"]


def _need(backend: str) -> None:
    if backend != "reference":
        pytest.importorskip(backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_recipes_stop_at_the_same_step_on_every_backend(case: str, backend: str, tmp_path: Path) -> None:
    _need(backend)
    fields, step, quantity = CASES[case]
    got = _stop(_write(tmp_path, fields), backend)
    assert got == (step, quantity), f"{case} on {backend}: stopped at {got}, float32 stops at {(step, quantity)}"


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a threshold beyond float32 printed NumPy's overflow warning
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(FINISHING))
def test_float32_recipes_that_float32_holds_finish_on_every_backend(case: str, backend: str, tmp_path: Path) -> None:
    _need(backend)
    got = _stop(_write(tmp_path, FINISHING[case]), backend)
    assert got is None, f"{case} on {backend}: stopped at {got}; float32 holds every value of this run"


def test_float64_recipes_keep_float64s_range(tmp_path: Path) -> None:
    """The rule is the recipe dtype's range: in float64 the same Adam at lr 1e30 trains on (losses ~1e120)."""
    recipe = _write(tmp_path, {"optimizer": "{type: adam, learning_rate: 1.0e+30}"}, dtype="float64")
    prep = prepare_run(recipe)
    _, session = build_session(prep, "reference")
    result = train(prep, session)
    assert FLOAT32_MAX < result.final_loss < math.inf, f"float64 loss {result.final_loss}"


def test_an_overflowing_update_is_infinite_state_and_fails_the_next_step(tmp_path: Path) -> None:
    """After step 1 the parameters hold ±inf where float32 would (the step itself succeeded, as in torch)."""
    recipe = _write(tmp_path, {"optimizer": "{type: sgd, learning_rate: 1.0e+30}",
                               "source": "{type: npz, path: t1e18.npz}"})  # gradients ~1e18: updates ~1e48
    prep = prepare_run(recipe)
    _, session = build_session(prep, "reference")
    x, y = prep.data.batch(0)[1:]
    session.train_step(x, y)
    params = session.get_parameters()
    assert any(np.isinf(v).any() for v in params.values()), "no parameter overflowed"
    assert all(np.all(np.isinf(v) | (np.abs(v) <= FLOAT32_MAX)) for v in params.values())
    assert _stop(recipe, "reference") == (2, "loss")


finite = st.floats(allow_nan=False, allow_infinity=False)


@given(st.lists(st.one_of(finite, st.just(math.nan), st.just(math.inf), st.just(-math.inf)), max_size=20))
def test_to_range_keeps_representable_values_bit_for_bit(values: list[float]) -> None:
    a = np.array(values, dtype=np.float64)
    out = to_range(a, limit("float32"))
    for before, after in zip(a, out, strict=True):
        if math.isnan(before):
            assert math.isnan(after), f"{before} became {after}"
        elif abs(before) <= FLOAT32_MAX:
            assert after == before and math.copysign(1, after) == math.copysign(1, before), f"{before} -> {after}"
        else:
            assert after == math.copysign(math.inf, before), f"{before} -> {after}, float32 holds ±inf"
    assert to_range(a, limit("float64")) is a, "float64 needs no rule: the array comes back untouched"


@given(finite, st.integers(1, 10**6), st.sampled_from(["mean", "sum"]))
def test_a_mean_loss_overflows_when_the_sum_of_its_terms_does(value: float, m: int, reduction: str) -> None:
    got = loss_to_range("mse", reduction, value, (m, 1), FLOAT32_MAX)
    total = abs(value) * (m if reduction == "mean" else 1)
    expected = math.copysign(math.inf, value) if total > FLOAT32_MAX else value
    assert got == expected, f"{reduction} of {m} terms, loss {value}: got {got}, expected {expected}"


def test_json_outputs_are_strict(tmp_path: Path) -> None:
    """Every JSON output goes through `write_json`: a non-finite number is the string "inf"/"-inf"/"nan" (float()
    reads it back), never the bare NaN/Infinity tokens that jq, browsers and most JSON parsers reject. A run
    stopped by a non-finite loss writes its report and metrics that way too."""
    import json

    from lockstep.cli import main
    from lockstep.spec.atomic import write_json

    def refuse(token: str) -> None:
        raise AssertionError(f"a JSON output holds the non-JSON token {token}")

    write_json(tmp_path / "x.json", {"a": math.inf, "b": [math.nan, 1.5, -math.inf], "c": (np.float64("nan"),)})
    data = json.loads((tmp_path / "x.json").read_text(), parse_constant=refuse)
    assert data == {"a": "inf", "b": ["nan", 1.5, "-inf"], "c": ["nan"]}, data
    recipe = _write(tmp_path, CASES["sgd-lr-1e30"][0])
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--backend", "reference", "--out", str(out), "--quiet"]) == 1
    json.loads((out / "report.json").read_text(), parse_constant=refuse)
    for line in (out / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=refuse)


OPTIMIZER_CONFIGS = {
    "sgd": {"lr": 0.1},
    "sgd-momentum-nesterov": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    "adam": {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
    "adam-amsgrad": {"lr": 0.01, "amsgrad": True},
    "adamw": {"lr": 0.01, "weight_decay": 0.1},
    "rmsprop-centered": {"lr": 0.01, "momentum": 0.5, "centered": True},
    "adagrad": {"lr": 0.1, "initial_accumulator_value": 0.1},
}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_CONFIGS))
def test_torch_wide_step_is_torchs_step_to_float32_rounding(name: str) -> None:
    """The float64 twin step that takes over near float32's limits computes what torch's own float32 step does
    (parameters and every state tensor, over three steps: state created, then carried), to float32 rounding."""
    torch = pytest.importorskip("torch")
    from lockstep.adapters.torch.optimizers import wide_step

    kind = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
            "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[name.split("-")[0]]
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(5, 3, generator=gen), torch.randn(3, generator=gen)]
    native = [t.clone().requires_grad_() for t in start]
    twin = [t.clone().requires_grad_() for t in start]
    opt_native, opt_twin = kind(native, **OPTIMIZER_CONFIGS[name]), kind(twin, **OPTIMIZER_CONFIGS[name])
    for _ in range(3):
        grads = [torch.randn(t.shape, generator=gen) for t in start]
        for params in (native, twin):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
        opt_native.step()
        wide_step(opt_twin)
    for a, b in zip(native, twin, strict=True):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: parameters after the wide step")
        assert b.dtype == torch.float32
        for key, value in opt_native.state[a].items():
            got = opt_twin.state[b][key]
            assert got.dtype == value.dtype, f"{name}: state {key} is {got.dtype}, torch keeps {value.dtype}"
            np.testing.assert_allclose(got.numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"{name}: {key}")


def test_torch_wide_step_rounds_beyond_float32_to_infinity() -> None:
    """An update beyond float32's range becomes ±inf with its sign (the standard's rule), a zero gradient's
    parameter stays as it is (w − lr·0 in float64), where torch's float32 step raised on lr = 1e39."""
    torch = pytest.importorskip("torch")
    from lockstep.adapters.torch.optimizers import scalars_beyond, wide_step

    p = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    p.grad = torch.tensor([1.0, 0.0, -1.0])
    opt = torch.optim.SGD([p], lr=1e39)
    assert scalars_beyond(opt.param_groups[0], torch.float32)
    with pytest.raises(RuntimeError, match="overflow"):  # torch's own step, the reason for the twin
        opt.step()
    p.data.copy_(torch.tensor([1.0, 2.0, 3.0]))
    wide_step(opt)
    assert p.tolist() == [-math.inf, 2.0, math.inf]


@pytest.mark.parametrize(("group", "dtype", "beyond"), [
    ({"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}, "float32", False),
    ({"lr": 1e30, "momentum": 0.9, "weight_decay": 1e5}, "float32", False),
    ({"lr": 1e38, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}, "float32", True),  # lr/(1 − β₁)
    ({"lr": 1e39, "momentum": 0.0, "weight_decay": 0.0}, "float64", False),
    ({"lr": 0.1, "eps": 1e39, "weight_decay": 0.0}, "float32", True),
])
def test_torch_scalars_beyond_float32(group: dict, dtype: str, beyond: bool) -> None:
    torch = pytest.importorskip("torch")
    from lockstep.adapters.torch.optimizers import scalars_beyond

    assert scalars_beyond(group, getattr(torch, dtype)) is beyond, f"{group} in {dtype}"


def test_torch_adamw_with_coupled_l2_beyond_float32_stops_where_the_reference_does(tmp_path: Path) -> None:
    """AdamW's coupled L2 is added by the torch session; at l2 = 1e39 that addition raised in float32. In float64
    (the twin step) Adam normalizes g + l2·w as the reference does, its second moment (~1e78) becomes inf in
    float32 as the reference's does, and both stop at the same later step. (TensorFlow stops at step 2: its
    float32 g + l2·w overflows inside the step, a rounding matter the standard does not pin.)"""
    pytest.importorskip("torch")
    recipe = _write(tmp_path, {"optimizer": "{type: adamw, learning_rate: 0.01, weight_decay: 0.0}",
                               "extra": "regularization: {l2: 1.0e+39}"})
    expected = _stop(recipe, "reference")
    assert expected is not None and expected[0] > 2, expected
    assert _stop(recipe, "torch") == expected


def test_the_clip_threshold_reproducer_still_shows_the_frameworks_behaviour() -> None:
    """docs/reproducers/clip-threshold-beyond-float32 (docs/conformance.md, "Found in real frameworks"): if a
    framework release fixes it, the adapters' guard can go and the entry should say so."""
    from tests_support import run_reproducer

    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    out = run_reproducer("clip-threshold-beyond-float32/frameworks_only.py")
    assert "clip_by_global_norm(g, 1e39): [nan, nan, nan]" in out, out
    assert "clip_grad_value_(1e39): RuntimeError: value cannot be converted" in out, out
