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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=list(KINDS), type=_kind,
                        help="one document kind, in any case (default: any document)")
    parser.add_argument("--version", default=None, metavar="V",
                        help="spec version, e.g. v1 or lockstep/v1, in any case (default: the current version)")


def _kind(text: str) -> str:
    """`recipe` is `Recipe`: the kind's name as a user types it; anything else is left for `choices` to refuse."""
    return next((k for k in KINDS if k.lower() == text.lower()), text)


def run(args: argparse.Namespace) -> int:
    from lockstep.api import LockstepError, schema_text
    from lockstep.spec.diagnostics import escape_text

    try:
        text = schema_text(args.kind, args.version)
    except LockstepError as exc:
        print(f"lockstep schema: {escape_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    sys.stdout.write(text)
    return 0

