"""The committed JSON Schemas match the models, and accept and reject what the validator does."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from lockstep.cli import main
from lockstep.conformance import strategies as cs
from lockstep.spec.documents import KINDS, Evaluation
from lockstep.spec.loader import load_file
from lockstep.spec.schema_export import REGENERATE, SCHEMA_DIR, all_schemas, render, stale

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
Validator = jsonschema.Draft202012Validator


def committed(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


DOCUMENT = Validator(committed("document"))
GOOD_MODEL = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
              "inputs": [{"name": "x", "shape": [3]}], "layers": [{"type": "dense", "units": 2}]}


def test_committed_schemas_match_the_models() -> None:
    for name, schema in all_schemas().items():
        path = SCHEMA_DIR / name
        assert path.is_file(), f"{path} is missing: run {REGENERATE}"
        assert path.read_text() == render(schema), f"{path} is out of date with the pydantic models: run {REGENERATE}"
    assert stale() == []


def test_export_check_flag_reports_stale_files(tmp_path: Path) -> None:
    assert stale(tmp_path) == [*all_schemas()]
    proc = subprocess.run([sys.executable, "-m", "lockstep.spec.schema_export", "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ["model", "recipe", "environment", "document"])
def test_schema_metadata(name: str) -> None:
    schema = committed(name)
    Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/v1/{name}.schema.json") and schema["title"].startswith("Lockstep v1")
    assert schema["description"] and REGENERATE in schema["$comment"]


def _objects(node: object):
    if isinstance(node, dict):
        if "properties" in node and node.get("type") == "object":
            yield node
        for v in node.values():
            yield from _objects(v)
    elif isinstance(node, list):
        for v in node:
            yield from _objects(v)


@pytest.mark.parametrize("name", ["model", "recipe", "environment", "document"])
def test_every_object_rejects_unknown_keys(name: str) -> None:
    root = committed(name)
    for obj in _objects(root):
        if obj is not root or name != "document":  # the document root defers to its kind's branch
            assert obj.get("additionalProperties") is False, obj.get("title")
    assert list(DOCUMENT.iter_errors({**GOOD_MODEL, "extra": 1}))


def test_descriptions_come_from_docstrings_and_field_descriptions() -> None:
    defs = committed("document")["$defs"]
    assert defs["Dense"]["description"].startswith("y = x @ weight + bias")
    assert defs["Evaluation"]["properties"]["every"]["description"] == \
        Evaluation.model_fields["every"].description
    # the fields docs/editors.md's hover promise once missed
    for where, field, word in (("SGD", "momentum", "Momentum"), ("Adam", "epsilon", "sqrt(v̂)"),
                               ("CategoricalCrossentropy", "label_smoothing", "t (1 - s) + s / C"),
                               ("SparseCategoricalCrossentropy", "label_smoothing", "one-hot target"),
                               ("BinaryCrossentropy", "label_smoothing", "s / 2")):
        text = defs[where]["properties"][field].get("description", "")
        assert word in text, f"{where}.{field}: {text!r}"


def _document_models() -> dict[str, type[BaseModel]]:
    """Every model class a document can hold, by name: the kinds and everything their fields reach."""
    found: dict[str, type[BaseModel]] = {}

    def walk(annotation: object) -> None:
        for arg in typing.get_args(annotation):
            walk(arg)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in found.values():
            found[f"{annotation.__module__.rsplit('.', 1)[-1]}.{annotation.__name__}"] = annotation
            for f in annotation.model_fields.values():
                walk(f.annotation)

    for cls in KINDS.values():
        walk(cls)
    return found


def test_every_field_of_every_document_model_has_a_description() -> None:
    """One meaning per field, in the model: the schema's hover text and the docs' tables both come from it."""
    models = _document_models()
    assert {"documents.Recipe", "layers.Dense", "optimizers.SGD", "losses.Huber", "data.CsvFile",
            "initializers.HeNormal", "schedules.Warmup", "base.Metadata"} <= set(models), sorted(models)
    missing = [f"{name}.{field}" for name, cls in models.items() for field, info in cls.model_fields.items()
               if not (info.description or "").strip()]
    assert not missing, f"fields without Field(description=...): {missing}"
    for schema in ("model", "recipe", "environment", "document"):
        without = [f"{schema}: {name}.{prop}" for name, d in committed(schema)["$defs"].items()
                   for prop, s in d.get("properties", {}).items() if not s.get("description")]
        assert not without, f"schema properties without a description: {without}"


def test_field_tables_of_the_spec_page_are_current() -> None:
    """The field tables of docs/spec/v1.md are generated from the models (types, defaults, meanings)."""
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "tools" / "gen_field_tables.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, f"{out.stderr}\nrun: python docs/tools/gen_field_tables.py"


def test_a_field_without_a_description_fails_the_docs_generator(tmp_path: Path) -> None:
    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'docs' / 'tools')!r}); import gen_field_tables as g\n"
              "from lockstep.spec.optimizers import SGD\n"
              "SGD.model_fields['momentum'].description = None\n"
              "sys.exit(g.main(['--check']))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 2 and "optimizers.SGD.momentum has no description" in out.stderr, out.stderr


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_pass_the_exported_schemas(path: Path) -> None:
    for doc in load_file(path):
        DOCUMENT.validate(doc.data)
        Validator(committed(doc.data["kind"].lower())).validate(doc.data)


def test_document_schema_dispatches_on_kind() -> None:
    assert not list(DOCUMENT.iter_errors(GOOD_MODEL))
    for bad in ({**GOOD_MODEL, "kind": "Modle"}, {**GOOD_MODEL, "apiVersion": "lockstep/v9"},
                {k: v for k, v in GOOD_MODEL.items() if k != "kind"}, {**GOOD_MODEL, "runtime": "torch"}):
        assert list(DOCUMENT.iter_errors(bad)), bad


def test_equal_class_names_stay_apart() -> None:
    """The initializer `constant` and the schedule `constant` are different objects."""
    model = copy.deepcopy(GOOD_MODEL)
    model["layers"][0]["initializers"] = {"weight": {"type": "constant", "value": 0.5}}
    assert not list(DOCUMENT.iter_errors(model))
    assert not list(Validator(committed("model")).iter_errors(model))


def test_inline_model_in_a_recipe_is_checked() -> None:
    recipe = {"apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "r"}, "model": GOOD_MODEL,
              "seed": 0, "data": {"source": {"type": "synthetic_regression", "num_samples": 8, "shape": [3],
                                             "targets": 2}, "batch_size": 4},
              "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "training": {"steps": 2}}
    for v in (DOCUMENT, Validator(committed("recipe"))):
        assert not list(v.iter_errors(recipe))
        assert not list(v.iter_errors({**recipe, "model": "model.yaml"}))
        bad = copy.deepcopy(recipe)
        bad["model"]["layers"][0]["units"] = 0
        assert list(v.iter_errors(bad))
        assert list(v.iter_errors({**recipe, "optimizer": {"type": "sgd", "lr": 0.1}}))


@pytest.mark.parametrize("bad", [
    {**GOOD_MODEL, "extra": 1},
    {**GOOD_MODEL, "layers": [{"type": "dense", "units": -1}]},
    {**GOOD_MODEL, "layers": [{"type": "dense", "units": 2, "lr": 1}]},
    {**GOOD_MODEL, "layers": [{"type": "dense", "units": 2, "initializers": {"weight": {"type": "zeros", "x": 1}}}]},
    {**GOOD_MODEL, "metadata": {"name": "m", "owner": "me"}},
    {**GOOD_MODEL, "layers": [{"type": "dense"}]},
    {**GOOD_MODEL, "layers": [{"type": "dens", "units": 2}]},
    # the schema let it through (sweep 2026-12-07): `nodes` was in the graph branch twice, and the second entry (its
    # items) replaced the first (not null)
    {**{k: v for k, v in GOOD_MODEL.items() if k != "layers"}, "nodes": None, "outputs": ["x"]},
])
def test_model_schema_rejects_what_pydantic_rejects(bad: dict) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        KINDS["Model"].model_validate(bad)
    assert list(Validator(committed("model")).iter_errors(bad))


@pytest.mark.parametrize("bad", [
    {**{k: v for k, v in GOOD_MODEL.items() if k != "layers"},
     "nodes": [{"type": "dense", "name": "d", "units": 2, "inputs": []}], "outputs": ["d"]},
    {**GOOD_MODEL, "layers": [{"type": "dense", "units": 2, "inputs": ["x"]}]},
], ids=["node-without-inputs", "inputs-in-a-sequence"])
def test_model_schema_rejects_what_validate_rejects(bad: dict, tmp_path: Path) -> None:
    """Rules validate checks beyond pydantic that guarantees.md says the schema holds too: the schema let a node's
    empty `inputs` and a sequence layer's `inputs` through (sweep 2026-12-07)."""
    import json

    import lockstep

    path = tmp_path / "m.json"
    path.write_text(json.dumps(bad))
    assert lockstep.validate([path])
    assert list(Validator(committed("model")).iter_errors(bad))


@given(st.one_of(st.sampled_from(cs.LAYERS).flatmap(cs.layer_model), cs.sequence_model(), cs.graph_model()))
def test_generated_models_pass_the_exported_schema(model: dict) -> None:
    KINDS["Model"].model_validate(model)
    assert not [e.message for e in DOCUMENT.iter_errors(model)]


@pytest.mark.skipif(shutil.which("check-jsonschema") is None and not (Path(sys.executable).parent /
                                                                       "check-jsonschema").exists(),
                    reason="check-jsonschema is not installed")
def test_check_jsonschema_cli(tmp_path: Path) -> None:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    schema = str(SCHEMA_DIR / "document.schema.json")
    ok = subprocess.run([exe, "--schemafile", schema, *map(str, EXAMPLES)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (tmp_path / "bad.yaml").write_text("apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\n"
                                       "inputs: [{name: x, shape: [3]}]\nlayers: [{type: dense, unitz: 2}]\n")
    bad = subprocess.run([exe, "--schemafile", schema, str(tmp_path / "bad.yaml")], capture_output=True, text=True)
    assert bad.returncode == 1 and "unitz" in bad.stdout + bad.stderr


# ----------------------------------------------------------------------------------------- command
@pytest.mark.parametrize("kind", [*KINDS, None])
def test_schema_command_prints_the_committed_schema(kind: str | None, capsys) -> None:
    assert main(["schema", *(["--kind", kind] if kind else [])]) == 0
    out = capsys.readouterr().out
    assert out == (SCHEMA_DIR / f"{(kind or 'document').lower()}.schema.json").read_text()


def test_schema_command_versions(capsys) -> None:
    assert main(["schema", "--version", "lockstep/v1", "--kind", "Model"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Lockstep v1 Model"
    assert main(["schema", "--version", "v7"]) == 2
    assert "unknown spec version" in capsys.readouterr().err
    assert main(["schema", "--kind", "Modle"]) == 2


def test_every_example_has_the_editor_modeline() -> None:
    for path in EXAMPLES:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.is_file(), f"{path}: modeline points at missing {target}"


def test_field_reference_page_is_up_to_date() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "tools" / "gen_spec_reference.py")], capture_output=True,
                         text=True, check=True).stdout
    assert (ROOT / "docs" / "spec" / "v1-fields.md").read_text() == out, (
        "docs/spec/v1-fields.md is stale: python docs/tools/gen_spec_reference.py > docs/spec/v1-fields.md")


_ENV = "apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: e}\nruntime: onnxruntime\n"
_SEQ = "apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\n"


@pytest.mark.parametrize("text", [
    _ENV + "tolerance: {rtol: 1.5, atol: 0.1}\n",  # checks nothing
    _ENV + "tolerance: {rtol: 0, atol: 0.0}\n",  # bit for bit
    _ENV,  # a float32 target without a tolerance
    _ENV + "dtype: int8\n",  # int8 without max_metric_drop
    _ENV + "dtype: int8\nmax_metric_drop: {accuracy: 1.0}\n",
    _ENV + "tolerance: {rtol: 0.01, atol: 0.01}\nquantization: {mode: static}\n",  # quantization of a float32
    _ENV + "dtype: int8\nmax_metric_drop: {loss: 0.1}\nquantization: {calibration_samples: 8}\n",  # dynamic
    _ENV + "tolerance: {rtol: 0.01, atol: 0.01}\nbatch_sizes: [1, 4, 1]\n",
    _ENV + "tolerance: {rtol: 0.01, atol: 0.01}\nrequirements: {'$schema': '>=1'}\n",
    _ENV + "tolerance: {rtol: 0.01, atol: 0.01}\ndevice: gpu:0\n",  # onnxruntime names it cuda
    _ENV + "tolerance: {rtol: 0.01, atol: 0.01}\ndevice: 'cuda:٣'\n",  # \d took any Unicode digit
    _SEQ + "inputs: [{name: x, shape: [6]}, {name: z, shape: [6]}]\nlayers: [{type: dense, units: 2}]\n",
    _SEQ + "inputs: [{name: x, shape: [6]}]\nlayers: [{type: reshape, shape: [0, -1]}]\n",
    _SEQ + "inputs: [{name: x, shape: [6]}]\nlayers: [{type: reshape, shape: [-1, -1]}]\n",
], ids=["rtol-1.5", "both-0", "no-tolerance", "int8-no-drop", "accuracy-drop-1", "float32-quantized",
        "dynamic-calibrated", "repeated-batch", "package-name", "gpu-on-onnxruntime", "arabic-digit", "two-inputs",
        "reshape-0", "reshape-two-minus-1"])
def test_the_schema_refuses_what_validate_refuses_across_fields(text: str, tmp_path: Path) -> None:
    """Rules validate enforced and the schema did not state, though JSON Schema can (a differential fuzz of the
    two, 2026-12-08): check-jsonschema and editors accepted each of these documents."""
    path = tmp_path / "doc.yaml"
    path.write_text(text, encoding="utf-8")
    (doc,) = load_file(path)
    assert list(Validator(committed("document")).iter_errors(doc.data)), f"the schema accepts:\n{text}"
    assert main(["validate", str(path)]) == 1


def test_the_schema_keeps_accepting_what_validate_accepts(tmp_path: Path) -> None:
    for text in (_ENV + "tolerance: {rtol: 0.5, atol: 0}\nbatch_sizes: [1, 4]\nrequirements: {onnxruntime: '>=1.17'}\n",
                 _ENV + "dtype: int8\nmax_metric_drop: {accuracy: 0.02}\nquantization: {mode: static, "
                        "calibration_samples: 8}\n",
                 _SEQ + "inputs: [{name: x, shape: [6]}]\nlayers: [{type: reshape, shape: [2, -1]}]\n"):
        (doc,) = load_file(_write(tmp_path, text))
        assert not list(Validator(committed("document")).iter_errors(doc.data)), text
        assert main(["validate", str(tmp_path / "doc.yaml")]) == 0, text


def _write(tmp: Path, text: str) -> Path:
    (tmp / "doc.yaml").write_text(text, encoding="utf-8")
    return tmp / "doc.yaml"


def test_a_package_name_ending_in_a_newline_is_refused_by_both(tmp_path: Path) -> None:
    """`{"onnx\\n": ""}`: Python's `$` passes a final newline, so validate accepted what check-jsonschema refuses."""
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"apiVersion": "lockstep/v1", "kind": "Environment", "metadata": {"name": "e"},
                                "runtime": "onnxruntime", "tolerance": {"rtol": 0.01, "atol": 0.01},
                                "requirements": {"onnx\n": ""}}), encoding="utf-8")
    assert main(["validate", str(path)]) == 1
