"""`lockstep migrate PATH... [--check] [--in-place | --out DIR]`: rewrite documents to the current spec version.

Files are rewritten in place by default (`--in-place` says so explicitly) or written under `--out
DIR`, keeping their paths relative to the folder or glob they were found through. `--check` writes
nothing and exits 1 when a file needs migrating, for CI. A file is written only when every document
in it is valid after migration; writes are atomic.

Documents are re-emitted from their data: the comment lines at the top of a file (such as the
yaml-language-server modeline) are kept, other comments and the formatting are not. JSON files stay
JSON. Exit codes: 0 done or nothing to do, 1 invalid after migration (or `--check` found work),
2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

from lockstep.atomic import write_text
from lockstep.spec.diagnostics import SpecError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders (searched recursively) or globs")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any document needs migrating")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--in-place", action="store_true", help="rewrite each file where it is (the default)")
    where.add_argument("--out", metavar="DIR", help="write the migrated files under DIR instead")


def _leading_comments(text: str) -> str:
    """The comment block at the top of a YAML file (modelines, licence headers), kept verbatim."""
    keep = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#") or not line.strip():
            keep.append(line)
        else:
            break
    block = "".join(keep).rstrip("\n")
    return block + "\n" if block else ""


def _render(path: Path, original: str, documents: list[object]) -> str:
    from lockstep.spec.loader import dump_yaml

    if path.suffix == ".json" and len(documents) == 1:
        return json.dumps(documents[0], indent=2, ensure_ascii=False) + "\n"
    return _leading_comments(original) + "---\n".join(dump_yaml(d) for d in documents)


def _inputs(raw_paths: list[str]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(file, root it was found under) for every argument; `root` places the file under --out."""
    from lockstep.spec.validate import expand_paths

    pairs: list[tuple[Path, Path]] = []
    problems: list[str] = []
    for raw in raw_paths:
        files, diags = expand_paths([raw])
        problems.extend(d.format() for d in diags)
        if glob.has_magic(raw):
            parts = Path(raw).parts
            fixed = list(parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))])
            root = Path(*fixed) if fixed else Path(".")
        else:
            root = Path(raw) if Path(raw).is_dir() else Path(raw).parent
        pairs.extend((f, root) for f in files)
    unique = list(dict.fromkeys(pairs))
    return unique, problems


def run(args: argparse.Namespace) -> int:
    from lockstep.runfolder import FolderError, check_out_arg, writable_folder
    from lockstep.spec.loader import load_text, read_text
    from lockstep.spec.migrations import CURRENT, migrate, needs_migration
    from lockstep.spec.validate import check_header, validate_document

    try:  # `--out ''` is a mistake, never "in place"; an unusable --out fails before any file is read
        check_out_arg(args.out, "--out", "lockstep migrate")
        if args.out is not None and not args.check:
            writable_folder(args.out, "--out", "lockstep migrate")
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 2
    pairs, problems = _inputs(args.paths)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 2
    targets: dict[Path, Path] = {}
    for f, root in pairs:
        target = (Path(args.out) / f.relative_to(root)) if args.out is not None else f
        if target.resolve() in targets.values():
            print(f"{f}: would be written to {target}, like another input; give the files one --out each",
                  file=sys.stderr)
            return 2
        targets[f] = target.resolve()

    status = 0
    for f, _root in pairs:
        try:
            text = read_text(f)
            docs = load_text(text, str(f))
        except SpecError as exc:
            print(exc, file=sys.stderr)
            status = max(status, 2 if exc.io_error else 1)
            continue
        old = [d.data for d in docs]
        if not any(needs_migration(d) for d in old):
            header = [d for doc in docs for d in check_header(doc)]
            for d in header:
                print(d.format(), file=sys.stderr)
            if header:
                status = max(status, 1)
            elif args.check or not args.out:
                print(f"{f}: already {CURRENT}")
            else:  # copied, so that the files under --out still find each other
                code = _write(f, targets[f], text)
                if code == 0:
                    print(f"{f}: already {CURRENT}, copied -> {targets[f]}")
                status = max(status, code)
            continue
        versions = sorted({str(d.get("apiVersion")) for d in old if needs_migration(d) and isinstance(d, dict)})
        new = [migrate(d) if isinstance(d, dict) else d for d in old]
        diags = []
        for doc, data in zip(docs, new, strict=True):
            doc.data = data
            diags.extend(validate_document(doc)[1])
        for d in diags:
            print(d.format(), file=sys.stderr)
        if args.check:
            print(f"{f}: needs migrating from {', '.join(versions)} to {CURRENT}"
                  + (" (and is invalid after migration)" if diags else ""))
            status = max(status, 1)
            continue
        if diags:
            print(f"{f}: not written: invalid after migration to {CURRENT}", file=sys.stderr)
            status = max(status, 1)
            continue
        code = _write(f, targets[f], _render(f, text, new))
        if code == 0:
            print(f"{f}: migrated from {', '.join(versions)} to {CURRENT}"
                  + ("" if targets[f] == f.resolve() else f" -> {targets[f]}"))
        status = max(status, code)
    return status


def _write(source: Path, target: Path, text: str) -> int:
    try:
        write_text(target, text)
    except OSError as exc:
        print(f"{source}: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
