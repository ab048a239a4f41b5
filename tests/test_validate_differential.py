"""`lockstep validate` against the committed JSON Schema: every document the schema rejects, validate
rejects too (with its reason); validate may reject more (shapes, references, ranges across fields,
memory), and then says why. Over generated documents and their mutations: values of the wrong type
(`"64"`, `yes`, `true`, `3.0`), out of range, non-finite, too large for 64 bits; deleted and unknown keys;
emptied lists; wrong `type` tags.

The schema is what editors and check-jsonschema use: if validate accepted a document the schema
refuses (`batch_size: "64"` used to be converted silently), the two would disagree about what a
valid document is.
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from strategies import documents, get, paths

from lockstep.spec.diagnostics import Diagnostic
from lockstep.spec.loader import dump_yaml, load_text
from lockstep.spec.schema_export import SCHEMA_DIR
from lockstep.spec.validate import validate_document

SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "document.schema.json").read_text()))
MUTANTS_PER_EXAMPLE = 4
EXAMPLES = 260  # 260 generated documents and 1,040 mutants: over 1,000 documents each run
checked: Counter[str] = Counter()


def _replacements(value: object) -> list[object]:
    """Values of the wrong type or out of range for a leaf that holds `value`."""
    out: list[object] = [None, [], {}, "", "x" * 200, True, False, -1, 0, 10**25, -(10**25), 2**63, 2**63 - 1,
                         float("inf"), float("-inf"), float("nan"), 1e308, -1e308, 0.5, -0.5, 3.0]
    if isinstance(value, bool):
        out += ["yes", "no", "on", "true", "True", 1, 0]
    elif isinstance(value, int):
        out += [str(value), float(value), value + 0.5, -value, value * 10**20]
    elif isinstance(value, float):
        out += [str(value), repr(value), int(value), -value, value * 1e300 if value else 1e300]
    elif isinstance(value, str):
        out += [value.upper(), value + "x", 1, [value], {"type": value}]
    return out


@st.composite
def mutation(draw, data: dict) -> tuple[str, tuple, object]:
    """(kind, path, value) of one mutation of `data`."""
    where = draw(st.sampled_from(paths(data)))
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown", "empty"]))
    if kind == "replace":
        return kind, where, draw(st.sampled_from(_replacements(get(data, where))))
    if kind == "unknown":
        return kind, where, draw(st.sampled_from(["extra", "lr", "units ", "Type"]))
    return kind, where, None


def _apply(data: dict, kind: str, where: tuple, value: object) -> dict:
    mutant = copy.deepcopy(data)
    parent, key = get(mutant, where[:-1]), where[-1]
    if kind == "replace":
        parent[key] = value
    elif kind == "delete":
        del parent[key]
    elif kind == "unknown":
        target = get(mutant, where)
        if isinstance(target, dict):
            target[value] = 1
        else:
            parent[key] = {value: target}
    elif kind == "empty":
        parent[key] = [] if isinstance(parent[key], list) else {}
    return mutant


def _show(diags: list[Diagnostic]) -> str:
    return "\n".join(d.format() for d in diags) or "(nothing)"


def _judge(data: dict, label: str) -> None:
    text = dump_yaml(data)
    loaded = load_text(text, "gen.yaml")[0]
    note(f"{label}:\n{text}")
    _obj, diags = validate_document(loaded, base_dir=Path("."))
    internal = [d for d in diags if d.code == "internal"]
    assert not internal, f"{label}: the validator crashed:\n{_show(internal)}"
    schema_errors = sorted(SCHEMA.iter_errors(loaded.data), key=lambda e: list(e.absolute_path))
    if schema_errors:
        assert diags, (f"{label}: the JSON Schema rejects it ({schema_errors[0].message} at "
                       f"{list(schema_errors[0].absolute_path)}) but lockstep validate accepts it")
    assert all(d.message.strip() for d in diags), f"{label}: a diagnostic without a reason:\n{_show(diags)}"
    checked["documents"] += 1
    checked["schema rejects"] += bool(schema_errors)
    checked["validate rejects more"] += bool(diags) and not schema_errors


@settings(max_examples=EXAMPLES)
@given(documents, st.data())
def test_validate_rejects_what_the_schema_rejects(data: dict, draw) -> None:
    _judge(data, "generated")
    for i in range(MUTANTS_PER_EXAMPLE):
        kind, where, value = draw.draw(mutation(data), label=f"mutation {i}")
        mutant = _apply(data, kind, where, value)
        if isinstance(value, float) and math.isnan(value):
            label = f"mutant {i}: {kind} {list(where)} = .nan"
        else:
            label = f"mutant {i}: {kind} {list(where)} = {value!r}"
        _judge(mutant, label)


def test_the_differential_run_covered_over_1000_documents() -> None:
    if not checked:
        pytest.skip("runs after test_validate_rejects_what_the_schema_rejects, in the same session")
    assert checked["documents"] >= 1000, dict(checked)
    assert checked["schema rejects"] >= 300, dict(checked)  # the mutations do reach the schema
