"""`lockstep compare` judges the eval-mode predictions too, not only the training steps (sweep V, f2: a backend
whose `forward(training=False)` was 1.5x the reference's held at every judged step, exit 0)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests_support import tiny_recipe

from lockstep.cli import main
from lockstep.compare import format_table, run_compare
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.runner import build_session, prepare_run

PREDICTION = "prediction"  # the quantity compare.json and the table name

RECIPE = tiny_recipe(layers="[{type: dense, name: hidden, units: 8}, {type: relu}, {type: dense, name: out, units: 3}]",
                     samples=64, steps=6, dtype="DTYPE", data="  split: {validation: 0.25}\n",
                     tail="evaluation: {every: 2, metrics: [loss, accuracy]}\n")


class _EvalBugSession(MutantSession):
    """Trains as the reference does; its inference-mode forward is 1.5x off."""

    def forward(self, x: Any, *, training: bool = False, masks: Any = None) -> np.ndarray:
        out = super().forward(x, training=training, masks=masks)
        return out if training else out * 1.5


class EvalBugAdapter(MutantAdapter):
    name = "evalbug"
    session_class = _EvalBugSession


class SameAdapter(MutantAdapter):
    name = "same"


def _recipe(tmp_path: Path, dtype: str = "float64") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(RECIPE.replace("DTYPE", dtype), encoding="utf-8")
    return path


def _compare(path: Path, adapter: MutantAdapter, every: int = 1):  # type: ignore[no-untyped-def]
    prep = prepare_run(path)
    return run_compare(prep, {"reference": build_session(prep, "reference")[1],
                              adapter.name: adapter.build(prep.model, dtype=prep.recipe.dtype, recipe=prep.recipe)},
                       every=every)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_inference_forward_diverges_at_the_first_evaluation_step(tmp_path: Path, dtype: str) -> None:
    result = _compare(_recipe(tmp_path, dtype), EvalBugAdapter())
    assert not result.agree
    d = result.first_divergence["evalbug"]
    assert (d.step, d.quantity) == (2, PREDICTION), d
    assert result.prediction_steps == [2, 4, 6]
    assert result.failing_steps["evalbug"] == 3
    table = format_table(result)
    assert "DIVERGES from the reference at step 2" in table and "prediction" in table


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_correct_backend_s_predictions_hold(tmp_path: Path, dtype: str) -> None:
    result = _compare(_recipe(tmp_path, dtype), SameAdapter())
    assert result.agree, format_table(result)
    assert result.prediction_steps == [2, 4, 6]
    doc = result.to_json()
    assert doc["verdict"]["predictions"]["judged_at"] == [2, 4, 6]
    assert doc["verdict"]["predictions"]["on"] == "validation"
    assert doc["verdict"]["predictions"]["samples"] == 16
    assert doc["steps"][1]["judged"]["same"][PREDICTION]["holds"] is True
    assert PREDICTION not in doc["steps"][0]["judged"]["same"]  # step 1 is no evaluation step


def test_predictions_are_judged_from_the_reference_s_state(tmp_path: Path) -> None:
    """The backend's own (free-running) state is set back after its predictions are judged: its drift is
    untouched, and a backend whose free run has drifted is still judged at the reference's state."""
    result = _compare(_recipe(tmp_path), SameAdapter())
    assert all(r.diffs["same"].param_rel == 0.0 for r in result.rows)


def test_last_step_of_a_capped_run_and_every(tmp_path: Path) -> None:
    """With `every`, the evaluation steps that are judged; `--steps` adds its last step, as `run` evaluates there."""
    path = _recipe(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("steps: 6", "steps: 20").replace("every: 2", "every: 10"),
                    encoding="utf-8")
    result = _compare(path, SameAdapter(), every=4)
    assert result.prediction_steps == [20]  # 10 is no judged step with every=4 (1-3, 4, 8, 12, 16, 20)
    prep = prepare_run(path, steps=5)
    capped = run_compare(prep, {"reference": build_session(prep, "reference")[1],
                                "same": SameAdapter().build(prep.model, dtype="float64", recipe=prep.recipe)})
    assert capped.prediction_steps == [5]


ADAPTER_MODULE = """\
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    def forward(self, x, *, training=False, masks=None):
        out = super().forward(x, training=training, masks=masks)
        return out if training else out * 1.5


class EvalBugAdapter(MutantAdapter):
    name = "evalbug"
    session_class = _Session
"""


def test_cli_exit_1_and_json_names_the_prediction(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "evalbug_adapter.py"
    module.write_text(ADAPTER_MODULE, encoding="utf-8")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        code = main(["compare", str(_recipe(tmp_path)), "--backends", "reference,evalbug_adapter:EvalBugAdapter",
                     "--quiet", "--format", "json"])
    finally:
        sys.path.remove(str(tmp_path))
    captured = capfd.readouterr()
    assert captured.out, (code, captured.err)
    doc = json.loads(captured.out)
    assert code == 1
    (name,) = doc["first_divergence"]
    assert doc["first_divergence"][name]["quantity"] == PREDICTION
    assert doc["steps"][1]["judged"][name]["failed"] == [PREDICTION]
