"""`lockstep run --tensorboard` through TensorFlow's `tf.summary` (the tensorboard package is not installed in
the test environment; where it is, its own writer is used and the same scalars are read back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockstep import tensorboard
from lockstep.cli import main

tf = pytest.importorskip("tensorflow")

RECIPE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: tb}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [4]}]
  layers: [{type: dense, units: 8}, {type: relu}, {type: dense, units: 3}]
seed: 1
data:
  source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}
  batch_size: 16
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer: {type: sgd, learning_rate: 0.1}
schedule: {type: exponential, gamma: 0.8}
gradient_clipping: {type: global_norm, max_norm: 10.0}
training: {steps: 8}
evaluation: {every: 4, metrics: [loss, accuracy]}
"""


def _scalars(folder: Path) -> dict[str, dict[int, float]]:
    """Every scalar in the event files of `folder`, read back with TensorFlow's own reader."""
    out: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                value = v.simple_value if v.HasField("simple_value") else float(tf.make_ndarray(v.tensor))
                out.setdefault(v.tag, {})[event.step] = value
    return out


def test_event_files_hold_the_metrics_jsonl_numbers(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--tensorboard"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    found = _scalars(out / "tensorboard")
    assert set(found) == {"train/loss", "train/learning_rate", "train/grad_norm", "eval/loss", "eval/accuracy"}
    for r in records:
        assert found["train/loss"][r["step"]] == pytest.approx(r["loss"], rel=1e-6)  # event files hold float32
        assert found["train/learning_rate"][r["step"]] == pytest.approx(r["lr"], rel=1e-6)
        assert found["train/grad_norm"][r["step"]] == pytest.approx(r["grad_norm"], rel=1e-6)
    evals = {r["step"]: r["eval"] for r in records if "eval" in r}
    assert sorted(found["eval/accuracy"]) == sorted(evals) == [4, 8]
    assert all(found["eval/loss"][s] == pytest.approx(e["loss"], rel=1e-6) for s, e in evals.items())
    # --overwrite replaces the event files with the new run's, like every other output of the run
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--overwrite", "--steps", "2"]) == 0
    assert not (out / "tensorboard").exists()


def test_writer_choice_prefers_the_tensorboard_package() -> None:
    assert tensorboard.backend() == ("tensorboard" if tensorboard._installed("tensorboard.summary") else "tensorflow")


def _events_per_step(folder: Path, tag: str) -> dict[int, int]:
    """How many events of `tag` each step has, over every event file of `folder`."""
    count: dict[int, int] = {}
    for path in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.tag == tag:
                    count[event.step] = count.get(event.step, 0) + 1
    return count


def test_a_resume_shows_each_step_once(tmp_path: Path) -> None:
    """A run killed past its last checkpoint had logged steps 5-6 that the resume trains again: the event files
    show metrics.jsonl's steps, each once, with the resumed run's values (they once held both runs' steps)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE + "checkpoint: {every: 2, keep: 10}\n")
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--tensorboard", "--steps", "6"]) == 0
    assert _events_per_step(out / "tensorboard", "train/loss") == dict.fromkeys(range(1, 7), 1)
    (out / "checkpoints" / "step-00000006.npz").unlink()  # the kill: no checkpoint past step 4 was written
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--tensorboard", "--resume"]) == 0
    counts = _events_per_step(out / "tensorboard", "train/loss")
    assert counts == dict.fromkeys(range(1, 9), 1), counts
    assert len(tensorboard.event_files(out / "tensorboard")) == 1
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    found = _scalars(out / "tensorboard")
    assert [r["step"] for r in records] == list(range(1, 9))
    assert all(found["train/loss"][r["step"]] == pytest.approx(r["loss"], rel=1e-6) for r in records)
    assert sorted(found["eval/accuracy"]) == [4, 8]


def test_a_refused_resume_leaves_the_event_files_as_they_were(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A resume refused before its first step (the checkpoint is another recipe's) left an empty event file
    beside the earlier run's: TensorBoard showed it as a second run without data."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE + "checkpoint: {every: 2, keep: 10}\n")
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--tensorboard", "--steps", "4"]) == 0
    before = {p.name: p.read_bytes() for p in tensorboard.event_files(out / "tensorboard")}
    other = tmp_path / "other.yaml"
    other.write_text(RECIPE.replace("seed: 1", "seed: 2") + "checkpoint: {every: 2, keep: 10}\n")
    assert main(["run", str(other), "--out", str(out), "--quiet", "--tensorboard", "--resume"]) == 2
    assert "from a different recipe" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tensorboard.event_files(out / "tensorboard")} == before


def test_a_resume_says_it_writes_the_event_file_anew(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE + "checkpoint: {every: 2, keep: 10}\n")
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--tensorboard", "--steps", "6"]) == 0
    capsys.readouterr()
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--tensorboard", "--resume"]) == 0
    assert "writing the event file anew from the checkpoint's 6 logged steps" in capsys.readouterr().err


def test_a_resume_without_tensorboard_says_the_event_files_stop_where_they_were(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The event files of a run resumed without --tensorboard end at the earlier run's last step: said, not left
    for TensorBoard to show as if the run had stopped there."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE + "checkpoint: {every: 2, keep: 10}\n")
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--tensorboard", "--steps", "4"]) == 0
    before = {p.name: p.read_bytes() for p in tensorboard.event_files(out / "tensorboard")}
    capsys.readouterr()
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "keeps the earlier run's event files" in err and "resume with --tensorboard" in err, err
    assert {p.name: p.read_bytes() for p in tensorboard.event_files(out / "tensorboard")} == before
