"""`lockstep schema [--kind K] [--version V]`: print a JSON Schema for editors and other tools.

Without `--kind` it prints the document schema, which accepts any kind and dispatches on `kind`.
The committed files under spec/schemas/<version>/ are printed as they are, so the output is exactly
what an editor modeline points at; the current version is generated from the models if its files
are missing (a source checkout before `python -m lockstep.spec.schema_export --write`).
"""

from __future__ import annotations

import argparse
import sys

from lockstep.spec.documents import KINDS


def _versions() -> list[str]:
    from lockstep.spec.schema_export import SCHEMA_ROOT, VERSION

    found = {p.name for p in SCHEMA_ROOT.iterdir() if p.is_dir() and any(p.glob("*.schema.json"))} \
        if SCHEMA_ROOT.is_dir() else set()
    return sorted(found | {VERSION})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=list(KINDS), help="one document kind (default: any document)")
    parser.add_argument("--version", default=None, metavar="V",
                        help="spec version, e.g. v1 or lockstep/v1 (default: the current version)")


def run(args: argparse.Namespace) -> int:
    from lockstep.spec.schema_export import SCHEMA_ROOT, VERSION, document_schema, kind_schema, render

    version = (args.version or VERSION).removeprefix("lockstep/")
    known = _versions()
    if version not in known:
        print(f"lockstep schema: unknown spec version `{args.version}`; this lockstep has "
              + ", ".join(known), file=sys.stderr)
        return 2
    name = f"{args.kind.lower() if args.kind else 'document'}.schema.json"
    path = SCHEMA_ROOT / version / name
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:  # only the current version can be generated
        text = render(kind_schema(args.kind) if args.kind else document_schema())
    sys.stdout.write(text)
    return 0
