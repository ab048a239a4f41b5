"""The committed JSON Schemas match the models, and they accept and reject what the validator does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from lockstep.spec.loader import load_file
from lockstep.spec.schema_export import SCHEMA_DIR, all_schemas, render

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))


def test_committed_schemas_match_the_models() -> None:
    for name, schema in all_schemas().items():
        committed = SCHEMA_DIR / name
        assert committed.is_file(), f"{committed} is missing: run python -m lockstep.spec.schema_export --write"
        assert committed.read_text() == render(schema), (
            f"{committed} is out of date with the pydantic models: run python -m lockstep.spec.schema_export --write")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_pass_the_exported_schema(path: Path) -> None:
    schema = json.loads((SCHEMA_DIR / "document.schema.json").read_text())
    for doc in load_file(path):
        jsonschema.validate(doc.data, schema, cls=jsonschema.Draft202012Validator)


def test_exported_schema_rejects_unknown_keys_and_bad_types() -> None:
    schema = json.loads((SCHEMA_DIR / "model.schema.json").read_text())
    good = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
            "inputs": [{"name": "x", "shape": [3]}], "layers": [{"type": "dense", "units": 2}]}
    v = jsonschema.Draft202012Validator(schema)
    assert not list(v.iter_errors(good))
    for bad in ({**good, "extra": 1}, {**good, "layers": [{"type": "dense", "units": -1}]},
                {**good, "layers": [{"type": "dense", "units": 2, "lr": 1}]}):
        assert list(v.iter_errors(bad))


def test_schema_command_prints_each_kind() -> None:
    for kind in ("Model", "Recipe", "Environment"):
        out = subprocess.run([sys.executable, "-m", "lockstep", "schema", "--kind", kind], capture_output=True,
                             text=True, check=True).stdout
        assert json.loads(out)["title"] == f"Lockstep v1 {kind}"
    out = subprocess.run([sys.executable, "-m", "lockstep", "schema"], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)["$id"].endswith("document.schema.json")


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
