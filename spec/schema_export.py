"""Generate the committed JSON Schemas from the pydantic models (`python -m lockstep.spec.schema_export --write`).

The schemas are committed under spec/schemas/v1/ so editors and other tools (check-jsonschema,
yaml-language-server) can use them without installing Lockstep; a test fails when they drift.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lockstep.spec.documents import KINDS

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "v1"
BASE_ID = "https://lockstep.dev/schemas/v1/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def kind_schema(kind: str) -> dict[str, Any]:
    schema = KINDS[kind].model_json_schema(mode="validation")
    return {"$schema": DRAFT, "$id": f"{BASE_ID}{kind.lower()}.schema.json",
            "title": f"Lockstep v1 {kind}", **{k: v for k, v in schema.items() if k != "title"}}


def document_schema() -> dict[str, Any]:
    """One schema for any document: dispatch on `kind` (if/then keeps error messages specific)."""
    defs: dict[str, Any] = {}
    branches = []
    for kind in KINDS:
        s = KINDS[kind].model_json_schema(mode="validation", ref_template="#/$defs/{model}")
        defs.update(s.pop("$defs", {}))
        defs[kind] = s
        branches.append({"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                         "then": {"$ref": f"#/$defs/{kind}"}})
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}document.schema.json",
        "title": "Lockstep v1 document (Model, Recipe or Environment)",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {"kind": {"enum": list(KINDS)}, "apiVersion": {"const": "lockstep/v1"}},
        "allOf": branches,
        "$defs": defs,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    out = {f"{k.lower()}.schema.json": kind_schema(k) for k in KINDS}
    out["document.schema.json"] = document_schema()
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(folder: Path = SCHEMA_DIR) -> list[Path]:
    from lockstep.atomic import write_text

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in all_schemas().items():
        write_text(folder / name, render(schema))
        paths.append(folder / name)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="rewrite spec/schemas/v1/*.schema.json")
    args = ap.parse_args()
    if args.write:
        for p in write():
            print(p)
    else:
        print(render(document_schema()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
