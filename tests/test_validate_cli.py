"""`lockstep validate` as users run it: exit codes, the four formats, messages, bad input, no tracebacks,
no framework imports, the pre-commit hook."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from lockstep.cli import main
from lockstep.spec import files
from lockstep.spec.base import SUPPORTED_VERSIONS
from lockstep.spec.loader import MAX_BYTES

ROOT = Path(__file__).resolve().parents[1]

GOOD = """apiVersion: lockstep/v1
kind: Model
metadata: {name: m}
inputs: [{name: x, shape: [4]}]
layers:
  - {type: dense, units: 3}
"""

BAD = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: r}
model: m.yaml
seed: 0
data:
  source: {type: synthetic_classification, num_samples: 10, shape: [4], num_classes: 3}
  batch_size: 2
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer:
  type: adam
  lr: 0.1
training: {steps: 3}
"""

ENV = """{
  "apiVersion": "lockstep/v1",
  "kind": "Environment",
  "metadata": {"name": "e"},
  "runtime": "onnxruntime",
  "tolerance": {"rtol": 1e-4, "atol": 1e-5}
}
"""


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "m.yaml").write_text(GOOD)
    (tmp_path / "r.yaml").write_text(BAD)
    return tmp_path


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["validate", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


def test_examples_are_valid(capsys) -> None:
    if not any((ROOT / "examples").rglob("*.yaml")):
        pytest.skip("no examples yet")
    code, out, _ = run([str(ROOT / "examples")], capsys)
    assert code == 0, out
    assert re.fullmatch(r"\d+ files?, \d+ documents?, 0 errors\n", out)


def test_valid_files_and_summary(folder: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "env.json").write_text(ENV)
    (tmp_path / "two.yml").write_text(GOOD + "---\n" + GOOD.replace("name: m}", "name: m2}"))
    code, out, _ = run([str(folder / "m.yaml"), str(tmp_path / "env.json"), str(tmp_path / "two.yml")], capsys)
    assert (code, out) == (0, "3 files, 4 documents, 0 errors\n")
    assert run(["-q", str(folder / "m.yaml")], capsys)[:2] == (0, "")


def test_text_error_has_line_path_and_suggestion(folder: Path, capsys) -> None:
    code, out, _ = run([str(folder / "r.yaml")], capsys)
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{folder / 'r.yaml'}:12:3: optimizer.lr: unknown field `lr`")
    assert first.endswith("did you mean `learning_rate`?")
    assert "missing required field `learning_rate`" not in out  # the unknown key says it all
    assert out.splitlines()[-1] == "1 file, 1 document, 1 error"


def test_plain_word_messages(tmp_path: Path, capsys) -> None:
    (tmp_path / "m.yaml").write_text(GOOD.replace("units: 3}", "units: -3}\n  - {type: dnse}\n  - {type: dropout, "
                                                  "rate: 1.5}\n  - {type: dense, units: 2.5}"))
    code, out, _ = run(["-q", str(tmp_path / "m.yaml")], capsys)
    lines = out.splitlines()
    assert code == 1 and len(lines) == 4, out
    assert lines[0].endswith(":6:26: layers[0].units: expected an integer > 0, got -3")
    assert ":7:12: layers[1].type: unknown type `dnse`" in lines[1] and "did you mean `dense`?" in lines[1]
    assert lines[2].endswith(":8:27: layers[2].rate: expected a number < 1, got 1.5")
    assert lines[3].endswith(":9:26: layers[3].units: expected an integer, got 2.5")


def test_json_format(folder: Path, capsys) -> None:
    code, out, _ = run(["--format", "json", str(folder)], capsys)
    errs = json.loads(out)
    assert code == 1 and len(errs) == 1
    assert {"file", "line", "column", "path", "message", "expected", "suggestion", "code"} <= set(errs[0])
    assert (errs[0]["line"], errs[0]["column"], errs[0]["path"]) == (12, 3, "optimizer.lr")
    assert errs[0]["suggestion"] == "learning_rate"
    assert json.loads(run(["--format", "json", str(folder / "m.yaml")], capsys)[1]) == []


def test_github_format(folder: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.yaml").write_text("")
    code, out, _ = run(["--format", "github", str(folder / "r.yaml"), str(tmp_path / "empty.yaml")], capsys)
    first, second = out.splitlines()
    assert code == 1
    assert re.fullmatch(r"::error file=[^,]+r\.yaml,line=12,col=3,title=lockstep%3A optimizer\.lr::optimizer\.lr: "
                        r"unknown field `lr` .*did you mean `learning_rate`\?", first), first
    assert re.fullmatch(r"::error file=[^,]+empty\.yaml,title=lockstep%3A empty::no document.*", second), second


def test_junit_format(folder: Path, capsys) -> None:
    (folder / "two.yaml").write_text(GOOD + "---\n" + GOOD.replace("units: 3", "units: 0"))
    (folder / "broken.yaml").write_text("a: [\n")
    code, out, _ = run(["--format", "junit", str(folder), str(folder / "missing.yaml")], capsys)
    assert code == 2  # a missing path
    root = ElementTree.fromstring(out)
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    # broken.yaml (1), m.yaml (1), r.yaml (1), two.yaml (2 documents), the missing path (1)
    assert (suite.get("tests"), suite.get("failures"), len(cases)) == ("6", "4", 6)
    failed = {(c.get("classname").rsplit("/", 1)[-1], c.get("name")) for c in cases if c.find("failure") is not None}
    assert failed == {("broken.yaml", "document 1"), ("r.yaml", "document 1"), ("two.yaml", "document 2"),
                      ("missing.yaml", "path")}


def test_globs_folders_and_missing_paths(folder: Path, capsys) -> None:
    assert run([str(folder / "m*.yaml")], capsys)[0] == 0
    code, out, _ = run([str(folder / "nope.yaml")], capsys)
    assert code == 2 and "no such file or folder" in out
    code, out, _ = run([str(folder / "*.nothing")], capsys)
    assert code == 2 and "no .yaml, .yml or .json file matches this pattern" in out
    (folder / "empty").mkdir()
    (folder / "empty" / "notes.txt").write_text("not a spec")
    code, out, _ = run([str(folder / "empty")], capsys)
    assert code == 2 and "folder holds no .yaml, .yml or .json file" in out
    (folder / "sub" / ".hidden").mkdir(parents=True)
    (folder / "sub" / ".hidden" / "x.yaml").write_text("not: [valid")
    (folder / "sub" / "m.YML").write_text(GOOD)
    code, out, _ = run([str(folder / "sub"), str(folder / "m.yaml"), str(folder / "m.yaml")], capsys)
    assert (code, out.splitlines()[-1]) == (0, "2 files, 2 documents, 0 errors")  # hidden folders skipped


def test_a_folder_search_follows_no_link_out_of_the_folder(tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A link named `x.yaml` to a file outside (a secret, /proc/self/environ) would put its first line in a CI
    log; a broken link was skipped silently; a file and a link to it were validated and counted twice."""
    inside, outside = tmp_path / "specs", tmp_path / "private"
    inside.mkdir()
    outside.mkdir()
    (inside / "m.yaml").write_text(GOOD)
    (inside / "again.yaml").symlink_to("m.yaml")
    code, out, _ = run([str(inside)], capsys)
    assert (code, out.splitlines()[-1]) == (0, "1 file, 1 document, 0 errors"), out
    (outside / "secret.txt").write_text("TOKEN=hunter2\n")
    (inside / "leak.yaml").symlink_to(outside / "secret.txt")
    (inside / "gone.yaml").symlink_to("nowhere.yaml")
    (inside / "loop.yaml").symlink_to("loop.yaml")
    code, out, _ = run([str(inside)], capsys)
    assert code == 2 and "hunter2" not in out, out
    assert f"leak.yaml:0:0: a symbolic link out of the folder {inside} (to {outside / 'secret.txt'}): " \
           "not followed" in out, out
    assert "gone.yaml:0:0: broken symbolic link (to nowhere.yaml)" in out, out
    assert "loop.yaml:0:0: cannot follow this symbolic link" in out, out
    code, out, _ = run([str(inside / "**" / "*.yaml")], capsys)  # a pattern searches its fixed folder alike
    assert code == 2 and "hunter2" not in out and "leak.yaml:0:0: a symbolic link out of the folder" in out, out
    assert "gone.yaml:0:0: broken symbolic link" in out, out
    for link in ("gone.yaml", "loop.yaml"):
        (inside / link).unlink()
    monkeypatch.setenv("LOCKSTEP_ALLOW_OUTSIDE_PATHS", "1")  # the way out the message names: the link is read
    code, out, _ = run([str(inside)], capsys)
    assert code == 1 and "leak.yaml" in out and "2 files" in out.splitlines()[-1], out


def test_unreadable_file_exit_2(folder: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open  # the tests run as root, where chmod 000 denies nothing

    def deny(path, *args, **kwargs):
        if os.fspath(path).endswith("m.yaml"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", deny)
    code, out, _ = run([str(folder)], capsys)
    assert code == 2 and "m.yaml:0:0: cannot read: Permission denied" in out


def test_usage_errors_exit_2(capsys) -> None:
    assert main(["validate"]) == 2
    assert main(["validate", "--format", "xml", "x"]) == 2
    assert "usage" in capsys.readouterr().err


def test_unknown_and_newer_version_and_kind(tmp_path: Path, capsys) -> None:
    (tmp_path / "v.yaml").write_text("apiVersion: lockstep/v9\nkind: Modle\nmetadata: {name: a}\n")
    code, out, _ = run([str(tmp_path / "v.yaml")], capsys)
    assert code == 1
    assert "v.yaml:1:13: apiVersion: unknown spec version `lockstep/v9`" in out
    assert all(f"`{v}`" in out for v in SUPPORTED_VERSIONS) and "newer" in out
    assert "v.yaml:2:7: kind: unknown kind `Modle`" in out and "did you mean `Model`?" in out


BAD_INPUTS = {
    "invalid.yaml": ("a: [1,\nb: 2\n", "yaml", 3),  # where the parser gave up; the message names line 1
    "dup.yaml": (GOOD + "kind: Model\n", "duplicate-key", 7),
    "tag.yaml": ("apiVersion: !!python/object/apply:os.system ['touch /tmp/lockstep-pwned']\n", "tag", 1),
    "bomb.yaml": ("a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True)),
        "too-large", None),
    "deep.yaml": ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "too-large", 1),
    "binary.yaml": (b"\x89PNG\r\n\x1a\n\x00\x00", "binary", 0),
    "latin1.json": ('{"a": "caf\xe9"}'.encode("latin-1"), "encoding", 1),
    "empty.yaml": ("", "empty", 0),
    "nulls.yaml": ("---\n---\n", "schema", 2),
    "list.json": ("[1, 2]", "schema", 1),
    "scalar.yaml": ("just text\n", "schema", 1),
    "kind.yaml": ("apiVersion: lockstep/v1\nkind: Pipeline\nmetadata: {name: p}\n", "kind", 2),
    "version.yaml": ("apiVersion: lockstep/v2\nkind: Model\n", "version", 1),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_reported_never_raised(name: str, tmp_path: Path, capsys) -> None:
    content, code, line = BAD_INPUTS[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    exit_code, out, _ = run(["--format", "json", str(path)], capsys)
    errs = json.loads(out)
    assert exit_code == 1 and errs, out
    assert errs[0]["code"] == code, errs
    if line is not None:
        assert errs[0]["line"] == line, errs
    assert not Path("/tmp/lockstep-pwned").exists()


def test_huge_file_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)  # sparse: no need to write 5 MB
    code, out, _ = run([str(path)], capsys)
    assert code == 1 and f"limited to {MAX_BYTES} bytes" in out


def test_no_framework_imported() -> None:
    code = (
        "import sys\n"
        "import lockstep.spec, lockstep.spec.loader, lockstep.spec.validate\n"
        "heavy = ('torch', 'tensorflow', 'onnxruntime', 'keras', 'jax')\n"
        "assert not [m for m in heavy if m in sys.modules], 'import lockstep.spec'\n"
        "from lockstep.cli import main\n"
        f"main(['validate', '-q', {str(ROOT / 'examples')!r}, {str(ROOT / '.pre-commit-hooks.yaml')!r}])\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("[]"), proc.stdout + proc.stderr


def test_python_dash_m_runs(folder: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "lockstep", "validate", str(folder / "r.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "optimizer.lr" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_pre_commit_hook() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "lockstep-validate"]
    assert hook["entry"] == "lockstep validate" and hook["language"] == "python"
    files = re.compile(hook["files"])
    assert all(files.search(f) for f in ("a.yaml", "dir/b.yml", "c.json"))
    assert not any(files.search(f) for f in ("a.py", "yaml.txt", "x.jsonl"))


def test_messages_for_unions_keys_and_inline_models(tmp_path: Path, capsys) -> None:
    (tmp_path / "d.csv").write_text("a,b,c,d,e\n" + "1,2,3,4,0\n" * 8)
    recipe = BAD.replace("model: m.yaml\n", """model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [4]}]
  layers:
    - {type: dense, unitz: 3}
    - type: dense
      units: 3
      initializers: {weight: {type: glorot_uniform, seed: -1}, 5: {type: ones}}
""").replace("source: {type: synthetic_classification, num_samples: 10, shape: [4], num_classes: 3}",
             "source: {type: csv, path: d.csv, target: 1.5}").replace("lr: 0.1", "learning_rate: 0.1")
    (tmp_path / "r.yaml").write_text(recipe)
    code, out, _ = run(["-q", str(tmp_path / "r.yaml")], capsys)
    assert code == 1
    assert out.splitlines() == [f"{tmp_path / 'r.yaml'}:{tail}" for tail in (
        "16:44: data.source.target: expected a string or an integer, got 1.5",
    )]
    (tmp_path / "r.yaml").write_text(recipe.replace("target: 1.5", "target: b"))
    code, out, _ = run(["-q", str(tmp_path / "r.yaml")], capsys)
    assert code == 1
    assert out.splitlines() == [f"{tmp_path / 'r.yaml'}:{tail}" for tail in (
        "10:21: model.layers[0].unitz: unknown field `unitz` (expected one of `name`, `inputs`, `initializers`, "
        "`units`, `use_bias`, `tied_to`); did you mean `units`?",
        "13:59: model.layers[1].initializers.weight.seed: expected an integer >= 0, got -1",
        "13:64: model.layers[1].initializers.5: key `5`: expected a string, got 5",
    )]


def test_globs_pick_documents_only(folder: Path, capsys) -> None:
    (folder / "README.md").write_text("# not a spec: ignored by a pattern\n")
    code, out, _ = run([str(folder / "*")], capsys)
    assert code == 1 and out.splitlines()[-1] == "2 files, 2 documents, 1 error"
    code, out, _ = run([str(folder / "README.md")], capsys)  # named explicitly: read, and rejected
    assert code == 1 and "README.md" in out


def test_a_folder_search_skips_the_json_reports_lockstep_wrote(tmp_path: Path, capsys) -> None:
    """`lockstep validate .` in a project failed (exit 1) on every run's report.json, certificate and failing
    case's case.json: the outputs of Lockstep's own commands, which are not spec documents. They are skipped inside
    a folder a command wrote into (its `.lockstep.lock`); the run's recipe.resolved.yaml is still validated, and a
    report.json named on the command line, or outside such a folder, is still read."""
    from lockstep.runfolder import LOCK_NAME
    from lockstep.spec.validate import OUTPUT_LOCK

    assert OUTPUT_LOCK == LOCK_NAME
    recipe = Path(__file__).resolve().parents[1] / "examples" / "inline-model" / "recipe.yaml"
    assert main(["run", str(recipe), "--steps", "1", "--out", str(tmp_path / "runs" / "a"), "-q"]) == 0
    failures = tmp_path / "runs" / "a" / "failures" / "x"
    failures.mkdir(parents=True)
    (failures / "case.json").write_text("{}")
    capsys.readouterr()
    assert main(["validate", str(tmp_path)]) == 0, capsys.readouterr().err
    assert "1 file, 1 document, 0 errors" in capsys.readouterr().out  # recipe.resolved.yaml
    assert main(["validate", str(tmp_path / "runs" / "a" / "report.json")]) == 1
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "report.json").write_text("{}")
    assert main(["validate", str(tmp_path / "elsewhere")]) == 1


def test_a_folder_search_skips_json_schemas_copied_beside_the_specs(tmp_path: Path, capsys) -> None:
    """editors.md has a project keep the schemas beside its specs (`lockstep schema --kind Model > schemas/...`);
    `lockstep validate .` then reported each as a document missing `apiVersion` and `kind`. A file whose `$schema`
    names a json-schema.org meta-schema is skipped by a folder search, read when named; one that holds `apiVersion`
    is still validated."""
    (tmp_path / "schemas").mkdir()
    for kind in ("Model", "Recipe"):
        assert main(["schema", "--kind", kind]) == 0
        (tmp_path / "schemas" / f"{kind.lower()}.schema.json").write_text(capsys.readouterr().out)
    model = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "digits-mlp" / "model.yaml").read_text())
    (tmp_path / "model.json").write_text(json.dumps(model))
    assert main(["validate", str(tmp_path)]) == 0, capsys.readouterr()
    assert "1 file, 1 document, 0 errors" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "schemas" / "model.schema.json")]) == 1
    (tmp_path / "odd.json").write_text('{"$schema": "https://json-schema.org/draft/2020-12/schema", "apiVersion": 1}')
    (tmp_path / "kinded.json").write_text('{"$schema": "https://json-schema.org/draft/2020-12/schema", '
                                          '"kind": "Model"}')
    (tmp_path / "schemas" / "upper.json").write_text('{"$schema": "HTTPS://JSON-SCHEMA.ORG/draft/2020-12/schema"}')
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "odd.json" in out and "kinded.json" in out and "upper.json" not in out, out


def test_lockstep_s_records_are_skipped_in_a_copy_without_the_lock_and_from_inside(tmp_path: Path, capsys) -> None:
    """A report folder copied without its hidden lock (a CI artifact) failed on its report.json and every case.json,
    as did `lockstep validate DIR/failures/<case>/` (the search stopped at the folder given). A record is known by its
    fields now too (OUTPUT_RECORDS); a `{}` report.json is still read, and rejected."""
    import shutil

    from lockstep.spec.validate import OUTPUT_RECORDS

    recipe = Path(__file__).resolve().parents[1] / "examples" / "inline-model" / "recipe.yaml"
    assert main(["run", str(recipe), "--steps", "1", "--out", str(tmp_path / "run"), "-q"]) == 0
    case = tmp_path / "run" / "failures" / "relu.predictions.float64.cpu"
    case.mkdir(parents=True)
    (case / "case.json").write_text(json.dumps({"check": "relu.predictions.float64.cpu", "adapter": "mut",
                                                "case": {"construct": "relu"}, "command": "lockstep compare x"}))
    (case / "model.yaml").write_text(GOOD)
    shutil.copytree(tmp_path / "run", tmp_path / "artifact", ignore=shutil.ignore_patterns(".lockstep.lock"))
    report = json.loads((tmp_path / "artifact" / "report.json").read_text())
    assert any(keys <= report.keys() for keys in OUTPUT_RECORDS["report.json"]), sorted(report)
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "artifact")]) == 0, capsys.readouterr().out
    assert main(["validate", str(tmp_path / "run" / "failures" / "relu.predictions.float64.cpu")]) == 0
    (tmp_path / "artifact" / "report.json").write_text("{}")
    assert main(["validate", str(tmp_path / "artifact")]) == 1


def test_a_document_piped_in_is_validated_as_stdin(tmp_path: Path) -> None:
    """`lockstep validate -`, as check-jsonschema reads it: one stream, named `<stdin>`, its relative paths
    resolved against the current folder; the same checks as a file's (size, UTF-8), and exit codes alike."""
    (tmp_path / "m.yaml").write_text(GOOD)

    def validate(stdin: bytes, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lockstep", "validate", *args], cwd=tmp_path, input=stdin,
                              capture_output=True, timeout=60)

    proc = validate(GOOD.encode(), "-")
    assert proc.returncode == 0 and b"1 file, 1 document, 0 errors" in proc.stdout, proc
    proc = validate(BAD.encode(), "-", "m.yaml")
    assert proc.returncode == 1 and proc.stdout.startswith(b"<stdin>:"), proc
    assert b"2 files, 2 documents" in proc.stdout and b"Traceback" not in proc.stderr, proc
    proc = validate(b"\xc0\xaf kind: Model\n", "-")
    assert proc.returncode == 1 and b"<stdin>:1:1: not valid UTF-8 text (byte 0xc0)" in proc.stdout, proc
    proc = validate(b"a: 1\n" * (MAX_BYTES // 5 + 1), "-", "--format", "json")
    assert proc.returncode == 1 and json.loads(proc.stdout)[0]["file"] == "<stdin>", proc
    assert "documents are limited to" in json.loads(proc.stdout)[0]["message"], proc.stdout[:300]
    proc = validate(GOOD.encode(), "-", "-")
    assert proc.returncode == 0 and b"1 file, 1 document" in proc.stdout, "one stream, read once"


@pytest.mark.parametrize("name", ["x[1].yaml", "env[prod].yaml", "a*.yaml", "what?.yaml"])
def test_a_file_whose_name_looks_like_a_glob_is_that_file(name: str, tmp_path: Path, monkeypatch, capsys) -> None:
    """`x[1].yaml` (invalid) beside `x1.yaml` (valid): the pattern reading validated x1.yaml and said 0 errors."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(BAD)
    for neighbour in ("x1.yaml", "envp.yaml", "ab.yaml", "whatX.yaml"):
        (tmp_path / neighbour).write_text(GOOD)
    assert main(["validate", name]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{name}:") and "1 file, 1 document" in out, out
    assert main(["validate", "x[1].yaml" if name != "x[1].yaml" else "env[prod].yaml"]) == 0  # a pattern still
    capsys.readouterr()
    assert main(["migrate", "--check", name]) == 0 and capsys.readouterr().out.startswith(f"{name}: already")
