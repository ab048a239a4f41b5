"""Property tests: generated valid documents validate and round-trip; every mutation is rejected at the
right line; no input makes the validator crash."""

from __future__ import annotations

import copy

import yaml
from hypothesis import given, note
from hypothesis import strategies as st

from lockstep.conformance import strategies as cs
from lockstep.spec.diagnostics import SpecError
from lockstep.spec.loader import dump_yaml, load_text
from lockstep.spec.validate import validate_document

models = st.one_of(
    st.sampled_from(cs.LAYERS).flatmap(cs.layer_model),
    cs.sequence_model(),
    cs.graph_model(),
)


@st.composite
def recipes(draw) -> dict:
    model = draw(cs.sequence_model())
    features = model["inputs"][0]["shape"]
    classes = model["layers"][-1]["units"]
    opt = draw(st.sampled_from(cs.OPTIMIZERS).flatmap(cs.optimizer_case))
    recipe = {
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "generated"},
        "model": model, "seed": draw(st.integers(0, 2**31)),
        "data": {"source": {"type": "synthetic_regression", "num_samples": 64, "shape": features,
                            "targets": classes},
                 "batch_size": draw(st.integers(2, 16).filter(lambda b: 64 % b != 1))},
        "loss": draw(st.sampled_from(["mse", "mae", "huber"]).flatmap(lambda k: cs.loss_case(k, classes))),
        "optimizer": opt,
        "schedule": draw(st.sampled_from(["constant", "step", "exponential", "cosine"]).flatmap(cs.schedule_case)),
        "training": {"steps": 10},
    }
    if draw(st.booleans()):
        recipe["gradient_clipping"] = draw(st.sampled_from(cs.CLIPPING).flatmap(cs.clipping_case))
    return recipe


documents = st.one_of(models, recipes())


def _validate(text: str):
    doc = load_text(text, "gen.yaml")[0]
    return doc, validate_document(doc)


@given(documents)
def test_generated_documents_validate_and_round_trip(data: dict) -> None:
    text = dump_yaml(data)
    note(text)
    doc, (obj, diags) = _validate(text)
    assert not diags, "\n".join(d.format() for d in diags)
    again = load_text(dump_yaml(doc.data), "again.yaml")[0].data
    assert again == doc.data
    assert obj is not None


def _paths(data, prefix=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*prefix, i))


def _get(data, path):
    for p in path:
        data = data[p]
    return data


@given(documents, st.data())
def test_mutations_are_rejected_at_the_right_line(data: dict, draw) -> None:
    mutant = copy.deepcopy(data)
    mappings = [p for p in [(), *_paths(data)] if isinstance(_get(data, p), dict)]
    where = draw.draw(st.sampled_from(mappings))
    target = _get(mutant, where)
    kind = draw.draw(st.sampled_from(["unknown", "wrong_type", "delete"]))
    if kind == "unknown":
        target["zz_unknown_key"] = 1
        changed = (*where, "zz_unknown_key")
    elif kind == "wrong_type":
        key = draw.draw(st.sampled_from(sorted(target)))
        if key in ("metadata", "inputs", "layers", "nodes") or isinstance(target[key], (dict, list)):
            target[key] = "not-a-valid-value"
        else:
            target[key] = {"nested": "mapping"}
        changed = (*where, key)
    else:
        required = [k for k in target if k in ("type", "units", "kind", "apiVersion", "learning_rate", "name",
                                                "shape", "filters", "num_heads", "rate", "model", "seed")]
        if not required:
            return
        key = draw.draw(st.sampled_from(required))
        if where[-1:] == ("metadata",) or (key == "name" and "type" in target):
            return  # an optional layer name
        del target[key]
        changed = where
    text = dump_yaml(mutant)
    note(text)
    doc, (_obj, diags) = _validate(text)
    assert diags, f"mutation {kind} at {changed} was accepted"
    # the error is reported on the line of the changed node (or its enclosing mapping)
    want = {doc.locate(changed), doc.key_location(changed), doc.locate(where), doc.key_location(where)}
    lines = {(d.line, d.column) for d in diags}
    want_lines = {w[0] for w in want}
    assert lines & want or {d.line for d in diags} & want_lines or kind == "delete", (
        f"{kind} at {changed}: expected a diagnostic at {sorted(want)}, got "
        + "; ".join(d.format() for d in diags))


@given(documents, st.data())
def test_duplicate_keys_are_rejected_with_both_lines(data: dict, draw) -> None:
    text = dump_yaml(data)
    lines = text.splitlines()
    candidates = [i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("-")]
    i = draw.draw(st.sampled_from(candidates))
    lines.insert(i + 1, lines[i])
    try:
        load_text("\n".join(lines) + "\n", "dup.yaml")
    except SpecError as exc:
        assert any(d.code == "duplicate-key" and d.line == i + 2 and d.related[0][0] == i + 1
                   for d in exc.diagnostics) or exc.diagnostics[0].code == "yaml"
    else:
        raise AssertionError("a duplicated key was accepted")


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_no_input_crashes(text: str) -> None:
    try:
        docs = load_text(text, "fuzz.yaml")
    except SpecError as exc:
        assert exc.diagnostics
        return
    for doc in docs:
        obj, diags = validate_document(doc)
        assert (obj is None) == bool(diags)


@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
                    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=5), c, max_size=4)),
                    max_leaves=20))
def test_no_structure_crashes(data) -> None:
    doc = {"apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "x"}, "model": data, "data": data,
           "optimizer": data}
    d = load_text(yaml.safe_dump(doc), "s.yaml")[0]
    obj, diags = validate_document(d)
    assert obj is None and diags
