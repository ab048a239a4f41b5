"""Generate the committed JSON Schemas from the pydantic models.

    python -m lockstep.spec.schema_export --write    # rewrite spec/schemas/v1/*.schema.json
    python -m lockstep.spec.schema_export --check    # exit 1 if the committed files are stale

The schemas are committed so that editors (yaml-language-server), check-jsonschema and tools in other
languages can check documents without installing Lockstep; tests/test_schemas.py fails when they drift
from the models. They are JSON Schema draft 2020-12; every object rejects unknown keys, like the
models. Descriptions come from the models: an object's from its class docstring, a field's from its
`Field(description=...)` (the same text as the field tables of docs/spec/v1.md, and editors' hover docs).
The schema checks structure only: shapes, graphs and references are `lockstep validate`'s job.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from lockstep.spec.base import API_VERSION
from lockstep.spec.documents import KINDS, Model, Recipe

VERSION = API_VERSION.split("/", 1)[1]  # "v1"
SCHEMA_ROOT = Path(__file__).resolve().parent / "schemas"
SCHEMA_DIR = SCHEMA_ROOT / VERSION
BASE_ID = f"https://lockstep.dev/schemas/{VERSION}/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = "python -m lockstep.spec.schema_export --write"

KIND_DESCRIPTIONS = {
    "Model": "A neural network: named inputs, and layers as a sequence (`layers`) or a graph (`nodes` + `outputs`).",
    "Recipe": "How to train a model: data, loss, optimizer, schedule, clipping, steps, evaluation and checkpoints, "
              "all seeded; the model is inline or a relative path to a Model document.",
    "Environment": "A deployment target: runtime, device, dtype, batch sizes, required packages, the prediction "
                   "tolerance against the float64 reference and a latency budget.",
}


# ------------------------------------------------------------------------------------ generation
def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _rename_refs(v, renames) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    if isinstance(node, str) and node.startswith("#/$defs/"):
        return "#/$defs/" + renames.get(node[8:], node[8:])
    return node


def _definitions(classes: list[type[BaseModel]]) -> dict[str, Any]:
    """Shared `$defs` of several models: one namespace, so equal class names in two modules
    (the initializer and the schedule `Constant`) get distinct, readable names."""
    _, top = models_json_schema([(c, "validation") for c in classes], ref_template="#/$defs/{model}")
    defs = top.get("$defs", {})
    renames = {}
    for key in defs:
        m = re.fullmatch(r"lockstep__spec__(\w+?)__(\w+)", key)
        if m:
            renames[key] = m.group(1).rstrip("s").title() + m.group(2)  # initializers -> InitializerConstant
    defs = _rename_refs({renames.get(k, k): v for k, v in defs.items()}, renames)
    recipe = defs.get("Recipe")
    if recipe is not None and "Model" in defs:
        recipe["properties"]["model"] = {
            "title": "Model", "description": Recipe.model_fields["model"].description,
            "anyOf": [{"type": "string", "minLength": 1}, {"$ref": "#/$defs/Model"}],
        }
    for kind, text in KIND_DESCRIPTIONS.items():
        if kind in defs:
            defs[kind].setdefault("description", text)
    return defs


def kind_schema(kind: str) -> dict[str, Any]:
    """The schema of one document kind (`Model`, `Recipe`, `Environment`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind `{kind}`; one of {', '.join(KINDS)}")
    classes = [KINDS[kind]] + ([Model] if kind == "Recipe" else [])
    defs = _definitions(classes)
    root = defs.pop(kind)
    root.pop("title", None)
    return {"$schema": DRAFT, "$id": f"{BASE_ID}{kind.lower()}.schema.json", "title": f"Lockstep {VERSION} {kind}",
            "$comment": f"Generated from the pydantic models: {REGENERATE}", **root, "$defs": defs}


def document_schema() -> dict[str, Any]:
    """One schema for any document, dispatching on `kind` (if/then keeps error messages specific)."""
    defs = _definitions(list(KINDS.values()))
    branches = [{"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]}, "then": {"$ref": f"#/$defs/{k}"}}
                for k in KINDS]
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}document.schema.json",
        "title": f"Lockstep {VERSION} document (Model, Recipe or Environment)",
        "description": "Any Lockstep document; `kind` selects Model, Recipe or Environment.",
        "$comment": f"Generated from the pydantic models: {REGENERATE}",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {"apiVersion": {"const": API_VERSION}, "kind": {"enum": list(KINDS)}},
        "allOf": branches,
        "$defs": defs,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every committed file of the current version."""
    out = {f"{k.lower()}.schema.json": kind_schema(k) for k in KINDS}
    out["document.schema.json"] = document_schema()
    return out


def render(schema: dict[str, Any]) -> str:
    """The committed text: sorted keys, two-space indent, final newline (stable diffs)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale(folder: Path = SCHEMA_DIR) -> list[str]:
    """Names of committed schema files that are missing or differ from the models."""
    out = []
    for name, schema in all_schemas().items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render(schema):
            out.append(name)
    return out


def write(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Rewrite every schema file of the current version (atomically)."""
    from lockstep.spec.atomic import write_text

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in all_schemas().items():
        write_text(folder / name, render(schema))
        paths.append(folder / name)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lockstep.spec.schema_export",
                                 description="Generate the JSON Schemas of the current spec version.")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"rewrite spec/schemas/{VERSION}/*.schema.json")
    group.add_argument("--check", action="store_true", help="exit 1 if the committed schemas are stale")
    args = ap.parse_args(argv)
    if args.write:
        for p in write():
            print(p)
    elif args.check:
        names = stale()
        for n in names:
            print(f"{SCHEMA_DIR / n} is out of date with the models: run {REGENERATE}", file=sys.stderr)
        return 1 if names else 0
    else:
        print(render(document_schema()), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
