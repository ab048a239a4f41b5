"""Defects an adversarial sweep of validate and migrate found (2026-12-07), each test named after its defect: an
internal error for a path too long or an empty input shape, a `**` glob that followed symbolic-link cycles for
hours, YAML 1.1 line breaks read inside a YAML 1.2 file, JSON's line numbers with CR line ends, one package named
twice in `requirements`, schema rules validate had alone, and a Ctrl-C that left a temporary file or a written
file unlisted."""

from __future__ import annotations

import copy
import glob
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.cli import main
from lockstep.spec import atomic
from lockstep.spec.loader import SpecError, load_text
from lockstep.spec.validate import recursive_glob, validate_document

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCHEMAS = ROOT / "spec" / "schemas" / "v1"

ENVIRONMENT = """apiVersion: lockstep/v1
kind: Environment
metadata: {name: e}
runtime: onnxruntime
tolerance: {rtol: 1.0e-4, atol: 1.0e-5}
"""


def _messages(text: str, file: str = "x.yaml", base: Path | None = None) -> list[str]:
    doc = load_text(text, file)[0]
    return [f"{d.line}:{d.column}: {d.message}" for d in validate_document(doc, base_dir=base)[1]]


# ------------------------------------------------------------------ a path too long, an empty input shape
def test_a_path_too_long_is_said_at_its_field_not_an_internal_error(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("recipe.yaml", "model.yaml"):
        (tmp_path / name).write_text((EXAMPLES / "digits-mlp" / name).read_text())
    recipe = tmp_path / "recipe.yaml"
    long = "a" * 300 + ".yaml"
    recipe.write_text(recipe.read_text().replace("model: model.yaml", f"model: {long}"))
    assert main(["validate", str(recipe)]) == 1
    err = capsys.readouterr().out
    assert "is not a usable path (File name too long)" in err, err
    assert "internal error" not in err, err
    line = next(i for i, text in enumerate(recipe.read_text().splitlines(), 1) if text.startswith("model:"))
    assert f"recipe.yaml:{line}:8: model:" in err, err
    assert main(["migrate", "--out", str(tmp_path / "out"), str(recipe)]) == 0  # copied; validation says the rest


def test_an_empty_input_shape_is_a_shape_error() -> None:
    model = (EXAMPLES / "lstm-sequences" / "model.yaml").read_text().replace("shape: [16, 2]", "shape: []")
    found = _messages(model)
    assert any("lstm expects a sequence [T, features], got per-sample shape []" in m for m in found), found
    assert not any("internal error" in m for m in found), found


# ------------------------------------------------------------------ `**` and symbolic links
NAMES = st.sampled_from(["a", "b", ".h", "c.yaml", "d.json", ".e.yaml", "f.txt", "a[b]", "g*"])


@st.composite
def trees(draw: st.DrawFn) -> list[tuple[str, ...]]:
    return draw(st.lists(st.lists(NAMES, min_size=1, max_size=4).map(tuple), min_size=1, max_size=12))


PATTERNS = ["**", "**/", "**/*.yaml", "a/**", "a/**/*.json", "*/**/c.yaml", "**/a/**", "**/**/*.yaml", "a*/**/",
            "b/**/d.json"]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(tree=trees(), pattern=st.sampled_from(PATTERNS))
def test_recursive_glob_is_glob_where_there_is_no_link(tree: list[tuple[str, ...]], pattern: str,
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("tree")
    for parts in tree:
        *folders, leaf = parts
        where = root.joinpath(*folders) if folders else root
        try:  # a name made a file earlier cannot hold anything: that entry is left out
            where.mkdir(parents=True, exist_ok=True)
            target = where / leaf
            if not target.exists():
                target.mkdir() if "." not in leaf.lstrip(".") else target.write_text("x: 1\n")
        except OSError:
            continue
    here = os.getcwd()
    os.chdir(root)
    try:
        # glob gives `a/` for `a/**` where there is no `a` (its `**` matches nothing before looking): not a path
        want = sorted({m for m in glob.glob(pattern, recursive=True) if os.path.lexists(m)})
        got = sorted(set(recursive_glob(pattern)))
    finally:
        os.chdir(here)
    assert got == want, f"pattern {pattern!r} over {tree}: glob {want}, recursive_glob {got}"


def test_a_double_star_over_link_cycles_ends(tmp_path: Path) -> None:
    """Two links to folders above: glob.glob followed them until paths grew too long (hours); `**` now walks the
    real folders and meets each link once (a match, not a folder to go into)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "env.yaml").write_text(ENVIRONMENT)
    os.symlink("..", tmp_path / "a" / "up")
    os.symlink("../a", tmp_path / "a" / "self")
    code = "import sys; from lockstep.cli import main; sys.exit(main(['validate', '**']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 file, 1 document, 0 errors" in done.stdout, done.stdout
    assert sorted(recursive_glob(str(tmp_path / "**" / "*.yaml"))) == [str(tmp_path / "a" / "env.yaml")]


def test_a_double_star_takes_folder_names_as_written(tmp_path: Path) -> None:
    """A folder named `a[1]` is that folder, not the pattern `a[1]` (which names `a1`)."""
    for folder in ("a[1]", "a1", "b*"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.yaml").write_text("x: 1\n")
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        got = sorted(recursive_glob("**/x.yaml"))
        want = sorted(glob.glob("**/x.yaml", recursive=True))
    finally:
        os.chdir(here)
    assert got == want == ["a1/x.yaml", "a[1]/x.yaml", "b*/x.yaml"], (got, want)


# ------------------------------------------------------------------ line breaks
@pytest.mark.parametrize(("text", "char", "where"), [
    ("# a note\u2028seed: 5\n" + ENVIRONMENT, "U+2028 (LINE SEPARATOR)", "1:9"),
    (ENVIRONMENT + 'metadata2: "a\x85b"\n', "U+0085 (NEXT LINE)", "6:14"),
    (ENVIRONMENT.replace("metadata: {name: e}", "metadata: {name: e, description: x\u2029}"),
     "U+2029 (PARAGRAPH SEPARATOR)", "3:35"),
])
def test_yaml_1_1_line_breaks_are_refused_where_they_stand(text: str, char: str, where: str) -> None:
    with pytest.raises(SpecError) as raised:
        load_text(text, "e.yaml")
    (d,) = raised.value.diagnostics
    assert f"{d.line}:{d.column}" == where and char in d.message, (d.line, d.column, d.message)


def test_json_keeps_raw_line_separators_inside_strings() -> None:
    text = json.dumps({"apiVersion": "lockstep/v1", "kind": "Environment",
                       "metadata": {"name": "e", "description": "a\u2028b\x85c"}, "runtime": "onnxruntime",
                       "tolerance": {"rtol": 1e-4, "atol": 1e-5}}, ensure_ascii=False)
    (doc,) = load_text(text, "e.json")
    assert doc.data["metadata"]["description"] == "a\u2028b\x85c"


@pytest.mark.parametrize("broken", ['  "threads": -1,,\n', '  "threads": NaN,\n', '  "threads": 1,\n}\n'])
@pytest.mark.parametrize("end", ["\r", "\r\n"])
def test_json_errors_are_placed_the_same_whatever_the_line_ends(broken: str, end: str) -> None:
    lines = ['{\n', '  "apiVersion": "lockstep/v1",\n', '  "kind": "Environment",\n', broken]
    if not broken.endswith("}\n"):
        lines.append('  "runtime": "onnxruntime"\n}\n')
    text = "".join(lines)
    where = []
    for t in (text, text.replace("\n", end)):
        with pytest.raises(SpecError) as raised:
            load_text(t, "e.json")
        where.append([(d.line, d.column, d.message) for d in raised.value.diagnostics])
    assert where[0] == where[1], where
    assert where[0][0][0] == 4, where


# ------------------------------------------------------------------ requirements
def test_one_package_named_twice_in_requirements_is_an_error() -> None:
    text = ENVIRONMENT + 'requirements: {onnx: ">=1", ONNX: ">=2", onnx_runtime: "", Onnx.Runtime: ""}\n'
    found = _messages(text)
    assert any("`ONNX` and `onnx` name one package" in m for m in found), found
    assert any("`Onnx.Runtime` and `onnx_runtime` name one package" in m for m in found), found
    assert _messages(ENVIRONMENT + 'requirements: {onnx: ">=1", onnxruntime: ""}\n') == []


# ------------------------------------------------------------------ the schema states the one-form rules
def _schema_ok(kind: str, data: dict) -> bool:
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    return not list(jsonschema.Draft202012Validator(schema).iter_errors(data))


def _cli_ok(data: dict, base: Path) -> bool:
    doc = load_text(yaml.safe_dump(data, sort_keys=False), "x.yaml")[0]
    return not validate_document(doc, base_dir=base)[1]


def test_the_schema_refuses_what_validate_refuses_of_a_models_form() -> None:
    graph = yaml.safe_load((EXAMPLES / "residual-graph" / "model.yaml").read_text())
    sequence = yaml.safe_load((EXAMPLES / "digits-mlp" / "model.yaml").read_text())
    cases = {"graph": graph, "sequence": sequence}
    for label, edit in [("node without name", lambda m: m["nodes"][0].pop("name")),
                        ("node without inputs", lambda m: m["nodes"][1].pop("inputs")),
                        ("graph without outputs", lambda m: m.pop("outputs")),
                        ("graph with layers", lambda m: m.update(layers=[{"type": "relu"}]))]:
        cases[label] = copy.deepcopy(graph)
        edit(cases[label])
    for label, edit in [("sequence with outputs", lambda m: m.update(outputs=["x"])),
                        ("neither form", lambda m: m.pop("layers"))]:
        cases[label] = copy.deepcopy(sequence)
        edit(cases[label])
    for label, data in cases.items():
        want = label in ("graph", "sequence")
        assert _schema_ok("model", data) == want == _cli_ok(data, EXAMPLES / "residual-graph"), label


def test_the_schema_asks_for_exactly_one_of_steps_and_epochs() -> None:
    recipe = yaml.safe_load((EXAMPLES / "csv-binary" / "recipe.yaml").read_text())
    for training, want in [({"steps": 300}, True), ({"epochs": 25}, True), ({"steps": None, "epochs": 25}, True),
                           ({}, False), ({"steps": 300, "epochs": 25}, False), ({"steps": None}, False)]:
        data = {**recipe, "training": training}
        assert _schema_ok("recipe", data) == want == _cli_ok(data, EXAMPLES / "csv-binary"), training


# ------------------------------------------------------------------ Ctrl-C while writing
def test_a_signal_right_after_the_temporary_is_made_leaves_none(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The signal came between mkstemp and the try that removes the temporary: an empty `.x.yaml.*.tmp` stayed."""
    made = []
    real = atomic.tempfile.mkstemp

    def mkstemp_then_stop(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        made.append(name)
        signal.raise_signal(signal.SIGTERM)  # held while the temporary is noted, acted on right after
        return fd, name

    def stop(_signum: int, _frame: object) -> None:  # as lockstep's commands take SIGTERM (xdist ignores SIGINT)
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_then_stop)
    before = signal.signal(signal.SIGTERM, stop)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # as an earlier test may have left it
    try:
        with pytest.raises(KeyboardInterrupt):
            atomic.write_bytes(tmp_path / "x.yaml", b"a: 1\n")
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    assert made and sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_file_written_before_a_stop_is_listed_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal held through the rename and acted on at its end: migrate said '1 file written' for 2."""
    from test_migrate import OLD

    from lockstep.api import migrate

    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(OLD)
    real = atomic.write_text
    calls = []

    def write_then_stop(path, text):
        real(path, text)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "write_text", write_then_stop)
    heard = []
    with pytest.raises(KeyboardInterrupt):
        migrate([tmp_path / "a.yaml", tmp_path / "b.yaml"], on_file=heard.append)
    assert [(m.file.name, m.status) for m in heard] == [("a.yaml", "migrated"), ("b.yaml", "migrated")]
    assert "lockstep/v1alpha1" not in (tmp_path / "b.yaml").read_text()


def test_a_link_loop_named_on_the_command_line_is_said_as_one(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    os.symlink("loop2.yaml", tmp_path / "loop1.yaml")
    os.symlink("loop1.yaml", tmp_path / "loop2.yaml")
    os.symlink("nowhere.yaml", tmp_path / "broken.yaml")
    assert main(["validate", str(tmp_path / "loop1.yaml"), str(tmp_path / "broken.yaml")]) == 2
    out = capsys.readouterr().out
    assert "loop1.yaml:0:0: cannot follow this symbolic link" in out, out  # it said "no such file or folder"
    assert "broken.yaml:0:0: broken symbolic link (to nowhere.yaml)" in out, out
