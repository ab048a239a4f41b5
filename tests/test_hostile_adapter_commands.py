"""A misbehaving third-party adapter under `lockstep adapters`, `run` and `compare`: one sentence and an exit
code, never a traceback, never a run folder (certify's side is tests/conformance/test_hostile_adapters.py).

Each command reads the adapter's answers through adapters/checked.py; these adapters are the reference adapter
with one answer spoiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import fake_entry_points

from lockstep.cli import main

HOSTILE = '''
import sys
from lockstep.adapters.reference import ReferenceAdapter

class StringDevices(ReferenceAdapter):
    name = "strdev"
    def devices(self):
        return "cpu"

class ExitingVersions(ReferenceAdapter):
    name = "exitv"
    def versions(self):
        raise SystemExit(3)

class ListVersions(ReferenceAdapter):
    name = "listv"
    def versions(self):
        return ["x"]

class NoDevices(ReferenceAdapter):
    name = "nodev"
    def devices(self):
        return []

class Unprintable:
    def __str__(self):
        raise RuntimeError("no text")

class OddThreads(ReferenceAdapter):
    name = "oddthreads"
    def configure_threads(self, intra, inter):
        return {1: "one", "blas": object(), "pool": Unprintable(), "intra": intra}

class SecondTimeFails(ReferenceAdapter):
    made = 0
    def __init__(self):
        type(self).made += 1
        if type(self).made > 1:
            raise RuntimeError("licence already in use")

class ExitingConstructor(ReferenceAdapter):
    def __init__(self):
        raise SystemExit("no licence")

class ControlCharacters(ReferenceAdapter):
    name = "ctl"
    def versions(self):
        return {"ctl-pkg": "1.0\\x1b[2J\\rforged"}
    def support(self, construct, *, dtype, device):
        from lockstep.adapters.base import Support
        if construct == "relu":
            return Support("native", "tf.nn.relu\\x1b[31m\\nrelu  forged line")
        return super().support(construct, dtype=dtype, device=device)

class ChangingVersions(ReferenceAdapter):
    name = "changing"
    asked = 0
    def versions(self):
        type(self).asked += 1
        return {"changing-pkg": f"answer {type(self).asked}"}

class Chdir(ReferenceAdapter):
    name = "chdir"
    def build(self, *args, **kwargs):
        import os
        os.makedirs("elsewhere", exist_ok=True)
        os.chdir("elsewhere")
        return super().build(*args, **kwargs)

class Chatty(ReferenceAdapter):
    name = "chatty"
    def versions(self):
        import os
        print("CHATTY versions")
        os.write(1, b"NATIVE versions\\n")
        return super().versions()
    def support(self, construct, *, dtype, device):
        print("CHATTY support")
        return super().support(construct, dtype=dtype, device=device)
    def build(self, *args, **kwargs):
        print("CHATTY build")
        return super().build(*args, **kwargs)

class _Spoiled(ReferenceAdapter):
    """A session with one call spoiled (`spoil` names it, `with_` is what it does instead)."""
    def build(self, *args, **kwargs):
        session = super().build(*args, **kwargs)
        setattr(session, self.spoil, self.with_)
        return session

def _raises(*args, **kwargs):
    raise RuntimeError("vendor kernel exploded")

class NoneStep(_Spoiled):
    spoil, with_ = "train_step", staticmethod(lambda *a, **k: None)

class RaisingStep(_Spoiled):
    spoil, with_ = "train_step", staticmethod(_raises)

class NoneForward(_Spoiled):
    spoil, with_ = "forward", staticmethod(lambda *a, **k: None)

class NoneParameters(_Spoiled):
    spoil, with_ = "get_parameters", staticmethod(lambda *a, **k: None)

class TextStepOptimizerState(_Spoiled):
    spoil, with_ = "get_optimizer_state", staticmethod(lambda *a, **k: ("x", {}))

class ManyDevices(ReferenceAdapter):
    name = "many"
    def devices(self):
        return ["cpu", "cuda:0", "tpu:7"]

class NoneBuild(ReferenceAdapter):
    def build(self, *args, **kwargs):
        return None

class InterruptingBuild(ReferenceAdapter):
    def build(self, *args, **kwargs):
        raise KeyboardInterrupt("licence server said stop")

class NoneDataParallel(ReferenceAdapter):
    def data_parallel(self, *args, **kwargs):
        return None

class TypeErrorDataParallel(ReferenceAdapter):
    def data_parallel(self, *args, **kwargs):
        raise TypeError("replicas must be a power of two")

class NumberNote(ReferenceAdapter):
    def support(self, construct, *, dtype, device):
        from lockstep.adapters.base import Support
        answer = super().support(construct, dtype=dtype, device=device)
        return Support(answer.status, 12345) if answer.supported else answer

class RaisingSupport(ReferenceAdapter):
    name = "rsup"
    def support(self, construct, *, dtype, device):
        if construct == "relu":
            raise RuntimeError("relu support unknown")
        if construct == "tanh":
            return "native"
        return super().support(construct, dtype=dtype, device=device)
'''

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "inline-model" / "recipe.yaml"


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable module `hostile_pkg` of spoiled adapters, and `exiting_pkg`, which exits at import."""
    (tmp_path / "hostile_pkg.py").write_text(HOSTILE)
    (tmp_path / "exiting_pkg.py").write_text("import sys\nsys.exit(4)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "hostile_pkg"


@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize("attribute, said", [
    ("ExitingVersions", "versions() raised SystemExit: 3 (raised by the adapter's versions(): a BaseException"),
    ("ListVersions", "versions() returned list ['x']; expected a mapping of package to version"),
    ("ExitingConstructor", "failed to start: SystemExit: no licence (raised by the adapter's constructor"),
])
def test_run_and_compare_refuse_an_unusable_adapter_before_any_folder(
        hostile: str, attribute: str, said: str, command: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    backend = f"{hostile}:{attribute}"
    out = tmp_path / "out"
    argv = ([command, str(RECIPE), "--backend", backend, "--out", str(out), "-q"] if command == "run" else
            [command, str(RECIPE), "--backends", f"reference,{backend}", "--steps", "2", "-q"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"lockstep {command}: "), err
    assert not out.exists()


@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize("attribute, said", [
    ("NoneBuild", "backend `{b}`: build() returned None; expected a session"),  # internal error, exit 3
    ("InterruptingBuild", "backend `{b}` could not build a session: KeyboardInterrupt raised by the adapter: licence "
     "server said stop"),  # "interrupted", exit 130, as if Ctrl-C had been pressed
])
def test_a_build_that_answers_wrongly_is_the_adapter_s_fault(hostile: str, attribute: str, said: str, command: str,
                                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    backend, out = f"{hostile}:{attribute}", tmp_path / "out"
    argv = ([command, str(RECIPE), "--backend", backend, "--out", str(out), "-q"] if command == "run" else
            [command, str(RECIPE), "--backends", f"reference,{backend}", "--steps", "2", "-q"])
    # a command line of its own: a KeyboardInterrupt is told from Ctrl-C only where the command's signal handlers
    # are in place (the main thread of its own process; not a pytest-xdist worker's); CI starts it as a background
    # job, whose SIGINT is ignored (every KeyboardInterrupt was taken for a stop there)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "lockstep", *argv], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    err = proc.stderr
    assert said.format(b=backend) in err and "internal error" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("attribute, said", [
    ("NoneDataParallel", "backend `{b}`: data_parallel() returned None; expected a session"),
    ("TypeErrorDataParallel", "backend `{b}` could not build a session: TypeError: replicas must be a power of two"),
])  # both were internal errors (exit 3, "please report it") under --replicas; build() said them as the adapter's
def test_a_data_parallel_session_that_fails_is_the_adapter_s_fault(hostile: str, attribute: str, said: str,
                                                                   tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    backend, out = f"{hostile}:{attribute}", tmp_path / "out"
    assert main(["run", str(RECIPE), "--backend", backend, "--replicas", "2", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert said.format(b=backend) in err and "internal error" not in err and "Traceback" not in err, err
    assert not out.exists()


def test_a_long_device_list_does_not_run_into_the_versions(hostile: str, capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    """`cpu, cuda:0, tpu:7lockstep 0.1.0`: the devices' column was 18 wide whatever they were."""
    main(["adapters", "--adapter", f"{hostile}:ManyDevices"])
    line = next(li for li in capsys.readouterr().out.splitlines() if "tpu:7" in li)
    assert "tpu:7  " in line and "tpu:7lockstep" not in line, line


def test_adapters_lists_each_unusable_adapter_with_its_reason(hostile: str, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    fake_entry_points(monkeypatch, strdev=f"{hostile}:StringDevices", exitv=f"{hostile}:ExitingVersions",
                  nodev=f"{hostile}:NoDevices", exits="exiting_pkg:Anything", fine=f"{hostile}:RaisingSupport")
    assert main(["adapters", "--format", "json"]) == 1
    captured = capsys.readouterr()
    rows = {r["name"]: r for r in json.loads(captured.out)}
    assert rows["fine"]["available"] and rows["reference"]["available"]
    reasons = {n: rows[n]["reason"] for n in ("strdev", "exitv", "nodev", "exits")}
    assert not any(rows[n]["available"] for n in reasons), rows
    assert reasons["strdev"].startswith("devices() returned str 'cpu'; expected a list of device names"), reasons
    assert reasons["exitv"].startswith("versions() raised SystemExit: 3"), reasons
    assert reasons["nodev"].startswith("the adapter offers no device"), reasons
    assert "failed to load: SystemExit: 4 (raised by the adapter's import" in reasons["exits"], reasons
    lines = captured.err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("lockstep adapters: the adapter `") for line in lines), lines
    assert "Traceback" not in captured.err


def test_details_show_a_raising_support_as_error_and_exit_1(hostile: str, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    fake_entry_points(monkeypatch, rsup=f"{hostile}:RaisingSupport")
    assert main(["adapters", "--details", "--adapter", "rsup", "--format", "json"]) == 1
    captured = capsys.readouterr()
    rows = {r["construct"]: r for r in json.loads(captured.out)["rsup"]["constructs"]}
    assert rows["relu"]["float32"] == {"status": "error", "note": "support() for `relu` (float32, cpu) raised "
                                                                  "RuntimeError: relu support unknown"}
    assert rows["tanh"]["float64"]["status"] == "error" and "returned str 'native'" in rows["tanh"]["float64"]["note"]
    assert rows["dense"]["float64"]["status"] == "written"  # the rest of the listing stands
    assert captured.err.strip() == ("lockstep adapters: the adapter `rsup` cannot say what it supports for 2 "
                                    "constructs (first, `relu`: support() for `relu` (float32, cpu) raised "
                                    "RuntimeError: relu support unknown)"), captured.err
    assert main(["adapters", "--details", "--adapter", "rsup"]) == 1
    text = capsys.readouterr().out
    assert "error 4" in text.splitlines()[0], text.splitlines()[0]


def test_an_odd_configure_threads_answer_is_recorded_as_text(hostile: str, tmp_path: Path) -> None:
    """configure_threads() answering non-text keys and unprintable values: the run trains and writes its report
    (it crashed writing report.json, after training), the values recorded as text."""
    out = tmp_path / "out"
    assert main(["run", str(RECIPE), "--backend", f"{hostile}:OddThreads", "--out", str(out), "-q"]) == 0
    text = (out / "report.json").read_text(encoding="utf-8")
    assert '"blas": "<object object at' in text and "(a Unprintable that cannot be shown)" in text, text[:2000]


def test_details_of_an_adapter_that_loads_only_once(hostile: str, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    fake_entry_points(monkeypatch, once=f"{hostile}:SecondTimeFails")
    assert main(["adapters", "--details", "--adapter", "once"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockstep adapters: the adapter `once` cannot be used for --details: adapter `once` "
                          "failed to start: RuntimeError: licence already in use"), err
    assert "Traceback" not in err


def test_an_adapters_control_characters_are_shown_escaped(hostile: str, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Its versions() and support() notes are its own text: printed raw, an escape sequence cleared the screen and a
    newline forged a line of the listing."""
    fake_entry_points(monkeypatch, ctl=f"{hostile}:ControlCharacters")
    assert main(["adapters", "--adapter", "ctl"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "1.0\\x1b[2J\\rforged" in out, out
    assert main(["adapters", "--details", "--adapter", "ctl"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "tf.nn.relu\\x1b[31m\\nrelu  forged line" in out, out
    assert not any(line.startswith("relu  forged") for line in out.splitlines())


def test_run_asks_versions_once_and_records_that_answer(hostile: str, tmp_path: Path) -> None:
    """versions() was asked before the run (checked) and again for the report: an adapter whose answer changed
    had its report record an answer nobody checked."""
    out = tmp_path / "out"
    assert main(["run", str(RECIPE), "--backend", f"{hostile}:ChangingVersions", "--out", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["versions"]["changing-pkg"] == "answer 1", report["versions"]


NAN_LOSS = '''
import math

from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession


class NanSession(ReferenceSession):
    """Returns a NaN loss from its third step on, without raising NonFiniteError as the contract asks."""

    def train_step(self, x, y, *, masks=None):
        result = super().train_step(x, y, masks=masks)
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls >= 3:
            result.loss = math.nan
        return result


class NanLoss(ReferenceAdapter):
    name = "nanloss"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        return NanSession(model, recipe)
'''


def test_compare_says_a_non_finite_loss_where_it_cannot_measure_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The drift line said "0.00e+00 in the loss" while the table showed Δloss nan, and the verdict named only the
    quantity ("...: loss") where `--conformance` says why ("non-finite (nan; the reference's is ...)")."""
    (tmp_path / "nan_pkg.py").write_text(NAN_LOSS)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["compare", str(RECIPE), "--backends", "reference,nan_pkg:NanLoss", "--steps", "6", "-q"]) == 1
    out = capsys.readouterr().out
    verdict = next(line for line in out.splitlines() if line.startswith("verdict (re-synchronized"))
    drift = next(line for line in out.splitlines() if line.startswith("drift (free-running"))
    assert "DIVERGES" in verdict and "loss: non-finite (nan; the reference's is" in verdict, verdict
    assert "0.00e+00 in the loss" not in drift and "a loss is non-finite" in drift, drift


def test_compare_header_says_how_far_it_got_when_the_reference_stops(capsys: pytest.CaptureFixture[str]) -> None:
    """With a learning rate that makes the reference's loss non-finite at step 2, the header said "over 6 steps"
    above a table of two rows."""
    pytest.importorskip("torch")
    code = main(["compare", str(RECIPE), "--backends", "reference,torch", "--steps", "6", "-q",
                 "--set", "optimizer.learning_rate=1e200", "--set", "dtype=float64"])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if " comparison of " in line)
    assert "over the first 2 of 6 steps, where the reference stopped" in header, (code, header)


@pytest.mark.parametrize("command", ["run", "compare"])
def test_an_adapter_that_changes_the_folder_does_not_move_the_outputs(
        hostile: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An adapter's chdir: run wrote metrics.jsonl into `elsewhere/out` (then stopped, exit 2, its lock alone in
    `out`), and compare wrote compare.json there and exited 0."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = ([command, str(RECIPE), "--backend", f"{hostile}:Chdir", "--out", "out", "-q", "--steps", "2"]
            if command == "run" else
            [command, str(RECIPE), "--backends", f"reference,{hostile}:Chdir", "--steps", "2", "-q", "--out", "out"])
    assert main(argv) == 0, capsys.readouterr().err
    written = {"run": {"metrics.jsonl", "report.json", "loss.svg", "recipe.resolved.yaml"},
               "compare": {"compare.json", "compare.svg"}}[command]
    assert written <= {p.name for p in (work / "out").iterdir()}, sorted((work / "out").iterdir())
    assert not (work / "elsewhere" / "out").exists()


@pytest.mark.parametrize("argv", [
    ["adapters", "--format", "json", "--adapter", "hostile_pkg:Chatty"],
    ["adapters", "--details", "--format", "json", "--adapter", "hostile_pkg:Chatty"],
    ["compare", str(RECIPE), "--backends", "reference,hostile_pkg:Chatty", "--steps", "2", "-q", "--format", "json"],
    ["compare", str(RECIPE), "--backends", "reference,hostile_pkg:Chatty", "--steps", "2", "-q", "--format", "json",
     "--conformance"],
])
def test_an_adapter_that_prints_does_not_spoil_a_json_output(hostile: str, argv: list[str], tmp_path: Path) -> None:
    """An adapter's print (and a native write to descriptor 1) landed in front of the JSON document: json.load
    failed on `lockstep adapters --format json` and `lockstep compare --format json` (and, until 2026-12-07, on
    `lockstep compare --conformance --format json`), exit 0."""
    proc = subprocess.run([sys.executable, "-m", "lockstep", *argv], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    json.loads(proc.stdout)  # the whole of standard output is the document
    assert "CHATTY" in proc.stderr and "NATIVE versions" in proc.stderr, proc.stderr[-500:]


@pytest.mark.parametrize("attribute, said", [
    ("NoneStep", "step 1: the `{b}` adapter's train_step() returned None; expected a StepResult"),
    ("RaisingStep", "step 1: the `{b}` adapter's train_step() raised RuntimeError: vendor kernel exploded"),
    ("NoneForward", "step 30: the `{b}` adapter's forward() returned None; expected an array of the model's outputs"),
    # these two were internal errors (exit 3, "please report it"), with a run folder of two files
    ("NoneParameters", "step 2: the `{b}` adapter's get_parameters() returned None; expected a mapping"),
    ("TextStepOptimizerState", "step 2: the `{b}` adapter's get_optimizer_state() returned tuple ('x', {{}}); "
     "expected a pair"),
])
def test_a_session_that_raises_or_answers_wrongly_fails_the_run_as_the_adapter_s_fault(
        hostile: str, attribute: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before, each was "internal error (AttributeError: 'NoneType' object has no attribute 'loss') ... please
    report it", with no report: now a failed run (exit 1) whose report says what the adapter did."""
    backend, out = f"{hostile}:{attribute}", tmp_path / "out"
    assert main(["run", str(RECIPE), "--backend", backend, "--out", str(out), "-q", "--set",
                 "checkpoint={every: 2}"]) == 1
    err = capsys.readouterr().err
    assert said.format(b=backend) in err and "internal error" not in err and "Traceback" not in err, err
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "failed" and said.format(b=backend) in report["error"], report


@pytest.mark.parametrize("attribute, said", [
    ("NoneStep", "step 1: the `{b}` adapter's train_step() returned None; expected a StepResult"),
    ("RaisingStep", "step 1: the `{b}` adapter's train_step() raised RuntimeError: vendor kernel exploded"),
])
def test_compare_says_which_backend_failed_and_exits_1(hostile: str, attribute: str, said: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    backend = f"{hostile}:{attribute}"
    assert main(["compare", str(RECIPE), "--backends", f"reference,{backend}", "--steps", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockstep compare: " + said.format(b=backend)) and "internal error" not in err, err


def test_a_support_note_that_is_not_text_is_shown_as_text(hostile: str) -> None:
    from lockstep.adapters.checked import checked_support
    from lockstep.adapters.registry import get

    support = checked_support(get(f"{hostile}:NumberNote"), "dense", dtype="float64", device="cpu")
    assert support.note == "12345" and support.status == "written"


def test_a_generator_closed_inside_a_session_call_closes_quietly() -> None:
    """A data-parallel replica's loop is a generator: Ctrl-C closed it inside a session call, and the call turned
    that GeneratorExit into a failed run ("Exception ignored in ... RunFailed: ... raised GeneratorExit")."""
    from lockstep.adapters.checked import session_call

    def replica():
        with session_call("train_step()", lambda text: RuntimeError(text)):
            yield 1

    steps = replica()
    next(steps)
    steps.close()  # raised RuntimeError("train_step() raised GeneratorExit ...") from the close
    with pytest.raises(RuntimeError, match=r"^train_step\(\) raised ValueError: bad$"):
        with session_call("train_step()", lambda text: RuntimeError(text)):
            raise ValueError("bad")
