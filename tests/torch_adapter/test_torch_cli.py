"""The torch backend as users run it: `lockstep run --backend torch`, `lockstep compare`, resume, CUDA."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lockstep.cli import main  # noqa: E402
from lockstep.runner import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/recipe.yaml"))


def _copy(recipe: Path, tmp_path: Path, dtype: str) -> Path:
    folder = tmp_path / recipe.parent.name
    shutil.copytree(recipe.parent, folder)
    text = (folder / "recipe.yaml").read_text()
    (folder / "recipe.yaml").write_text(text.replace("dtype: float32", f"dtype: {dtype}"))
    return folder / "recipe.yaml"


@pytest.mark.parametrize("recipe", EXAMPLES, ids=lambda p: p.parent.name)
def test_full_runs_agree_in_float64(recipe: Path, tmp_path: Path, capsys) -> None:
    """Whole example trainings, every step, every parameter, to 1e-10 relative."""
    out = tmp_path / "out"
    code = main(["compare", str(_copy(recipe, tmp_path, "float64")), "--backends", "reference,torch",
                 "--format", "json", "--out", str(out)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_divergence"]
    assert report["agree"] and report["dtype"] == "float64" and len(report["steps"]) > 50
    assert (out / "compare.svg").is_file() and (out / "compare-diff.svg").is_file()


@pytest.mark.parametrize("recipe", EXAMPLES, ids=lambda p: p.parent.name)
def test_first_steps_agree_in_float32(recipe: Path, tmp_path: Path, capsys) -> None:
    """float32 torch against the float64 reference over the first 5 steps, provisional float32 rule
    (docs/adapters.md); longer float32 trajectories drift by design and need derived bounds."""
    code = main(["compare", str(_copy(recipe, tmp_path, "float32")), "--backends", "reference,torch",
                 "--steps", "5", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["first_divergence"]


def test_compare_reports_a_divergence(tmp_path: Path, capsys, monkeypatch) -> None:
    from lockstep.adapters.torch import optimizers

    real = optimizers.build

    def off_by_one_ulp(opt, params, l2):  # a planted bug: learning rate one float32 ulp high
        o = real(opt, params, l2)
        o.param_groups[0]["lr"] = float(np.nextafter(np.float32(opt.learning_rate), np.float32(1)))
        return o

    monkeypatch.setattr(optimizers, "build", off_by_one_ulp)
    from lockstep.adapters.torch import schedules

    monkeypatch.setattr(schedules, "factor", lambda s, base, t: float(np.nextafter(np.float32(base), np.float32(1))))
    recipe = ROOT / "examples" / "huber-regression" / "recipe.yaml"  # a float64 recipe
    assert main(["compare", str(recipe), "--backends", "reference,torch", "--steps", "20"]) == 1
    out = capsys.readouterr().out
    assert "torch diverges from reference at step 1" in out


def test_compare_usage_errors(capsys) -> None:
    assert main(["compare", str(EXAMPLES[0]), "--backends", "reference"]) == 2
    assert main(["compare", str(EXAMPLES[0]), "--backends", "reference,nope"]) == 2


def test_torch_run_resumes_bitwise_after_kill(tmp_path: Path) -> None:
    from tests_support import RESUMABLE

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RESUMABLE)
    full, cut = tmp_path / "full", tmp_path / "cut"
    cmd = [sys.executable, "-m", "lockstep", "run", str(recipe), "--backend", "torch"]
    subprocess.run([*cmd, "--out", str(full)], check=True, capture_output=True)
    proc = subprocess.Popen([*cmd, "--out", str(cut)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((cut / "checkpoints").glob("step-*.npz")):
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run([*cmd, "--out", str(cut), "--resume"], check=True, capture_output=True)
    _, a, sa = load_checkpoint(sorted((full / "checkpoints").glob("*.npz"))[-1])
    _, b, sb = load_checkpoint(sorted((cut / "checkpoints").glob("*.npz"))[-1])
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    for p in sa:
        for n in sa[p]:
            assert np.array_equal(sa[p][n], sb[p][n]), (p, n)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_agrees_with_the_reference(dtype: str, capsys) -> None:
    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.adapters.torch import TorchAdapter
    from lockstep.conformance.checks import compare_dicts
    from lockstep.runner import prepare_run

    prep = prepare_run(ROOT / "examples" / "small-cnn" / "recipe.yaml", steps=5)
    recipe = prep.recipe.model_copy(update={"dtype": dtype})
    ref = ReferenceAdapter().build(prep.model, dtype="float64", recipe=recipe)
    gpu = TorchAdapter().build(prep.model, dtype=dtype, device="cuda", recipe=recipe)
    ref.set_parameters(prep.initial)
    gpu.set_parameters(prep.initial)
    for step in range(5):
        _, x, y = prep.data.batch(step)
        ref.train_step(x, y)
        gpu.train_step(x, y)
    bad = [c for c in compare_dicts("parameter", gpu.get_parameters(), ref.get_parameters(), dtype) if not c.ok]
    assert not bad, bad
