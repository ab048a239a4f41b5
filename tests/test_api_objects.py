"""The API's objects as a Python caller handles them (sweep J, 2026-12-06): copies of a loaded document, strings
Python makes that no file can hold, NumPy's bool, results read back, and the names the package offers. Each was a
raw exception, a silent change or a wrong answer before."""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests_support import tiny_recipe

import lockstep

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits-mlp" / "recipe.yaml"  # `model: model.yaml`, a file beside it
INLINE = ROOT / "examples" / "inline-model" / "recipe.yaml"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing lands in the checkout


@pytest.mark.parametrize("make_copy", [lambda r: r.model_copy(update={"seed": 5}), copy.copy, copy.deepcopy],
                         ids=["model_copy", "copy", "deepcopy"])
def test_a_copy_of_a_loaded_recipe_keeps_its_file(tmp_path: Path, make_copy) -> None:
    """`recipe.model_copy(update=...)` is pydantic's way to change a copy; the copy lost the file it came from, so
    its `model: model.yaml` was looked for in the current folder, and dump wrote a copy that did not load."""
    recipe = lockstep.load(DIGITS)
    changed = make_copy(recipe)
    assert lockstep.provenance(changed) is not None
    assert lockstep.provenance(changed).path == DIGITS
    with pytest.raises(lockstep.LockstepError, match=r"names a file beside recipe\.yaml"):
        lockstep.dump(changed, tmp_path / "out" / "copy.yaml")
    assert not (tmp_path / "out" / "copy.yaml").exists()
    result = lockstep.run(changed, out=tmp_path / "run", steps=2)
    assert result.steps == 2 and result.recipe.seed == changed.seed


@pytest.mark.parametrize("field, value, said", [
    ("description", "caf\udce9", "metadata.description"),
    ("labels", {"caf\udce9": "x"}, "metadata.labels.caf\\udce9"),
])
def test_a_lone_surrogate_in_a_document_built_in_python_is_refused_by_field(tmp_path: Path, field: str, value,
                                                                            said: str) -> None:
    """A str with a lone surrogate (an undecodable file name's stand-in) failed dump and run with a raw
    UnicodeEncodeError, and a label key was silently replaced by U+FFFD."""
    recipe = lockstep.load(INLINE)
    setattr(recipe.metadata, field, value)
    for call in (lambda: lockstep.dump(recipe), lambda: lockstep.run(recipe, out=tmp_path / "run", steps=1)):
        with pytest.raises(lockstep.LockstepError) as exc:
            call()
        assert f"{said}: not valid Unicode text (lone surrogate U+DCE9)" in str(exc.value), str(exc.value)
        assert exc.value.exit_code == 2
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("overrides", [{"metadata.description": "caf\udce9"},
                                       {"metadata.labels": {"caf\udce9": "x"}}])
def test_a_lone_surrogate_in_an_override_mapping_is_refused(tmp_path: Path, overrides: dict) -> None:
    """The `KEY=VALUE` form said so already; the mapping form failed in the recipe's hash."""
    with pytest.raises(lockstep.LockstepError, match=r"not valid Unicode text \(lone surrogate U\+DCE9\)"):
        lockstep.run(INLINE, out=tmp_path / "run", steps=1, overrides=overrides)


def test_numpy_bool_is_a_yes_or_no_and_a_loaded_document_is_named_as_such() -> None:
    """NumPy 2 names its bool `bool`, so the check for `bool_` never matched ("expected True or False, got bool
    np.True_"); a pydantic model iterates over its fields ("got tuple ('apiVersion', 'lockstep/v1')")."""
    assert lockstep.migrate(DIGITS, check=np.bool_(True))[0].status == "current"
    with pytest.raises(lockstep.LockstepError) as exc:
        lockstep.validate(lockstep.load(INLINE))
    assert "got a loaded Recipe (this reads documents from files" in str(exc.value), str(exc.value)


def test_migrate_refuses_an_on_file_that_is_no_function_before_writing(tmp_path: Path) -> None:
    """`on_file=5` raised TypeError after the first file had been written."""
    old = tmp_path / "old.yaml"
    old.write_text(INLINE.read_text().replace("apiVersion: lockstep/v1", "apiVersion: lockstep/v1alpha1"))
    before = old.read_text()
    with pytest.raises(lockstep.LockstepError, match="on_file: expected a function taking a Migration or None, "
                                                     "got int 5"):
        lockstep.migrate(old, on_file=5)
    assert old.read_text() == before


def test_an_unknown_metric_is_a_lockstep_error_and_a_key_error(tmp_path: Path) -> None:
    result = lockstep.run(INLINE, out=tmp_path / "run", steps=2)
    with pytest.raises(lockstep.LockstepError) as exc:
        result.metric("nope")
    assert isinstance(exc.value, KeyError)
    assert str(exc.value).startswith("no evaluation metric `nope` in this run (it has "), str(exc.value)
    with pytest.raises(lockstep.LockstepError, match=r"^metric: expected a metric name \(str\), got list"):
        result.metric(["loss"])  # TypeError ("unhashable type: 'list'") from the lookup


def test_a_recipe_built_in_python_records_no_file_in_report_json(tmp_path: Path) -> None:
    """report.json's `recipe_path` was `<cwd>/<recipe tiny>`, a file that never existed."""
    recipe = lockstep.load(INLINE)
    built = type(recipe).model_validate(recipe.model_dump())  # the same recipe, made in Python
    assert lockstep.provenance(built) is None
    result = lockstep.run(built, out=tmp_path / "run", steps=2)
    assert json.loads((result.folder / "report.json").read_text())["recipe_path"] is None
    from_file = lockstep.run(INLINE, out=tmp_path / "file", steps=2)
    assert from_file.report["recipe_path"] == str(INLINE)


def test_certificate_read_gives_back_the_certificate(tmp_path: Path) -> None:
    """report_dir came back relative, `files` held the json alone, and the seconds differed below a millisecond."""
    cert = lockstep.certify("reference", levels=[1], constructs=["dense"], dtypes=["float64"], examples=2,
                            report="cert")
    assert lockstep.Certificate.read("cert/report.json") == cert
    assert lockstep.Certificate.read("cert") == cert
    assert set(cert.files) == {"json", "junit", "html", "markdown"}


def test_the_package_offers_list_adapters_and_the_real_signatures() -> None:
    assert "list_adapters" in lockstep.__all__
    assert any(a.name == "reference" for a in lockstep.list_adapters())
    assert "backends" in inspect.signature(lockstep.compare).parameters
    assert "environment" in inspect.signature(lockstep.deploy).parameters


def test_every_api_function_pickles_for_a_process_pool() -> None:
    """`lockstep.compare` and `lockstep.deploy` are modules made callable: pickling them (a ProcessPoolExecutor's
    submit does) raised "cannot pickle '_CallableModule' object" where `lockstep.run` worked."""
    import pickle

    from lockstep import api

    for name in ("compare", "deploy", "run", "validate", "certify"):
        assert pickle.loads(pickle.dumps(getattr(lockstep, name))) is getattr(api, name), name


@pytest.mark.parametrize("resume, words", [
    (False, "choose another out, or overwrite=True to write beside them"),
    (True, "resume: nothing to resume in busy (no checkpoint)"),
])
def test_a_busy_folder_is_refused_in_the_callers_words(tmp_path: Path, resume: bool, words: str) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(tiny_recipe(steps=2))
    with pytest.raises(lockstep.LockstepError) as exc:
        lockstep.run(recipe, out="busy", resume=resume)
    assert words in str(exc.value) and "--" not in str(exc.value), str(exc.value)


def test_a_traceback_says_why_a_document_is_not_valid(tmp_path: Path) -> None:
    """`dump` of an edited recipe said only "nan.yaml: not written: the Recipe is not valid" in a traceback: the
    reason sat in `error.diagnostics`. The located problems are the exception's notes now (PEP 678), below the
    sentence, which stays the command's; a long list is cut at 20 lines and says how many it left out."""
    import pickle
    import traceback

    recipe = lockstep.load(DIGITS)
    recipe.optimizer.learning_rate = float("nan")
    with pytest.raises(lockstep.LockstepError) as refused:
        lockstep.dump(recipe, tmp_path / "nan.yaml")
    shown = "".join(traceback.format_exception(refused.value))
    assert str(refused.value).endswith("not written: the Recipe is not valid"), str(refused.value)
    assert "recipe.yaml:31:18 (set in Python): optimizer.learning_rate: expected a finite number, got .nan" in shown, \
        shown
    assert not (tmp_path / "nan.yaml").exists()
    again = pickle.loads(pickle.dumps(refused.value))  # a worker's error crosses processes with its notes
    assert again.__notes__ == refused.value.__notes__ and str(again) == str(refused.value)

    many = lockstep.LockstepError("x: not valid", 1, [f"problem {i}" for i in range(25)])
    assert many.__notes__ == [*(f"problem {i}" for i in range(20)), "... and 5 more (error.diagnostics holds them all)"]
    assert not hasattr(lockstep.LockstepError("no diagnostics"), "__notes__")


# ---------------------------------------------------------------- an API sweep's findings (2026-12-07)
@pytest.mark.parametrize("path, said", [(5, "path: expected a dotted field path"), (b"seed", "got bytes"),
                                        ("optimizer..x", "path: `optimizer..x` is not a dotted field path")])
def test_provenance_where_names_a_bad_path(path, said: str) -> None:
    """where(5) raised AttributeError from inside, where(b"seed") TypeError, a malformed path a bare ValueError."""
    prov = lockstep.provenance(lockstep.load(DIGITS))
    with pytest.raises(lockstep.LockstepError, match=re.escape(said)) as raised:
        prov.where(path)
    assert raised.value.exit_code == 2
    assert prov.where("optimizer.learning_rate").line > 0


def test_run_results_compare_as_objects_not_field_by_field(tmp_path: Path) -> None:
    """`a == b` reached the parameters' arrays and raised NumPy's "truth value of an array is ambiguous"."""
    a = lockstep.run(INLINE, out=tmp_path / "a", steps=2)
    b = copy.deepcopy(a)
    assert a == a and a != b and not (a == b)
    assert all(np.array_equal(a.parameters[k], b.parameters[k]) for k in a.parameters)


def test_dump_says_a_field_set_in_python_at_its_line(tmp_path: Path) -> None:
    """run said `recipe.yaml:LINE:COL (set in Python)`; dump said `<recipe NAME>` with no line (python-api.md
    promises both)."""
    recipe = lockstep.load(DIGITS)
    recipe.optimizer.learning_rate = -1
    line = next(i for i, text in enumerate(DIGITS.read_text().splitlines(), 1) if "learning_rate" in text
                and not text.lstrip().startswith("#"))
    with pytest.raises(lockstep.LockstepError) as raised:
        lockstep.dump(recipe, tmp_path / "m.yaml")
    (d,) = raised.value.diagnostics
    assert d.format().startswith(f"{DIGITS}:{line}:") and "(set in Python): optimizer.learning_rate" in d.format(), \
        d.format()
    assert not (tmp_path / "m.yaml").exists()


@pytest.mark.parametrize(("edit", "said"), [
    (lambda r: setattr(r, "optimizer", {"type": "adam"}), "(set in Python): optimizer.learning_rate: missing"),
    (lambda r: setattr(r.metadata, "labels", {1: 2}), "(set in Python): metadata.labels.1: expected a string"),
], ids=["field-removed", "integer-key"])
def test_an_edit_that_removes_a_field_or_uses_an_integer_key_is_said_as_set_in_python(edit: Callable[[Any], None],
                                                                                       said: str) -> None:
    """A field the file held and Python removed was said at the file's line alone (which holds the field: the
    message contradicted the file); a key 1 set in Python (JSON's "1") was not recognised as an edit."""
    for call in (lambda r: lockstep.run(r, out="never", steps=1), lockstep.dump):
        recipe = lockstep.load(DIGITS)
        edit(recipe)
        with pytest.raises(lockstep.LockstepError) as raised:
            call(recipe)
        shown = [d.format() for d in raised.value.diagnostics]
        assert len(shown) == 1 and shown[0].startswith(f"{DIGITS}:") and said in shown[0], shown


@pytest.mark.parametrize(("edit", "said"), [
    (lambda r: r.model["layers"][0].__setitem__("name", float("nan")), "model.layers[0].name: expected a string, "
     "got .nan"),
    (lambda r: r.model["inputs"][0].__setitem__("shape", [2, 6, float("-inf")]), "model.inputs[0].shape[2]: expected "
     "an integer, got -.inf"),
], ids=["nan-name", "inf-size"])
def test_a_non_finite_value_in_an_inline_model_is_judged_as_a_file_s(tmp_path: Path, edit: Callable[[Any], None],
                                                                      said: str) -> None:
    """pydantic's JSON dump turned a NaN in the inline model's mapping into null: a layer named nan trained under a
    made-up name, and a shape's nan was "got null"."""
    for call in (lambda r: lockstep.run(r, out=tmp_path / "never", steps=1), lockstep.dump):
        recipe = lockstep.load(INLINE)
        edit(recipe)
        with pytest.raises(lockstep.LockstepError) as raised:
            call(recipe)
        shown = [d.format() for d in raised.value.diagnostics]
        assert len(shown) == 1 and said in shown[0], shown
    assert not (tmp_path / "never").exists()


def test_an_inline_model_edited_in_place_is_said_as_set_in_python(tmp_path: Path) -> None:
    """The inline model's dict was shared with what `load` kept as read (pydantic keeps an untyped mapping as given):
    an edit in place was its own "as read", never said "(set in Python)"; dump said `<recipe NAME>` with no line."""
    for call in (lambda r: lockstep.run(r, out=tmp_path / "never", steps=1), lockstep.dump):
        recipe = lockstep.load(INLINE)
        recipe.model["layers"][0]["filters"] = -3
        with pytest.raises(lockstep.LockstepError) as raised:
            call(recipe)
        shown = [d.format() for d in raised.value.diagnostics]
        assert len(shown) == 1 and shown[0].startswith(f"{INLINE}:") and \
            "(set in Python): model.layers[0].filters: expected an integer > 0, got -3" in shown[0], shown


def test_a_document_holding_itself_is_a_lockstep_error() -> None:
    """A list appended to itself raised pydantic's ValueError ("Circular reference detected") from run and dump."""
    recipe = lockstep.load(INLINE)
    recipe.model["layers"].append(recipe.model["layers"])
    for call in (lambda r: lockstep.run(r, out="never", steps=1), lockstep.dump):
        with pytest.raises(lockstep.LockstepError, match=r"holds a value no document can hold .*Circular reference"):
            call(recipe)


@pytest.mark.parametrize("extra", ["nocolon", "", ",", "a\0b", ["reference", "nope"]])
def test_list_adapters_refuses_an_extra_name_it_cannot_use(extra) -> None:
    """Each was dropped without a word, where `lockstep adapters --adapter A` refuses a name it does not know."""
    with pytest.raises(lockstep.LockstepError, match="extra") as raised:
        lockstep.list_adapters(extra=extra)
    assert raised.value.exit_code == 2


def test_list_adapters_takes_listed_names_and_module_attributes() -> None:
    rows = lockstep.list_adapters(extra=["reference", "PyTorch", "lockstep.conformance.mutants._base:MutantAdapter"])
    assert "lockstep.conformance.mutants._base:MutantAdapter" in [r.name for r in rows]
