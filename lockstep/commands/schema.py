"""`lockstep schema [--kind K] [--version V]`: print a JSON Schema for editors and other tools."""

from __future__ import annotations

import argparse

from lockstep.spec.documents import KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=list(KINDS), help="one document kind (default: any document)")
    parser.add_argument("--version", default="v1", choices=["v1", "lockstep/v1"], help="spec version (v1)")


def run(args: argparse.Namespace) -> int:
    from lockstep.spec.schema_export import document_schema, kind_schema, render

    print(render(kind_schema(args.kind) if args.kind else document_schema()), end="")
    return 0
