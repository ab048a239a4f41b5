"""validate's memory estimate (spec/resources.py) is at least what a reference run holds at its peak.

Sweep P (2026-12-07): a parameter-heavy recipe accepted at `--memory-limit 700MiB` peaked at 1.07 GiB in
`lockstep run` (the estimate counted 5 copies of each parameter; the run held 8 with SGD's momentum, 14.6 with
three optimizer states and checkpoints), and an evaluation's values, which the reference keeps into the next
training step, were counted instead of the training batch's rather than beside them. Measured here with
tracemalloc, which sees NumPy's arrays: the estimate must exceed the traced peak."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

import lockstep

WIDE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: wide}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: wide}
  inputs: [{name: x, shape: [4]}]
  layers:
    - {type: dense, units: UNITS}
    - {type: relu}
    - {type: dense, units: UNITS}
    - {type: relu}
    - {type: dense, units: 2}
seed: 0
data:
  source: {type: synthetic_classification, num_samples: SAMPLES, shape: [4], num_classes: 2}
  split: {validation: 0.5}
  batch_size: 1
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer: OPTIMIZER
training: {steps: 3}
evaluation: {every: 1}
"""


@pytest.mark.parametrize("checkpoint", [False, True])
@pytest.mark.parametrize(("units", "samples", "optimizer"), [
    (1024, 64, "{type: sgd, learning_rate: 0.01}"),
    (1024, 64, "{type: sgd, learning_rate: 0.01, momentum: 0.9}"),
    (1024, 64, "{type: adam, learning_rate: 0.01}"),
    (1024, 64, "{type: rmsprop, learning_rate: 0.01, centered: true, momentum: 0.5}"),
    (1024, 64, "{type: adam, learning_rate: 0.01, amsgrad: true}"),
    (2048, 8192, "{type: sgd, learning_rate: 0.01}"),  # evaluation-heavy: 4096 samples of 2 wide layers
])
def test_the_estimate_covers_a_reference_runs_peak(tmp_path: Path, units: int, samples: int, optimizer: str,
                                                   checkpoint: bool) -> None:
    recipe = tmp_path / "recipe.yaml"
    text = WIDE.replace("UNITS", str(units)).replace("SAMPLES", str(samples)).replace("OPTIMIZER", optimizer)
    recipe.write_text(text + ("checkpoint: {every: 1}\n" if checkpoint else ""))
    tracemalloc.start()
    try:
        lockstep.run(recipe, backend="reference", out=tmp_path / "run", progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    found = lockstep.validate(recipe, memory_limit=peak)
    assert [d.code for d in found] == ["memory"], (peak, [d.format() for d in found])
