"""Shared test data."""

RESUMABLE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: resumable}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [10]}]
  layers:
    - {type: dense, units: 256}
    - {type: batch_norm}
    - {type: relu}
    - {type: dropout, rate: 0.2}
    - {type: dense, units: 3}
seed: 11
dtype: float32
data:
  source: {type: synthetic_classification, num_samples: 300, shape: [10], num_classes: 3}
  split: {validation: 0.2}
  batch_size: 16
loss: {type: sparse_categorical_crossentropy, from_logits: true, label_smoothing: 0.1}
optimizer: {type: adam, learning_rate: 0.01, amsgrad: true}
schedule: {type: cosine, decay_steps: 1500, warmup: {steps: 100}}
gradient_clipping: {type: global_norm, max_norm: 1.0}
training: {steps: 3000}
evaluation: {every: 250, metrics: [loss, accuracy]}
checkpoint: {every: 100, keep: 2}
"""
