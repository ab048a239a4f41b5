"""Arguments of the public API as a notebook or a harness passes them: NumPy integers where ints are meant, and
wrong types, empty lists and odd paths, each a `LockstepError` (exit 2) that names the argument and what it got,
raised before any work (nothing trained, no folder made, no conformance check run). The commands' flags that
used to be ignored (`adapters --adapter`, `compare --overwrite`, `schema --version ''`) are refused or obeyed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests_support import tiny_recipe

import lockstep
from lockstep.cli import main


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny recipe, and the test's folder as the working directory (so that nothing lands in the checkout)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_recipe(steps=3))
    return path


def _refused(call: Callable[[], Any], *words: str) -> lockstep.LockstepError:
    with pytest.raises(lockstep.LockstepError) as exc:
        call()
    assert exc.value.exit_code == 2, exc.value
    for word in words:
        assert word in str(exc.value), (word, str(exc.value))
    return exc.value


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any session built would mean a check came too late."""
    import lockstep.runner

    def built(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a backend was built before the arguments were checked")

    monkeypatch.setattr(lockstep.runner, "build_session", built)


# ------------------------------------------------------------------------------------------- 1: NumPy integers
def test_numpy_integers_are_accepted_wherever_an_int_is(tiny: Path, tmp_path: Path) -> None:
    result = lockstep.run(tiny, out=tmp_path / "a", overrides={"seed": np.int64(3)}, steps=np.int64(1),
                          threads=np.int32(1))
    assert result.recipe.seed == 3 and result.steps == 1
    assert result.report["overrides"] == ["--set seed=3"]
    again = lockstep.run(tiny, out=tmp_path / "b", seed=np.int64(3), steps=np.uint8(1))
    assert again.recipe.seed == 3 and again.report["overrides"] == ["--seed 3"]
    assert all(np.array_equal(result.parameters[k], again.parameters[k]) for k in result.parameters)
    values = lockstep.run(tiny, out=tmp_path / "c", steps=1,
                          overrides={"optimizer.learning_rate": np.float32(0.5),
                                     "data.source.shape": np.array([4], dtype=np.int64)})
    assert values.recipe.data.source.shape == [4] and values.recipe.optimizer.learning_rate == 0.5


def test_numpy_integers_count_in_compare_and_certify_arguments(tiny: Path) -> None:
    # the reference and its twin: two backends, no framework
    comparison = lockstep.compare(tiny, backends=["reference", "reference_twin:ReferenceTwin"],
                                  steps=np.int64(1), every=np.int64(1), seed=np.int64(2), threads=np.int16(1))
    assert comparison.agree and len(comparison.rows) == 1
    certificate = lockstep.certify("reference", levels=np.int64(1), dtypes="float64", constructs=["dense"],
                                   examples=np.int64(1), seed=np.int64(0), report=False, log=lambda _line: None)
    assert certificate.certified and [c.name for c in certificate.checks] == ["dense.predictions.float64.cpu"]


@given(st.one_of(st.floats(allow_nan=True), st.booleans(), st.text(max_size=5), st.binary(max_size=3),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
                 st.complex_numbers()))
def test_a_non_integer_count_is_said_to_be_one_not_out_of_range(value: Any) -> None:
    """Every count of `run` and `compare` refuses anything but an integer, by name and type, before any work."""
    for name, call in (("steps", lambda: lockstep.run("no-such-recipe.yaml", steps=value)),
                       ("threads", lambda: lockstep.run("no-such-recipe.yaml", threads=value)),
                       ("seed", lambda: lockstep.run("no-such-recipe.yaml", seed=value)),
                       ("every", lambda: lockstep.compare("no-such-recipe.yaml", ["reference", "torch"], every=value))):
        error = _refused(call, f"{name}: expected an integer, got {type(value).__name__}")
        assert "must be at least" not in str(error)


@given(st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64, int]),
       st.integers(min_value=0, max_value=100))
def test_any_integer_type_is_range_checked_as_an_int(kind: type, value: int) -> None:
    """An integer of any type below 1 is out of range; one of 1 or more passes the check and the next problem is the
    missing recipe."""
    call = lambda: lockstep.run("no-such-recipe.yaml", steps=kind(value))  # noqa: E731
    _refused(call, "steps must be at least 1, got 0" if value < 1 else "no such recipe file")


_RECIPE = str(Path(__file__).resolve().parents[1] / "examples" / "digits-mlp" / "recipe.yaml")
_ENVIRONMENT = str(Path(__file__).resolve().parents[1] / "examples" / "onnx-cpu.environment.yaml")


@pytest.mark.parametrize("call, python, flag, command", [
    (lambda: lockstep.compare("r.yaml", steps=0), "steps must be at least 1, got 0", "--steps",
     ["compare", "r.yaml", "--steps", "0"]),
    (lambda: lockstep.certify("reference", constructs=""), "constructs '' names nothing; give one or more, or leave "
     "constructs out", "--construct", ["certify", "--adapter", "reference", "--construct", ""]),
    (lambda: lockstep.certify("reference", levels=""), "levels '': expected 1-5", "--level",
     ["certify", "--level", ""]),
    (lambda: lockstep.certify("reference", seed=-1), "seed -1: expected 0 to 2**62", "--seed",
     ["certify", "--seed", "-1"]),
    (lambda: lockstep.certify("reference", timeout=0), "timeout must be a finite number of seconds above 0, got 0",
     "--timeout", ["certify", "--timeout", "0"]),
    (lambda: lockstep.compare("r.yaml", backends="torch"), 'give two or more backends, e.g. backends=["reference", ',
     "--backends", ["compare", "r.yaml", "--backends", "torch"]),
    (lambda: lockstep.run("r.yaml", out=""), "out is empty; give a folder, or pass out=None for the default", "--out",
     ["run", "r.yaml", "--out", ""]),
    (lambda: lockstep.certify("reference", report=""), "report is empty; give a folder, or pass report=None",
     "--report", ["certify", "--report", ""]),
    (lambda: lockstep.certify("reference", levels=[3], constructs=["dense"]),
     "no check to run: levels 3 with constructs dense", "--level 3 with --construct dense",
     ["certify", "--adapter", "reference", "--level", "3", "--construct", "dense"]),
    (lambda: lockstep.deploy(_RECIPE, _ENVIRONMENT), "a recipe needs weights (a checkpoint", "--weights",
     ["deploy", _RECIPE, "--environment", _ENVIRONMENT]),
    (lambda: lockstep.deploy(_RECIPE, _ENVIRONMENT, weights=_RECIPE, exporter="nope"),
     "exporter 'nope': expected one of spec, torch", "--exporter",
     ["deploy", _RECIPE, "--environment", _ENVIRONMENT, "--weights", _RECIPE, "--exporter", "nope"]),
    (lambda: lockstep.deploy(_RECIPE, "no-such-environment.yaml", weights=_RECIPE),
     "environment no-such-environment.yaml: no such file", "--environment",
     ["deploy", _RECIPE, "--environment", "no-such-environment.yaml", "--weights", _RECIPE]),
    (lambda: lockstep.deploy(_RECIPE, _ENVIRONMENT, weights="no-such-weights.npz"),
     "weights no-such-weights.npz: no such file", "--weights",
     ["deploy", _RECIPE, "--environment", _ENVIRONMENT, "--weights", "no-such-weights.npz"]),
])
def test_a_python_caller_s_argument_is_named_by_its_keyword(call: Any, python: str, flag: str, command: list[str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`lockstep.compare(recipe, steps=0)` said "--steps must be at least 1": a flag the caller never typed. The
    command still names its flags."""
    error = _refused(call, python)
    assert "--" not in str(error), str(error)
    from lockstep.cli import main

    assert main(command) == 2
    err = capsys.readouterr().err
    assert flag in err, (flag, err)


def test_a_count_past_2_63_is_refused_by_name_before_any_work() -> None:
    """`--every 10**21` was accepted and written to compare.json, exact in no JSON reader; as in the documents,
    2**63 - 1 is the largest integer a count may be."""
    big = 10**21
    for flag, call in (("steps", lambda: lockstep.run("no-such-recipe.yaml", steps=big)),
                       ("every", lambda: lockstep.compare("no-such-recipe.yaml", ["reference", "torch"], every=big)),
                       ("examples", lambda: lockstep.certify("reference", examples=big))):
        _refused(call, f"{flag} must be at most 9223372036854775807 (2**63 - 1), got {big}")
    _refused(lambda: lockstep.run("no-such-recipe.yaml", steps=2**63 - 1), "no such recipe file")


# ------------------------------------------------------------------------------------------- 2: wrong types
WRONG: list[tuple[str, Callable[[Path], Any], tuple[str, ...]]] = [
    ("run backend=None", lambda r: lockstep.run(r, backend=None), ("backend", "None")),
    ("run backend=3", lambda r: lockstep.run(r, backend=3), ("backend", "int 3")),
    ("run device=None", lambda r: lockstep.run(r, device=None), ("device", "None")),
    ("compare backends=[None]", lambda r: lockstep.compare(r, backends=[None]), ("backends", "None")),
    ("compare backends=None", lambda r: lockstep.compare(r, backends=None), ("backends", "None")),
    ("run out=5", lambda r: lockstep.run(r, out=5), ("out", "int 5")),
    ("run recipe=None", lambda r: lockstep.run(None), ("recipe", "None")),
    ("run recipe=''", lambda r: lockstep.run(""), ("recipe", "no path given")),
    ("run recipe NUL", lambda r: lockstep.run("a\0b"), ("recipe", "NUL")),
    ("run overrides=5", lambda r: lockstep.run(r, overrides=5), ("overrides", "int 5")),
    # an object() became the string "<object object at 0x...>", a set or bytes its str()
    ("run overrides object()", lambda r: lockstep.run(r, overrides={"metadata.name": object()}),
     ("overrides['metadata.name']", "a value a YAML file can hold", "got object")),
    ("run overrides set", lambda r: lockstep.run(r, overrides={"seed": {1, 2}}), ("overrides['seed']", "got set")),
    ("run steps=2.5", lambda r: lockstep.run(r, steps=2.5), ("steps: expected an integer", "float 2.5")),
    ("run threads='2'", lambda r: lockstep.run(r, threads="2"), ("threads: expected an integer", "str '2'")),
    ("run seed=True", lambda r: lockstep.run(r, seed=True), ("seed: expected an integer", "bool True")),
    # 100,000 intra-op threads crashed torch (SIGSEGV, nothing said) under `compare`; refused here first
    ("run threads=100000", lambda r: lockstep.run(r, threads=100_000), ("threads 100000", "at most")),
    ("compare threads=100000", lambda r: lockstep.compare(r, backends="reference,torch", threads=100_000),
     ("threads 100000", "at most")),
    ("certify threads=100000", lambda r: lockstep.certify("reference", threads=100_000, report=False),
     ("threads 100000", "at most")),
    ("load None", lambda r: lockstep.load(None), ("path", "None")),
    ("load 42", lambda r: lockstep.load(42), ("path", "int 42")),
    ("load NUL", lambda r: lockstep.load("a\0b"), ("path", "NUL character")),
    ("load kind=[]", lambda r: lockstep.load(r, kind=[]), ("kind []", "expected one of")),
    ("validate None", lambda r: lockstep.validate(None), ("paths", "None")),
    ("validate [None]", lambda r: lockstep.validate([r, None]), ("paths", "None")),
    ("validate NUL", lambda r: lockstep.validate("a\0b"), ("paths", "NUL character")),
    ("validate memory_limit=2.5", lambda r: lockstep.validate(r, memory_limit=2.5),
     ("memory_limit: expected an integer", "float 2.5")),
    ("migrate None", lambda r: lockstep.migrate(None), ("paths", "None")),
    # an empty list returned [] (nothing checked, nothing said) where the command line needs one PATH
    ("validate []", lambda r: lockstep.validate([]), ("paths", "the list is empty")),
    ("migrate ()", lambda r: lockstep.migrate(()), ("paths", "the list is empty")),
    ("migrate out=5", lambda r: lockstep.migrate(r, out=5), ("out", "int 5")),
    ("dump None", lambda r: lockstep.dump(None), ("dump", "got None")),
    ("dump a mapping", lambda r: lockstep.dump({"kind": "Recipe"}), ("dump", "got dict")),
    ("dump path=5", lambda r: lockstep.dump(lockstep.load(r), 5), ("path", "int 5")),
    ("schema version=1", lambda r: lockstep.schema(version=1), ("version", "int 1")),
    ("schema kind=[]", lambda r: lockstep.schema(kind=[]), ("kind []",)),
    ("certify adapter=None", lambda r: lockstep.certify(None, report=False), ("adapter", "None")),
    ("certify examples='3'", lambda r: lockstep.certify("reference", examples="3", report=False),
     ("examples: expected an integer", "str '3'")),
    ("certify levels=None", lambda r: lockstep.certify("reference", levels=None, report=False), ("levels", "None")),
    # it shifts the example recipes' seeds: -1 or 2**63 - 1 made every one "not valid", NOT CERTIFIED, exit 1
    ("certify seed=-1", lambda r: lockstep.certify("reference", seed=-1, report=False), ("seed -1", "0 to 2**62")),
    ("certify seed=2**63-1", lambda r: lockstep.certify("reference", seed=2**63 - 1, report=False),
     ("0 to 2**62",)),
    ("certify report=5", lambda r: lockstep.certify("reference", report=5), ("report", "int 5")),
    ("deploy None", lambda r: lockstep.deploy(None, None), ("source", "None")),
    ("deploy environment=3", lambda r: lockstep.deploy(r, 3), ("environment", "int 3")),
    ("compare backends=bytes", lambda r: lockstep.compare(r, backends=b"reference,torch"),
     ("backends", "got bytes")),  # was "got int 114": the bytes' first element
    ("validate memory_limit=-1", lambda r: lockstep.validate(r, memory_limit=-1), ("memory_limit -1", "above 0")),
    ("Certificate.read None", lambda r: lockstep.Certificate.read(None), ("path", "None")),
    ("Certificate.read ''", lambda r: lockstep.Certificate.read(""), ("no path given",)),  # read ./report.json
    # a string is true: overwrite="false" replaced the earlier run, resume="no" resumed
    ("run overwrite='false'", lambda r: lockstep.run(r, overwrite="false"), ("overwrite", "True or False",
                                                                             "str 'false'")),
    ("run resume='no'", lambda r: lockstep.run(r, resume="no"), ("resume", "str 'no'")),
    ("run resume=None", lambda r: lockstep.run(r, resume=None), ("resume", "None")),
    ("run tensorboard=1", lambda r: lockstep.run(r, tensorboard=1), ("tensorboard", "int 1")),
    ("run progress='yes'", lambda r: lockstep.run(r, progress="yes"), ("progress", "str 'yes'")),
    ("run log=5", lambda r: lockstep.run(r, log=5), ("log: expected a function", "int 5")),
    ("compare progress='no'", lambda r: lockstep.compare(r, progress="no"), ("progress", "str 'no'")),
    ("certify log=5", lambda r: lockstep.certify("reference", log=5, report=False), ("log", "int 5")),
    ("certify progress=True", lambda r: lockstep.certify("reference", progress=True, report=False),
     ("progress: expected a function", "bool True")),
    ("migrate check='false'", lambda r: lockstep.migrate(r, check="false"), ("check", "str 'false'")),
    ("deploy progress='no'", lambda r: lockstep.deploy(r, r, progress="no"), ("progress", "str 'no'")),
]


@pytest.mark.parametrize(("call", "words"), [(c, w) for _, c, w in WRONG], ids=[i for i, _, _ in WRONG])
def test_a_wrong_argument_is_a_lockstep_error_naming_it(call: Callable[[Path], Any], words: tuple[str, ...],
                                                        tiny: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _no_training(monkeypatch)
    before = sorted(tmp_path.iterdir())
    _refused(lambda: call(tiny), *words)
    assert sorted(tmp_path.iterdir()) == before  # refused before any folder or file was made


# ------------------------------------------------------------------------------------------- 3: load's paths
def test_load_says_what_is_wrong_with_a_path_that_names_no_file(tmp_path: Path) -> None:
    _refused(lambda: lockstep.load(""), "no path given")
    error = _refused(lambda: lockstep.load(tmp_path), "is a directory")
    assert "cannot be read" not in str(error) and str(tmp_path) in str(error)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    _refused(lambda: lockstep.load(fifo), "is not a regular file")  # and it returns: a FIFO is never opened
    missing = _refused(lambda: lockstep.load(tmp_path / "nothing.yaml"), "nothing.yaml")
    assert missing.diagnostics  # as before: the located diagnostic `lockstep validate` prints


# ------------------------------------------------------------------------------------------- 4: empty constructs
def _no_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    import lockstep.conformance.suite

    def ran(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the suite ran")

    monkeypatch.setattr(lockstep.conformance.suite, "certify", ran)


@pytest.mark.parametrize("constructs", ["", ",", " , ", []])
def test_certify_refuses_an_empty_construct_list_before_any_check(constructs: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _no_checks(monkeypatch)
    _refused(lambda: lockstep.certify("reference", constructs=constructs, report=tmp_path / "report"),
             "constructs", "names nothing")
    assert list(tmp_path.iterdir()) == []  # not even the report folder


@pytest.mark.parametrize("argv", [["--construct", ""], ["--construct", ","], ["--device", ""]])
def test_the_certify_command_refuses_an_empty_list(argv: list[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _no_checks(monkeypatch)
    assert main(["certify", "--adapter", "reference", "--jobs", "1", *argv]) == 2
    err = capsys.readouterr().err
    assert f"{argv[0]} '{argv[1]}' names nothing" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_dtype_named_twice_is_certified_once(tmp_path: Path) -> None:
    """`--dtype float64,float64` ran every check twice: two identical test cases in junit.xml, counts doubled, and
    two failing checks writing one failure folder. Devices and constructs were already taken once."""
    cert = lockstep.certify("reference", levels="1", constructs="dense,dense", dtypes="float64,float64",
                            devices="cpu,cpu", examples=1, report=tmp_path / "r", jobs=1)
    assert [(c.construct, c.dtype, c.device) for c in cert.checks] == [("dense", "float64", "cpu")], cert.checks


# ------------------------------------------------------------------------------------------- 5: ignored flags
def test_adapters_filters_by_adapter_and_refuses_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters", "--adapter", "nosuch"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "`nosuch` is not an available adapter here: no adapter has that name" in err
    assert "reference" in err  # the names it could have been
    assert main(["adapters", "--adapter", "reference"]) == 0
    out, _ = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()] == ["reference"]
    assert main(["adapters", "--adapter", ""]) == 2
    assert "--adapter is empty" in capsys.readouterr().err


def test_compare_refuses_overwrite_without_out(tiny: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _no_training(monkeypatch)
    assert main(["compare", str(tiny), "--backends", "reference,torch", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "--out" in err and "Traceback" not in err


@pytest.mark.parametrize("version", ["", "  "])
def test_schema_refuses_an_empty_version(version: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--version", version]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "version is empty" in err
    _refused(lambda: lockstep.schema(version=version), "version is empty")


def test_a_document_edited_in_python_to_hold_odd_values_is_refused_quietly(tiny: Path, tmp_path: Path,
                                                                          recwarn: pytest.WarningsRecorder) -> None:
    """A wrong type assigned to a field printed pydantic's serializer UserWarnings before the refusal; an object()
    raised PydanticSerializationError from dump and run."""
    doc = lockstep.load(tiny)
    doc.seed = "abc"
    with pytest.raises(lockstep.LockstepError, match="not valid") as invalid:
        lockstep.dump(doc)
    assert invalid.value.exit_code == 1  # an invalid document, as `validate` says it
    doc.seed = object()
    for call in (lambda: lockstep.dump(doc), lambda: lockstep.run(doc, out=tmp_path / "o")):
        _refused(call, "holds a value no document can hold", "object")
    assert not [w for w in recwarn if "serializ" in str(w.message)], [str(w.message) for w in recwarn]


def test_dump_replaces_only_a_regular_file(tiny: Path, tmp_path: Path) -> None:
    """dump(doc, "/dev/null") as root replaced the device with a regular file; a FIFO or a symbolic link was
    replaced by the file too (the link's target untouched, the link gone)."""
    import os

    doc = lockstep.load(tiny)
    fifo, link, target = tmp_path / "f.yaml", tmp_path / "l.yaml", tmp_path / "t.yaml"
    os.mkfifo(fifo)
    target.write_text("mine\n")
    link.symlink_to(target)
    for path, kind in ((fifo, "a named pipe (FIFO)"), (link, "a symbolic link")):
        _refused(lambda p=path: lockstep.dump(doc, p), f"it is {kind}, not a regular file: not replaced")
    assert fifo.is_fifo() and link.is_symlink() and target.read_text() == "mine\n"
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]  # no temporary left
    lockstep.dump(doc, target)  # a regular file is replaced
    assert lockstep.load(target).metadata.name == doc.metadata.name


def test_omp_num_threads_beyond_the_limit_is_refused_like_threads(tiny: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """OMP_NUM_THREADS=99999 went past the --threads limit as the default, and torch crashed (SIGSEGV, nothing
    said); a --threads given still wins over it."""
    _no_training(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "99999")
    for call in (lambda: lockstep.run(tiny, out=tmp_path / "a"), lambda: lockstep.compare(tiny),
                 lambda: lockstep.certify("reference", report=False)):
        _refused(call, "OMP_NUM_THREADS=99999", "at most", "give threads)")
    assert not (tmp_path / "a").exists()


def test_omp_num_threads_of_other_digits_is_no_count(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    """OMP_NUM_THREADS=² (a digit to str.isdigit, not to int()) was an internal ValueError; it is no count, as `abc`
    is not: the default threads."""
    from lockstep.fingerprint import default_threads, usable_cpus

    monkeypatch.setenv("OMP_NUM_THREADS", "\u00b2")
    assert default_threads() == usable_cpus()
    assert lockstep.run(tiny, out=tmp_path / "a", steps=1, log=lambda m: None).steps == 1


def test_certificate_read_refuses_a_fifo_without_waiting(tmp_path: Path) -> None:
    """It waited forever on a FIFO named report.json (load refuses FIFOs)."""
    import os

    os.mkfifo(tmp_path / "report.json")
    for named in (tmp_path, tmp_path / "report.json"):
        _refused(lambda g=named: lockstep.Certificate.read(g), "not a certification report", "named pipe")


class _NoPath:
    """An os.PathLike whose __fspath__ returns neither str nor bytes."""

    def __fspath__(self) -> Any:
        return 5


@pytest.mark.parametrize("call", [lockstep.load, lockstep.run, lockstep.validate])
def test_a_path_like_that_gives_no_path_is_a_lockstep_error(call: Callable[[Any], Any]) -> None:
    """Sweep S (2026-12-07): os.fspath's own TypeError came out of every path argument."""
    with pytest.raises(lockstep.LockstepError, match="expected a path"):
        call(_NoPath())
