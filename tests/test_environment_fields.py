"""The Environment fields `lockstep deploy` reads (dtype float16/int8, quantization, max_metric_drop): schema
and semantic checks, with no framework installed."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.spec.validate import load_and_validate

HEAD = "apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: e}\nruntime: onnxruntime\n"
TOL = "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n"


def _diags(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "env.yaml"
    path.write_text(HEAD + body)
    _, diags = load_and_validate(path)
    return [d.format() for d in diags]


@pytest.mark.parametrize("body", [
    TOL,
    "dtype: float16\ntolerance: {rtol: 1.0e-2, atol: 1.0e-2}\n",
    "dtype: float64\ntolerance: {rtol: 1.0e-10, atol: 1.0e-12}\n",
    "dtype: int8\nmax_metric_drop: {accuracy: 0.02}\n",
    "dtype: int8\nquantization: {mode: static, calibration_samples: 64}\nmax_metric_drop: {loss: 0.1, mae: 0}\n" + TOL,
    "max_metric_drop: {accuracy: 0.0}\n" + TOL,
    'requirements: {onnxruntime: ">=1.17,<2", torch: "==2.13.0", onnx: ">=1.0,<=1.0"}\n' + TOL,
])
def test_valid_deployment_targets(tmp_path: Path, body: str) -> None:
    assert _diags(tmp_path, body) == []


@pytest.mark.parametrize(("body", "needle"), [
    ("dtype: int8\n", "needs `max_metric_drop`"),
    ("dtype: int8\nmax_metric_drop: {}\n", "needs `max_metric_drop`"),
    ("dtype: float32\n", "needs `tolerance`"),
    ("quantization: {mode: dynamic}\n" + TOL, "applies to int8 targets"),
    ("dtype: float16\ntolerance: {rtol: 1.0e-5, atol: 0}\n", "below float16's rounding error"),
    ('requirements: {onnxruntime: ">=1.17,<1.0"}\n' + TOL,
     "no version of `onnxruntime` meets `>=1.17,<1.0`: `>=1.17` and `<1.0` leave no version"),
    ("dtype: int8\nmax_metric_drop: {precision: 0.1}\n", "precision"),
    ("dtype: int8\nmax_metric_drop: {accuracy: -0.1}\n", "max_metric_drop"),
    ("dtype: bfloat16\n" + TOL, "bfloat16"),
    ("dtype: int8\nquantization: {mode: weird}\nmax_metric_drop: {accuracy: 0.1}\n", "weird"),
    ("dtype: int8\nquantization: {calibration_samples: 0}\nmax_metric_drop: {accuracy: 0.1}\n", "calibration_samples"),
    ("batch_sizes: [1, 32, 1]\n" + TOL, "batch_sizes[2]: batch size 1 appears twice"),  # each was checked twice
    ("threads: 1e308\n" + TOL, "threads: expected an integer, got 1e+308\n"),  # no 309-digit "write ..." advice
])
def test_invalid_deployment_targets_name_the_field(tmp_path: Path, body: str, needle: str) -> None:
    diags = _diags(tmp_path, body)
    assert diags and any(needle in d + "\n" for d in diags), diags


def test_int8_on_another_runtime_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(HEAD.replace("onnxruntime", "torch") + "dtype: int8\nmax_metric_drop: {accuracy: 0.1}\n")
    assert any("onnxruntime.quantization" in d.format() for d in load_and_validate(path)[1])


def test_the_example_environments_validate() -> None:
    root = Path(__file__).resolve().parents[1] / "examples"
    for path in sorted(root.glob("*.environment.yaml")):
        assert load_and_validate(path)[1] == [], path


CLAUSES = st.tuples(st.sampled_from(["==", "<", "<=", ">", ">="]),
                    st.lists(st.integers(0, 3), min_size=1, max_size=3).map(lambda p: ".".join(map(str, p))))
GRID = [".".join(map(str, p)) for p in itertools.product(range(5), range(5), range(5))]


@settings(max_examples=300, derandomize=True)
@given(clauses=st.lists(CLAUSES, min_size=1, max_size=3))
def test_unsatisfiable_agrees_with_packaging(clauses: list[tuple[str, str]]) -> None:
    """A range `validate` calls empty holds no release on a grid of 0-4 per part, by packaging's own rule; one it lets
    through holds some (or has only versions between grid points: refused never, missed sometimes)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from lockstep.spec.semantics.environment import unsatisfiable

    spec = ",".join(op + v for op, v in clauses)
    inside = [v for v in GRID if Version(v) in SpecifierSet(spec)]
    if unsatisfiable(spec) is not None:
        assert not inside, (spec, inside[:3])
