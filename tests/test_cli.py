"""The command line as installed: lazy imports, help, the distribution's name everywhere users read it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockstep.cli import COMMANDS, build_parser, command_of, main

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "lockstep-standard"


def _imported(*args: str) -> set[str]:
    """The modules `python -X importtime -m lockstep ARGS` imports."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lockstep", *args], capture_output=True,
                          text=True, cwd=ROOT)
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert names, proc.stderr[-2000:]
    return names


@pytest.mark.parametrize("args", [("validate", "--help"), ("validate", "examples/digits-mlp/recipe.yaml"),
                                  ("--help",), ("--version",), ("schema", "--kind", "Model")])
def test_light_commands_import_no_hypothesis_numpy_or_framework(args: tuple[str, ...]) -> None:
    heavy = {"hypothesis", "numpy", "torch", "tensorflow", "onnxruntime", "lockstep.conformance"}
    loaded = _imported(*args) & heavy
    assert not loaded, f"`lockstep {' '.join(args)}` imported {sorted(loaded)}"


def test_cli_works_without_importlib_util_preloaded() -> None:
    """A normal (non-editable) install has no editable-finder hook that happens to import importlib.util."""
    code = ("import sys, importlib\n"
            "sys.modules.pop('importlib.util', None)\n"
            "if hasattr(importlib, 'util'): del importlib.util\n"
            "from lockstep.cli import main\n"
            "sys.exit(main(['validate', 'examples/digits-mlp/recipe.yaml']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_top_level_help_lists_every_command(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (_, help_text) in COMMANDS.items():
        assert re.search(rf"^\s+{name}\s+{re.escape(help_text)}$", out, re.M), f"{name} missing from:\n{out}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_help_shows_its_options(command: str, capsys) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    full = build_parser(every=True)._subparsers._group_actions[0].choices[command].format_help()  # type: ignore
    assert out == full and out.startswith(f"usage: lockstep {command}")


@pytest.mark.parametrize("argv, dest, value", [
    (["certify", "--adapter", "a", "--construct", "dense", "--construct", "sgd,adam"], "construct", "dense,sgd,adam"),
    (["certify", "--adapter", "a", "--level", "1", "--level", "3"], "level", "1,3"),
    (["certify", "--adapter", "a", "--dtype", "float64"], "dtype", "float64"),
    (["certify", "--adapter", "a"], "dtype", "float32,float64"),
    (["certify", "--adapter", "a", "--device", "cpu", "--device", "cuda"], "device", "cpu,cuda"),
    (["compare", "r.yaml", "--backends", "reference", "--backends", "torch"], "backends", "reference,torch"),
])
def test_a_repeated_list_option_adds_up(argv: list[str], dest: str, value: str) -> None:
    """`--construct dense --construct sgd` certified sgd alone, without a word (argparse's last-wins)."""
    assert getattr(build_parser(argv[0]).parse_args(argv), dest) == value


@pytest.mark.parametrize("fmt", ["text", "github", "json", "junit"])
def test_a_pipe_closed_early_keeps_the_command_s_exit_code(fmt: str, tmp_path: Path) -> None:
    """`lockstep validate specs/ | head` under `set -o pipefail`: exit 0 on a closed pipe passed invalid specs."""
    import os

    for i in range(30):
        (tmp_path / f"bad{i}.yaml").write_text("apiVersion: lockstep/v1\nkind: Model\n")
    read, write = os.pipe()
    os.close(read)  # as `| head -c0`: every write fails with EPIPE
    try:
        proc = subprocess.run([sys.executable, "-m", "lockstep", "validate", "--format", fmt, str(tmp_path)],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr


def test_command_of_finds_the_command_word() -> None:
    assert command_of(["validate", "x"]) == "validate"
    assert command_of(["--version"]) is None and command_of([]) is None and command_of(["nope"]) is None
    assert command_of(["-h", "run", "r.yaml"]) == "run" and command_of(["--", "run"]) is None


def test_usage_errors_are_exit_2(capsys) -> None:
    assert main([]) == 2
    assert main(["nope"]) == 2
    assert main(["validate"]) == 2
    assert "the following arguments are required: PATH" in capsys.readouterr().err


def test_an_argument_a_command_does_not_take_gets_that_commands_usage(capsys) -> None:
    """`lockstep schema recipe` printed the top-level usage (`lockstep [-h] [--version] COMMAND`), which does not
    say what schema takes."""
    assert main(["schema", "recipe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lockstep schema "), err
    assert "lockstep schema: error: unrecognized arguments: recipe" in err, err
    assert main(["--bogus"]) == 2 and "lockstep: error: unrecognized arguments: --bogus" in capsys.readouterr().err


def test_schema_kind_is_read_in_any_case(capsys) -> None:
    assert main(["schema", "--kind", "recipe"]) == 0
    lower = capsys.readouterr().out
    assert main(["schema", "--kind", "Recipe"]) == 0
    assert lower == capsys.readouterr().out and '"Recipe"' in lower
    assert main(["schema", "--kind", "recipes"]) == 2 and "invalid choice: 'recipes'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ distribution name
@pytest.mark.parametrize("where", ["build_parser", "run"])
def test_ctrl_c_anywhere_is_one_word_and_exit_130(where: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Ctrl-C while the command's modules still import (building the parser) or while it runs: `interrupted`, 130,
    no traceback (a `lockstep certify` interrupted in its first 0.3 s printed one)."""
    import lockstep.cli as cli
    import lockstep.commands.validate as validate

    def interrupt(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli if where == "build_parser" else validate, where, interrupt)
    assert main(["validate", "examples/"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


# A command that has finished, and a Ctrl-C that arrives as its process exits: in the interpreter's teardown (an
# object's __del__, where Python no longer handles signals: the ~1.4 s after certify's CERTIFIED on a busy machine),
# in an atexit callback, or before either (a thread the exit waits for).
LATE_CTRL_C = """
import os, signal, sys, threading, time
from lockstep import cli

SIG = getattr(signal, sys.argv[2])

def ctrl_c():
    os.kill(os.getpid(), SIG)
    time.sleep(0.3)

class Teardown:
    def __del__(self):
        ctrl_c()

if sys.argv[1] == "teardown":
    late = Teardown()
elif sys.argv[1] == "atexit":
    import atexit
    atexit.register(ctrl_c)
else:
    done, finished = threading.Event(), cli._finished
    cli._finished = lambda code: (finished(code), done.set())
    threading.Thread(target=lambda: (done.wait(60), ctrl_c())).start()
sys.argv[1:] = ["schema", "--kind", "Model"]
sys.exit(cli.entry())
"""


@pytest.mark.parametrize(("name", "word"), [("SIGINT", "interrupted"), ("SIGTERM", "terminated"),
                                            ("SIGHUP", "hung up")])
@pytest.mark.parametrize("when", ["teardown", "atexit", "exiting"])
def test_ctrl_c_after_the_command_finished_keeps_its_status(when: str, name: str, word: str) -> None:
    """`lockstep certify` interrupted just after CERTIFIED (its reports written) ended by SIGINT, no word, no
    status (in the teardown) or printed a traceback (in an atexit callback): the command's status stands, and a
    Ctrl-C Python can still hear is said in one line. SIGTERM and SIGHUP there ended the process by signal (-15,
    -1), its status lost: they are handled as Ctrl-C is."""
    import signal

    def default_disposition() -> None:  # a runner that ignores SIGHUP (pytest-xdist's workers) passes that on
        signal.signal(getattr(signal, name), signal.SIG_DFL if name != "SIGINT" else signal.default_int_handler)

    proc = subprocess.run([sys.executable, "-c", LATE_CTRL_C, when, name], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, preexec_fn=default_disposition)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert '"title": "Model"' in proc.stdout or '"Model"' in proc.stdout
    said = f"lockstep: {word} while exiting; the command had finished (exit 0)\n"
    assert proc.stderr == (said if when == "exiting" else ""), proc.stderr


HUNG_EXIT = """
import os, signal, sys, threading, time
from lockstep import cli

cli.TERM_GRACE_SECONDS = 1.0
threading.Thread(target=time.sleep, args=(60,)).start()  # a library's thread the interpreter's exit waits for
done, finished = threading.Event(), cli._finished
cli._finished = lambda code: (finished(code), done.set())
threading.Thread(target=lambda: (done.wait(60), os.kill(os.getpid(), signal.SIGTERM)), daemon=True).start()
sys.argv[1:] = ["schema", "--kind", "Model"]
sys.exit(cli.entry())
"""


def test_a_sigterm_to_an_exit_that_hangs_ends_it_with_the_command_s_status() -> None:
    """After the command had finished, SIGTERM was said and then ignored: an exit waiting on a library's thread was
    left to SIGKILL. It ends TERM_GRACE_SECONDS later (1 s here), with the command's status."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", HUNG_EXIT], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stderr == "lockstep: terminated while exiting; the command had finished (exit 0)\n", proc.stderr
    assert time.monotonic() - t0 < 30, "waited for the hung thread"


def test_distribution_name_is_the_free_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    assert project["optional-dependencies"]["all"] == [f"{DISTRIBUTION}[torch,tensorflow,onnx]"]
    acme = tomllib.loads((ROOT / "examples" / "acme-adapter" / "pyproject.toml").read_text())["project"]
    assert DISTRIBUTION in acme["dependencies"], acme["dependencies"]


def _user_texts() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "adapters").rglob("*.py"))]


def test_docs_never_install_the_wrong_package() -> None:
    """`pip install lockstep` or `lockstep[torch]` would install an unrelated project from the index."""
    wrong = re.compile(r"pip install\s+(?:-U\s+)?['\"]?lockstep(?![-\w])|(?<![-\w])lockstep\[")
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in _user_texts()
             for i, line in enumerate(p.read_text().splitlines(), 1) if wrong.search(line)]
    assert not found, "\n".join(found)


def test_missing_framework_hint_names_the_distribution() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "from lockstep.adapters.registry import AdapterNotFound, get\n"
            "try:\n    get('torch')\nexcept AdapterNotFound as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"pip install '{DISTRIBUTION}[torch]'" in out, out


def test_pre_commit_hook_installs_this_distribution() -> None:
    """pre-commit installs the hook's repository itself (`language: python`): no additional dependency may
    name a package from the index, and the entry is the console script of this distribution."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["language"] == "python" and hook["entry"] == "lockstep validate"
    assert "additional_dependencies" not in hook
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["lockstep"] == "lockstep.cli:entry"


# ------------------------------------------------------------------------------------------ output arguments
OLD_MODEL = """apiVersion: lockstep/v1alpha1
kind: Model
metadata: {name: m}
inputs: [{name: x, shape: [4]}]
layers: [{type: dense, units: 3}]
"""


@pytest.mark.parametrize("value, message", [
    ("", "--out is empty"),
    (" ", "--out is empty"),
    ("{file}", "exists and is not a folder"),
    ("{file}/sub", "cannot write there (Not a directory)"),  # a path under a regular file: unwritable, also as root
])
def test_migrate_out_is_checked_before_any_file_is_touched(value: str, message: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("")
    doc = tmp_path / "m.yaml"
    doc.write_text(OLD_MODEL)
    assert main(["migrate", str(doc), "--out", value.format(file=tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert doc.read_text() == OLD_MODEL  # `--out ''` used to mean "in place"


@pytest.mark.parametrize("value, message", [
    ("", "--report is empty"),
    ("{file}", "exists and is not a folder"),
    ("{file}/sub", "cannot write there (Not a directory)"),
])
def test_certify_report_is_checked_before_the_adapter_loads(value: str, message: str, tmp_path: Path,
                                                           capsys) -> None:
    (tmp_path / "file").write_text("")
    report = value.format(file=tmp_path / "file")
    assert main(["certify", "--adapter", "no-such-adapter", "--report", report, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "unknown adapter" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("option", [["--construct", "dnse"], ["--construct", "dense", "--recipe-steps", "2"]])
def test_certify_options_refused_make_no_report_folder(option: list[str], tmp_path: Path, capsys) -> None:
    """An unknown construct was refused after the report folder had been made: `--report new/deep` was left."""
    report = tmp_path / "new" / "deep"
    assert main(["certify", "--adapter", "reference", *option, "--report", str(report), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lockstep certify: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("option, value", [("--construct", "dense,"), ("--construct", ",dense"),
                                           ("--construct", "dense,,relu"), ("--dtype", "float64,"),
                                           ("--device", "cpu,"), ("--device", "cpu, ")])
def test_certify_refuses_an_empty_item_in_a_list(option: str, value: str, tmp_path: Path, capsys) -> None:
    """`--level 1,` was refused, but `--construct dense,`, `--dtype float64,` and `--device cpu,` were accepted."""
    report = tmp_path / "r"
    assert main(["certify", "--adapter", "reference", option, value, "--report", str(report), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (f"lockstep certify: {option} {value!r}: an empty name (a comma at an end, or two in a row); give "
                   "names separated by single commas\n"), err
    assert not report.exists()


@pytest.mark.parametrize("name, value", [("constructs", ["dense", ""]), ("devices", ("cpu", " ")),
                                         ("dtypes", "float64,")])
def test_the_certify_api_refuses_an_empty_item_in_a_list(name: str, value: Any, tmp_path: Path) -> None:
    import lockstep
    from lockstep.errors import LockstepError

    with pytest.raises(LockstepError, match=rf"^{name} .*: an empty name \(a comma at an end, or two in a row\)"):
        lockstep.certify("reference", report=tmp_path / "r", **{name: value})
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("signal_error, code, said", [("Terminated", 143, "terminated"),
                                                      ("KeyboardInterrupt", 130, "interrupted")])
def test_a_signal_a_library_wrapped_is_said_as_the_signal(monkeypatch, capsys, signal_error: str, code: int,
                                                          said: str) -> None:
    """Sweep K (2026-12-06): a SIGTERM inside `import onnxruntime` came out as "internal error (ImportError:
    initialization failed) ... please report it", exit 1: onnxruntime's __init__ raises its own error from it."""
    from lockstep import cli
    from lockstep.commands import schema

    stop = cli.Terminated(15) if signal_error == "Terminated" else KeyboardInterrupt()

    def wrapped(args):
        try:
            raise stop
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr(schema, "run", wrapped)
    assert cli.main(["schema"]) == code
    err = capsys.readouterr().err
    assert err.strip() == said, err


@pytest.mark.parametrize(("signame", "code", "word"), [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_a_signal_while_a_start_up_import_makes_a_class_is_one_word(signame: str, code: int, word: str) -> None:
    """Python 3.11 wraps what `__set_name__` raises in a RuntimeError: a SIGTERM or Ctrl-C while an import made a
    dataclass (Checkpoint's fields, during certify's start-up) printed a traceback and exited 1, "not certified"."""
    script = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"  # as a shell's foreground job has it: a
        "import lockstep.cli as cli\n"  # background job (a CI runner's `cmd &`) starts with SIGINT ignored
        f"def fake_main(argv):\n"
        "    class D:\n"
        "        def __set_name__(self, owner, name):\n"
        f"            os.kill(os.getpid(), signal.{signame}); time.sleep(0.5)\n"
        "    class C:\n"
        "        x = D()\n"
        "    return 0\n"
        "cli._main = fake_main\n"
        "sys.exit(cli.main([]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (code, f"{word}\n"), (done.returncode, done.stderr)


@pytest.mark.parametrize(("signame", "code", "word"), [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_a_signal_a_library_said_in_its_own_error_is_one_word(signame: str, code: int, word: str) -> None:
    """A SIGTERM reaching a data-parallel replica while pydantic-core built a schema came out as its SchemaError,
    whose text alone said "Terminated: 15" (no cause): "lockstep run: internal error (SchemaError: ...)", exit 143
    by luck, and a traceback-like screen before the launcher's "terminated". The stop the command's own handler
    raised is remembered, and said as the signal (cli._stopped_by)."""
    script = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import lockstep.cli as cli\n"
        "def fake_main(argv):\n"
        "    said = None\n"
        "    try:\n"
        f"        os.kill(os.getpid(), signal.{signame}); time.sleep(0.5)\n"
        "    except BaseException as exc:\n"
        "        said = repr(exc)\n"
        "    raise RuntimeError('Error building \"model\" validator: ' + str(said))\n"  # outside: no context
        "cli._main = fake_main\n"
        "sys.exit(cli.main([]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (code, f"{word}\n"), (done.returncode, done.stderr)
