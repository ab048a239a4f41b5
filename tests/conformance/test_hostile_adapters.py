"""Misbehaving third-party adapters: `lockstep certify` never crashes with a Lockstep traceback nor hangs on them.

An adapter that cannot be used at all (a `name` that is not a string, versions() or devices() raising or answering
the wrong type) is one line and exit 2 (LockstepError from `lockstep.certify`); a misbehaviour inside a check
(build() raising a BaseException, support() answering no Support) is an `error` of that check, the others still
run and the four reports are written, well-formed; adapter and device names never place a folder outside the
report folder; an adapter that changes the working folder does not move the reports.

Each adapter is the reference adapter with one override, certified on `relu` in float64 with 2 examples.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lockstep
from lockstep.adapters.base import Support
from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession
from lockstep.cli import main

pytest_plugins = ["pytester"]

FAST: dict[str, Any] = {"constructs": "relu", "dtypes": "float64", "examples": 2, "jobs": 1, "log": lambda _m: None}
CLI_FAST = ["--construct", "relu", "--dtype", "float64", "--examples", "2", "--jobs", "1", "-q"]


class MyBase(BaseException):
    """A BaseException of the adapter's own (not an Exception)."""


class Hostile(ReferenceAdapter):
    """The reference adapter under another name; the tests below override one thing each."""

    name = "hostile"


def _adapter(name: str = "hostile", **methods: Any) -> Hostile:
    """An instance of a fresh Hostile subclass with `methods` as class attributes."""
    return type("H", (Hostile,), {"name": name, **methods})()


def _raiser(exc: BaseException) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise exc
    return method


def _well_formed(folder: Path) -> dict[str, Any]:
    """The four reports exist and parse; report.json as a dict."""
    for f in ("report.json", "report.html", "report.md", "junit.xml"):
        assert (folder / f).is_file(), f
    ET.parse(folder / "junit.xml")
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def _module(name: str) -> str:
    """`module:attribute` of a class in this module, for the command line (this module is in sys.modules)."""
    return f"{__name__}:{name}"


# ------------------------------------------------------------------------------ 1. BaseException from build()
@pytest.mark.parametrize("exc, shown", [(MyBase("base boom"), "MyBase: base boom"), (SystemExit(3), "SystemExit: 3"),
                                        (GeneratorExit(), "GeneratorExit")])
def test_build_raising_a_base_exception_is_an_error_of_its_checks(exc: BaseException, shown: str,
                                                                  tmp_path: Path) -> None:
    cert = lockstep.certify(_adapter(build=_raiser(exc)), report=tmp_path / "r", **FAST)
    assert cert.counts() == {"pass": 0, "fail": 0, "unsupported": 0, "error": 2}
    assert all(c.message.startswith(shown) and "build()" in c.message for c in cert.checks), cert.checks
    report = _well_formed(tmp_path / "r")
    assert report["counts"]["error"] == 2 and not report["certified"]


def test_a_session_raising_a_base_exception_errs_only_its_level(tmp_path: Path) -> None:
    class Session(ReferenceSession):
        def forward(self, x: Any, *, training: bool = False, masks: Any = None) -> Any:
            raise SystemExit(5)

    def build(self: Any, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        return Session(model, recipe, dtype)

    cert = lockstep.certify(_adapter(build=build), report=tmp_path / "r", **FAST)
    by_level = {c.level_name: c for c in cert.checks}
    assert by_level["predictions"].outcome == "error" and "SystemExit: 5" in by_level["predictions"].message
    assert by_level["gradients"].outcome == "pass"  # its level runs no forward of its own: the other level stands
    _well_formed(tmp_path / "r")


@pytest.mark.parametrize("call, answer, level, said", [
    ("forward", None, "predictions", "AnswerError: forward() returned None; expected an array"),
    ("loss_and_gradients", None, "gradients", "AnswerError: loss_and_gradients() returned None; expected a pair"),
    ("loss_and_gradients", (1.0, {"relu_in": None}), "gradients",
     "AnswerError: loss_and_gradients() returned None as the gradient of `relu_in`"),
    ("train_step", None, "updates", "AnswerError: train_step() returned None; expected a StepResult"),
    # these two were "AttributeError: 'NoneType' object has no attribute 'get'" and "ValueError: too many values to
    # unpack", in Lockstep's words, not naming the call
    ("get_parameters", None, "updates", "AnswerError: get_parameters() returned None; expected a mapping"),
    ("get_optimizer_state", [], "updates", "AnswerError: get_optimizer_state() returned list []; expected a pair"),
])
def test_a_session_answer_of_the_wrong_kind_is_said_as_such(call: str, answer: Any, level: str, said: str) -> None:
    """Before: "shape [], the reference's [3, 4]" for a None output, and "AttributeError: 'NoneType' object has no
    attribute 'learning_rate'" for a None step."""
    class Session(ReferenceSession):
        pass

    setattr(Session, call, lambda self, *a, **k: answer)

    def build(self: Any, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        return Session(model, recipe, dtype)

    cert = lockstep.certify(_adapter(build=build), report=False, **{**FAST, "constructs": "dense,sgd"})
    check = next(c for c in cert.checks if c.level_name == level)
    assert check.outcome == "error" and check.message.startswith(said), check.message


def test_a_missing_parameter_is_said_missing() -> None:
    """It was a NaN in its place: "shape [], the reference's [1, 1]"."""
    class Session(ReferenceSession):
        def get_parameters(self) -> Any:
            return {k: v for k, v in super().get_parameters().items() if not k.endswith("weight")}

    def build(self: Any, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        return Session(model, recipe, dtype)

    cert = lockstep.certify(_adapter(build=build), report=False, levels=3, **{**FAST, "constructs": "sgd"})
    (check,) = cert.checks
    assert check.outcome == "fail" and "weight: missing from get_parameters()'s answer" in check.message, check


def test_a_missing_gradient_is_said_missing(tmp_path: Path) -> None:
    class Session(ReferenceSession):
        def loss_and_gradients(self, *args: Any, **kwargs: Any) -> Any:
            loss, grads = super().loss_and_gradients(*args, **kwargs)
            return loss, {k: v for k, v in grads.items() if not k.endswith("weight")}

    def build(self: Any, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        return Session(model, recipe, dtype)

    cert = lockstep.certify(_adapter(build=build), report=False, levels=2, **{**FAST, "constructs": "dense"})
    (check,) = cert.checks
    assert check.outcome == "fail" and "weight: missing from loss_and_gradients()'s answer" in check.message, check


class BuildExit(Hostile):
    name = "build-exit"

    def build(self, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        raise SystemExit(3)


class BuildInterrupt(Hostile):
    name = "build-interrupt"

    def build(self, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        raise KeyboardInterrupt


def test_cli_build_system_exit_is_exit_1_with_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["certify", "--adapter", _module("BuildExit"), *CLI_FAST, "--report", str(tmp_path / "r")])
    out = capsys.readouterr()
    assert code == 1, out  # not a silent exit 3
    assert "ERROR relu.predictions.float64.cpu: SystemExit: 3" in out.out
    assert "Traceback" not in out.out + out.err
    _well_formed(tmp_path / "r")


def test_keyboard_interrupt_raised_by_the_adapter(tmp_path: Path) -> None:
    """Through the API in one process it stops the run (it cannot be told from Ctrl-C there). The command line's
    own signal handlers remember what they raised, so there an adapter's own KeyboardInterrupt is its check's error,
    as in a worker process: `--jobs 1` stopped the command (130, no report) where `--jobs 2` reported the error."""
    import subprocess
    import sys

    with pytest.raises(KeyboardInterrupt):
        lockstep.certify(BuildInterrupt(), report=tmp_path / "api", **FAST)
    code = (f"import signal, sys; sys.path[:0] = {[str(Path(__file__).parent), str(Path(__file__).parents[1])]!r}; "
            "signal.signal(signal.SIGINT, signal.default_int_handler); from lockstep.cli import main; "
            f"sys.exit(main(['certify', '--adapter', 'test_hostile_adapters:BuildInterrupt', *{CLI_FAST!r}, "
            "'--report', sys.argv[1], '--jobs', sys.argv[2]]))")
    for jobs in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"r{jobs}"), jobs], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 1, (jobs, done.stdout + done.stderr)
        assert "ERROR relu.predictions.float64.cpu: KeyboardInterrupt" in done.stdout, (jobs, done.stdout)
    first, second = (json.loads((tmp_path / f"r{j}" / "report.json").read_text())["checks"] for j in "12")
    assert [c["message"] for c in first] == [c["message"] for c in second]


HOSTILE_MODULE = '''
from lockstep.adapters.reference import ReferenceAdapter


class MyBase(BaseException):
    pass


class BuildBase(ReferenceAdapter):
    name = "build-base"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        raise MyBase("base boom")


class NoSupport(ReferenceAdapter):
    name = "no-support"

    def support(self, construct, *, dtype="float32", device="cpu"):
        return None
'''


@pytest.mark.parametrize("attribute, message", [("BuildBase", "MyBase: base boom"),
                                                ("NoSupport", "support() returned None for `relu`")])
def test_pytest_plugin_reports_the_errors_of_a_hostile_adapter(attribute: str, message: str,
                                                               pytester: pytest.Pytester) -> None:
    pytester.makepyfile(lockstep_hostile_module=HOSTILE_MODULE)
    pytester.syspathinsert()
    result = pytester.runpytest(f"--lockstep-adapter=lockstep_hostile_module:{attribute}", "--lockstep-construct=relu",
                                "--lockstep-dtype=float64", "--lockstep-examples=2", "--lockstep-report=R")
    result.assert_outcomes(failed=2)
    assert len(result.outlines) < 80, "\n".join(result.outlines)  # each check's story, not a traceback
    report = _well_formed(pytester.path / "R")
    assert report["counts"]["error"] == 2
    assert all(message in c["message"] for c in report["checks"])


# ------------------------------------------------------------------------------ 2. versions() and devices()
@pytest.mark.parametrize("method, answer, message", [
    ("versions", lambda self: ["acme 1.0"], "versions() returned list ['acme 1.0']; expected a mapping"),
    ("versions", lambda self: 1 / 0, "versions() raised ZeroDivisionError: division by zero"),
    ("versions", _raiser(SystemExit(4)), "versions() raised SystemExit: 4"),
    ("devices", lambda self: "cpu", "devices() returned str 'cpu'; expected a list of device names"),
    ("devices", lambda self: [], "the adapter offers no device"),
    ("devices", lambda self: ["cpu", 3], "int 3 is not a device name"),
    ("devices", lambda self: ["cpu", ""], "str '' is not a device name"),
    ("devices", lambda self: None, "devices() returned None"),
    ("devices", lambda self: 1 / 0, "devices() raised ZeroDivisionError: division by zero"),
    ("devices", _raiser(MyBase("gone")), "devices() raised MyBase: gone"),
])
def test_unusable_versions_or_devices_are_one_line(method: str, answer: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(lockstep.LockstepError) as caught:
        lockstep.certify(_adapter(**{method: answer}), report=tmp_path / "r", **FAST)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


class DevicesString(Hostile):
    name = "devices-string"

    def devices(self) -> Any:
        return "cpu"


def test_cli_devices_as_a_string_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--adapter", _module("DevicesString"), *CLI_FAST, "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "devices() returned str 'cpu'" in err and "Traceback" not in err


def test_a_device_named_twice_is_certified_once(tmp_path: Path) -> None:
    cert = lockstep.certify(_adapter(devices=lambda self: ["cpu", "cpu"]), report=tmp_path / "r", **FAST)
    assert cert.devices == ["cpu"] and len(cert.checks) == 2 and cert.certified


def test_odd_versions_are_recorded_as_text(tmp_path: Path) -> None:
    odd = {"acme": None, "n": 3, "nl": "a\nb", "": "\x00ctl"}
    cert = lockstep.certify(_adapter(versions=lambda self: odd), report=tmp_path / "r", **FAST)
    assert cert.adapter_versions == {"acme": "None", "n": "3", "nl": "a\nb", "": "\x00ctl"}
    assert _well_formed(tmp_path / "r")["adapter_versions"]["n"] == "3"


# ------------------------------------------------------------------------------ 3. support()
class Duck:
    status = "native"
    note = 42


@pytest.mark.parametrize("answer, message", [
    (lambda self, c, **k: None, "support() returned None for `relu`; expected a Support"),
    (lambda self, c, **k: "native", "support() returned str 'native' for `relu`; expected a Support"),
    (lambda self, c, **k: True, "support() returned bool True for `relu`; expected a Support"),
    (_raiser(RuntimeError("support exploded")), "raised RuntimeError: support exploded"),
    (_raiser(SystemExit(2)), "raised SystemExit: 2"),
    # relu answers, but `dense`, which every case of it uses, does not: the message names what was asked
    (lambda self, c, **k: None if c == "dense" else ReferenceAdapter.support(self, c, **k),
     "support() returned None for `dense`"),
])
def test_support_answering_no_support_is_an_error_of_the_check(answer: Any, message: str, tmp_path: Path) -> None:
    cert = lockstep.certify(_adapter(support=answer), report=tmp_path / "r", **FAST)
    assert [c.outcome for c in cert.checks] == ["error", "error"]
    assert all(message in c.message for c in cert.checks), [c.message for c in cert.checks]
    _well_formed(tmp_path / "r")


def test_a_duck_typed_support_is_accepted(tmp_path: Path) -> None:
    cert = lockstep.certify(_adapter(support=lambda self, c, **k: Duck()), report=tmp_path / "r", **FAST)
    assert cert.certified and {c.provenance for c in cert.checks} == {"native"}
    assert {c.support for c in cert.checks} == {"native: 42"}


def test_support_broken_only_for_the_random_model_s_layers_errs_that_check(tmp_path: Path) -> None:
    def support(self: Any, construct: str, **kwargs: Any) -> Any:
        return "yes" if construct == "conv2d" else ReferenceAdapter.support(self, construct, **kwargs)

    cert = lockstep.certify(_adapter(support=support), report=tmp_path / "r", **{**FAST, "constructs": "random_model"})
    assert {c.outcome for c in cert.checks} == {"error"}
    assert "support() returned str 'yes' for `conv2d`" in cert.checks[0].message


# ------------------------------------------------------------------------------ 4. the adapter's name
@pytest.mark.parametrize("text, expected", [
    ("acme", "acme"), ("acme/v2", "acme-v2"), ("../../escaped", "escaped"), ("..", "adapter"), ("", "adapter"),
    (".", "adapter"), ("evil\nname", "evil-name"), ("ακμή✓-adapter", "ακμή-adapter"), ("cuda:0", "cuda-0"),
    ("v1.2_b", "v1.2_b"), ("x" * 300, "x" * 100),
])
def test_safe_name(text: str, expected: str) -> None:
    from lockstep.conformance.results import safe_name

    assert safe_name(text) == expected


@pytest.mark.parametrize("name, folder", [("../../escaped", "certify-escaped"), ("acme/v2", "certify-acme-v2"),
                                          ("x" * 300, "certify-" + "x" * 100), ("..", "certify-adapter"),
                                          ("evil\nname", "certify-evil-name")])
def test_the_default_report_folder_is_a_safe_name(name: str, folder: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    cert = lockstep.certify(_adapter(name), **FAST)
    made = [p.name for p in work.iterdir()]
    assert made == [folder] and cert.files["json"] == work / folder / "report.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"] and [p.name for p in (tmp_path / "a").iterdir()] == ["b"]
    _well_formed(work / folder)


class Nameless(Hostile):
    name = ""


class NameNone(Hostile):
    name = None  # type: ignore[assignment]


def test_cli_an_empty_name_gets_a_default_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["certify", "--adapter", _module("Nameless"), *CLI_FAST]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["certify-adapter"]
    assert "report: certify-adapter/report.html" in capsys.readouterr().out


def test_cli_a_name_that_is_not_a_string_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["certify", "--adapter", _module("NameNone"), *CLI_FAST]) == 2
    assert "its `name` is None; expected a string" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", [None, 12, "", "  "])
def test_an_adapter_object_whose_name_is_not_a_string_is_refused(name: Any, tmp_path: Path) -> None:
    with pytest.raises(lockstep.LockstepError, match=r"its `name` is .*; expected a non-empty string"):
        lockstep.certify(_adapter(name), report=tmp_path / "r", **FAST)
    # and nothing of it stays behind in the process: the next certification runs (the threads record was keyed by it)
    assert lockstep.certify(_adapter("fine"), report=tmp_path / "ok", **FAST).certified


# ------------------------------------------------------------------------------ 5. device names and failure folders
def _nan_on(device: str) -> Hostile:
    """An adapter offering one oddly named device, whose predictions are NaN: every predictions check fails."""

    class Session(ReferenceSession):
        def forward(self, x: Any, *, training: bool = False, masks: Any = None) -> Any:
            return np.full_like(super().forward(x, training=training, masks=masks), np.nan)

    def support(self: Any, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        return ReferenceAdapter.support(self, construct, dtype=dtype, device="cpu")

    def build(self: Any, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        return Session(model, recipe, dtype)

    return _adapter("nan", devices=lambda self: [device], support=support, build=build)


def _hashed(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()[:8]


@pytest.mark.parametrize("device, folder", [
    ("x/../../../../dev-escaped", "relu.predictions.float64.x-dev-escaped-" + _hashed(
        "relu.predictions.float64.x/../../../../dev-escaped")),
    ("npu/0", "relu.predictions.float64.npu-0-" + _hashed("relu.predictions.float64.npu/0")),
    ("cuda:0", "relu.predictions.float64.cuda-0")])
def test_failure_folders_stay_in_the_report_folder(device: str, folder: str, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "c" / "r"
    cert = lockstep.certify(_nan_on(device), report=out, **FAST)
    failed = [c for c in cert.checks if c.outcome == "fail"]
    assert len(failed) == 1 and failed[0].failure_dir == f"failures/{folder}"
    assert [p.name for p in (out / "failures").iterdir()] == [folder]
    assert (out / "failures" / folder / "recipe.yaml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # nothing escaped upwards
    assert not any((tmp_path / "a" / "b" / "c").glob("*dev-escaped*"))
    assert failed[0].reproduce is not None and f"failures/{folder}/recipe.yaml" in failed[0].reproduce
    _well_formed(out)


@pytest.mark.parametrize("devices", [("x:0", "x/0"), (".", ".."), ("a b", "a/b", "a-b"), ("cuda:0", "cuda-0")])
def test_two_devices_never_share_a_failure_folder(devices: tuple[str, ...]) -> None:
    """`x:0` and `x/0` (or `.` and `..`, or `cuda:0` and `cuda-0`) were both `failures/dense.predictions.float64.x-0`:
    one check's reproducer replayed the other's case, and the README named the wrong device."""
    from lockstep.conformance.results import CheckResult

    folders = [CheckResult("dense", 1, "float64", d, "fail", 2).failure_folder for d in devices]
    assert len(set(folders)) == len(folders), folders
    assert all(f.startswith("failures/dense.predictions.float64") and "/" not in f[len("failures/"):]
               for f in folders), folders


# ------------------------------------------------------------------------------ 6. an adapter that changes folder
def _wanderer(elsewhere: Path, nan: bool) -> Hostile:
    """build() changes the working folder to `elsewhere` (and with `nan` its predictions fail)."""
    inner = _nan_on("cpu") if nan else ReferenceAdapter()

    def build(self: Any, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        os.chdir(elsewhere)
        return inner.build(model, dtype=dtype, device=device, recipe=recipe)

    return _adapter("wanderer", build=build)


@pytest.mark.parametrize("report", ["rel/r", True])
def test_an_adapter_changing_the_working_folder_does_not_move_the_reports(report: Any, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(start)  # restored at the end of the test, whatever the adapter did
    cert = lockstep.certify(_wanderer(elsewhere, nan=True), report=report, **FAST)
    assert Path.cwd() == elsewhere  # the adapter did move
    folder = start / ("rel/r" if report is not True else "certify-wanderer")
    _well_formed(folder)
    assert not list(elsewhere.iterdir())
    assert all(path.is_file() for path in cert.files.values())  # the paths it gives are good from where we are now
    failed = next(c for c in cert.checks if c.outcome == "fail")
    assert (folder / failed.failure_dir / "recipe.yaml").is_file()
    shown = "rel/r" if report is not True else "certify-wanderer"
    assert failed.reproduce is not None and failed.reproduce.startswith(f"lockstep compare {shown}/failures/")


def test_cli_report_path_printed_is_where_the_reports_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(start)
    monkeypatch.setattr(BuildExit, "build", _wanderer(elsewhere, nan=False).build)
    assert main(["certify", "--adapter", _module("BuildExit"), *CLI_FAST, "--report", "r"]) == 0
    printed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("report: "))
    path = Path(printed.split()[1])  # from the folder the command began in, though the adapter moved away
    assert path == Path("r/report.html") and (start / path).is_file(), printed
    assert not list(elsewhere.iterdir())


@pytest.mark.parametrize("levels, shown", [(None, "None"), ("12", "str '12'"), ((), "tuple ()"),
                                           ((1, 7), "tuple (1, 7)"), ((True,), "tuple (True,)")])
def test_unusable_levels_are_one_line_before_any_check(levels: Any, shown: str, tmp_path: Path) -> None:
    with pytest.raises(lockstep.LockstepError) as info:
        lockstep.certify(_adapter(levels=levels), report=tmp_path / "r", **FAST)
    assert str(info.value).startswith(f"adapter `hostile`: `levels` is {shown}; expected the levels"), info.value
    assert not (tmp_path / "r" / "report.json").exists()


# ------------------------------------------------------------------------------ a certify sweep's findings (2026-12-07)
def test_complex_answers_fail_rather_than_lose_their_imaginary_part() -> None:
    """forward = reference + 1j and gradients + 3j were CERTIFIED: np.asarray(..., float64) dropped the imaginary
    part without a word."""
    from planted_adapters import Imaginary

    cert = lockstep.certify(Imaginary(), report=False, **{**FAST, "constructs": "dense", "levels": "1,2"})
    assert not cert.certified
    assert {c.level_name: c.outcome for c in cert.checks} == {"predictions": "fail", "gradients": "fail"}
    assert all("complex values (complex128), where real numbers are due" in c.message for c in cert.checks), \
        [c.message for c in cert.checks]


class StdoutCloser(ReferenceAdapter):
    name = "closer"

    def build(self, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        import sys

        sys.stdout.close()
        return super().build(model, dtype=dtype, device=device, recipe=recipe)


def test_an_adapter_closing_standard_output_is_said_not_a_traceback(tmp_path: Path) -> None:
    """The report was written CERTIFIED, then the command's last print raised "I/O operation on closed file": an
    internal error with a traceback, exit 1."""
    import subprocess
    import sys

    code = (f"import sys; sys.path[:0] = {[str(Path(__file__).parent), str(Path(__file__).parents[1])]!r}; "
            "from lockstep.cli import main; "
            f"sys.exit(main(['certify', '--adapter', 'test_hostile_adapters:StdoutCloser', "
            f"'--construct', 'relu', '--dtype', 'float64', '--examples', '2', '--jobs', '1', '--level', '1', "
            f"'--report', {str(tmp_path / 'r')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "standard output was closed while the command ran" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert json.loads((tmp_path / "r" / "report.json").read_text())["certified"] is True


def test_an_adapter_umask_leaves_the_reports_readable(tmp_path: Path) -> None:
    """os.umask(0o777) in an adapter left the four reports mode 000."""
    def build(self: Any, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        os.umask(0o777)
        return ReferenceAdapter.build(self, model, dtype=dtype, device=device, recipe=recipe)

    before = os.umask(0o022)
    try:
        cert = lockstep.certify(_adapter(build=build), report=tmp_path / "r", **FAST)
    finally:
        os.umask(before)
    for path in cert.files.values():
        assert path.stat().st_mode & 0o600 == 0o600, (path, oct(path.stat().st_mode))


def test_a_name_that_is_a_hostile_str_subclass_is_used_as_plain_text(tmp_path: Path) -> None:
    """A `name` whose __str__ raised made certify exit 3 (internal error)."""
    odd = type("S", (str,), {"__str__": lambda s: 1 / 0, "__repr__": lambda s: 1 / 0})("odd")
    cert = lockstep.certify(_adapter(odd), report=tmp_path / "r", **FAST)
    assert cert.certified and type(cert.adapter) is str and cert.adapter == "odd"
