"""Run folders: locked while a run lives, never clobbered by a new run, never written over an input; outputs that
cannot be written are a clear exit 2 with the run's real outcome still said."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from tests_support import failing_rename_of, tiny_recipe

from lockstep import runner
from lockstep.cli import main
from lockstep.runfolder import LOCK_NAME, RUN_OUTPUTS, FolderError, claim, holder
from lockstep.spec import atomic

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits-mlp"

TINY = tiny_recipe(samples=64, tail="evaluation: {every: 10, metrics: [loss]}\ncheckpoint: {every: 10, keep: 2}\n")


def _recipe(folder: Path, text: str = TINY, name: str = "tiny.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def _run(recipe: Path, out: Path, *extra: str) -> int:
    return main(["run", str(recipe), "--out", str(out), "--quiet", *extra])


def _steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


HOLD = textwrap.dedent("""
    import sys, time
    from lockstep.runfolder import claim
    folder = claim(sys.argv[1], outputs=("metrics.jsonl",), mode="resume", prog="lockstep run")
    print("holding", flush=True)
    time.sleep(600)
""")


@pytest.fixture()
def held(tmp_path: Path):
    """A folder whose lock another live process holds; yields (folder, process)."""
    folder = tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield folder, proc
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------------------------------------ the lock
def test_a_folder_this_process_holds_is_said_so(tmp_path: Path) -> None:
    """A run started from a callback of a run on the same folder named its own pid as "another command"."""
    with claim(tmp_path / "f", outputs=RUN_OUTPUTS), \
            pytest.raises(FolderError, match="is in use by a command still running in this process") as refused:
        claim(tmp_path / "f", outputs=RUN_OUTPUTS, mode="resume")
    assert "another Lockstep command" not in str(refused.value)


def test_certify_refuses_a_busy_report_folder_before_loading_its_adapter(held, capsys) -> None:
    """Fix helper (2026-12-07): certify found a busy --report folder only after the adapter's import (3.5 s for
    torch, more for TensorFlow). An adapter that does not exist shows the order: the folder is said first."""
    folder, proc = held
    assert main(["certify", "--adapter", "no-such-adapter", "--report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"is in use by another Lockstep command: pid {proc.pid} on " in err and "no-such-adapter" not in err, err


def test_a_live_holder_is_named_and_a_dead_one_releases_the_lock(held, capsys) -> None:
    folder, proc = held
    with pytest.raises(FolderError, match=rf"in use by another Lockstep command: pid {proc.pid} on "):
        claim(folder, outputs=RUN_OUTPUTS, mode="resume")
    assert holder(folder)["pid"] == proc.pid and holder(folder)["started"]
    assert _run(_recipe(folder.parent / "r"), folder, "--resume") == 2
    err = capsys.readouterr().err
    assert f"pid {proc.pid}" in err and "Traceback" not in err and not (folder / "metrics.jsonl").exists()
    os.kill(proc.pid, signal.SIGKILL)  # a killed run leaves its lock file behind, but not the lock
    proc.wait()
    with claim(folder, outputs=RUN_OUTPUTS, mode="resume") as mine:
        assert holder(folder)["pid"] == os.getpid() and mine.path == folder
    assert os.listdir(folder) == []  # it held nothing but the dead one's lock: left empty, as by a claim that made it


def test_the_holders_command_line_is_printed_escaped(tmp_path: Path) -> None:
    """The refusal printed the lock file's command line raw, its escape sequences acting on the terminal (a
    recipe named `b\\x1b[2J.yaml`), while the folder's name in the same message was escaped (sweep R, F7)."""
    import fcntl

    folder = tmp_path / "out"
    folder.mkdir()
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another open file: this process's claim is refused as another's is
        os.write(fd, json.dumps({"pid": 1, "host": "h\x07", "started": "now",
                                 "command": "lockstep run b\x1b[2J\x1b[31m.yaml"}).encode())
        with pytest.raises(FolderError) as refused:
            claim(folder, outputs=RUN_OUTPUTS, mode="resume")
    finally:
        os.close(fd)
    assert "pid 1 on h\\x07, started now (`lockstep run b\\x1b[2J\\x1b[31m.yaml`)" in str(refused.value)
    assert str(refused.value).isprintable(), str(refused.value)


def test_two_runs_into_one_folder_at_once_one_wins(tmp_path: Path) -> None:
    """Both exited 0 and left a mix before; now exactly one runs and the other is refused (busy or not empty)."""
    recipe = _recipe(tmp_path, TINY.replace("steps: 20", "steps: 300"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lockstep", "run", str(recipe), "--out", str(out), "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.communicate()[1], p.returncode)[::-1] for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    err = next(e for code, e in results if code == 2)
    assert ("in use by another Lockstep command" in err or "already holds another run" in err), err
    assert _steps(out) == list(range(1, 301))


# ------------------------------------------------------------------------------------- fresh, resume, overwrite
def test_a_fresh_run_never_deletes_another_runs_checkpoints(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(_recipe(tmp_path), out) == 0
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    other = _recipe(tmp_path, TINY.replace("learning_rate: 0.02", "learning_rate: 0.03"), "other.yaml")
    assert _run(other, out, "--steps", "10") == 2
    err = capsys.readouterr().err
    assert "already holds another run (checkpoints/, loss.svg, metrics.jsonl, recipe.resolved.yaml, report.json)" in err
    assert "--resume" in err and "--overwrite" in err
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before == ["step-00000010.npz",
                                                                                 "step-00000020.npz"]


WRITTEN = [n for n in RUN_OUTPUTS if n != "tensorboard"]  # what a run without --tensorboard writes


def test_overwrite_replaces_only_the_previous_runs_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(_recipe(tmp_path), out) == 0
    (out / "notes.txt").write_text("mine")
    (out / ".report.json.abc.tmp").write_text("a killed write's leftover")
    assert _run(_recipe(tmp_path), out, "--steps", "10") == 2
    assert "already holds another run" in capsys.readouterr().err
    assert _run(_recipe(tmp_path), out, "--overwrite", "--steps", "10") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, "notes.txt", *WRITTEN])
    assert (out / "notes.txt").read_text() == "mine" and _steps(out) == list(range(1, 11))
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000010.npz"]


def test_overwrite_keeps_the_previous_run_when_the_new_one_cannot_start(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(_recipe(tmp_path), out) == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert _run(_recipe(tmp_path), out, "--overwrite", "--backend", "nope") == 2
    assert "unknown adapter" in capsys.readouterr().err
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after.keys() == before.keys() and all(after[k] == before[k] for k in before if k != LOCK_NAME)


def test_a_folder_of_other_files_is_refused_unless_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.csv").write_text("1,2\n")
    assert _run(_recipe(tmp_path), out) == 2
    assert "holds files that are not from a Lockstep run (data.csv)" in capsys.readouterr().err
    assert _run(_recipe(tmp_path), out, "--overwrite") == 0 and (out / "data.csv").read_text() == "1,2\n"


KILL_MID_CLEAR = textwrap.dedent("""
    import os, signal, sys
    from lockstep import runfolder
    real = os.rename
    def rename(a, b):
        real(a, b)
        os.kill(os.getpid(), signal.SIGKILL)  # killed after moving the first file of the old run
    os.rename = rename
    runfolder.claim(sys.argv[1], outputs=runfolder.RUN_OUTPUTS, mode="overwrite").start()
""")


def test_a_kill_during_overwrite_never_leaves_a_mix(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    recipe = _recipe(tmp_path)
    assert _run(recipe, out) == 0
    proc = subprocess.run([sys.executable, "-c", KILL_MID_CLEAR, str(out)])
    assert proc.returncode == -signal.SIGKILL
    left = sorted(p.name for p in out.iterdir())
    assert ".lockstep-clearing" in left and len([n for n in left if n in RUN_OUTPUTS]) == len(WRITTEN) - 1, left
    # whatever comes next finishes the removal first: here a --resume, which then has nothing to resume
    assert _run(recipe, out, "--resume", "--steps", "10") == 0
    err = capsys.readouterr().err
    assert "finished removing a previous run's files" in err and "nothing to resume" in err
    assert _steps(out) == list(range(1, 11)) and [p.name for p in (out / "checkpoints").iterdir()] == [
        "step-00000010.npz"]
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, *WRITTEN])


@pytest.mark.parametrize("planned", [["notes.txt"], [".."], ["."], ["../elsewhere.txt"], {"a": 1}, 5])
def test_a_clearing_marker_removes_only_a_run_s_own_files(planned: object, tmp_path: Path) -> None:
    """A hand-written `.lockstep-clearing` naming notes.txt removed it (--overwrite removes only a run's files);
    one naming `..` left the folder unusable (every later command: "Device or resource busy")."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (tmp_path / "elsewhere.txt").write_text("mine too\n")
    (out / "metrics.jsonl").write_text("{}\n")
    (out / ".lockstep-clearing").write_text(json.dumps(planned))
    folder = claim(out, outputs=RUN_OUTPUTS, mode="resume")
    folder.release()  # it wrote nothing after the claim: the lock file it made goes too
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"], list(out.iterdir())
    assert (tmp_path / "elsewhere.txt").is_file()
    claim(out, outputs=RUN_OUTPUTS, mode="resume").release()  # usable again


def test_resume_with_nothing_to_resume_says_so_before_training(tmp_path: Path, capsys, monkeypatch) -> None:
    real = runner.train
    said: list[str] = []

    def train(*args, **kw):
        said.append(capsys.readouterr().err)
        return real(*args, **kw)

    monkeypatch.setattr(runner, "train", train)
    out = tmp_path / "out"
    assert _run(_recipe(tmp_path), out, "--resume", "--steps", "5") == 0
    assert len(said) == 1 and f"nothing to resume in {out} (no checkpoint); training from step 0" in said[0]
    no_ckpt = _recipe(tmp_path, TINY.replace("checkpoint: {every: 10, keep: 2}\n", ""), "nock.yaml")
    assert _run(no_ckpt, tmp_path / "o2", "--resume") == 0
    assert "the recipe writes no checkpoints" in said[1]


def test_resume_with_nothing_to_resume_never_replaces_a_finished_run_or_foreign_files(tmp_path: Path,
                                                                                      capsys) -> None:
    """--resume into another recipe's finished run that wrote no checkpoints replaced it from step 0 with exit 0
    (without --resume it is refused), and wrote a run beside someone's notes.txt, which a fresh run refuses."""
    no_ckpt = _recipe(tmp_path, TINY.replace("checkpoint: {every: 10, keep: 2}\n", ""), "nock.yaml")
    out = tmp_path / "out"
    assert _run(no_ckpt, out) == 0
    before = (out / "report.json").read_bytes()
    capsys.readouterr()
    assert _run(_recipe(tmp_path), out, "--resume", "--steps", "5") == 2
    err = capsys.readouterr().err
    assert f"--resume: nothing to resume in {out} (no checkpoint), and it holds a finished run (loss.svg, " \
           "metrics.jsonl, recipe.resolved.yaml, report.json); replace it with --overwrite" in err, err
    assert (out / "report.json").read_bytes() == before
    assert _run(no_ckpt, out, "--resume") == 2  # its own recipe too: training again from 0 is --overwrite's
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    capsys.readouterr()
    assert _run(_recipe(tmp_path), foreign, "--resume") == 2
    assert "holds files that are not from a Lockstep run (notes.txt); choose another --out, or --overwrite to " \
           "write beside them" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def _files(out: Path) -> dict[str, bytes]:
    """The run's files below `out` by name (the lock file aside: a refused claim writes its holder into it)."""
    return {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME}


def test_resume_of_a_recipe_without_checkpoints_refuses_another_recipes_checkpoints(tmp_path: Path,
                                                                                      capsys) -> None:
    """A run killed after its checkpoints, resumed with its `checkpoint:` section dropped (another recipe), trained
    the other recipe from step 0 into the folder beside the first one's checkpoints, exit 0; a later --resume of
    the first continued over it without a word (sweep R, F8)."""
    out = tmp_path / "out"
    assert _run(_recipe(tmp_path), out, "--steps", "10") == 0
    (out / "report.json").unlink()  # as a kill leaves it: checkpoints, metrics, no report
    before = _files(out)
    no_ckpt = _recipe(tmp_path, TINY.replace("checkpoint: {every: 10, keep: 2}\n", ""), "nock.yaml")
    capsys.readouterr()
    assert _run(no_ckpt, out, "--resume") == 2
    err = capsys.readouterr().err
    assert f"--resume: {out} holds checkpoints of another recipe (checkpoints/step-00000010.npz), and this recipe " \
           "writes none (no `checkpoint:` section); continue that run with its own recipe, replace it with " \
           "--overwrite, or choose another --out" in err, err
    assert "Traceback" not in err and _files(out) == before
    assert _run(no_ckpt, out, "--resume", "--set", "checkpoint=null") == 2  # the override spelling too
    assert _run(no_ckpt, out, "--overwrite") == 0 and not (out / "checkpoints").exists()


def test_resume_refuses_a_checkpoints_folder_that_is_a_symbolic_link(tmp_path: Path, capsys) -> None:
    """RUN/checkpoints linked to another run's: --resume resumed from that run's checkpoint, wrote into it and
    pruned its checkpoints, without its lock (sweep R, F3); tensorboard/ as a link was refused already."""
    other, out = tmp_path / "other", tmp_path / "out"
    assert _run(_recipe(tmp_path), other, "--steps", "10") == 0
    before = sorted((p.name, p.read_bytes()) for p in (other / "checkpoints").iterdir())
    out.mkdir()
    (out / "checkpoints").symlink_to(other / "checkpoints")
    capsys.readouterr()
    for recipe in (_recipe(tmp_path), _recipe(tmp_path, TINY.replace("checkpoint: {every: 10, keep: 2}\n", ""),
                                              "nock.yaml")):
        assert _run(recipe, out, "--resume") == 2
        err = capsys.readouterr().err
        assert f"--resume: {out / 'checkpoints'} is a symbolic link; a resume writes and prunes the checkpoints in " \
               "it, so it must be a folder of the run's own; remove the link, or choose another --out" in err, err
    assert sorted((p.name, p.read_bytes()) for p in (other / "checkpoints").iterdir()) == before
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints"]
    (out / "checkpoints").unlink()
    shutil.copytree(other / "checkpoints", out / "checkpoints")
    for name in ("metrics.jsonl", "report.json", "recipe.resolved.yaml", "loss.svg"):  # refused before training
        (out / name).symlink_to(other / name)
        assert _run(_recipe(tmp_path), out, "--resume") == 2
        err = capsys.readouterr().err
        assert f"--resume: {out / name} is a symbolic link; a resume replaces the run's files and never writes " \
               "through a link (found now, not after training)" in err, err
        (out / name).unlink()


def test_temporaries_of_killed_writes_are_removed_by_the_next_run(tmp_path: Path, capsys) -> None:
    """A SIGKILL during an atomic write (a checkpoint, the report) left its temporary, which no later --resume
    removed: they piled up run after run (sweep R, F2). Only the atomic writer's own names go."""
    out = tmp_path / "out"
    assert _run(_recipe(tmp_path), out, "--steps", "10") == 0
    stale = [out / "checkpoints" / ".step-00000020.npz.2f0jmf8h.tmp", out / ".report.json.k3j_x9a2.tmp",
             out / ".metrics.jsonl.4242-deadbeef.old.tmp"]
    kept = [out / ".notes.txt.abcdefgh.tmp", out / "checkpoints" / ".mine.tmp", out / ".report.json.tmp"]
    for p in stale + kept:
        p.write_bytes(b"partial")
    (out / ".loss.svg.linkedxx.tmp").symlink_to(tmp_path / "tiny.yaml")  # a link so named: not a temporary
    capsys.readouterr()
    assert _run(_recipe(tmp_path), out, "--resume") == 0
    err = capsys.readouterr().err
    assert f"{out}: removed 3 temporary files of a write that was interrupted (.metrics.jsonl.4242-deadbeef.old.tmp, " \
           ".report.json.k3j_x9a2.tmp, checkpoints/.step-00000020.npz.2f0jmf8h.tmp)" in err, err
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert (out / ".loss.svg.linkedxx.tmp").is_symlink()
    fresh = tmp_path / "fresh"  # a fresh run into a folder holding only such a temporary
    fresh.mkdir()
    (fresh / ".report.json.k3j_x9a2.tmp").write_bytes(b"partial")
    assert _run(_recipe(tmp_path), fresh, "--steps", "3") == 0
    assert not (fresh / ".report.json.k3j_x9a2.tmp").exists() and "removed 1 temporary file " in capsys.readouterr().err


# ------------------------------------------------------------------------------------ outputs never over inputs
def test_an_output_never_overwrites_an_input(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "w"
    shutil.copytree(DIGITS, folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    (folder / "recipe.yaml").unlink()
    (folder / "report.json").write_text(json.dumps(recipe))  # `lockstep run report.json --out .`
    before = (folder / "report.json").read_bytes()
    for extra in ((), ("--overwrite",), ("--resume",)):
        assert _run(folder / "report.json", folder, *extra) == 2
        err = capsys.readouterr().err
        assert f"{folder / 'report.json'} would overwrite the input" in err, err
    assert (folder / "report.json").read_bytes() == before and not (folder / "metrics.jsonl").exists()
    # the model file inside the folder that holds the checkpoints: --overwrite would have removed it
    (folder / "report.json").unlink()
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (folder / "checkpoints").mkdir()
    (folder / "model.yaml").rename(folder / "checkpoints" / "model.yaml")
    text = (folder / "recipe.yaml").read_text().replace("model: model.yaml", "model: checkpoints/model.yaml")
    (folder / "recipe.yaml").write_text(text)
    assert _run(folder / "recipe.yaml", folder, "--overwrite") == 2
    assert "holds the input" in capsys.readouterr().err and (folder / "checkpoints" / "model.yaml").is_file()


def test_data_and_weights_files_are_inputs_too(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "w"
    shutil.copytree(ROOT / "examples" / "csv-binary", folder)
    text = (folder / "recipe.yaml").read_text()
    assert "points.csv" in text
    (folder / "points.csv").rename(folder / "metrics.jsonl")
    (folder / "recipe.yaml").write_text(text.replace("points.csv", "metrics.jsonl"))
    assert _run(folder / "recipe.yaml", folder, "--overwrite") == 2
    assert "would overwrite the input" in capsys.readouterr().err and (folder / "metrics.jsonl").stat().st_size


# ------------------------------------------------------------------------------------------- bad --out values
def test_bad_out_values_are_exit_2_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "prepare_sessions", lambda *a, **k: pytest.fail("trained despite a bad --out"))
    recipe = _recipe(tmp_path)
    (tmp_path / "file").write_text("")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    os.symlink("nowhere", tmp_path / "dangling")
    os.symlink("loop", tmp_path / "loop")
    cases = {
        "": "--out is empty",
        "  ": "--out is empty",
        str(tmp_path / "file"): "exists and is not a folder",
        str(tmp_path / "file" / "sub"): "cannot create the folder",  # a path under a regular file: as root too
        str(fifo): "exists and is not a folder",
        # these said "cannot create the folder (File exists)" of a path that shows nothing
        str(tmp_path / "dangling"): "it is a broken symbolic link (to 'nowhere', which does not exist)",
        str(tmp_path / "dangling" / "sub"): "dangling is a broken symbolic link (to 'nowhere'",
        str(tmp_path / "loop"): "it is a broken symbolic link (to 'loop', a loop of links); remove the link, or",
    }
    for value, message in cases.items():
        assert main(["run", str(recipe), "--out", value, "--quiet"]) == 2, value
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (value, err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the path-under-a-file case "
                                              "of test_bad_out_values_are_exit_2_before_any_work covers root")
def test_read_only_folder_is_exit_2(tmp_path: Path, capsys) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert _run(_recipe(tmp_path), ro / "out") == 2
        assert _run(_recipe(tmp_path), ro) == 2
        err = capsys.readouterr().err
        assert "Permission denied" in err and "Traceback" not in err
    finally:
        ro.chmod(0o755)


def test_lock_file_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / LOCK_NAME).mkdir(parents=True)
    with pytest.raises(FolderError, match="is not a regular file"):
        claim(out, outputs=RUN_OUTPUTS)
    shutil.rmtree(out)
    out.mkdir()
    (out / LOCK_NAME).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FolderError, match="symbolic link"):
        claim(out, outputs=RUN_OUTPUTS)
    assert not (tmp_path / "elsewhere").exists()


# ------------------------------------------------------------------------------------- outputs that fail late
BAD_LR = TINY.replace("optimizer: {type: adam, learning_rate: 0.02}", "optimizer: {type: sgd, learning_rate: 1.0e+30}")


def test_sgd_at_lr_1e30_says_non_finite_loss_and_still_plots(tmp_path: Path, capsys) -> None:
    """Its losses reach ~1e300 before inf: the plot overflowed and its traceback hid the run's outcome."""
    out = tmp_path / "out"
    assert _run(_recipe(tmp_path, BAD_LR), out) == 1
    err = capsys.readouterr().err
    assert "non-finite" in err and "Traceback" not in err and "OverflowError" not in err
    assert ElementTree.parse(out / "loss.svg").getroot().tag.endswith("svg")
    assert json.loads((out / "report.json").read_text())["status"] == "failed"


def test_report_that_cannot_be_written_is_exit_2_and_the_outcome_is_said(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    recipe = _recipe(tmp_path)
    assert _run(recipe, out, "--steps", "10") == 0
    (out / "report.json").unlink()
    (out / "report.json").mkdir()  # report.json is a folder
    assert _run(recipe, out, "--resume") == 2
    captured = capsys.readouterr()
    assert "tiny: 20 steps on reference (resumed at step 10)" in captured.out
    # the file in the way is named, not the temporary written beside it (`.report.json.x1y2.tmp`)
    assert f"cannot write the report in {out} ({out / 'report.json'}): Is a directory" in captured.err, captured.err
    assert "Traceback" not in captured.err
    (out / "metrics.jsonl").unlink()
    (out / "metrics.jsonl").mkdir()
    assert _run(recipe, out, "--resume") == 2
    err = capsys.readouterr().err
    assert f"cannot write in {out} ({out / 'metrics.jsonl'}): Is a directory; the last complete checkpoint is kept " \
           "(remove the cause, then continue with --resume)" in err, err


def test_an_atomic_write_that_fails_names_the_file_it_writes(tmp_path: Path, monkeypatch) -> None:
    """A full disk fails the write or the fsync (an error with no file name): the message named no file."""
    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as exc:
        atomic.write_text(tmp_path / "step.txt", "x")
    assert (exc.value.errno, exc.value.filename) == (28, str(tmp_path / "step.txt"))
    assert list(tmp_path.iterdir()) == []  # the temporary went


def test_disk_full_is_exit_2_and_the_outcome_is_said(tmp_path: Path, capsys, monkeypatch) -> None:
    real = atomic.write_bytes

    def full(path, data):
        if Path(path).name in ("report.json", "loss.svg"):
            raise OSError(28, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(atomic, "write_bytes", full)
    assert _run(_recipe(tmp_path), tmp_path / "ok") == 2
    captured = capsys.readouterr()
    assert "tiny: 20 steps on reference" in captured.out and "No space left on device" in captured.err
    assert _run(_recipe(tmp_path, BAD_LR), tmp_path / "failed") == 2  # a failed run: its failure is still said
    captured = capsys.readouterr()
    assert "non-finite" in captured.err and "No space left on device" in captured.err
    assert "Traceback" not in captured.err


def test_a_disk_full_before_the_first_step_is_exit_2_not_an_internal_error(tmp_path: Path, capsys,
                                                                           monkeypatch) -> None:
    """recipe.resolved.yaml is written before training, outside the guard that says a full disk mid-run: a disk
    with no room for it gave "internal error (OSError: ...)", exit 1."""
    real = atomic.write_bytes

    def full(path, data):
        if Path(path).name == "recipe.resolved.yaml":
            raise OSError(28, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(atomic, "write_bytes", full)
    out = tmp_path / "out"
    assert _run(_recipe(tmp_path), out) == 2
    err = capsys.readouterr().err
    assert f"cannot write in {out} ({out / 'recipe.resolved.yaml'}): No space left on device; nothing was " \
           "trained" in err, err
    assert "internal error" not in err and not out.exists()


def _full_after(room: int):
    """metrics.jsonl's appends on a disk that fills after `room` lines: write() then fails, as a real full disk's
    does, with no file name."""
    real, left = atomic.LineLog.write, [room]

    def write(self, line: str) -> None:
        if left[0] <= 0:
            raise OSError(28, "No space left on device")
        left[0] -= 1
        real(self, line)

    return write


@pytest.mark.parametrize("room, kept", [(5, "no checkpoint was written yet"),
                                        (15, "the last complete checkpoint is kept")])
def test_a_full_disk_mid_run_names_metrics_jsonl_and_what_is_kept(tmp_path: Path, capsys, monkeypatch,
                                                                 room: int, kept: str) -> None:
    """A write() to the open log fails with no file name ("cannot write in OUT: No space left on device"), and the
    message said "the last complete checkpoint is kept" of a run that had written none. Resumed once there is
    room, the run ends as one that was never stopped."""
    out = tmp_path / "out"
    monkeypatch.setattr(atomic.LineLog, "write", _full_after(room))
    assert _run(_recipe(tmp_path), out) == 2
    err = capsys.readouterr().err
    assert f"cannot write in {out} ({out / 'metrics.jsonl'}): No space left on device; {kept} (remove the cause, " \
           "then continue with --resume)" in err, err
    monkeypatch.undo()
    assert _run(_recipe(tmp_path), out, "--resume") == 0
    assert _steps(out) == list(range(1, 21))


def test_a_file_size_limit_mid_line_leaves_metrics_jsonl_whole(tmp_path: Path) -> None:
    """Under `ulimit -f` (or a full disk) a buffered metrics.jsonl was flushed in part: the file ended in half a
    JSON line, and a recipe without checkpoints was told to "continue with --resume" (sweep R, F6)."""
    recipe = _recipe(tmp_path, TINY.replace("checkpoint: {every: 10, keep: 2}\n", ""), "nock.yaml")
    out = tmp_path / "out"
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500)); "
            "from lockstep.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "run", str(recipe), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"cannot write in {out} ({out / 'metrics.jsonl'}): File too large; the recipe writes no checkpoints, " \
           "so there is nothing to resume (remove the cause, then run it again with --overwrite)" in done.stderr
    text = (out / "metrics.jsonl").read_text()
    assert text.endswith("\n") and 0 < len(text) <= 1500 and "Traceback" not in done.stderr
    assert [json.loads(line)["step"] for line in text.splitlines()] == list(range(1, text.count("\n") + 1))


def test_a_run_refused_by_its_backend_leaves_no_folder_behind(tmp_path: Path, capsys) -> None:
    out = tmp_path / "new"
    assert main(["run", str(_recipe(tmp_path)), "--out", str(out), "--backend", "nope", "--quiet"]) == 2
    assert "unknown adapter" in capsys.readouterr().err and not out.exists()
    out.mkdir()  # a folder that was there before stays, as it was: without the lock file the run made
    assert main(["run", str(_recipe(tmp_path)), "--out", str(out), "--backend", "nope", "--quiet"]) == 2
    assert list(out.iterdir()) == [] and holder(out) is None
    assert _run(_recipe(tmp_path), out) == 0  # and counts as empty


def test_a_run_refused_after_its_claim_leaves_the_folder_as_it_found_it(tmp_path: Path, capsys) -> None:
    """A --resume refused late (the checkpoint is another recipe's, found once the backend was built) left a
    .lockstep.lock in a run folder that had none (copied, restored from a backup); so did a refused backend."""
    recipe, out = _recipe(tmp_path), tmp_path / "out"
    assert _run(recipe, out) == 0
    (out / LOCK_NAME).unlink()
    before = sorted(p.name for p in out.iterdir())
    assert _run(recipe, out, "--resume", "--set", "optimizer.learning_rate=0.5") == 2
    assert "from a different recipe" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before
    assert _run(recipe, out, "--resume", "--backend", "nope") == 2
    assert sorted(p.name for p in out.iterdir()) == before
    assert _run(recipe, out, "--resume") == 0  # and resumes from it


@pytest.mark.parametrize("argv", [
    ["run", "{recipe}", "--quiet", "--out", "{bad}"],
    ["compare", "{recipe}", "--backends", "reference", "--out", "{bad}"],
    ["certify", "--adapter", "reference", "--examples", "1", "--level", "1", "--report", "{bad}"],
    ["migrate", "{recipe}", "--out", "{bad}"],
    ["deploy", "{recipe}", "--environment", "{env}", "--weights", "{recipe}", "--out", "{bad}"],
])
def test_an_output_folder_the_os_cannot_name_is_a_usage_error(argv: list[str], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A 300-character name (ENAMETOOLONG) went past Path.exists as an OSError: a traceback, exit 1."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(tiny_recipe())
    bad = str(tmp_path / ("x" * 300) / "sub")
    env = ROOT / "examples" / "onnx-cpu.environment.yaml"
    code = main([a.format(recipe=recipe, bad=bad, env=env) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "File name too long" in err, (code, err)


@pytest.mark.parametrize("how", ["moved", "removed"])
def test_a_run_folder_that_goes_mid_run_stops_the_run(how: str, tmp_path: Path, capsys,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving or removing the folder mid-run made the next checkpoint write recreate it (unlocked, with no
    metrics.jsonl) and the run ended 0 with its files in two places."""
    out = tmp_path / "out"
    real = runner.save_checkpoint
    calls = []

    def save(folder: Path, step: int, *args: object, **kw: object) -> Path:
        written = real(folder, step, *args, **kw)
        calls.append(step)
        if len(calls) == 1:  # after the first checkpoint, the folder goes
            if how == "moved":
                out.rename(tmp_path / "elsewhere")
            else:
                shutil.rmtree(out)
        return written

    monkeypatch.setattr(runner, "save_checkpoint", save)
    recipe = _recipe(tmp_path, TINY.replace("checkpoint: {every: 10, keep: 2}", "checkpoint: {every: 5, keep: 5}"))
    code = _run(recipe, out)
    err = capsys.readouterr().err
    said = (f"{out} was moved to {tmp_path / 'elsewhere'} while the run held it; the run stopped at step 10 rather "
            f"than write that step's checkpoint" if how == "moved" else
            f"{out} was removed while the run held it; the run stopped at step 10 rather than write")
    assert code == 2 and said in err, (code, err)
    assert (f"what it wrote before is in {tmp_path / 'elsewhere'}" in err) == (how == "moved"), err
    assert not out.exists() and calls == [5], calls  # nothing recreated; the second checkpoint not written


SAME = "lockstep.conformance.mutants._base:MutantAdapter"  # the reference under another name: agrees


def _then_gone(real: Callable[..., object], out: Path, elsewhere: Path, how: str) -> Callable[..., object]:
    """`real`, after which its command's folder is moved away (`mv out elsewhere`) or removed."""

    def call(*args: object, **kw: object) -> object:
        result = real(*args, **kw)
        out.rename(elsewhere) if how == "moved" else shutil.rmtree(out)
        return result

    return call


@pytest.mark.parametrize("how", ["moved", "removed"])
def test_a_run_folder_that_goes_after_the_last_step_says_the_run_trained(
        how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A run without checkpoints whose folder was moved (`mv out elsewhere`) trained every step, then said "the
    run stopped rather than start a second, unlocked folder" and "outputs in out/", a folder that was no more."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    monkeypatch.setattr(runner, "train", _then_gone(runner.train, out, elsewhere, how))
    code = _run(_recipe(tmp_path, TINY.replace("checkpoint: {every: 10, keep: 2}\n", "")), out)
    printed = capsys.readouterr()
    assert code == 2 and "Traceback" not in printed.err and "stopped" not in printed.err, printed.err
    where = f"moved to {elsewhere}" if how == "moved" else "removed"
    assert (f"lockstep run: {out} was {where} while the run held it; its report.json and loss.svg were not written, "
            f"rather than into a second, unlocked folder of that name") in printed.err, printed.err
    assert "tiny: 20 steps on reference" in printed.out, printed.out
    assert (f"outputs in {elsewhere}/" if how == "moved" else "no outputs kept") in printed.out, printed.out
    assert not out.exists()
    if how == "moved":
        assert _steps(elsewhere) == list(range(1, 21)) and not (elsewhere / "report.json").exists()


@pytest.mark.parametrize("how", ["moved", "removed"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_compare_folder_that_goes_mid_comparison_is_said_as_the_comparison_s(
        how: str, overwrite: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`mv out elsewhere` while `lockstep compare --out out` ran: it said "... while the run wrote into it; the run
    stopped", `lockstep run`'s words, of a comparison that had finished. Now the comparison's words, its result
    printed, its files in neither folder, exit 2; with --overwrite the earlier comparison's files are left as
    they were, not removed from the folder that went."""
    from lockstep import api

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    recipe = _recipe(tmp_path, tiny_recipe(steps=3))
    argv = ["compare", str(recipe), "--backends", f"reference,{SAME}", "--quiet", "--out", str(out)]
    if overwrite:
        assert main(argv) == 0
        capsys.readouterr()
    earlier = sorted(p.name for p in out.iterdir()) if overwrite else []
    monkeypatch.setattr(api, "compare", _then_gone(api.compare, out, elsewhere, how))
    code = main([*argv, *(["--overwrite"] if overwrite else [])])
    printed = capsys.readouterr()
    where = f"moved to {elsewhere}" if how == "moved" else "removed"
    assert code == 2 and "Traceback" not in printed.err and "run" not in printed.err, printed.err
    assert (f"lockstep compare: {out} was {where} while the comparison held it; compare.json and compare.svg were "
            "not written, rather than into a second, unlocked folder of that name; the result is on standard "
            "output") in printed.err, printed.err
    assert "verdict (re-synchronized, judged)" in printed.out, printed.out
    assert not out.exists()
    if how == "moved":
        assert sorted(p.name for p in elsewhere.iterdir()) == (earlier or [LOCK_NAME])


def test_a_set_of_files_is_written_whole_when_a_signal_arrives_between_two(tmp_path: Path) -> None:
    """A certificate's four reports were renamed one by one: SIGTERM between two left two runs' reports side by
    side (8 of 8 tries). The signal is acted on once the set is in place."""
    order: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: order.append(f"handled with {sorted(os.listdir(tmp_path))}"))
    try:
        (tmp_path / "a").write_text("old")
        (tmp_path / "b").write_text("old")

        def before() -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            order.append("renaming")

        atomic.write_set({tmp_path / "a": b"new", tmp_path / "b": b"new"}, before=before)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert order == ["renaming", "handled with ['a', 'b']"], order
    assert (tmp_path / "a").read_text() == (tmp_path / "b").read_text() == "new"


@pytest.mark.parametrize("linkable", [True, False])
def test_a_set_whose_rename_fails_part_way_is_put_back_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             linkable: bool) -> None:
    """deploy's four outputs were four writes: a `deploy.json` that could not be replaced (immutable, read-only)
    left a new model.onnx beside the old reports, which still said PASS for other weights. A failed rename now
    undoes the renames before it (kept as hard links); a file that cannot be linked is renamed first."""
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text(f"old {name}")
    failing_rename_of(monkeypatch, "b")
    if not linkable:
        real_link = os.link
        monkeypatch.setattr(atomic.os, "link", lambda src, dst, *a, **k: (
            (_ for _ in ()).throw(PermissionError(1, "Operation not permitted")) if Path(src).name == "b"
            else real_link(src, dst, *a, **k)))
    with pytest.raises(PermissionError) as info:
        atomic.write_set({tmp_path / "a": b"new", tmp_path / "new-file": b"new", tmp_path / "b": b"new",
                          tmp_path / "c": b"new"})
    assert info.value.filename == str(tmp_path / "b"), info.value
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"a": "old a", "b": "old b", "c": "old c"}


@pytest.mark.parametrize("argv", [
    ["run", "{bad}"],
    ["compare", "{bad}", "--backends", "reference,torch"],
    ["migrate", "{bad}"],
    ["validate", "{bad}"],
    ["deploy", "{recipe}", "--environment", "{bad}", "--weights", "{recipe}"],
])
def test_an_input_the_os_cannot_name_is_said_not_a_traceback(argv: list[str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe(tmp_path)
    bad = str(tmp_path / ("x" * 300 + ".yaml"))
    code = main([a.format(recipe=recipe, bad=bad) for a in argv])
    err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err.err and "File name too long" in err.out + err.err, (code, err)


@pytest.mark.parametrize("args", [["adapters"], ["validate", "{recipe}"],
                                  ["compare", "{recipe}", "--backends", "reference,torch", "--steps", "1",
                                   "--out", "{out}", "-q"]])
def test_a_closed_standard_output_is_no_traceback(args: list[str], tmp_path: Path) -> None:
    """`lockstep validate x.yaml >&-`: Python's sys.stdout is None, and the first print raised AttributeError; a
    comparison's outputs were lost. Then it exited 0 with its verdict printed nowhere: now it says so and exits 2,
    an I/O error, as `ls >&-` does (1 is a verdict), with the comparison's outputs written."""
    recipe, out = _recipe(tmp_path), tmp_path / "out"
    if args[0] == "compare":
        pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, "-m", "lockstep", *[a.format(recipe=recipe, out=out) for a in args]],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "lockstep: cannot write to standard output: it is closed"
    if args[0] == "compare":
        assert {p.name for p in out.iterdir()} >= {"compare.json", "compare.svg"}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_standard_error_that_refuses_writes_does_not_stop_a_run(tmp_path: Path) -> None:
    """`2>/dev/full` (or `2>&1 | head -1`): the first progress line raised, and the run stopped there with exit 1,
    said as the run folder's "no space left" (no checkpoint, no report). Messages and progress are a view: the run
    goes on, quietly, and exits with its own status."""
    recipe, out = _recipe(tmp_path), tmp_path / "out"
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "lockstep", "run", str(recipe), "--out", str(out)],
                              stdout=subprocess.PIPE, stderr=full, text=True, timeout=300)
    assert proc.returncode == 0, proc.returncode
    assert "steps on reference" in proc.stdout, proc.stdout
    assert {"report.json", "metrics.jsonl", "checkpoints", "loss.svg"} <= {p.name for p in out.iterdir()}


def test_compare_refuses_a_folder_holding_another_command_s_outputs(tmp_path: Path, capsys) -> None:
    """`compare --out RUN --overwrite` wrote compare.json beside a run's files (the run folder then refused both)."""
    pytest.importorskip("torch")
    recipe, out = _recipe(tmp_path), tmp_path / "run"
    assert _run(recipe, out, "--steps", "2") == 0
    before = sorted(p.name for p in out.iterdir())
    assert main(["compare", str(recipe), "--backends", "reference,torch", "--steps", "1", "-q", "--out", str(out),
                 "--overwrite"]) == 2
    assert f"--out {out} holds a run's outputs (metrics.jsonl, checkpoints" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.parametrize("mode", [[], ["--overwrite"], ["--resume"]], ids=["fresh", "overwrite", "resume"])
def test_run_refuses_a_certification_s_folder(tmp_path: Path, capsys, mode: list[str]) -> None:
    """`run --out CERT --overwrite` replaced the certificate's report.json and left its junit.xml, report.html and
    report.md beside a run's files (Certificate.read then failed on it); a fresh run called the certificate
    "another run", to continue with --resume."""
    recipe, out = _recipe(tmp_path), tmp_path / "cert"
    assert main(["certify", "--adapter", "reference", "--level", "1", "--dtype", "float64", "--construct", "dense",
                 "--examples", "1", "--report", str(out), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert _run(recipe, out, "--steps", "1", *mode) == 2
    assert f"--out {out} holds a certification's outputs (junit.xml, report.html)" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_run_keeps_a_deployment_beside_it(tmp_path: Path) -> None:
    """A deployment written into its run's folder is no other command's folder to the run: --resume goes on."""
    recipe, out = _recipe(tmp_path), tmp_path / "run"
    assert _run(recipe, out, "--steps", "2") == 0
    (out / "deploy.json").write_text("{}")
    assert _run(recipe, out, "--steps", "3", "--resume") == 0


def test_probes_a_killed_run_left_are_removed_at_the_next_claim(tmp_path: Path) -> None:
    """A kill during --tensorboard's writer check (seconds: TensorFlow's import) left `.lockstep-tensorboard-probe/`,
    and every later run into the folder, --resume included, was refused: "files that are not from a Lockstep run"."""
    recipe, out = _recipe(tmp_path), tmp_path / "run"
    assert _run(recipe, out, "--steps", "2") == 0
    for folder in (out, tmp_path / "fresh"):
        (folder / ".lockstep-tensorboard-probe").mkdir(parents=True)
        (folder / ".lockstep-tensorboard-probe" / "events.out.tfevents.1.host").write_bytes(b"x")
        (folder / ".lockstep-probe-4242").write_bytes(b"")
    assert _run(recipe, out, "--resume") == 0
    assert _run(recipe, tmp_path / "fresh", "--steps", "1") == 0
    for folder in (out, tmp_path / "fresh"):
        assert not [p.name for p in folder.iterdir() if "probe" in p.name], sorted(p.name for p in folder.iterdir())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / ".lockstep-probe-1").write_text("a file of the user's, not empty")
    assert _run(recipe, tmp_path / "mine", "--steps", "1") == 2  # not a probe: left alone, and the folder refused
    assert (tmp_path / "mine" / ".lockstep-probe-1").read_text().startswith("a file")


def test_a_refused_claim_leaves_no_lock_file_in_the_user_s_folder(tmp_path: Path) -> None:
    """A folder refused for holding other files kept a .lockstep.lock with this command's pid and command line."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("x\n")
    with pytest.raises(FolderError, match="files that are not from a Lockstep run"):
        claim(folder, outputs=RUN_OUTPUTS)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    (folder / LOCK_NAME).write_bytes(b"")  # a lock file that was there before (an earlier run's) stays
    with pytest.raises(FolderError):
        claim(folder, outputs=RUN_OUTPUTS)
    assert (folder / LOCK_NAME).exists()


def test_a_run_refused_by_its_backend_leaves_no_empty_parent_folders(tmp_path: Path, monkeypatch, capsys) -> None:
    """Without torch installed, `lockstep run R --backend torch` left an empty `runs/` (the default folder's
    parent, made with it) although the run folder itself was removed."""
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    for name in list(sys.modules):  # as on a machine without torch, whatever this process imported before
        if name.split(".")[0] == "torch" or name.startswith("lockstep.adapters.torch"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.chdir(tmp_path)
    recipe = _recipe(tmp_path)
    for argv in (["--backend", "torch"], ["--backend", "torch", "--out", "deep/er/out"]):
        assert main(["run", str(recipe), "-q", *argv]) == 2
        assert "needs the module `torch`" in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == [recipe.name], list(tmp_path.iterdir())
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "other").mkdir()  # a folder that was there, or holds another's, stays
    assert main(["run", str(recipe), "-q", "--backend", "torch"]) == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["other"]


def test_overwrite_never_removes_a_folder_where_a_file_output_goes(tmp_path: Path, capsys) -> None:
    """`compare --overwrite` removed a folder named compare.svg with everything in it."""
    from lockstep.runfolder import FolderError, claim

    (tmp_path / "compare.svg").mkdir()
    (tmp_path / "compare.svg" / "mine.txt").write_text("keep")
    with pytest.raises(FolderError, match=r"compare\.svg is a folder, where --overwrite would replace a file"):
        claim(tmp_path, outputs=("compare.json", "compare.svg"), mode="overwrite", prog="lockstep compare")
    assert (tmp_path / "compare.svg" / "mine.txt").read_text() == "keep"
    (tmp_path / "checkpoints").mkdir()  # an output that is a folder is still replaced
    folder = claim(tmp_path / "run", outputs=("checkpoints", "metrics.jsonl"), mode="overwrite")
    folder.release()


def test_a_folder_too_deep_for_its_files_is_refused_before_any_work(tmp_path: Path) -> None:
    """An --out of about 4,050 bytes: the folder fitted, a checkpoint's temporary did not; the run stopped with an
    internal error (or, a little shorter, at its first checkpoint)."""
    from lockstep.runfolder import PATH_MAX, FolderError, claim

    deep = tmp_path / "d"
    while len(os.fsencode(deep)) < PATH_MAX - 100:
        deep = deep / ("x" * 200)
    with pytest.raises(FolderError, match="is too long a path"):
        claim(deep, outputs=("metrics.jsonl",))
    assert not (tmp_path / "d").exists()


def test_no_command_writes_into_a_folder_another_command_removes(tmp_path: Path) -> None:
    """RUN/checkpoints and RUN/tensorboard go with `run --overwrite`, REPORT/failures with the next certification:
    outputs put there (a deployment, a run, a report) vanished with them. A folder merely named so is free."""
    from lockstep.runfolder import FolderError, check_out_arg

    run, report = tmp_path / "run", tmp_path / "report"
    (run / "checkpoints").mkdir(parents=True)
    (run / "metrics.jsonl").write_text("")
    (report / "failures").mkdir(parents=True)
    (report / "junit.xml").write_text("")
    for out in (run / "checkpoints", run / "tensorboard" / "a" / "b", report / "failures" / "x"):
        with pytest.raises(FolderError, match="folder outside it"):
            check_out_arg(str(out), "--out", "lockstep run")
    for out in (run / "deploy", report / "more", tmp_path / "checkpoints", tmp_path / "failures" / "x"):
        check_out_arg(str(out), "--out", "lockstep run")  # beside the outputs, or no owner: allowed


@pytest.mark.parametrize(("name", "mode"), [(".report.json.abcdefgh.tmp", "fresh"),
                                            (".metrics.jsonl.abcdefgh.tmp", "overwrite"),
                                            (".loss.svg.12-0123abcd.old.tmp", "resume"),
                                            (".lockstep-old-1-x/d.csv", "overwrite")])
def test_an_input_named_as_a_temporary_the_claim_removes_is_refused(tmp_path: Path, name: str, mode: str) -> None:
    """The claim removes a killed write's temporaries and an interrupted --overwrite's trash: a data file so named
    in --out was deleted (exit 2, "no such data file"; with --overwrite the run trained and exited 0)."""
    data = tmp_path / "o" / name
    data.parent.mkdir(parents=True)
    data.write_bytes(b"keep me")
    with pytest.raises(FolderError, match="is named as a file this command removes"):
        claim(tmp_path / "o", outputs=RUN_OUTPUTS, inputs=[data], mode=mode, prog="lockstep run")  # type: ignore[arg-type]
    assert data.read_bytes() == b"keep me"


def test_a_run_whose_data_is_named_as_a_temporary_keeps_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = "\n".join(f"{i % 3},{i % 5},{i % 7},{i % 2},{i % 3}" for i in range(32))
    data = tmp_path / "o" / ".metrics.jsonl.abcdefgh.tmp"
    data.parent.mkdir()
    data.write_text("a,b,c,d,y\n" + rows + "\n")
    recipe = _recipe(tmp_path, tiny_recipe().replace(
        "source: {type: synthetic_classification, num_samples: 96, shape: [4], num_classes: 3}",
        "source: {type: csv, path: o/.metrics.jsonl.abcdefgh.tmp, target: y, header: true, "
        "target_type: class_index}"))
    assert main(["validate", str(recipe)]) == 0
    assert _run(recipe, tmp_path / "o", "--overwrite") == 2
    assert "is named as a file this command removes" in capsys.readouterr().err
    assert data.read_text().startswith("a,b,c,d,y\n")


@pytest.mark.parametrize("how", ["moved", "removed"])
def test_a_certify_report_folder_that_goes_mid_certification_is_not_made_again(
        how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`mv rep elsewhere` while `lockstep certify --report rep` ran: certify made `rep` again, a second, unlocked
    folder of that name, and wrote its reports there, the moved folder keeping only the lock. Now it says so, as
    run and compare do, prints the verdict, writes no report and exits 2."""
    from lockstep import api

    rep, elsewhere = tmp_path / "rep", tmp_path / "elsewhere"
    real = api.certify

    def certify(*args: object, progress: Callable[..., None] | None = None, **kw: object) -> object:
        def moved_once(done: int, total: int, result: object) -> None:
            if done == 1:
                rep.rename(elsewhere) if how == "moved" else shutil.rmtree(rep)
            if progress is not None:
                progress(done, total, result)

        return real(*args, progress=moved_once, **kw)

    monkeypatch.setattr(api, "certify", certify)
    code = main(["certify", "--adapter", "reference", "--construct", "dense", "--level", "1", "--examples", "1",
                 "-q", "--jobs", "1", "--report", str(rep)])
    printed = capsys.readouterr()
    where = f"moved to {elsewhere}" if how == "moved" else "removed"
    assert code == 2 and "Traceback" not in printed.err, printed.err
    assert (f"lockstep certify: {rep} was {where} while the certification held it; its reports and failing cases "
            "were not written, rather than into a second, unlocked folder of that name") in printed.err, printed.err
    assert "CERTIFIED" in printed.out, printed.out
    assert not rep.exists()
    if how == "moved":
        assert not (elsewhere / "report.json").exists()


@pytest.mark.parametrize("kind", ["folder", "fifo", "link"])
def test_a_journal_name_that_is_no_file_is_refused_before_any_work(tmp_path: Path, kind: str) -> None:
    """A folder, FIFO or link named like the journal of a set of files being replaced made the command fail only
    when it wrote its outputs, after all its work (certify: every check run, then exit 2)."""
    out = tmp_path / "out"
    out.mkdir()
    journal = out / atomic.JOURNAL
    {"folder": journal.mkdir, "fifo": lambda: os.mkfifo(journal),
     "link": lambda: journal.symlink_to(tmp_path / "elsewhere")}[kind]()
    with pytest.raises(FolderError, match=r"\.lockstep-writing is a (folder|named pipe|symbolic link)") as caught:
        claim(out, outputs=RUN_OUTPUTS, mode="resume", prog="lockstep run")
    assert "remove it, or choose another folder" in str(caught.value)
    assert sorted(p.name for p in out.iterdir()) == [atomic.JOURNAL], "the refusal leaves the folder as it was"


def test_a_journal_file_is_still_recovered_not_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / atomic.JOURNAL).write_text("")  # torn: killed while writing it, before any rename
    folder = claim(out, outputs=RUN_OUTPUTS, mode="resume", prog="lockstep run")
    try:
        assert any("unreadable .lockstep-writing" in note for note in folder.notes), folder.notes
        assert not (out / atomic.JOURNAL).exists()
    finally:
        folder.release()
