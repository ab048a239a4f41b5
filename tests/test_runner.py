"""`lockstep run` end to end: every example trains and its loss falls; outputs are well-formed; a
non-finite loss stops with exit 1; a killed run resumes to the same bits as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from lockstep.cli import main
from lockstep.runner import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "examples").glob("*/recipe.yaml"))


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.parent.name)
def test_every_example_trains_and_its_loss_falls(recipe: Path, tmp_path: Path) -> None:
    assert main(["run", str(recipe), "--backend", "reference", "--out", str(tmp_path), "--quiet"]) == 0
    recs = _records(tmp_path)
    first = np.mean([r["loss"] for r in recs[:10]])
    last = np.mean([r["loss"] for r in recs[-10:]])
    assert last < 0.7 * first, f"{recipe.parent.name}: loss {first:.4f} -> {last:.4f}"
    assert [r["step"] for r in recs] == list(range(1, len(recs) + 1))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backend"] == "reference" and report["steps"] == len(recs)
    assert len(report["recipe_hash"]) == 64 and report["timings"]["step_median_ms"] > 0
    assert "loss" in report["final_metrics"]
    svg = ElementTree.parse(tmp_path / "loss.svg").getroot()
    assert svg.tag.endswith("svg") and any(e.tag.endswith("path") for e in svg.iter())


BAD_LR = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: diverge}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [4]}]
  layers: [{type: dense, units: 8}, {type: dense, units: 1}]
seed: 0
dtype: float64
data:
  source: {type: synthetic_regression, num_samples: 64, shape: [4]}
  batch_size: 16
loss: {type: mse}
optimizer: {type: sgd, learning_rate: 1.0e+6}
training: {steps: 40}
checkpoint: {every: 1}
"""


def test_non_finite_loss_stops_with_exit_1_and_keeps_the_checkpoint(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BAD_LR)
    out = tmp_path / "out"
    assert main(["run", str(recipe), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "non-finite" in err and "step " in err and "Traceback" not in err
    ckpts = sorted((out / "checkpoints").glob("*.npz"))
    assert ckpts
    meta, params, _ = load_checkpoint(ckpts[-1])
    assert all(np.isfinite(v).all() for v in params.values()) and meta["step"] >= 1


def test_bad_input_never_tracebacks(tmp_path: Path, capsys) -> None:
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    (tmp_path / "bad.yaml").write_text("apiVersion: lockstep/v1\nkind: Recipe\n")
    assert main(["run", str(tmp_path / "bad.yaml")]) == 2
    assert main(["run", str(RECIPES[0]), "--backend", "nope"]) == 2
    assert main(["run", str(RECIPES[0]), "--backend", "nosuchmodule:Thing"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unknown adapter" in err


from tests_support import RESUMABLE  # noqa: E402


def _cmd(recipe: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lockstep", "run", str(recipe), "--out", str(out), *extra]


def test_killed_run_resumes_to_identical_bits(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RESUMABLE)
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(_cmd(recipe, full), check=True, capture_output=True)
    proc = subprocess.Popen(_cmd(recipe, cut), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list((cut / "checkpoints").glob("step-*.npz")):
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(int(p.stem.split("-")[1]) for p in (cut / "checkpoints").glob("*.npz"))
    assert killed_at < 3000, "the run finished before it could be killed; make it longer"
    subprocess.run(_cmd(recipe, cut, "--resume"), check=True, capture_output=True)
    _, a, sa = load_checkpoint(sorted((full / "checkpoints").glob("*.npz"))[-1])
    _, b, sb = load_checkpoint(sorted((cut / "checkpoints").glob("*.npz"))[-1])
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), f"parameter {k} differs after resume"
    for p in sa:
        for n in sa[p]:
            assert np.array_equal(sa[p][n], sb[p][n]), f"optimizer state {p}/{n} differs after resume"
    ra, rb = _records(full), _records(cut)
    assert [r["step"] for r in rb] == list(range(1, 3001))
    assert ra == rb, "metrics.jsonl differs after resume"
