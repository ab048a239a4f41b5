"""`lockstep run` end to end: every example trains and its loss falls; outputs are well-formed; a
non-finite loss stops with exit 1; a killed run resumes to the same bits as an uninterrupted one."""

from __future__ import annotations

import io
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
from tests_support import RESUMABLE, tiny_recipe

from lockstep.cli import main
from lockstep.plot import line_chart
from lockstep.progress import Progress
from lockstep.runner import RunFailed, build_session, load_checkpoint, prepare_run, train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "examples").glob("*/recipe.yaml"))


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _final(out: Path) -> tuple[dict, dict, dict]:
    return load_checkpoint(sorted((out / "checkpoints").glob("*.npz"))[-1])


def _same_state(a_out: Path, b_out: Path) -> None:
    _, a, sa = _final(a_out)
    _, b, sb = _final(b_out)
    assert a.keys() == b.keys() and sa.keys() == sb.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), f"parameter {k} differs after resume"
    for p in sa:
        for n in sa[p]:
            assert np.array_equal(sa[p][n], sb[p][n]), f"optimizer state {p}/{n} differs after resume"
    assert (a_out / "metrics.jsonl").read_bytes() == (b_out / "metrics.jsonl").read_bytes()


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.parent.name)
def test_every_example_trains_and_its_loss_falls(recipe: Path, tmp_path: Path) -> None:
    assert main(["run", str(recipe), "--backend", "reference", "--out", str(tmp_path), "--quiet"]) == 0
    recs = _records(tmp_path)
    first = np.mean([r["loss"] for r in recs[:10]])
    last = np.mean([r["loss"] for r in recs[-10:]])
    assert last < 0.7 * first, f"{recipe.parent.name}: loss {first:.4f} -> {last:.4f}"
    assert [r["step"] for r in recs] == list(range(1, len(recs) + 1))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backend"] == "reference" and report["steps"] == len(recs) and report["status"] == "ok"
    assert len(report["recipe_hash"]) == 64 and report["timings"]["step_median_ms"] > 0
    assert "loss" in report["final_metrics"]
    svg = ElementTree.parse(tmp_path / "loss.svg").getroot()
    assert svg.tag.endswith("svg") and any(e.tag.endswith("path") for e in svg.iter())


TINY = tiny_recipe(
    layers="\n    - {type: dense, units: 16}\n    - {type: relu}\n    - {type: dropout, rate: 0.1}"
           "\n    - {type: dense, units: 3}",
    samples=120, data="  preprocessing: [{type: standardize}]\n  split: {validation: 0.25}\n", steps=60,
    tail="evaluation: {every: 10, metrics: [loss, accuracy]}\ncheckpoint: {every: 20, keep: 2}\n")


def _tiny(tmp_path: Path, text: str = TINY) -> Path:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(text)
    return recipe


def test_tiny_recipe_trains_and_writes_well_formed_outputs(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), "--quiet"]) == 0
    assert "tiny: 60 steps on reference" in capsys.readouterr().out
    recs = _records(out)
    assert [r["step"] for r in recs] == list(range(1, 61)) and recs[0]["epoch"] == 0 and recs[-1]["epoch"] == 9
    assert all({"step", "epoch", "loss", "lr"} <= r.keys() and r["lr"] == 0.02 for r in recs)
    assert [r["step"] for r in recs if "eval" in r] == [10, 20, 30, 40, 50, 60]
    evals = [r["eval"] for r in recs if "eval" in r]
    assert evals[-1]["loss"] < evals[0]["loss"] and evals[-1]["accuracy"] > 0.8
    report = json.loads((out / "report.json").read_text())
    assert report["final_metrics"] == evals[-1] and report["evaluated_on"] == "validation"
    assert report["dtype"] == "float64" and report["versions"]["compute_dtype"] == "float64"
    assert report["device"] == "cpu" and report["timings"]["total_s"] > 0 and report["steps"] == 60
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000040.npz", "step-00000060.npz"]
    meta, params, state = _final(out)
    assert meta["step"] == 60 and meta["history"] == recs and meta["recipe_hash"] == report["recipe_hash"]
    assert "dense_0.weight" in params and "exp_avg" in state["dense_0.weight"]
    svg = ElementTree.parse(out / "loss.svg").getroot()
    texts = [e.text for e in svg.iter() if e.tag.endswith("text")]
    assert "optimizer step" in texts and any(t and t.startswith("loss") for t in texts)
    assert sum(e.tag.endswith("circle") for e in svg.iter()) >= 6  # eval points (+ legend)


def test_recipe_hash_ignores_spelling_but_not_meaning(tmp_path: Path) -> None:
    a = prepare_run(_tiny(tmp_path))
    loss = "loss: {type: sparse_categorical_crossentropy, from_logits: true"
    spelled = "# the same recipe, spelled differently\n" + TINY.replace(loss + "}", loss + ", reduction: mean}")
    b = prepare_run(_tiny(tmp_path, spelled))
    c = prepare_run(_tiny(tmp_path, TINY.replace("learning_rate: 0.02", "learning_rate: 0.03")))
    assert a.recipe_hash == b.recipe_hash != c.recipe_hash


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
    recs = _records(out)
    failed = len(recs) + 1
    assert f"step {failed}: non-finite " in err and "Traceback" not in err
    assert "non-finite loss" in err or "non-finite gradient of " in err
    ckpts = sorted((out / "checkpoints").glob("*.npz"))
    assert ckpts and f"last good checkpoint, step {len(recs)}" in err
    meta, params, _ = load_checkpoint(ckpts[-1])
    assert all(np.isfinite(v).all() for v in params.values()) and meta["step"] == len(recs) >= 1
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "failed" and f"step {failed}" in report["error"] and report["steps"] == len(recs)
    assert (out / "loss.svg").is_file()


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_parameters_made_non_finite_by_the_last_step_fail_the_run(tmp_path: Path, capsys, backend: str) -> None:
    """A learning rate of 1e308 made every parameter ±inf at the last step: no later loss could say so, and the
    run ended "ok", exit 0, with an evaluation loss of NaN and a checkpoint deploy then refused."""
    if backend == "torch":
        pytest.importorskip("torch")
    recipe = ROOT / "examples" / "inline-model" / "recipe.yaml"
    out = tmp_path / "out"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--steps", "1", "--backend", backend,
                 "--set", "optimizer.learning_rate=1e308"]) == 1
    err = capsys.readouterr().err
    assert "step 1: non-finite parameter `" in err and "after the update" in err, err
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "failed" and not (out / "checkpoints").exists()


def test_a_backend_alias_is_the_backend_in_folders_checkpoints_and_reports(tmp_path: Path, monkeypatch,
                                                                            capsys) -> None:
    """`--backend PyTorch` then `--backend torch --resume`: the resume said the checkpoint came from another
    backend (`PyTorch`), and the default folder depended on the spelling."""
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    recipe = ROOT / "examples" / "inline-model" / "recipe.yaml"
    assert main(["run", str(recipe), "--backend", "PyTorch", "--quiet", "--steps", "2",
                 "--set", "checkpoint={every: 1}"]) == 0
    assert main(["run", str(recipe), "--backend", "torch", "--quiet", "--resume", "--set", "checkpoint={every: 1}"
                 ]) == 0
    err = capsys.readouterr().err
    assert "written by" not in err, err
    report = json.loads((tmp_path / "runs" / "inline-model-torch" / "report.json").read_text())
    assert report["backend"] == "torch" and "resumed_from_backend" not in report, report.get("resumed_from_backend")


def test_every_backend_that_trained_a_run_stays_in_its_report_after_any_resume(tmp_path: Path, capsys) -> None:
    """Steps on torch, then two resumes on the reference: the second report named the reference alone, though
    the torch steps are in its parameters (sweep R, F5). Each checkpoint carries the list; the report says it."""
    pytest.importorskip("torch")
    recipe, out = ROOT / "examples" / "inline-model" / "recipe.yaml", tmp_path / "run"
    every = ["--set", "checkpoint={every: 1}", "--quiet", "--out", str(out)]
    assert main(["run", str(recipe), "--backend", "torch", "--steps", "2", *every]) == 0
    assert "trained_by" not in json.loads((out / "report.json").read_text())  # one backend: no list
    assert main(["run", str(recipe), "--backend", "reference", "--steps", "3", "--resume", *every]) == 0
    assert main(["run", str(recipe), "--backend", "reference", "--steps", "4", "--resume", *every]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["trained_by"] == [{"backend": "torch", "replicas": 1}, {"backend": "reference", "replicas": 1}]
    assert (report["backend"], report["resumed_from"]) == ("reference", 3) and "resumed_from_backend" not in report
    capsys.readouterr()


def test_bad_input_never_tracebacks(tmp_path: Path, capsys) -> None:
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    (tmp_path / "bad.yaml").write_text("apiVersion: lockstep/v1\nkind: Recipe\nmetadata: {name: x}\nseed: -1\n")
    assert main(["run", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:4:" in err and "not valid" in err  # diagnostics with file and line
    assert main(["run", str(RECIPES[0]), "--backend", "nope"]) == 2
    assert main(["run", str(RECIPES[0]), "--backend", "nosuchmodule:Thing"]) == 2
    assert main(["run", str(RECIPES[0]), "--device", "cuda:7"]) == 2
    assert main(["run", str(RECIPES[0]), "--steps", "0"]) == 2
    assert main(["run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unknown adapter" in err and "CPU only" in err


def test_data_that_does_not_fit_the_model_is_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    text = TINY.replace("{type: synthetic_classification, num_samples: 120, shape: [4], num_classes: 3}",
                        "{type: csv, path: d.csv, target: label, target_type: class_index}")
    assert main(["run", str(_tiny(tmp_path, text)), "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "d.csv" in err and "[2]" in err and "[4]" in err and "Traceback" not in err  # validator or runner


class _Crash(Exception):
    pass


def test_resume_after_a_crash_between_checkpoints_is_bitwise_identical(tmp_path: Path) -> None:
    """In-process: crash at step 47 (checkpoints at 20 and 40), leave a torn metrics line, resume."""
    recipe = _tiny(tmp_path)
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main(["run", str(recipe), "--out", str(full), "--quiet"]) == 0
    prep = prepare_run(recipe)
    _, session = build_session(prep, "reference")
    real = session.train_step

    def crashing(x, y, masks=None):
        if session.step == 47:
            raise _Crash
        return real(x, y, masks=masks)

    session.train_step = crashing  # type: ignore[method-assign]
    with pytest.raises(RunFailed, match="step 48: the `session` adapter's train_step\\(\\) raised _Crash") as failed:
        train(prep, session, out=cut)
    assert isinstance(failed.value.__cause__, _Crash)
    with open(cut / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 48, "epo')  # what a kill mid-write leaves
    assert len(_records(cut.parent / "full")) == 60 and (cut / "checkpoints" / "step-00000040.npz").is_file()
    assert main(["run", str(recipe), "--out", str(cut), "--resume", "--quiet"]) == 0
    _same_state(full, cut)
    assert json.loads((cut / "report.json").read_text())["resumed_from"] == 40


def test_resume_refuses_another_recipe_and_overwrite_drops_old_checkpoints(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), "--quiet"]) == 0
    other = _tiny(tmp_path, TINY.replace("learning_rate: 0.02", "learning_rate: 0.03"))
    assert main(["run", str(other), "--out", str(out), "--resume", "--quiet"]) == 2
    assert "checkpoint is from a different recipe" in capsys.readouterr().err
    assert main(["run", str(other), "--out", str(out), "--steps", "20", "--quiet"]) == 2  # tests/test_runfolder.py
    assert main(["run", str(other), "--out", str(out), "--steps", "20", "--quiet", "--overwrite"]) == 0
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000020.npz"]
    assert len(_records(out)) == 20


def test_resume_with_nothing_to_resume_trains_from_the_start(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), "--resume", "--quiet", "--steps", "5"]) == 0
    assert "nothing to resume" in capsys.readouterr().err and len(_records(out)) == 5


def test_weights_file_is_relative_to_the_model(tmp_path: Path, capsys) -> None:
    models = tmp_path / "models"
    models.mkdir()
    inline = TINY.split("model:\n")[1].split("seed:")[0]
    model = "\n".join(line[2:] for line in inline.splitlines()) + "\n"
    (models / "m.yaml").write_text(model)
    recipe = _tiny(tmp_path, TINY.replace("model:\n" + inline, "model: models/m.yaml\n"))
    drawn = prepare_run(recipe)
    weights = {k: np.full_like(v, 0.5) for k, v in drawn.initial.items()}
    np.savez(models / "w.npz", **weights)
    (models / "m.yaml").write_text(model + "weights: {path: w.npz}\n")
    loaded = prepare_run(recipe)
    assert all(np.array_equal(loaded.initial[k], weights[k]) for k in weights)
    np.savez(models / "w.npz", **{**weights, "dense_0.bias": np.zeros(16)})
    assert len({drawn.recipe_hash, loaded.recipe_hash, prepare_run(recipe).recipe_hash}) == 3  # contents count
    np.savez(models / "w.npz", **{**weights, "extra": np.zeros(1)})
    assert main(["run", str(recipe), "--quiet", "--out", str(tmp_path / "o")]) == 2
    assert "extra" in capsys.readouterr().err  # named by the validator or the runner


def _cmd(recipe: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lockstep", "run", str(recipe), "--out", str(out), *extra]


def test_killed_run_resumes_to_identical_bits(tmp_path: Path) -> None:
    """A real SIGKILL of `python -m lockstep run` after its first checkpoint, then --resume."""
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
    _same_state(full, cut)
    assert [r["step"] for r in _records(cut)] == list(range(1, 3001))


# --------------------------------------------------------------------------------- progress and plot
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_live_bar_on_a_terminal_and_lines_elsewhere() -> None:
    plain = io.StringIO()
    p = Progress(100, label="r", stream=plain)
    for s in range(1, 101):
        p.update(s, 1.0 / s)
    p.close()
    lines = plain.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("r step 100/100 loss 0.01") and "step/s" in lines[-1]
    tty = _Tty()
    p = Progress(100, label="r", stream=tty)
    p.resume(50)
    p.update(100, 0.5)
    p.close()
    assert tty.getvalue().startswith("\rr 100/100 [") and "loss 0.5" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
    quiet = io.StringIO()
    Progress(10, stream=quiet, enabled=False).update(10, 1.0)
    assert quiet.getvalue() == ""


def test_plot_stays_small_for_long_runs() -> None:
    pts = [(float(i), 1.0 + np.sin(i) + 1e-3 * i) for i in range(1, 200_001)]
    svg = line_chart({"train loss": pts}, points={"eval loss": [(1.0, 2.0)]}, title="t & <u>", xlabel="x",
                     ylabel="y", log_y=True)
    root = ElementTree.fromstring(svg)
    assert len(svg) < 200_000 and root.tag.endswith("svg")


def test_a_non_finite_evaluation_is_strict_json_in_metrics_jsonl_and_resumes_to_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """jq and JavaScript reject bare NaN/Infinity: metrics.jsonl writes them as report.json does ("nan", "inf"),
    and a resume reads them back as the floats an uninterrupted run held."""
    import lockstep.runner as runner

    monkeypatch.setattr(runner, "evaluate", lambda prep, session, guard=None: {"loss": float("nan"),
                                                                        "accuracy": float("-inf")})
    recipe, out = _tiny(tmp_path), tmp_path / "out"
    assert main(["run", str(recipe), "--out", str(out), "--quiet"]) == 0

    def refuse(token: str) -> None:
        raise AssertionError(f"bare {token} in metrics.jsonl")

    written = (out / "metrics.jsonl").read_bytes()
    recs = [json.loads(line, parse_constant=refuse) for line in written.decode().splitlines()]
    assert [r["eval"] for r in recs if "eval" in r] == [{"loss": "nan", "accuracy": "-inf"}] * 6
    meta, _, _ = _final(out)
    assert np.isnan(meta["history"][9]["eval"]["loss"]) and meta["history"][9]["eval"]["accuracy"] == -np.inf
    (out / "checkpoints" / "step-00000060.npz").unlink()
    assert main(["run", str(recipe), "--out", str(out), "--resume", "--quiet"]) == 0
    assert (out / "metrics.jsonl").read_bytes() == written
