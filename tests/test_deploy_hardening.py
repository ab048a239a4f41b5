"""`lockstep deploy` on damaged or unusual inputs: one line naming the file, exit 2, no traceback, no hang and
nothing written; a user's renamed or unfinished checkpoint given as --weights is deployed."""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tests_support import tiny_recipe

from lockstep import deploy as deploy_module
from lockstep.checkpoint import CheckpointError
from lockstep.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "csv-binary"
CKPT6, CKPT3 = "step-00000006.npz", "step-00000003.npz"


@pytest.fixture(autouse=True)
def _short_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    """Latency over MIN_TIMED_RUNS runs as always, without the extra second per deploy."""
    monkeypatch.setattr(deploy_module, "MIN_TIMED_SECONDS", 0.0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The csv-binary model on 100 npz points: a finished 6-step run (`ck`, checkpoint every 3, keep 1) and the
    same recipe stopped at step 3 (`ck3`)."""
    root = tmp_path_factory.mktemp("deploy-hardening")
    n1 = root / "n1"
    n1.mkdir()
    shutil.copy(EXAMPLE / "model.yaml", n1 / "model.yaml")
    text = (EXAMPLE / "recipe.yaml").read_text()
    for old, new in (("source: {type: csv, path: points.csv, target: inside, header: true}",
                      "source: {type: npz, path: d.npz}"), ("steps: 300", "steps: 6"), ("every: 60", "every: 3"),
                     ("every: 150", "every: 3")):
        assert old in text, old
        text = text.replace(old, new)
    (n1 / "recipe.yaml").write_text(text)
    rng = np.random.default_rng(0)
    np.savez(n1 / "d.npz", x=rng.normal(size=(100, 2)), y=(rng.random(100) > 0.5).astype(np.float64))
    ck, ck3 = root / "ck", root / "ck3"
    assert main(["run", str(n1 / "recipe.yaml"), "--out", str(ck), "--quiet"]) == 0
    assert main(["run", str(n1 / "recipe.yaml"), "--out", str(ck3), "--steps", "3", "--quiet"]) == 0
    assert (ck / "checkpoints" / CKPT6).is_file() and (ck3 / "checkpoints" / CKPT3).is_file()
    return {"root": root, "recipe": n1 / "recipe.yaml", "ck": ck, "ck3": ck3}


@pytest.fixture(scope="module")
def env(runs: dict[str, Path]) -> Path:
    """onnx-cpu at batch sizes 1 and 4, no latency budget, no requirements."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    path = runs["root"] / "e.yaml"
    path.write_text("apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: e}\nruntime: onnxruntime\n"
                    "batch_sizes: [1, 4]\ntolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")
    return path


def _deploy(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["deploy", *args, "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(args: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """Exit 2, a last line on stderr (after any diagnostics) that starts with the command and holds every needle;
    that line."""
    code, out, err = _deploy(args, capsys)
    assert code == 2, (code, out, err)
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("lockstep deploy: "), err
    for needle in needles:
        assert needle in last, (needle, err)
    return last


def _no_outputs(out: Path) -> None:
    assert not any((out / name).exists() for name in deploy_module.OUTPUTS), list(out.iterdir())


# ------------------------------------------------------------------------------- 1. a damaged report.json
def _damaged_run(runs: dict[str, Path], tmp_path: Path) -> Path:
    run = tmp_path / "ck2"
    shutil.copytree(runs["ck"], run)
    return run


def test_a_relative_recipe_path_is_read_from_the_run_folder(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` records the recipe's absolute path; a hand-edited relative one was read from the working folder."""
    run = _damaged_run(runs, tmp_path)
    report = run / "report.json"
    relative = os.path.relpath(runs["recipe"], run)
    report.write_text(json.dumps({**json.loads(report.read_text()), "recipe_path": relative}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert _deploy([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys)[0] == 0
    report.write_text(json.dumps({**json.loads(report.read_text()), "recipe_path": "gone.yaml"}))
    code, out, err = _deploy([str(run), "-e", str(env), "--out", str(tmp_path / "d2")], capsys)  # the run's own
    assert code == 0 and f"the run's recipe {run / 'gone.yaml'} no longer exists: deploying the recipe the run " \
        f"trained, {run / 'recipe.resolved.yaml'}" in out, (code, out, err)  # its data read from the recipe's folder
    (run / "recipe.resolved.yaml").unlink()
    _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d3")], capsys,
             f"the run's recipe {run / 'gone.yaml'} no longer exists, and the run folder has no recipe.resolved.yaml")


def test_a_recipe_path_naming_a_file_that_is_no_recipe_never_shows_that_file(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """report.json is data in a folder (a CI artifact): its `recipe_path` edited to name /etc/passwd had that file's
    first line printed in deploy's refusal. A file that is no Recipe document is passed over as a recipe that is
    gone: the run's own recipe.resolved.yaml is deployed, with a note."""
    run = _damaged_run(runs, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-TOKEN-1234: do not print\n")
    report = run / "report.json"
    report.write_text(json.dumps({**json.loads(report.read_text()), "recipe_path": str(secret)}))
    code, out, err = _deploy([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys)
    assert code == 0 and "SECRET-TOKEN" not in out + err, (code, out, err)
    assert f"the run's recipe {secret} is not a Lockstep recipe (any more): deploying the recipe the run trained" in out
    (run / "recipe.resolved.yaml").unlink()
    message = _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d2")], capsys,
                       f"the run's recipe {secret} is not a Lockstep recipe (any more), and the run folder has no")
    assert "SECRET-TOKEN" not in message


@pytest.mark.parametrize(("damage", "needle"), [
    ({"recipe_path": 5}, "`recipe_path` is 5, not a path"),
    ({"recipe_path": float("nan")}, "`recipe_path` is nan, not a path"),
    ({"recipe_path": ["a"]}, "not a path"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"recipe_path": ', "is not valid JSON"),
    ("[1, 2]", "not an object"),
    (b"\xff\xfe{}", "is not valid JSON"),
])
def test_damaged_report_json_is_named_with_exit_2(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str], damage: object,
                                                 needle: str) -> None:
    run = _damaged_run(runs, tmp_path)
    report = run / "report.json"
    if isinstance(damage, dict):
        report.write_text(json.dumps({**json.loads(report.read_text()), **damage}))
    elif isinstance(damage, bytes):
        report.write_bytes(damage)
    else:
        report.write_text(str(damage))
    out = tmp_path / "d"
    _refused([str(run), "-e", str(env), "--out", str(out)], capsys, str(report), needle)
    _no_outputs(out)


def test_report_json_that_is_a_fifo_is_refused_without_hanging(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              no_hang: None) -> None:
    run = _damaged_run(runs, tmp_path)
    (run / "report.json").unlink()
    os.mkfifo(run / "report.json")
    _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys,
             f"{run / 'report.json'}: is a named pipe (FIFO), not a regular file")
    _no_outputs(tmp_path / "d")


@pytest.mark.parametrize("kind", ["folder", "device", "too big"])
def test_report_json_that_is_no_report_file_is_named(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], no_hang: None,
                                                     kind: str) -> None:
    run = _damaged_run(runs, tmp_path)
    report = run / "report.json"
    report.unlink()
    if kind == "folder":
        report.mkdir()
    elif kind == "device":
        report.symlink_to("/dev/zero")
    else:
        with report.open("wb") as fh:  # sparse: no disk used
            fh.truncate(deploy_module.MAX_RECORD_BYTES + 1)
    needle = {"folder": "is a folder, not a regular file", "device": "is a character device, not a regular file",
              "too big": f"is {deploy_module.MAX_RECORD_BYTES + 1} bytes, more than a run's report"}[kind]
    _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys, f"{report}: {needle}")
    _no_outputs(tmp_path / "d")


# --------------------------------------------------------------------- 2. a checkpoint under another name
def test_a_renamed_checkpoint_deploys(runs: dict[str, Path], env: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    final = tmp_path / "final.npz"
    shutil.copy(runs["ck"] / "checkpoints" / CKPT6, final)
    out = tmp_path / "d"
    code, _, err = _deploy([str(runs["recipe"]), "-e", str(env), "-w", str(final), "--out", str(out)], capsys)
    assert code == 0, err
    weights = json.loads((out / "deploy.json").read_text())["weights"]
    assert weights["kind"] == "checkpoint" and weights["step"] == 6


def _flip_last_data_byte(path: Path, member_prefix: str = "param/") -> None:
    """One bit of a parameter's data, inside the zip (the CRC-32 then disagrees)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith(member_prefix))
    start = info.header_offset + 30 + int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little") \
        + int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    data[start + info.compress_size - 1] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_corrupt_renamed_checkpoint_reports_the_corruption(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    flipped = tmp_path / "flipped.npz"
    shutil.copy(runs["ck"] / "checkpoints" / CKPT6, flipped)
    _flip_last_data_byte(flipped)
    last = _refused([str(runs["recipe"]), "-e", str(env), "-w", str(flipped), "--out", str(tmp_path / "d")], capsys,
                    "does not verify: it is not an intact zip", "CRC")
    assert "its name" not in last, last
    _no_outputs(tmp_path / "d")


def test_a_misnamed_checkpoint_in_a_run_folder_is_still_refused_in_one_sentence(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The step-N name is the run's own: there the name must match the metadata ("its ...", never "it its")."""
    run = _damaged_run(runs, tmp_path)
    (run / "checkpoints" / CKPT6).rename(run / "checkpoints" / "step-00000005.npz")
    last = _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys,
                    "does not verify: its metadata says step 6, its name step 5", "(the run's newest checkpoint; ")
    assert "it its" not in last and "--weights " + str(run) not in last, last  # the user gave no --weights


def test_a_run_folder_s_newest_checkpoint_that_is_a_link_is_not_followed(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As a resume (2026-12-07): a run's checkpoints are the files it wrote; deploy RUN followed a symbolic link in
    the newest one's place to whatever file it named. --weights still deploys the file a user names."""
    run = _damaged_run(runs, tmp_path)
    elsewhere = tmp_path / "elsewhere.npz"
    (run / "checkpoints" / CKPT6).rename(elsewhere)
    (run / "checkpoints" / CKPT6).symlink_to(elsewhere)
    _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys,
             "is a symbolic link, not followed", "give --weights")
    _no_outputs(tmp_path / "d")


def test_resume_skip_line_reads_as_a_sentence(runs: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`--resume` names a skipped checkpoint as "...: its metadata says ..." (it printed "it its metadata")."""
    run = _damaged_run(runs, tmp_path)
    (run / "checkpoints" / CKPT6).rename(run / "checkpoints" / "step-00000005.npz")
    code = main(["run", str(runs["recipe"]), "--out", str(run), "--resume", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "unreadable checkpoint skipped: its metadata says step 6, its name step 5" in err, err
    assert "it its" not in err, err


@pytest.mark.parametrize(("message", "sentence"), [
    ("is not an intact zip (x)", "it is not an intact zip (x)"),
    ("its metadata says step 6, its name step 5", "its metadata says step 6, its name step 5"),
    ("its entry `meta` has an unknown .npy version 9", "its entry `meta` has an unknown .npy version 9"),
])
def test_checkpoint_error_reason_is_one_sentence(message: str, sentence: str) -> None:
    assert CheckpointError(message).reason == sentence


# ------------------------------------------------------------------- 3. --weights of an unfinished run
def test_explicit_weights_of_an_unfinished_run_are_deployed(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d"
    code, _, err = _deploy([str(runs["ck"]), "-e", str(env), "-w", str(runs["ck3"] / "checkpoints" / CKPT3),
                            "--out", str(out)], capsys)
    assert code == 0, err
    assert json.loads((out / "deploy.json").read_text())["weights"]["step"] == 3
    # without --weights, an unfinished run folder is still refused, and told what to do
    _refused([str(runs["ck3"]), "-e", str(env), "--out", str(tmp_path / "d3")], capsys,
             "stopped at step 3 of 6", "give --weights")


def test_a_run_still_training_is_said_to_be_training_not_stopped(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Sweep S (2026-12-07): a run folder locked by a live run was said to have "stopped", with --weights as the
    way on, which races the run's checkpoint rotation. The lock's holder is named."""
    from lockstep.runfolder import claim

    run = tmp_path / "live"
    shutil.copytree(runs["ck3"], run)
    with claim(run, outputs=("metrics.jsonl",), mode="resume", prog="lockstep run"):
        _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys,
                 "the run is still training (pid ", "deploy it when it has finished")
    _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys, "stopped at step 3 of 6")


def test_a_checkpoint_rotated_away_while_read_is_said_a_run_still_training(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Sweep (2026-12-08): a live run with frequent checkpoints removed the newest one between its pick and its
    read, and the deployment said only "cannot read it ([Errno 2] No such file or directory)"."""
    from lockstep.runfolder import claim

    def rotated(path: Path, *args: object, **kwargs: object) -> None:
        path.unlink()  # the run's rotation, between the pick and the read
        raise deploy_module.DeployError(f"{path}: cannot read it ([Errno 2] No such file or directory)")

    run = tmp_path / "live"
    shutil.copytree(runs["ck3"], run)
    monkeypatch.setattr(deploy_module, "load_weights", rotated)
    with claim(run, outputs=("metrics.jsonl",), mode="resume", prog="lockstep run"):
        _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys,
                 "the run is still training (pid ", "its newest checkpoint was replaced while it was read")
    _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys, "no checkpoint in")  # it went


def test_a_damaged_checkpoint_of_a_live_run_keeps_its_own_reason(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a checkpoint that went is "replaced while it was read": a damaged one in a live run's folder was said so
    too, its reason ("not a zip file") dropped."""
    from lockstep.runfolder import claim

    def damaged(path: Path, *args: object, **kwargs: object) -> None:
        raise deploy_module.DeployError(f"{path}: cannot read it (File is not a zip file)")

    run = tmp_path / "live"
    shutil.copytree(runs["ck3"], run)
    monkeypatch.setattr(deploy_module, "load_weights", damaged)
    with claim(run, outputs=("metrics.jsonl",), mode="resume", prog="lockstep run"):
        last = _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys, "File is not a zip file")
    assert "replaced while it was read" not in last, last


def test_an_unfinished_run_deployed_into_its_own_folder_is_said_stopped(runs: dict[str, Path], env: Path,
                                                                        tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`--out` the run's own folder: the deployment's own lock there was taken for a live run, "the run is still
    training (pid <this process>)"."""
    run = tmp_path / "stopped"
    shutil.copytree(runs["ck3"], run)
    _refused([str(run), "-e", str(env), "--out", str(run)], capsys, "stopped at step 3 of 6", "give --weights")


# -------------------------------------------------------------------------------------- 4. --out ''
def test_empty_out_is_refused(runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    _refused([str(runs["ck"]), "-e", str(env), "--out", ""], capsys, "--out is empty")
    assert list(here.iterdir()) == []


# --------------------------------------------------------------------------------- 5. weak messages
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_given_as_the_recipe_is_named_not_a_regular_file(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    last = _refused([str(fifo), "-e", str(env), "-w", str(runs["ck"] / "checkpoints" / CKPT6), "--out",
                     str(tmp_path / "d")], capsys, f"{fifo}: not a regular file")
    assert "no such" not in last


def test_an_invalid_recipe_is_named_once(runs: dict[str, Path], env: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    last = _refused([str(empty), "-e", str(env), "-w", str(runs["ck"] / "checkpoints" / CKPT6), "--out",
                     str(tmp_path / "d")], capsys, "the recipe is not valid")
    assert last == f"lockstep deploy: {empty}: the recipe is not valid (1 problem)", last


def test_a_text_file_given_as_weights_is_not_an_npz(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("hello: world\n")
    obj = tmp_path / "obj.npz"
    np.savez(obj, a=np.array([{"x": 1}], dtype=object), allow_pickle=True)
    for weights, needle in ((garbage, "not an .npz checkpoint or weights file"), (obj, "object (pickled) array")):
        last = _refused([str(runs["recipe"]), "-e", str(env), "-w", str(weights), "--out", str(tmp_path / "d")],
                        capsys, f"--weights {weights}", needle)
        assert "allow_pickle" not in last, last


# ---------------------------------------------------------- 2026-12-06 sweep: the folder, its inputs, a stop
def test_an_output_never_overwrites_a_file_the_recipe_reads(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Only the recipe, environment and weights were protected: a model document named environment.lock.json in
    --out was replaced by the lock (and a data file named summary.txt by the summary)."""
    folder = tmp_path / "ow"
    folder.mkdir()
    shutil.copy(runs["recipe"], folder / "recipe.yaml")
    shutil.copy(runs["recipe"].parent / "d.npz", folder / "d.npz")
    import yaml

    model = yaml.safe_load((runs["recipe"].parent / "model.yaml").read_text())
    (folder / "environment.lock.json").write_text(json.dumps(model))
    text = (folder / "recipe.yaml").read_text()
    (folder / "recipe.yaml").write_text(text.replace("model: model.yaml", "model: environment.lock.json"))
    before = (folder / "environment.lock.json").read_bytes()
    _refused([str(folder / "recipe.yaml"), "-e", str(env), "-w", str(runs["ck"] / "checkpoints" / CKPT6),
              "--out", str(folder)], capsys, "environment.lock.json would overwrite the input")
    assert (folder / "environment.lock.json").read_bytes() == before


def test_a_failed_or_stopped_deploy_leaves_the_previous_deployment(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """model.onnx was written and the previous reports deleted before the checks ran: a deploy stopped (Ctrl-C,
    SIGTERM) or failing during them left a new model without a report. Nothing is written now until every check
    has run; a folder the deploy made is removed again."""
    out = tmp_path / "d"
    code, _, err = _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)
    assert code == 0, err
    before = {name: (out / name).read_bytes() for name in deploy_module.OUTPUTS}

    def stopped(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(deploy_module, "latency", stopped)
    assert main(["deploy", str(runs["ck3"]), "-e", str(env), "-w", str(runs["ck3"] / "checkpoints" / CKPT3),
                 "--out", str(out), "--quiet"]) == 130
    assert {name: (out / name).read_bytes() for name in deploy_module.OUTPUTS} == before
    fresh = tmp_path / "fresh" / "sub"
    assert main(["deploy", str(runs["ck"]), "-e", str(env), "--out", str(fresh), "--quiet"]) == 130
    assert not fresh.exists()


def test_another_recipe_s_deployment_is_not_replaced(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The default folder is deploy/<environment>: a second model deployed to the same target replaced the first
    one's deployment without a word. The same recipe deploys over its own deployment, as before."""
    out = tmp_path / "d"
    code, _, err = _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)
    assert code == 0, err
    before = {name: (out / name).read_bytes() for name in deploy_module.OUTPUTS}
    report = json.loads((out / "deploy.json").read_text())
    (out / "deploy.json").write_text(json.dumps({**report, "recipe": "tiny-attention"}))
    last = _refused([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys,
                    f"--out {out} holds the deployment of the recipe `tiny-attention` (deploy.json), and this is "
                    f"`{report['recipe']}`; give another --out")
    assert (out / "model.onnx").read_bytes() == before["model.onnx"], last
    (out / "deploy.json").write_text(json.dumps(report))
    assert _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)[0] == 0
    assert json.loads((out / "deploy.json").read_text())["recipe"] == report["recipe"]


@pytest.mark.parametrize("garbage", ["{not json", "[]", '{"verdict": "pass"}', "", None])
def test_a_deploy_json_that_is_no_deployment_is_refused_not_replaced(runs: dict[str, Path], env: Path,
                                                                     tmp_path: Path, garbage: str | None,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A deploy.json that is not a deployment's record (someone's own file of that name, not JSON) was replaced by
    the next deploy without a word, with the model.onnx beside it. It is someone else's: refused before any work
    (exit 2), as certify refuses a report.json that is not a certificate. So is a model.onnx without a deploy.json
    (None): deploy writes the two together."""
    out = tmp_path / "d"
    out.mkdir()
    if garbage is None:
        (out / "model.onnx").write_bytes(b"the user's own model")
    else:
        (out / "deploy.json").write_text(garbage)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(deploy_module, "export_onnx", lambda *a, **k: pytest.fail("exported before the refusal"))
    last = _refused([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys, f"--out {out} holds ",
                    "choose another --out folder")
    assert ("model.onnx but no deploy.json: not a deployment's folder" if garbage is None else
            "a deploy.json that is not a Lockstep deployment's") in last, last
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # not even a lock file left behind


@pytest.mark.parametrize("inside", ["checkpoints", "checkpoints/mine", "tensorboard/x"])
def test_out_in_a_folder_a_run_removes_is_refused(runs: dict[str, Path], env: Path, tmp_path: Path, inside: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A deployment written into RUN/checkpoints was deleted by the next `lockstep run --overwrite` of that run."""
    run = tmp_path / "run"
    shutil.copytree(runs["ck"], run)
    out = run / inside
    _refused([str(run), "-e", str(env), "--out", str(out)], capsys, f"--out {out} ",
             "the run folder", "`lockstep run --overwrite` removes it")
    assert not (out / "deploy.json").exists() and not (run / "checkpoints" / "model.onnx").exists()
    assert main(["certify", "--adapter", "reference", "--report", str(run / "checkpoints"), "-q"]) == 2
    assert "the checkpoints folder of the run folder" in capsys.readouterr().err


def test_an_output_that_cannot_be_replaced_leaves_the_previous_deployment_whole(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The four outputs were four writes: an immutable deploy.json made the third fail, after a new model.onnx and
    lock were in place beside the old reports (which still said PASS for other weights), and the error blamed
    onnxruntime (exit 1). They are one set now: exit 2 naming the file, the earlier four files as they were."""
    from tests_support import failing_rename_of

    out = tmp_path / "d"
    assert _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)[0] == 0
    before = {name: (out / name).read_bytes() for name in deploy_module.OUTPUTS}
    failing_rename_of(monkeypatch, "deploy.json")
    last = _refused([str(runs["ck3"]), "-e", str(env), "-w", str(runs["ck3"] / "checkpoints" / CKPT3),
                     "--out", str(out)], capsys, f"cannot write the deployment in {out}", "deploy.json",
                    "Operation not permitted", "holds what it held before")
    assert "onnxruntime" not in last, last
    assert {name: (out / name).read_bytes() for name in deploy_module.OUTPUTS} == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".lockstep.lock") == []


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_an_output_name_that_is_no_regular_file_is_refused_before_any_work(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A FIFO at deploy.json (or a link at summary.txt, a folder named model.onnx) let every check run, then the
    write failed with "onnxruntime failed on the exported model" and exit 1."""
    out = tmp_path / "d"
    out.mkdir()
    name = {"fifo": "deploy.json", "symlink": "summary.txt", "folder": "model.onnx"}[kind]
    if kind == "fifo":
        os.mkfifo(out / name)
    elif kind == "symlink":
        (out / name).symlink_to(tmp_path / "elsewhere.txt")
    else:
        (out / name).mkdir()
    monkeypatch.setattr(deploy_module, "export_onnx", lambda *a, **k: pytest.fail("exported before the refusal"))
    _refused([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys, f"{name} is a", "not a regular file")


def test_a_path_the_system_cannot_look_up_is_said(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A 300-character name gave a traceback from `is_dir()` (OSError: File name too long), exit 1."""
    long = str(tmp_path / ("a" * 300))
    _refused([long, "-e", str(env)], capsys, "cannot use it", "File name too long")
    _refused([str(runs["ck"]), "-e", str(env), "-w", long + ".npz"], capsys, "--weights", "File name too long")
    run = _damaged_run(runs, tmp_path)
    record = json.loads((run / "report.json").read_text())
    record["recipe_path"] = "r" * 300
    (run / "report.json").write_text(json.dumps(record))
    _refused([str(run), "-e", str(env)], capsys, "`recipe_path`", "File name too long")


def test_a_second_deploy_into_a_folder_in_use_is_refused(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Two deploys into one --out both exited 0 and left one's model beside the other's report."""
    from lockstep.runfolder import claim

    out = tmp_path / "busy"
    with claim(out, outputs=deploy_module.OUTPUTS, mode="resume", prog="another"):
        _refused([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys, "in use by a command still running in")
    _no_outputs(out)


def test_complex_weights_are_refused(runs: dict[str, Path], env: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Their imaginary part was dropped with NumPy's ComplexWarning, and the deploy passed."""
    with np.load(runs["ck"] / "checkpoints" / CKPT6) as z:
        arrays = {k.removeprefix("param/"): z[k] for k in z.files if k.startswith("param/")}
    name = sorted(arrays)[0]
    arrays[name] = arrays[name] + 5j
    np.savez(tmp_path / "c.npz", **arrays)
    _refused([str(runs["recipe"]), "-e", str(env), "-w", str(tmp_path / "c.npz"), "--out", str(tmp_path / "o")],
             capsys, f"`{name}` is complex128")


def test_a_tolerance_that_passes_zeros_is_refused(runs: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`atol: 1e308` passed any prediction (validate cannot know the outputs' scale; deploy does): exit 2, nothing
    written. An atol below the largest reference prediction still deploys."""
    pytest.importorskip("onnxruntime")
    weights = str(runs["ck"] / "checkpoints" / CKPT6)
    for atol, code in (("1.0e+308", 2), ("1.0", 2), ("1.0e-5", 0)):
        env = tmp_path / f"e{code}{atol}.yaml"
        env.write_text("apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: e}\nruntime: onnxruntime\n"
                       f"batch_sizes: [4]\ntolerance: {{rtol: 1.0e-4, atol: {atol}}}\n")
        out = tmp_path / f"out-{atol}"
        args = [str(runs["recipe"]), "-e", str(env), "-w", weights, "--out", str(out)]
        if code == 2:
            last = _refused(args, capsys, f"{env}: tolerance.atol {float(atol):g} (with rtol 0.0001) is at least every "
                            "reference prediction", "predictions of 0 would pass, so it checks nothing")
            assert "the largest is" in last and not out.exists(), last
        else:
            assert _deploy(args, capsys)[0] == 0 and (out / "deploy.json").is_file()


def test_weights_with_arrays_the_model_lacks_are_refused(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A misnamed parameter in a plain .npz was dropped unseen (the model's own name was then missing, or, beside
    it, the extra array was ignored)."""
    from lockstep.checkpoint import load_checkpoint

    _, arrays, _ = load_checkpoint(runs["ck"] / "checkpoints" / CKPT6)
    weights = tmp_path / "w.npz"
    np.savez(weights, **arrays, **{"hidden.wieght": np.zeros(3)})
    _refused([str(runs["recipe"]), "-e", str(env), "-w", str(weights), "--out", str(tmp_path / "o")], capsys,
             "holds hidden.wieght, which this model does not have (its ")
    np.savez(weights, **arrays)
    assert _deploy([str(runs["recipe"]), "-e", str(env), "-w", str(weights), "--out", str(tmp_path / "o")],
                   capsys)[0] == 0


def _npz_with_twice(path: Path, arrays: dict[str, np.ndarray], name: str) -> None:
    """An .npz that holds `name` twice (np.savez cannot write one; a zip tool can)."""
    import io
    import warnings

    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as z:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
        for key, a in [*arrays.items(), (name, np.zeros_like(arrays[name]))]:
            buf = io.BytesIO()
            np.save(buf, a)
            z.writestr(f"{key}.npy", buf.getvalue())


def test_weights_that_hold_an_array_twice_are_refused(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Sweep S (2026-12-07): np.load took the last of two entries of one name without a word."""
    from lockstep.checkpoint import load_checkpoint

    _, arrays, _ = load_checkpoint(runs["ck"] / "checkpoints" / CKPT6)
    weights = tmp_path / "w.npz"
    _npz_with_twice(weights, arrays, "hidden1.weight" if "hidden1.weight" in arrays else sorted(arrays)[0])
    _refused([str(runs["recipe"]), "-e", str(env), "-w", str(weights), "--out", str(tmp_path / "o")], capsys,
             "is stored twice in the archive")
    _no_outputs(tmp_path / "o")


def _environment(runs: dict[str, Path], name: str, extra: str, batch_sizes: str = "[1, 4]") -> Path:
    path = runs["root"] / f"{name}.yaml"
    path.write_text(f"apiVersion: lockstep/v1\nkind: Environment\nmetadata: {{name: {name}}}\nruntime: onnxruntime\n"
                    f"batch_sizes: {batch_sizes}\n{extra}")
    return path


def test_accuracy_on_real_valued_targets_is_refused_before_any_work(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`max_metric_drop: {accuracy: ...}` on a regression recipe was "checked" (accuracy from targets truncated
    to integers) and passed, where run and validate refuse `accuracy` without class targets."""
    folder = tmp_path / "reg"
    shutil.copytree(runs["recipe"].parent, folder)
    text = (folder / "recipe.yaml").read_text()
    text = text.replace("type: binary_crossentropy\n  from_logits: true", "type: mse").replace("[loss, accuracy]",
                                                                                              "[loss]")
    (folder / "recipe.yaml").write_text(text)
    rng = np.random.default_rng(1)
    np.savez(folder / "d.npz", x=rng.normal(size=(100, 2)), y=rng.normal(size=100))
    assert main(["run", str(folder / "recipe.yaml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0, \
        capsys.readouterr().err
    monkeypatch.setattr(deploy_module, "export_onnx", lambda *a, **k: pytest.fail("exported before the refusal"))
    accuracy = _environment(runs, "acc", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\nmax_metric_drop: {accuracy: 0.02}\n")
    out = tmp_path / "d"
    _refused([str(tmp_path / "run"), "-e", str(accuracy), "--out", str(out)], capsys,
             "max_metric_drop: `accuracy` needs class targets", "trains `mse` on real-valued targets")
    _no_outputs(out)


def test_non_finite_predictions_say_the_value_its_limit_and_why(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """They were shown as `inf` against a limit of 0 (deploy.json: observed null, limit 0.0), with no reason, and
    `--format json` printed a bare NaN token where deploy.json has the string "nan"."""
    with np.load(runs["ck"] / "checkpoints" / CKPT6) as z:
        params = {k[len("param/"):]: z[k] for k in z.files if k.startswith("param/")}
    np.savez(tmp_path / "w.npz", **{k: v * 1e3 for k, v in params.items()})  # past float16's 65504 at the output
    metric = _environment(runs, "m", "dtype: float16\ntolerance: {rtol: 1.0e-2, atol: 1.0e-2}\n"
                          "max_metric_drop: {loss: 0.1}\n")
    code = main(["deploy", str(runs["recipe"]), "-w", str(tmp_path / "w.npz"), "-e", str(metric),
                 "--out", str(tmp_path / "d"), "--quiet", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1, err
    printed = json.loads(out, parse_constant=lambda token: pytest.fail(f"non-strict JSON token {token}"))
    assert printed == json.loads((tmp_path / "d" / "deploy.json").read_text())
    first = printed["checks"][0]
    assert first["observed"] in ("inf", "-inf", "nan") and first["limit"] >= 1e-2, first
    assert f"non-finite ({first['observed']} at index" in first["message"], first
    assert any(c["kind"] == "metric" and c["deployed"] in ("inf", "nan") for c in printed["checks"]), printed
    summary = (tmp_path / "d" / "summary.txt").read_text()
    assert first["message"] in summary, summary


def test_every_evaluation_sample_is_checked_at_every_batch_size(runs: dict[str, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Only whole batches ran: at batch 32, 352 of 360 samples were checked (all 8 left out at `batch_sizes:
    [32]` alone), while the summary said all 360 were."""
    seven = _environment(runs, "seven", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n", "[7, 64]")
    code, _, err = _deploy([str(runs["ck"]), "-e", str(seven), "--out", str(tmp_path / "d")], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "d" / "deploy.json").read_text())
    assert report["evaluation_samples"] == 20, report["evaluation_samples"]  # 100 samples, 20 % held out
    assert [c["samples"] for c in report["checks"] if c["kind"] == "predictions"] == [20, 20], report["checks"]


def test_calibration_beyond_the_training_split_is_noted(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`calibration_samples: 1000000000` was capped to the training split without a word."""
    e8 = tmp_path / "e8.yaml"
    e8.write_text("apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: e8}\nruntime: onnxruntime\n"
                  "dtype: int8\nquantization: {mode: static, calibration_samples: 1000000000}\n"
                  "max_metric_drop: {loss: 10.0}\n")
    code, _, err = _deploy([str(runs["ck"]), "-e", str(e8), "--out", str(tmp_path / "d")], capsys)
    assert code in (0, 1), err
    report = json.loads((tmp_path / "d" / "deploy.json").read_text())
    assert any("calibration used all" in n and "asks 1000000000" in n for n in report["notes"]), report["notes"]


NAN_BN = tiny_recipe(layers="[{type: dense, name: hidden, units: 4}, {type: batch_norm, name: bn}, "
                              "{type: dense, name: out, units: 3}]", shape="[8]", samples=120, dtype="float32",
                     data="  split: {validation: 0.25}\n", optimizer="{type: sgd, learning_rate: 0.1}", steps=2,
                     tail="checkpoint: {every: 2}\n")


def test_weights_whose_reference_predicts_nan_are_refused_not_passed(tmp_path: Path, env: Path, capsys) -> None:
    """Sweep K (2026-12-06): a negative batch-norm running_var (finite, so the weights loaded) made the float64
    reference predict NaN, where the check accepts any value (the "beyond the dtype" rule): a model predicting
    NaN everywhere deployed with "predictions ... ×∞ ok", verdict PASS, exit 0."""
    from lockstep.checkpoint import load_checkpoint

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(NAN_BN)
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    _, arrays, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000002.npz")
    weights = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    weights["bn.running_var"] = np.array([-1.0, 1.0, 1.0, 1.0])
    np.savez(tmp_path / "negvar.npz", **weights)
    out = tmp_path / "dep"
    code = main(["deploy", str(recipe), "--weights", str(tmp_path / "negvar.npz"), "--environment", str(env),
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "the float64 reference predicts nan with these weights (sample 0 of the validation split" in err, err
    assert "RuntimeWarning" not in err and "Traceback" not in err and not out.exists()


def test_an_out_folder_whose_name_is_not_utf8_deploys(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Sweep S (2026-12-07): a byte that is not UTF-8 in --out (legal on Linux; Python sees a lone surrogate) ran
    every check, then failed writing summary.txt, said as "onnxruntime failed on the exported model" (exit 1).
    The byte is written as its escape, as every report writes it; a failure to write is no onnxruntime failure."""
    out = tmp_path / os.fsdecode(b"dep-\xff")
    code, _, err = _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)
    assert code == 0, err
    assert "dep-\\xff" in (out / "summary.txt").read_text(encoding="utf-8")
    assert json.loads((out / "deploy.json").read_text(encoding="utf-8"))["outputs"]["model.onnx"].endswith(
        os.fsdecode(b"dep-\xff") + "/model.onnx")


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_run_s_newest_checkpoint_that_is_no_file_is_not_said_as_weights(
        runs: dict[str, Path], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    """Sweep S (2026-12-07): the message said `--weights PATH: not a file` to a user who gave no --weights."""
    run = _damaged_run(runs, tmp_path)
    newest = run / "checkpoints" / CKPT6
    newest.unlink()
    os.mkfifo(newest) if kind == "fifo" else newest.mkdir()
    last = _refused([str(run), "-e", str(env), "--out", str(tmp_path / "d")], capsys,
                    f"the run's newest checkpoint {newest}: not a file; give --weights")
    assert "--weights " + str(newest) not in last, last
    _no_outputs(tmp_path / "d")


# ------------------------------------------------------------------------------- a deploy killed part-way
def _killed_deploy(args: list[str], *, renames: int | None = None) -> None:
    """`lockstep deploy ARGS` in a fresh Python, killed (as SIGKILL: no handler runs) after `renames` of its four
    renames, or, with None, while its checks run (before anything is written)."""
    from tests_support import KILLED, killed_after_renames

    kill = "" if renames is not None else "d.latency = lambda *a, **k: os._exit(137)\n"
    code = (f"import os, sys\nsys.path[:0] = {sys.path!r}\nimport lockstep.deploy as d\nd.MIN_TIMED_SECONDS = 0.0\n"
            f"{kill}from lockstep.cli import main\nraise SystemExit(main(['deploy', *{args!r}, '--quiet']))\n")
    done = killed_after_renames(99 if renames is None else renames, code)
    assert done.returncode == KILLED, (done.stdout, done.stderr)


def _one_deployment(out: Path) -> int:
    """The step of the weights that all four outputs in `out` are the deployment of (asserted: one deployment)."""
    import hashlib

    lock = json.loads((out / "environment.lock.json").read_text())
    report = json.loads((out / "deploy.json").read_text())
    assert hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest() == lock["model_sha256"], "model vs lock"
    step = report["weights"]["step"]
    assert f"(step {step})" in (out / "summary.txt").read_text(), "summary vs deploy.json"
    return step


def test_a_deploy_killed_between_two_renames_leaves_one_deployment(runs: dict[str, Path], env: Path,
                                                                   tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Sweep (strace, 2026-12-07): a deploy SIGKILLed between two of its four renames left the new model.onnx
    beside the earlier deployment's deploy.json, summary.txt and lock (a PASS for a model never checked), and the
    next deploy removed the kept links that could have restored them. The next deploy into the folder (here one
    refused after it took the folder) makes it one deployment again first: the one the killed deploy had
    checked and written out in full."""
    out = tmp_path / "d"
    assert _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)[0] == 0
    assert _one_deployment(out) == 6
    before = {name: (out / name).read_bytes() for name in deploy_module.OUTPUTS}
    _killed_deploy([str(runs["ck3"]), "-e", str(env), "-w", str(runs["ck3"] / "checkpoints" / CKPT3),
                    "--out", str(out)], renames=1)
    assert (out / "model.onnx").read_bytes() != before["model.onnx"]  # the kill did split the set
    assert (out / "deploy.json").read_bytes() == before["deploy.json"]
    _refused([str(runs["ck3"]), "-e", str(env), "--out", str(out)], capsys, "the run stopped at step 3 of 6")
    assert _one_deployment(out) == 3
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".lockstep.lock"]
    code, text, err = _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)
    assert code == 0 and "note:" not in text and _one_deployment(out) == 6, (text, err)
    _killed_deploy([str(runs["ck3"]), "-e", str(env), "-w", str(runs["ck3"] / "checkpoints" / CKPT3),
                    "--out", str(out)], renames=2)
    code, text, err = _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)
    assert code == 0 and _one_deployment(out) == 6, (text, err)
    assert (f"note: {out}: finished a write of model.onnx, environment.lock.json, deploy.json, summary.txt that "
            "was killed part-way: all are the new files") in text, text


def test_a_deploy_killed_in_a_new_folder_leaves_an_empty_folder_to_the_next(runs: dict[str, Path], env: Path,
                                                                           tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]
                                                                           ) -> None:
    """A deploy SIGKILLed into a folder it made left that folder holding only its lock file, for good: a deploy
    refused after taking the folder kept it (the lock file "was there before"). A folder that holds only a dead
    command's lock is an empty folder: the next deploy works without a word, and one that writes nothing leaves
    the folder empty."""
    out = tmp_path / "new"
    _killed_deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)])
    assert os.listdir(out) == [".lockstep.lock"]
    _refused([str(runs["ck3"]), "-e", str(env), "--out", str(out)], capsys, "the run stopped at step 3 of 6")
    assert os.listdir(out) == []
    _killed_deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)])
    code, text, err = _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)
    assert code == 0 and "note:" not in text and err == "", (text, err)
    assert _one_deployment(out) == 6


@pytest.mark.parametrize("error", [KeyError("input"), ValueError("shapes (1,2) and (3,) not aligned")])
def test_a_bug_inside_the_checks_is_not_blamed_on_onnxruntime(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              error: Exception) -> None:
    """Every exception inside the checks was said as "onnxruntime failed on the exported model" (exit 1), a bug
    of Lockstep's own included. Only onnxruntime's own errors are now; anything else is Lockstep's internal error,
    one line, no traceback, nothing written."""
    def bug(*_a: object, **_k: object) -> None:
        raise error

    monkeypatch.setattr(deploy_module, "_check_meaningful", bug)
    out = tmp_path / "d"
    code, _, err = _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)
    assert code == 3 and err.strip() == (f"lockstep deploy: internal error ({type(error).__name__}: {error}); set "
                                         "LOCKSTEP_DEBUG=1 for the traceback and please report it"), err
    _no_outputs(out)


def test_onnxruntime_s_own_error_is_said_as_onnxruntime_s(runs: dict[str, Path], env: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime refusing the model (its errors derive from Exception, not one base class) still fails the
    deployment as onnxruntime's (exit 1), with its reason."""
    monkeypatch.setattr(deploy_module, "export_onnx", lambda *a, **k: b"not a model")
    out = tmp_path / "d"
    code, _, err = _deploy([str(runs["ck"]), "-e", str(env), "--out", str(out)], capsys)
    assert code == 1 and err.startswith("lockstep deploy: onnxruntime failed on the exported model: "
                                        "InvalidProtobuf: "), err
    _no_outputs(out)


def test_onnxruntime_s_errors_are_told_from_lockstep_s_by_where_they_were_raised() -> None:
    """onnxruntime's Python wrapper raises a plain ValueError for a missing input, its C++ side its own classes;
    both are onnxruntime's. A KeyError raised here is not."""
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    helper, TensorProto = onnx.helper, onnx.TensorProto

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    raised = []
    for feed in ({}, {"x": np.zeros(1, np.float64)}):
        with pytest.raises(Exception) as info:
            session.run(None, feed)
        raised.append((type(info.value).__name__, deploy_module._raised_by_onnxruntime(info.value)))
    with pytest.raises(KeyError) as bug:
        {}["input"]
    assert raised == [("ValueError", True), ("InvalidArgument", True)], raised
    assert not deploy_module._raised_by_onnxruntime(bug.value)
