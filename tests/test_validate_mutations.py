"""Property tests: generated valid documents validate and round-trip; every mutation of one (unknown
key, wrong type, deleted required key, duplicated key, misspelt `type`) is rejected on the line of the
change; no text, bytes or structure makes the validator crash."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import tempfile
from pathlib import Path

from hypothesis import assume, given, note
from hypothesis import strategies as st
from strategies import documents, get, model_class_at, paths

from lockstep.cli import main
from lockstep.spec.diagnostics import Diagnostic, SpecError
from lockstep.spec.documents import KINDS
from lockstep.spec.loader import dump_yaml, load_text
from lockstep.spec.validate import validate_document


def _validate(text: str):
    doc = load_text(text, "gen.yaml")[0]
    obj, diags = validate_document(doc, base_dir=Path("."))
    assert not [d for d in diags if d.code == "internal"], [d.format() for d in diags]
    return doc, obj, diags


def _show(diags: list[Diagnostic]) -> str:
    return "\n".join(d.format() for d in diags)


@given(documents)
def test_generated_documents_validate_and_round_trip(data: dict) -> None:
    text = dump_yaml(data)
    note(text)
    doc, obj, diags = _validate(text)
    assert not diags, _show(diags)
    assert doc.data == data  # what we write reads back as it was
    assert load_text(dump_yaml(doc.data), "again.yaml")[0].data == doc.data
    assert obj == KINDS[data["kind"]].model_validate(data)


@given(documents, st.booleans(), st.sampled_from([None, 2]))
def test_generated_documents_as_json(data: dict, ascii_only: bool, indent: int | None) -> None:
    text = json.dumps(data, indent=indent, ensure_ascii=ascii_only)
    doc, _obj, diags = _validate(text)
    assert doc.data == data and not diags, _show(diags)


def _mappings(data: dict) -> list[tuple]:
    """Paths of the mappings that a spec model validates (free-form ones such as `labels` excluded)."""
    return [p for p in [(), *paths(data)] if isinstance(get(data, p), dict) and model_class_at(data, p)]


@given(documents, st.data())
def test_unknown_key_is_rejected_on_its_line(data: dict, draw) -> None:
    where = draw.draw(st.sampled_from(_mappings(data)))
    mutant = copy.deepcopy(data)
    get(mutant, where)["learnin_rate_typo"] = 1
    doc, _obj, diags = _validate(dump_yaml(mutant))
    key_at = doc.key_location((*where, "learnin_rate_typo"))
    assert any((d.line, d.column) == key_at and "unknown field `learnin_rate_typo`" in d.message for d in diags), (
        f"expected an unknown-field error at {key_at}, got:\n{_show(diags)}")


def _wrong(value):
    if isinstance(value, bool):
        return "maybe"
    if isinstance(value, (int, float)):
        return "not-a-number"
    if isinstance(value, str):
        return ["not", "a", "string"]
    if isinstance(value, list):
        return "not-a-list"
    return ["not", "a", "mapping"]


@given(documents, st.data())
def test_wrong_type_is_rejected_on_its_line(data: dict, draw) -> None:
    candidates = [p for p in paths(data) if isinstance(p[-1], str) and model_class_at(data, p[:-1])
                  and get(data, p) is not None]
    where = draw.draw(st.sampled_from(candidates))
    mutant = copy.deepcopy(data)
    get(mutant, where[:-1])[where[-1]] = _wrong(get(data, where))
    text = dump_yaml(mutant)
    note(text)
    doc, _obj, diags = _validate(text)
    line = doc.locate(where)[0]
    assert diags, f"a wrong type at {where} was accepted"
    assert any(d.line == line for d in diags), f"expected an error on line {line}, got:\n{_show(diags)}"


@given(documents, st.data())
def test_deleted_required_key_is_rejected_at_its_mapping(data: dict, draw) -> None:
    choices = [(p, k) for p in _mappings(data) for k in get(data, p)
               if (cls := model_class_at(data, p)) and k in cls.model_fields and cls.model_fields[k].is_required()]
    where, key = draw.draw(st.sampled_from(choices))
    mutant = copy.deepcopy(data)
    del get(mutant, where)[key]
    text = dump_yaml(mutant)
    note(text)
    doc, _obj, diags = _validate(text)
    line = doc.locate(where)[0]
    assert any(d.line == line and f"`{key}`" in d.message for d in diags), (
        f"deleting required `{key}` at {where}: expected an error on line {line}, got:\n{_show(diags)}")


@given(documents, st.data())
def test_misspelt_type_is_rejected_with_a_suggestion(data: dict, draw) -> None:
    tagged = [p for p in _mappings(data) if isinstance(get(data, p).get("type"), str)]
    assume(tagged)
    where = draw.draw(st.sampled_from(tagged))
    mutant = copy.deepcopy(data)
    original = get(mutant, where)["type"]
    get(mutant, where)["type"] = original + original[-1]  # `adam` -> `adamm`
    doc, _obj, diags = _validate(dump_yaml(mutant))
    line = doc.locate((*where, "type"))[0]
    assert any(d.line == line and d.suggestion == original for d in diags), (
        f"`{original}` misspelt: expected an error on line {line} suggesting it, got:\n{_show(diags)}")


_KEY_LINE = re.compile(r"^( *)[^ \-#'\"{\[][^:]*:( |$)")


@given(documents, st.data())
def test_duplicated_key_is_rejected_naming_both_lines(data: dict, draw) -> None:
    text = dump_yaml(data, block=True)
    lines = text.splitlines()
    indent = [len(line) - len(line.lstrip(" ")) for line in lines]
    # a key whose value ends on its own line: the next line is not deeper, or this one opens a block
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)
                  and (i + 1 == len(lines) or indent[i + 1] <= indent[i] or line.endswith(":"))]
    i = draw.draw(st.sampled_from(candidates))
    lines.insert(i + 1, lines[i])
    note("\n".join(lines))
    try:
        load_text("\n".join(lines) + "\n", "dup.yaml")
    except SpecError as exc:
        assert any(d.code == "duplicate-key" and d.line == i + 2 and d.related and d.related[0][0] == i + 1
                   for d in exc.diagnostics), _show(exc.diagnostics)
    else:
        raise AssertionError(f"the duplicated line {i + 2} was accepted")


# -------------------------------------------------------------------------------------- no crashes
@given(st.one_of(st.text(max_size=300), st.sampled_from(["---\n---\n", "a: &a [*a]", "[" * 200, "- " * 200,
                                                         "? [a]\n: b", "!!python/object:os.system x"])))
def test_no_text_crashes(text: str) -> None:
    try:
        docs = load_text(text, "fuzz.yaml")
    except SpecError as exc:
        assert exc.diagnostics
        return
    for doc in docs:
        obj, diags = validate_document(doc, base_dir=Path("."))
        assert (obj is None) == bool(diags)
        assert not [d for d in diags if d.code == "internal"], _show(diags)


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_no_file_crashes_the_command(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_bytes(content)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", str(path)])
    assert code in (1, 2), out.getvalue()
    assert "Traceback" not in out.getvalue() + err.getvalue()
    assert "internal error" not in out.getvalue()


leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
structures = st.recursive(leaves, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=5), c,
                                                                                              max_size=4)),
                          max_leaves=20)


@given(documents, st.data())
def test_no_structure_crashes(data: dict, draw) -> None:
    where = draw.draw(st.sampled_from(paths(data)))
    mutant = copy.deepcopy(data)
    get(mutant, where[:-1])[where[-1]] = draw.draw(structures)
    _doc, obj, diags = _validate(dump_yaml(mutant))
    assert (obj is None) == bool(diags)
