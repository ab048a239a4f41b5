"""The everyday comforts: validator hints for framework habits, progress and plot of every evaluation metric,
certify's progress count, `lockstep adapters`/`certify` hints, and the README's validate example as shown."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.cli import main
from lockstep.plot import run_chart
from lockstep.progress import Progress
from lockstep.spec.loader import load_text
from lockstep.spec.validate import validate_document

ROOT = Path(__file__).resolve().parents[1]
MODEL = "apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\n"


def _diags(text: str):
    found = validate_document(load_text(text, "m.yaml")[0], base_dir=Path("."))[1]
    return [d.format() for d in found]


# ------------------------------------------------------------------------------------------ hints
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_weight_decay_on_a_coupled_optimizer_points_to_l2_and_adamw(optimizer: str) -> None:
    text = ("apiVersion: lockstep/v1\nkind: Recipe\nmetadata: {name: r}\nmodel: m.yaml\nseed: 0\n"
            "data: {source: {type: dataset, name: digits}, batch_size: 8}\nloss: {type: mse}\n"
            f"optimizer: {{type: {optimizer}, learning_rate: 0.1, weight_decay: 0.0005}}\ntraining: {{steps: 3}}\n")
    found = [d for d in _diags(text) if "weight_decay" in d]
    assert found == [f"m.yaml:8:{44 + len(optimizer) - 3}: optimizer.weight_decay: unknown field `weight_decay`: "
                     f"`{optimizer}` has no weight decay in the standard. PyTorch's `weight_decay` on SGD and Adam is "
                     "coupled L2 (added to the gradient): write `regularization: {l2: 0.0005}` in the recipe; for "
                     "decoupled weight decay (AdamW) write `type: adamw` with `weight_decay: 0.0005`"], found


def test_weight_decay_on_adamw_is_its_own_field_and_a_typo_elsewhere_still_gets_did_you_mean() -> None:
    text = ("apiVersion: lockstep/v1\nkind: Recipe\nmetadata: {name: r}\nmodel: m.yaml\nseed: 0\n"
            "data: {source: {type: dataset, name: digits}, batch_size: 8}\nloss: {type: mse}\n"
            "optimizer: {type: adamw, learning_rate: 0.1, weight_decays: 0.1}\ntraining: {steps: 3}\n")
    found = [d for d in _diags(text) if "weight_decay" in d]
    assert len(found) == 1 and found[0].endswith("did you mean `weight_decay`?"), found


@pytest.mark.parametrize("layer, shape, fixed", [
    ("{type: conv2d, filters: 4, kernel_size: 3}", [8, 8, 1], [1, 8, 8]),
    ("{type: conv2d, filters: 4, kernel_size: 5}", [28, 28, 3], [3, 28, 28]),
    ("{type: max_pool2d, kernel_size: 2}", [16, 16, 1], [1, 16, 16]),
])
def test_a_channels_last_image_into_conv2d_is_said_with_the_fixed_shape(layer: str, shape: list[int],
                                                                         fixed: list[int]) -> None:
    text = MODEL + f"inputs: [{{name: image, shape: {shape}}}]\nlayers:\n  - {layer}\n  - {{type: flatten}}\n"
    (found,) = _diags(text)
    assert found.endswith(f"looks channels-last ([H, W, C], Keras's default): write the input `image` as "
                          f"`shape: {fixed}` (and its data in that layout)"), found
    assert "takes channels-first images [C, H, W] in the standard" in found and found.startswith("m.yaml:6:5:")
    ok = MODEL + f"inputs: [{{name: image, shape: {fixed}}}]\nlayers:\n  - {layer}\n  - {{type: flatten}}\n"
    assert _diags(ok) == []


def test_channels_last_after_a_layer_names_that_layer() -> None:
    text = MODEL + ("inputs: [{name: x, shape: [64]}]\nlayers:\n  - {type: reshape, shape: [8, 8, 1]}\n"
                    "  - {type: conv2d, name: c, filters: 2, kernel_size: 3}\n")
    (found,) = _diags(text)
    assert found.endswith("looks channels-last ([H, W, C], Keras's default): give `c` an input of shape [1, 8, 8]")


@pytest.mark.parametrize("shape, layer", [
    ([16, 4, 4], "{type: conv2d, filters: 8, kernel_size: 5}"),  # 16 channels on 4×4: [4, 16, 4] fails too
    ([16, 4, 4], "{type: max_pool2d, kernel_size: 2, padding: 2}"),
])
def test_no_channels_hint_where_the_fixed_shape_fails_too(shape: list[int], layer: str) -> None:
    """Sweep W (2026-12-07): a 16-channel 4×4 map under a 5×5 kernel was told "looks channels-last: write the input
    as [4, 16, 4]", which the layer refuses as well."""
    text = MODEL + f"inputs: [{{name: x, shape: {shape}}}]\nlayers:\n  - {layer}\n  - {{type: flatten}}\n"
    (found,) = _diags(text)
    assert "cannot take" in found and "channels-last" not in found, found


def test_a_channels_first_shape_that_does_not_fit_gets_no_channels_hint() -> None:
    text = MODEL + "inputs: [{name: x, shape: [1, 2, 2]}]\nlayers:\n  - {type: conv2d, filters: 2, kernel_size: 3}\n"
    (found,) = _diags(text)
    assert "channels" not in found.split("cannot take", 1)[1].replace("channels-first input", ""), found


@pytest.mark.parametrize("value, extra", [("SAME", "; did you mean `same`?"), ("Valid", "; did you mean `valid`?"),
                                          ("foo", ""), ('"2"', "")])
def test_a_wrong_padding_word_is_one_error(value: str, extra: str) -> None:
    text = MODEL + (f"inputs: [{{name: x, shape: [1, 8, 8]}}]\nlayers:\n  - {{type: conv2d, filters: 2, "
                    f"kernel_size: 3, padding: {value}}}\n")
    found = _diags(text)
    shown = value.strip('"')
    quotes = "; remove the quotes" if value.startswith('"') else ""
    assert found == [f"m.yaml:6:57: layers[0].padding: `{shown}` is not allowed here"
                     f"{quotes} (expected `valid`, `same`, an integer or a list){extra}"], found


@settings(max_examples=40, deadline=None)
@given(word=st.text(alphabet=st.characters(codec="ascii", categories=["L"]), min_size=1, max_size=8))
def test_any_padding_word_is_one_error_or_none(word: str) -> None:
    text = MODEL + (f"inputs: [{{name: x, shape: [1, 8, 8]}}]\nlayers:\n  - {{type: conv2d, filters: 2, "
                    f"kernel_size: 3, padding: '{word}'}}\n")
    found = _diags(text)
    if word in ("valid", "same"):
        assert found == [], found
    else:
        assert len(found) == 1 and f"`{word}` is not allowed here" in found[0], found


# ------------------------------------------------------------------------------------------ progress and plot
def test_progress_shows_the_latest_evaluation_metrics() -> None:
    plain = io.StringIO()
    p = Progress(40, label="r", stream=plain)
    for s in range(1, 41):
        if s % 8 == 0:
            p.evaluated(s, {"loss": 2.0 / s, "accuracy": s / 40})
        p.update(s, 1.0 / s)
    lines = plain.getvalue().splitlines()
    assert lines[0].startswith("r step 4/40 loss 0.25 (")  # no evaluation yet: nothing said
    assert lines[1].startswith("r step 8/40 loss 0.125 eval@8 loss 0.25 accuracy 0.2 (")
    assert lines[2].startswith("r step 12/40 loss 0.0833333 eval@8 loss 0.25 accuracy 0.2 (")  # the latest, its step
    assert lines[-1].startswith("r step 40/40 loss 0.025 eval@40 loss 0.05 accuracy 1 (")


def test_progress_that_cannot_be_written_ends_quietly() -> None:
    """A stream that refuses a write (a full disk, a closed pipe) raised out of the run's loop: the display stops,
    not the run."""
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    p = Progress(40, label="r", stream=Full())
    for s in range(1, 41):
        p.update(s, 1.0 / s)
    p.close()
    assert not p.enabled and p.done == 40


def test_the_plot_shows_the_learning_rate_and_every_evaluation_metric() -> None:
    history = [{"step": s, "loss": 1.0 / s, "lr": 0.1 * 0.9**s,
                **({"eval": {"loss": 1.5 / s, "accuracy": s / 30, "mae": 0.5 / s}} if s % 10 == 0 else {})}
               for s in range(1, 31)]
    root = ElementTree.fromstring(run_chart(history, "r on reference (float32)"))
    texts = [e.text for e in root.iter() if e.tag.endswith("text")]
    for title in ("r on reference (float32)", "learning rate (the step's, after warm-up and schedule)",
                  "evaluation accuracy", "evaluation mae"):
        assert title in texts, texts
    assert texts.count("eval accuracy") == 1 and "eval loss" in texts and "train loss" in texts
    assert int(root.get("height")) == 4 * 400  # loss, learning rate, accuracy, mae


def test_a_run_s_loss_svg_has_its_metrics(tmp_path: Path) -> None:
    recipe = ROOT / "examples" / "digits-mlp" / "recipe.yaml"
    assert main(["run", str(recipe), "--out", str(tmp_path), "--quiet", "--set", "training.steps=100",
                 "--set", "evaluation.every=50", "--set", "checkpoint.every=50"]) == 0
    texts = [e.text for e in ElementTree.parse(tmp_path / "loss.svg").getroot().iter() if e.tag.endswith("text")]
    assert "evaluation accuracy" in texts and "learning rate" in texts


# ------------------------------------------------------------------------------------------ certify, adapters
def test_certify_progress_counts_what_its_summary_counts(tmp_path: Path, capsys) -> None:
    assert main(["certify", "--adapter", "reference", "--construct", "dense,adam,digits-mlp", "--dtype", "float64",
                 "--examples", "2", "--report", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    counted = re.findall(r"^\[ ?(\d+)/(\d+)\]", captured.err, re.M)
    summary = re.search(r"^(\d+) checks: ", captured.out, re.M)
    assert summary is not None and counted, captured
    assert {int(t) for _, t in counted} == {int(summary.group(1))} == {4}
    assert [int(d) for d, _ in counted] == [1, 2, 3, 4]


def test_certify_acme_says_how_to_install_the_example_adapter(capsys) -> None:
    assert main(["certify", "--adapter", "acme"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip().endswith(
        "`acme` is the example adapter in examples/acme-adapter: install it first with "
        "`pip install ./examples/acme-adapter` from the repository's root"), err


# ------------------------------------------------------------------------------------------ README
def test_readme_validate_example_works_as_shown() -> None:
    """The first use in the README runs, from a clone, on files that ship, and prints what the README shows."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- output: (lockstep validate [^>]*?) -->\n```\n(.*?)```", text, re.S)
    assert m is not None, "README's validate example has no output marker"
    shown = m.group(2)
    produced = ""
    for command in m.group(1).split(" ;; "):
        args = command.split()[1:]
        proc = subprocess.run([sys.executable, "-m", "lockstep", *args], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode in (0, 1) and not proc.stderr, proc.stderr
        produced += f"$ {command}\n{proc.stdout}"
    assert produced == shown


def test_readme_names_the_install_line_before_certifying_acme() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    before = text[:text.index("$ lockstep certify --adapter acme")]
    assert "pip install ./examples/acme-adapter" in before.rsplit("**Certify", 1)[1]


def test_report_json_of_a_run_names_its_effective_recipe(tmp_path: Path) -> None:
    recipe = ROOT / "examples" / "huber-regression" / "recipe.yaml"
    assert main(["run", str(recipe), "--out", str(tmp_path), "--quiet", "--steps", "3"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["overrides"] == [] and report["recipe_resolved"]["file"] == "recipe.resolved.yaml"


NO_TENSORBOARD = """
import sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorboard", "tensorflow"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Absent())
from lockstep.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_tensorboard_without_a_writer_is_one_sentence_and_exit_2_before_anything(tmp_path: Path) -> None:
    recipe = ROOT / "examples" / "huber-regression" / "recipe.yaml"
    proc = subprocess.run([sys.executable, "-c", NO_TENSORBOARD, "run", str(recipe), "--out", str(tmp_path / "o"),
                           "--tensorboard"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr == ("lockstep run: --tensorboard needs the `tensorboard` package (pip install tensorboard) or "
                           "TensorFlow (pip install 'lockstep-standard[tensorflow]'); neither is installed. "
                           "metrics.jsonl and loss.svg hold the same numbers\n")
    assert not (tmp_path / "o").exists()


def test_a_writer_that_fails_mid_run_is_said_once_and_the_run_goes_on(tmp_path: Path, monkeypatch, capsys) -> None:
    from lockstep import tensorboard

    class Flaky:
        calls = 0

        def scalar(self, tag: str, value: float, step: int) -> None:
            Flaky.calls += 1
            if step == 3:
                raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    monkeypatch.setattr(tensorboard, "require", lambda: "tensorboard")
    monkeypatch.setattr(tensorboard, "open_writer", lambda folder, which=None: Flaky())
    recipe = ROOT / "examples" / "huber-regression" / "recipe.yaml"
    assert main(["run", str(recipe), "--out", str(tmp_path), "--quiet", "--steps", "6", "--tensorboard"]) == 0
    err = capsys.readouterr().err
    assert err == ("lockstep run: TensorBoard event files stopped at step 3 (OSError: [Errno 28] No space left on "
                   "device); metrics.jsonl has every step\n"), err
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 6


def test_a_resume_that_cannot_remove_the_earlier_event_files_writes_none(tmp_path: Path, monkeypatch) -> None:
    """Kept, an earlier run's event files would show the steps past its checkpoint twice: a resume that cannot
    remove one says so once and writes no events (metrics.jsonl is the record); one it can remove is replaced
    by the history, written again."""
    from lockstep import tensorboard

    written: list[tuple[str, int]] = []

    class Memory:
        def scalar(self, tag: str, value: float, step: int) -> None:
            written.append((tag, step))

        def close(self) -> None:
            pass

    history = [{"step": 1, "loss": 0.5, "lr": 0.1}, {"step": 2, "loss": 0.25, "lr": 0.1}]
    old = tmp_path / "events.out.tfevents.1.host.1.0"
    old.write_bytes(b"old")
    stuck = tmp_path / "events.out.tfevents.2.host.2.0"
    stuck.write_bytes(b"old")
    unlink = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self.name == stuck.name:
            raise PermissionError(13, "Permission denied")
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    said: list[str] = []
    recorder = tensorboard.Recorder(Memory(), said.append, tensorboard.event_files(tmp_path))
    assert recorder.stale == [old, stuck]
    recorder.restart(history)
    recorder({"step": 3, "loss": 0.1, "lr": 0.1})
    assert written == [] and recorder.writer is None and not old.exists()
    assert len(said) == 1 and said[0].startswith("TensorBoard event files not written: cannot remove the earlier "
                                                 "run's events.out.tfevents.2.host.2.0 (Permission denied)"), said
    monkeypatch.undo()
    stuck.unlink()
    old.write_bytes(b"old")
    recorder = tensorboard.Recorder(Memory(), said.append, tensorboard.event_files(tmp_path))
    recorder.restart(history)
    assert not old.exists() and written == [("train/loss", 1), ("train/learning_rate", 1), ("train/loss", 2),
                                            ("train/learning_rate", 2)]


def test_docs_running_shows_real_outputs(tmp_path: Path) -> None:
    """The marked blocks of docs/running.md are what their commands print (run from a copy of examples/)."""
    import shutil

    text = (ROOT / "docs" / "running.md").read_text(encoding="utf-8")
    marked = re.findall(r"<!-- output: (.*?) -->\n```\n(.*?)```", text, re.S)
    assert len(marked) >= 2
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for spec, shown in marked:
        command, _, options = spec.partition(" || ")
        proc = subprocess.run([sys.executable, "-m", "lockstep", *command.split()[1:]], capture_output=True,
                              text=True, cwd=tmp_path)
        produced = f"$ {command}\n{proc.stdout}" + (proc.stderr if "stderr" in options else "")
        assert produced == shown, produced


@pytest.mark.parametrize("value, number", [("1_000", "1000"), ("2_5.0", "25.0"), ("1_0e-3", "10e-3")])
def test_a_number_with_underscores_is_said_to_be_a_string_not_to_lose_its_quotes(value: str, number: str) -> None:
    """`units: 1_000` was told to "remove the quotes", which it has none of: YAML 1.2 and JSON read it as a
    string (YAML 1.1 and Python as 1000)."""
    kind = "units" if "." not in value and "e" not in value else "rate"
    layer = f"{{type: dense, {kind}: {value}}}" if kind == "units" else f"{{type: dropout, rate: {value}}}"
    found = _diags(MODEL + f"inputs: [{{name: x, shape: [3]}}]\nlayers:\n  - {layer}\n")
    assert any(f'got the string "{value}" (YAML 1.2 and JSON read `{value}` as a string' in f and
               f"write `{number}`" in f for f in found), found
    assert not any("remove the quotes" in f for f in found), found


def _broken_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that cannot start, as a broken TensorFlow install's: TensorFlow's errors quote lines (`\\n\\t`)."""
    from lockstep import tensorboard

    def broken(folder: Path, which: str | None = None) -> None:
        raise ModuleNotFoundError("No module named 'tensorflow.python'\\n\\tCreating writable file")

    monkeypatch.setattr(tensorboard, "require", lambda: "tensorflow")
    monkeypatch.setattr(tensorboard, "open_writer", broken)


def test_a_writer_that_cannot_start_leaves_the_previous_run_as_it_was(tmp_path: Path, monkeypatch, capsys) -> None:
    """`--overwrite --tensorboard` with an unusable writer removed the previous run (checkpoints, metrics, report)
    and then refused to start; a fresh folder was left with recipe.resolved.yaml, which the next run refused."""
    recipe = ROOT / "examples" / "huber-regression" / "recipe.yaml"
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--steps", "4"]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    _broken_writer(monkeypatch)
    capsys.readouterr()
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--overwrite", "--tensorboard"]) == 2
    err = capsys.readouterr().err
    assert err == ("lockstep run: --tensorboard: cannot write event files with tensorflow (ModuleNotFoundError: No "
                   "module named 'tensorflow.python' Creating writable file); nothing was changed\n"), err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    fresh = tmp_path / "fresh"
    assert main(["run", str(recipe), "--out", str(fresh), "--quiet", "--tensorboard"]) == 2
    assert not fresh.exists(), sorted(fresh.rglob("*"))


def test_a_resume_never_rewrites_event_files_through_a_link(tmp_path: Path, monkeypatch, capsys) -> None:
    """RUN/tensorboard linked to a shared log folder: a resume with --tensorboard deleted every event file in it,
    another host's too (--overwrite removes the link itself, not what it points at)."""
    recipe = ROOT / "examples" / "huber-regression" / "recipe.yaml"
    out, shared = tmp_path / "run", tmp_path / "shared"
    every = ["--set", "checkpoint={every: 2}"]
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--steps", "4", *every]) == 0
    shared.mkdir()
    (shared / "events.out.tfevents.1.otherhost.1.0").write_bytes(b"theirs")
    (out / "tensorboard").symlink_to(shared, target_is_directory=True)
    monkeypatch.setattr("lockstep.tensorboard.require", lambda: "tensorboard")
    capsys.readouterr()
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--resume", "--tensorboard", *every]) == 2
    assert "tensorboard is a symbolic link" in capsys.readouterr().err
    assert (shared / "events.out.tfevents.1.otherhost.1.0").read_bytes() == b"theirs"
