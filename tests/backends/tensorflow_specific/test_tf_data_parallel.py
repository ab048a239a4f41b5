"""Data parallelism on TensorFlow: MirroredStrategy over 2 and 3 logical CPU devices against the reference's
semantics, driven in a worker process (logical devices are fixed when TensorFlow starts), and
`lockstep run --backend tensorflow --replicas N` in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.cli import main
from lockstep.runner import masks_for, prepare_run

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: dp_support
from dp_support import write


def _driver(prep, replicas: int, norm: str | None):
    from lockstep.adapters.tensorflow.distributed import TFDataParallelDriver

    return TFDataParallelDriver(prep.model, dtype="float64", recipe=prep.recipe, replicas=replicas, batch_norm=norm)


@pytest.mark.parametrize(("norm", "replicas"), [("local", 2), ("sync", 2), (None, 3)])
def test_mirrored_replicas_equal_the_reference_semantics(tmp_path: Path, norm, replicas) -> None:
    """A whole epoch and its uneven last batch (7 samples over 2 or 3 replicas), float64."""
    prep = prepare_run(write(tmp_path, norm=norm, replicas=replicas, samples=43, steps=5))
    oracle = DataParallelReferenceSession(prep.model, prep.recipe, "float64", replicas=replicas, batch_norm=norm)
    tf_dp = _driver(prep, replicas, norm)
    oracle.set_parameters(prep.initial)
    tf_dp.set_parameters(prep.initial)
    for step in range(prep.total_steps):
        _, x, y = prep.data.batch(step)
        masks = masks_for(prep, step, len(x))
        a, b = oracle.train_step(x, y, masks=masks), tf_dp.train_step(x, y, masks=masks)
        assert b.loss == pytest.approx(a.loss, rel=1e-12), (step, a.loss, b.loss)
        assert tf_dp.last_shards() == oracle.last_shards()
    want, got = oracle.get_parameters(), tf_dp.get_parameters()
    worst = {k: float(np.max(np.abs(got[k] - v))) for k, v in want.items()}
    assert max(worst.values()) < 1e-9, worst  # (a bias before batch norm: 0 ± 1e-16 gradients, which Adam amplifies)


@pytest.mark.slow
def test_lockstep_run_trains_tensorflow_replicas_in_one_process(tmp_path: Path) -> None:
    path = write(tmp_path, norm="sync", replicas=3, samples=43, steps=6)
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert main(["run", str(path), "--backend", "reference", "--out", str(ref), "-q"]) == 0
    done = subprocess.run([sys.executable, "-m", "lockstep", "run", str(path), "--backend", "tensorflow", "--out",
                           str(out), "-q"], capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    d = json.loads((out / "report.json").read_text())["distribution"]
    assert (d["replicas"], d["engine"]) == (3, "in-process") and "synchronized=True" in d["sync_batch_norm"], d
    a = [json.loads(line)["loss"] for line in (ref / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert np.allclose(a, b, rtol=1e-12), (a, b)


def test_replicas_cannot_be_added_once_tensorflow_runs(monkeypatch) -> None:
    """In a process where TensorFlow already started with one CPU device, the session says what to do."""
    import tensorflow as tf

    from lockstep.adapters.base import UnsupportedConstruct
    from lockstep.adapters.tensorflow.distributed import configure_logical_cpus

    tf.constant(1.0)  # TensorFlow's runtime is up
    have = len(tf.config.list_logical_devices("CPU"))
    with pytest.raises(UnsupportedConstruct, match="configured before TensorFlow starts"):
        configure_logical_cpus(have + 1)


SEQUENCE_BATCH_NORM = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: seq-batch-norm}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: seq-bn}
  inputs:
    - {name: sequence, shape: [12, 3]}
  layers:
    - {type: dense, name: embed, units: 8}
    - {type: batch_norm, name: bn}
    - {type: reshape, shape: [-1]}
    - {type: dense, name: logits, units: 3}
seed: 8
dtype: float64
data:
  source: {type: synthetic_sequences, num_samples: 48, length: 12, features: 3, num_classes: 3}
  batch_size: 8
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer: {type: sgd, learning_rate: 0.05}
training: {steps: 3}
distribution: {strategy: data_parallel, replicas: 2, batch_norm: sync}
"""


def test_batch_norm_on_a_sequence_trains_on_replicas(tmp_path: Path) -> None:
    """Sweep M (2026-12-06): a replica slices its shard with tensors, which lost every static dimension, and
    Keras's BatchNormalization on [N, T, C] (channel axis T) could not build its broadcast shape: "Failed to
    convert elements of [1, None, 1] to Tensor" at step 1, for a recipe that trains on the reference and torch."""
    (tmp_path / "recipe.yaml").write_text(SEQUENCE_BATCH_NORM)
    prep = prepare_run(tmp_path / "recipe.yaml")
    oracle = DataParallelReferenceSession(prep.model, prep.recipe, "float64", replicas=2, batch_norm="sync")
    tf_dp = _driver(prep, 2, "sync")
    oracle.set_parameters(prep.initial)
    tf_dp.set_parameters(prep.initial)
    for step in range(prep.total_steps):
        _, x, y = prep.data.batch(step)
        a, b = oracle.train_step(x, y), tf_dp.train_step(x, y)
        assert b.loss == pytest.approx(a.loss, rel=1e-12), (step, a.loss, b.loss)
