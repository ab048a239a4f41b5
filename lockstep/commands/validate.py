"""`lockstep validate PATH...`: validate documents (`lockstep.validate`); exit 0 valid, 1 invalid, 2 usage or
unreadable.

Imports only the spec (pydantic, PyYAML): never a framework, so it runs in seconds in any CI job.
"""

from __future__ import annotations

import argparse
import os
import sys

from lockstep.spec.formats import FORMATS, render
from lockstep.spec.loader import MAX_BYTES, MAX_DEPTH
from lockstep.spec.resources import memory_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="files, folders (searched recursively for *.yaml, *.yml, *.json), globs, or - for "
                             "standard input")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text (default: one line per problem and a summary), json (a list of error objects), "
                             "github (workflow annotations), junit (XML, one test case per document)")
    parser.add_argument("--quiet", "-q", action="store_true", help="text format: print the problems only, no summary")
    parser.add_argument("--memory-limit", type=memory_size, metavar="SIZE",
                        help="memory a recipe's run may need (16GiB, 512M, 8e9, none); default: LOCKSTEP_MEMORY_LIMIT, "
                             "else the memory available on this machine")
    parser.epilog = ("Exit codes: 0 every document is valid, 1 a document is invalid, 2 usage error or a path "
                     f"that cannot be read, 3 internal error. Files over {MAX_BYTES // (1024 * 1024)} MiB and "
                     f"documents nested deeper than {MAX_DEPTH} levels are refused as invalid (1).")


def run(args: argparse.Namespace) -> int:
    from lockstep.api import validate
    from lockstep.errors import INTERNAL_ERROR, LockstepError, internal_error
    from lockstep.spec.diagnostics import escape_text

    try:
        result = validate(args.paths, memory_limit=args.memory_limit)
    except LockstepError as exc:  # a bad LOCKSTEP_MEMORY_LIMIT, said as every command says it
        print(f"lockstep validate: {escape_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug, not bad input: still no traceback unless asked for
        if os.environ.get("LOCKSTEP_DEBUG"):
            raise
        print(internal_error("lockstep validate", exc), file=sys.stderr)
        return INTERNAL_ERROR
    out = render(args.format, list(result), files=result.files, documents=result.documents,
                 per_document=result.per_document, path_problems=result.path_problems, quiet=args.quiet)
    if out:
        print(out)
    if result.io_error:
        return 2
    return 0 if result.ok else 1
