"""`lockstep migrate PATH...`: rewrite documents to the current spec version.

Comments are not preserved (documents are re-emitted from their data); `--check` reports what would
change without writing, for CI. Writes are atomic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lockstep.atomic import write_text
from lockstep.spec.diagnostics import SpecError
from lockstep.spec.loader import dump_yaml, load_file
from lockstep.spec.migrations import CURRENT, MIGRATABLE, migrate
from lockstep.spec.validate import expand_paths, validate_document


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 if any document needs migrating; write nothing")
    parser.add_argument("--out", metavar="DIR", help="write migrated files here instead of in place")


def run(args: argparse.Namespace) -> int:
    files, problems = expand_paths(args.paths)
    for d in problems:
        print(d.format(), file=sys.stderr)
    if problems:
        return 2
    status = 0
    for f in files:
        try:
            docs = load_file(f)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            status = max(status, 2 if exc.io_error else 1)
            continue
        old = [d.data for d in docs]
        if not any(isinstance(d, dict) and d.get("apiVersion") in MIGRATABLE for d in old):
            print(f"{f}: already {CURRENT}")
            continue
        new = [migrate(d) if isinstance(d, dict) else d for d in old]
        bad = False
        for doc, data in zip(docs, new, strict=True):
            doc.data = data
            _, diags = validate_document(doc)
            for d in diags:
                print(d.format(), file=sys.stderr)
            bad |= bool(diags)
        if args.check:
            print(f"{f}: needs migrating to {CURRENT}")
            status = max(status, 1)
            continue
        if bad:
            print(f"{f}: not written: invalid after migration", file=sys.stderr)
            status = max(status, 1)
            continue
        target = Path(args.out) / f.name if args.out else f
        write_text(target, "---\n".join(dump_yaml(d) for d in new))
        print(f"{f}: migrated to {CURRENT} -> {target}")
    return status
