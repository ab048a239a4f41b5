"""`lockstep migrate PATH... [--check] [--in-place | --out DIR [--overwrite]]`: rewrite documents to the current
spec version (`lockstep.migrate`).

Files are rewritten in place by default (`--in-place` says so explicitly) or written under `--out
DIR`, keeping their paths relative to the folder or glob they were found through, with the data, weights
and model files they name beside them (so that the copies run as the originals did). Every file is planned
before any is written: under `--out`, a symbolic link where a file would go, a file that would land on an
input, or an existing file with other content (unless `--overwrite`) stops the command with nothing written;
a file that already holds what would be written (a re-run) is left as it is. A model file a recipe names is
migrated (or checked) with it, in place as under `--out`. `--check` writes
nothing and exits 1 when a file needs migrating, for CI. A file is written only when every document
in it is valid after migration; writes are atomic.

Documents are re-emitted from their data: the comment lines at the top of a file (such as the
yaml-language-server modeline) are kept, other comments and the formatting are not. JSON files stay
JSON. Exit codes: 0 done or nothing to do, 1 invalid after migration (or `--check` found work),
2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockstep.api import Migration
    from lockstep.spec.diagnostics import Diagnostic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders (searched recursively) or globs")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any document needs migrating")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--in-place", action="store_true", help="rewrite each file where it is (the default)")
    where.add_argument("--out", metavar="DIR", help="write the migrated files under DIR instead")
    parser.add_argument("--overwrite", action="store_true",
                        help="with --out: replace files already in DIR that hold other content (without it, "
                             "migrate refuses them and writes nothing; files holding the same content are fine)")


def run(args: argparse.Namespace) -> int:
    from lockstep.api import LockstepError, migrate
    from lockstep.runfolder import FolderError
    from lockstep.spec.diagnostics import escape_text
    from lockstep.spec.formats import plural

    said: list[Migration] = []

    def say(m: Migration) -> None:  # as each file is done: an interrupted call has said what it wrote
        said.append(m)
        _say(m)

    try:
        results = migrate(args.paths, check=args.check, out=args.out, overwrite=args.overwrite, on_file=say)
    except FolderError as exc:  # its sentence names the command already
        print(exc, file=sys.stderr)
        return 2
    except LockstepError as exc:
        for d in exc.diagnostics:  # paths that name no document, files not to write: one line each
            print(_line(d), file=sys.stderr)
        print(escape_text(str(exc)), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the command line then says which, and exits as for it
        written = sum(m.status in ("migrated", "copied") for m in said)
        print(f"lockstep migrate: stopped with {plural(written, 'file')} written (listed above); the other files "
              "are as they were", file=sys.stderr)
        raise
    return max((m.exit_code for m in results), default=0)


def _say(m: Migration) -> None:
    from lockstep.spec.migrations import CURRENT

    for d in m.diagnostics:
        print(_line(d), file=sys.stderr)
    moved = "" if m.target is None or m.target == m.file.resolve() else f" -> {m.target}"
    if m.status == "current":
        print(f"{m.file}: already {CURRENT}")
    elif m.status == "copied":
        print(f"{m.file}: already {CURRENT}, copied -> {m.target}")
    elif m.status == "needed":
        print(f"{m.file}: needs migrating from {', '.join(m.versions)} to {CURRENT}"
              + (" (and is invalid after migration)" if m.diagnostics else ""))
    elif m.status == "migrated":
        print(f"{m.file}: migrated from {', '.join(m.versions)} to {CURRENT}{moved}")
    elif m.message:
        print(m.message, file=sys.stderr)
    for source, copy in m.named:
        print(f"{source}: named by {m.file}, copied -> {copy}")
    sys.stdout.flush()


def _line(d: Diagnostic) -> str:
    """A diagnostic's line; one about a whole path (a missing file, a broken link) names the path without the
    `:0:0` of a position it does not have."""
    from lockstep.spec.diagnostics import escape_text

    if d.line == 0 and d.column == 0:
        return f"{escape_text(d.file) if d.file else repr('')}: {d.body()}"
    return d.format()
