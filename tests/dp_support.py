"""Recipes for the data-parallel tests (tests/test_data_parallel.py and the data-parallel modules of
tests/backends/torch_specific/ and tests/backends/tensorflow_specific/)."""

from __future__ import annotations

from pathlib import Path

RECIPE = """\
apiVersion: lockstep/v1
kind: Recipe
metadata: {{name: dp-{name}}}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {{name: m}}
  inputs: [{{name: x, shape: [5]}}]
  layers:
    - {{type: dense, units: 6}}
{norm}    - {{type: tanh}}
    - {{type: dropout, rate: 0.3}}
    - {{type: dense, units: 3}}
seed: 4
dtype: float64
data:
  source: {{type: synthetic_classification, num_samples: {samples}, shape: [5], num_classes: 3}}
  batch_size: {batch}
loss: {{type: sparse_categorical_crossentropy, from_logits: true, reduction: {reduction}}}
optimizer: {{type: adam, learning_rate: 0.01}}
training: {{steps: {steps}}}
checkpoint: {{every: {every}, keep: 10}}
evaluation: {{metrics: [loss, accuracy]}}
{distribution}"""


def write(tmp_path: Path, *, name: str = "r", norm: str | None = None, replicas: int | None = 2, samples: int = 41,
          batch: int = 12, steps: int = 9, reduction: str = "mean", extra: str = "") -> Path:
    """A recipe whose epoch (41 samples, batches of 12) ends with a batch of 5 that 2 or 3 replicas split unevenly."""
    dist = ""
    if replicas is not None or norm is not None:
        dist = "distribution: {strategy: data_parallel" + (f", replicas: {replicas}" if replicas else "") + \
            (f", batch_norm: {norm}" if norm else "") + "}\n"
    text = RECIPE.format(name=name, norm="    - {type: batch_norm}\n" if norm else "", samples=samples, batch=batch,
                         reduction=reduction, steps=steps, every=min(4, steps), distribution=dist) + extra
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path
