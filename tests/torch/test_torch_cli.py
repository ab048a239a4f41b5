"""The torch backend as users run it: `lockstep run --backend torch`, `lockstep compare`, resume after a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch.nn")  # not "torch": without torch installed, this folder would import as `torch`

from lockstep.cli import main
from lockstep.runner import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/recipe.yaml"))


def _copy(recipe: Path, tmp_path: Path, dtype: str) -> Path:
    folder = tmp_path / recipe.parent.name
    shutil.copytree(recipe.parent, folder)
    text = (folder / "recipe.yaml").read_text()
    (folder / "recipe.yaml").write_text(text.replace("dtype: float32", f"dtype: {dtype}"))
    return folder / "recipe.yaml"


@pytest.mark.parametrize("recipe", EXAMPLES, ids=lambda p: p.parent.name)
def test_whole_examples_agree_in_float64(recipe: Path, tmp_path: Path, capsys) -> None:
    """Every step of every example, every parameter, within 1e-10 relative (float64)."""
    out = tmp_path / "out"
    code = main(["compare", str(_copy(recipe, tmp_path, "float64")), "--backends", "reference,torch",
                 "--format", "json", "--out", str(out), "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_divergence"]
    assert report["agree"] and report["dtype"] == "float64"
    assert report["steps_compared"] == report["total_steps"] > 50
    worst = max(s["diff"]["torch"]["param_rel"] for s in report["steps"])
    assert worst < 1e-10
    svg = ET.parse(out / "compare.svg").getroot()  # one well-formed document, two panels
    assert len(svg.findall("{http://www.w3.org/2000/svg}svg")) == 2
    assert json.loads((out / "compare.json").read_text())["agree"]


@pytest.mark.parametrize("recipe", EXAMPLES, ids=lambda p: p.parent.name)
def test_first_steps_agree_in_float32(recipe: Path, tmp_path: Path, capsys) -> None:
    """float32 torch against the float64 reference over the first 5 steps under the provisional float32
    rule; longer float32 trajectories drift apart by design and need the derived bounds."""
    code = main(["compare", str(_copy(recipe, tmp_path, "float32")), "--backends", "reference,torch",
                 "--steps", "5", "--format", "json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_divergence"]


def test_compare_names_the_first_divergence(capsys, monkeypatch) -> None:
    from lockstep.adapters.torch import optimizers

    real = optimizers.build

    def slightly_high(opt, params, l2):  # a planted bug: the learning rate 1e-6 relative too high
        o = real(opt, params, l2)
        for g in o.param_groups:
            g["initial_lr"] = g["lr"] = opt.learning_rate * (1 + 1e-6)
        return o

    monkeypatch.setattr(optimizers, "build", slightly_high)
    recipe = ROOT / "examples" / "huber-regression" / "recipe.yaml"  # a float64 recipe
    assert main(["compare", str(recipe), "--backends", "reference,torch", "--steps", "20", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "torch diverges from reference at step 2: parameter" in out  # step 1 is warm-up from 0: lr 0


def test_compare_usage_errors(capsys, tmp_path: Path) -> None:
    assert main(["compare", str(EXAMPLES[0]), "--backends", "reference"]) == 2
    assert main(["compare", str(EXAMPLES[0]), "--backends", "reference,reference"]) == 2
    assert main(["compare", str(EXAMPLES[0]), "--backends", "reference,nope"]) == 2
    assert main(["compare", str(EXAMPLES[0]), "--steps", "0"]) == 2
    assert main(["compare", str(tmp_path / "missing.yaml")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_run_on_torch_writes_the_runner_outputs(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    recipe = ROOT / "examples" / "digits-mlp" / "recipe.yaml"
    assert main(["run", str(recipe), "--backend", "torch", "--out", str(out), "--quiet", "--steps", "60"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "torch" and report["status"] == "ok" and report["steps"] == 60
    assert report["versions"]["torch"]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 60 and "grad_norm" not in lines[0]  # no clipping: no norm computed
    assert main(["run", str(recipe), "--backend", "torch", "--device", "cuda:7", "--out", str(out), "--overwrite"]) == 2
    assert (out / "report.json").is_file()  # a run that cannot start leaves the previous one as it was


@pytest.mark.slow  # three subprocesses that import torch; the in-process resume tests run by default
def test_torch_run_resumes_bitwise_after_kill(tmp_path: Path) -> None:
    from tests_support import RESUMABLE

    recipe = tmp_path / "r.yaml"  # the runner tests' recipe, shortened: 600 steps, checkpoints every 50
    shorter = {"steps: 3000": "steps: 600", "decay_steps: 1500": "decay_steps: 300", "every: 250": "every: 200",
               "every: 100, keep: 2": "every: 50, keep: 2"}
    for old, new in shorter.items():
        assert old in RESUMABLE
        RESUMABLE = RESUMABLE.replace(old, new)
    recipe.write_text(RESUMABLE)
    full, cut = tmp_path / "full", tmp_path / "cut"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "lockstep", "run", str(recipe), "--backend", "torch", "--quiet"]
    subprocess.run([*cmd, "--out", str(full)], check=True, capture_output=True, env=env)
    proc = subprocess.Popen([*cmd, "--out", str(cut)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not list((cut / "checkpoints").glob("step-*.npz")):
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run([*cmd, "--out", str(cut), "--resume"], check=True, capture_output=True, env=env)
    _, a, sa = load_checkpoint(sorted((full / "checkpoints").glob("*.npz"))[-1])
    _, b, sb = load_checkpoint(sorted((cut / "checkpoints").glob("*.npz"))[-1])
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    for p in sa:
        for n in sa[p]:
            assert np.array_equal(sa[p][n], sb[p][n]), (p, n)
    assert (full / "metrics.jsonl").read_text() == (cut / "metrics.jsonl").read_text()
