"""The Environment fields `lockstep deploy` reads (dtype float16/int8, quantization, max_metric_drop): schema
and semantic checks, with no framework installed."""

from __future__ import annotations

from pathlib import Path

import pytest

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
])
def test_valid_deployment_targets(tmp_path: Path, body: str) -> None:
    assert _diags(tmp_path, body) == []


@pytest.mark.parametrize(("body", "needle"), [
    ("dtype: int8\n", "needs `max_metric_drop`"),
    ("dtype: int8\nmax_metric_drop: {}\n", "needs `max_metric_drop`"),
    ("dtype: float32\n", "needs `tolerance`"),
    ("quantization: {mode: dynamic}\n" + TOL, "applies to int8 targets"),
    ("dtype: float16\ntolerance: {rtol: 1.0e-5, atol: 0}\n", "below float16's rounding error"),
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
