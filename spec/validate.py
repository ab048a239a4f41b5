"""Validate documents: the entry points of `lockstep validate` and of every command that reads a document.

A document is read by `spec/resolve.py` (header, migration, schema, a Recipe's model, semantics, in that order);
this module adds the paths a user gives (files, folders, globs) and the counts `lockstep validate` reports. The
parts of a validation live one job per module:

    header.py          `apiVersion` and `kind`, checked first
    schema_errors.py   pydantic's errors, located and said in words (`pydantic_diagnostics`)
    semantics/         the checks beyond the schema, one module per document kind
    resolve.py         one reading of a document (and of a recipe's model) for every command: `Resolved`
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockstep.spec.diagnostics import Diagnostic, SpecError
from lockstep.spec.documents import Document
from lockstep.spec.files import OUTPUT_LOCK, NotRegularFileError
from lockstep.spec.header import check_header
from lockstep.spec.loader import STDIN, LoadedDocument, load_file, load_text, read_stream
from lockstep.spec.npy import reads_once
from lockstep.spec.resolve import resolve_document, resolve_file
from lockstep.spec.schema_errors import MAX_DIAGNOSTICS, pydantic_diagnostics

__all__ = ["DOCUMENT_SUFFIXES", "MAX_DIAGNOSTICS", "Result", "check_header", "expand_paths", "load_and_validate",
           "pydantic_diagnostics", "validate_document", "validate_paths"]

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Result:
    """What `validate_paths` found: counts, every diagnostic, and the diagnostics of each document."""

    files: int = 0
    documents: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    io_error: bool = False
    per_document: list[tuple[str, int, list[Diagnostic]]] = field(default_factory=list)  # (file, index, diags)
    path_problems: list[Diagnostic] = field(default_factory=list)  # paths that name no readable file

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def validate_document(doc: LoadedDocument, *, base_dir: str | os.PathLike[str] | None = None
                      ) -> tuple[Document | None, list[Diagnostic]]:
    """The validated document (None if anything is wrong) and every problem found in it
    (`resolve.resolve_document`, without the resolved model and locations)."""
    resolved, problems = resolve_document(doc, base_dir=base_dir)
    return (resolved.document if resolved is not None else None), problems


def load_and_validate(path: str | os.PathLike[str]) -> tuple[list[Document], list[Diagnostic]]:
    """Every valid document of one file, and every diagnostic (load errors included)."""
    resolved, diags = resolve_file(path)
    return [r.document for r in resolved], diags


def _not_regular(p: Path) -> Diagnostic | None:
    """An I/O diagnostic if `p` exists but is a FIFO, a device or a socket (never opened: it could block)."""
    try:
        mode = p.stat().st_mode
    except OSError:
        return None  # missing or a broken link: said elsewhere, or skipped by a search
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return Diagnostic(str(p), 0, 0, "", str(NotRegularFileError(p, mode)), code="io")


def is_pattern(raw: str) -> bool:
    """A glob to expand: a path that holds `*`, `?` or `[` and names nothing as written. `env[prod].yaml` that
    exists is that file (a pre-commit hook passes names literally): read as a pattern it named `envp.yaml`."""
    return glob.has_magic(raw) and not os.path.lexists(raw)


def expand_paths(paths: list[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Files, folders (recursive, *.yaml/*.yml/*.json, hidden folders skipped) and globs -> files,
    in order and without duplicates; plus an I/O diagnostic for each path that names nothing, and for
    each FIFO, device or socket met on the way (refused unread: reading one can block forever)."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        if not raw:
            problems.append(Diagnostic("", 0, 0, "", "empty path (for the current folder, say `.`)",
                                       code="io"))
            continue
        if is_pattern(raw):
            # a pattern picks folders (searched) and documents: `configs/*` skips configs/README.md
            matches = [Path(m) for m in sorted(set(recursive_glob(raw)))
                       if os.path.isdir(m) or m.lower().endswith(DOCUMENT_SUFFIXES)]
            if not matches:
                problems.append(Diagnostic(raw, 0, 0, "", "no .yaml, .yml or .json file matches this pattern",
                                           code="io"))
            base = fixed_part(raw)  # `configs/**/*.yaml` searches configs/: no link out of it is followed
            odd_links = [(m, d) for m in matches if m.is_symlink() and (d := _link_problem(m, base)) is not None]
            problems.extend(d for _, d in odd_links)
            refused = {m for m, _ in odd_links}
            matches = [m for m in matches if m not in refused]
        else:
            matches = [Path(raw)]
        for p in matches:
            try:
                if p.is_dir():
                    found, odd_files = [], 0
                    for f in sorted(p.rglob("*")):
                        if f.suffix.lower() not in DOCUMENT_SUFFIXES or \
                                any(part.startswith(".") for part in f.relative_to(p).parts) or _own_output(f, p) \
                                or _json_schema(f):
                            continue
                        if f.is_symlink() and (odd := _link_problem(f, p)) is not None:
                            problems.append(odd)
                            odd_files += 1
                        elif f.is_file():
                            found.append(f)
                        elif (odd := _not_regular(f)) is not None:
                            problems.append(odd)
                            odd_files += 1
                    if not found and not odd_files:
                        problems.append(Diagnostic(str(p), 0, 0, "", "folder holds no .yaml, .yml or .json file",
                                                   code="io"))
                    files.extend(found)
                elif p.is_file():
                    files.append(p)
                elif (odd := _not_regular(p)) is not None:
                    problems.append(odd)
                elif p.exists():  # pragma: no cover - neither a file, a folder nor anything else
                    files.append(p)
                elif p.is_symlink() and (odd := _link_problem(p, p.parent)) is not None:  # a loop, or broken
                    problems.append(odd)
                else:
                    problems.append(Diagnostic(str(p), 0, 0, "", "no such file or folder", code="io"))
            except OSError as exc:
                problems.append(Diagnostic(str(p), 0, 0, "", f"cannot read: {exc.strerror or exc}", code="io"))
    return _distinct(files), problems


OUTPUT_JSON = frozenset({"report.json", "compare.json", "deploy.json", "environment.lock.json", "case.json"})
"""The JSON files Lockstep's commands write (a run's report, a certificate, a comparison, a deployment, a failing
case's record): not spec documents, so a folder search skips them inside an output folder."""


def _own_output(f: Path, root: Path) -> bool:
    """Whether `f` is a JSON file a Lockstep command wrote, in a folder it wrote into (`lockstep validate .` failed
    on every run folder's report.json and certificate under the project)."""
    if f.name not in OUTPUT_JSON:
        return False
    folder = f.parent
    while True:
        if (folder / OUTPUT_LOCK).exists():
            return True
        if folder == root or folder == folder.parent:
            break
        folder = folder.parent
    # a report folder copied without its lock (a CI artifact), or searched from inside (a failing case's folder): a
    # file of those names holding the fields of the record Lockstep writes under it, and no apiVersion
    record = _json_object(f)
    return (record is not None and "apiVersion" not in record
            and any(keys <= record.keys() for keys in OUTPUT_RECORDS[f.name]))


def _json_object(f: Path, holding: bytes | None = None) -> dict[str, Any] | None:
    """The JSON object a regular file (not a link, at most 64 MiB) holds; None for anything else or unreadable, and
    without parsing it for a file whose bytes (in lower case) lack `holding`."""
    try:
        if f.is_symlink() or not f.is_file() or f.stat().st_size > 64 << 20:
            return None
        raw = f.read_bytes()
        if holding is not None and holding not in raw.lower():
            return None
        record = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def _json_schema(f: Path) -> bool:
    """Whether `f` is a JSON Schema (its `$schema` names a json-schema.org meta-schema): the schemas editors.md
    copies beside a project's specs (`lockstep schema --kind Model > schemas/model.schema.json`) were each reported
    as a document missing `apiVersion` and `kind`. A Lockstep document has no `$schema` field."""
    # every JSON document of a folder search comes here: one that names no meta-schema is not parsed twice
    record = _json_object(f, b"json-schema.org") if f.suffix.lower() == ".json" else None
    meta = record.get("$schema") if record is not None else None
    return (isinstance(meta, str) and "apiVersion" not in record and "kind" not in record  # a document's own: said
            and meta.split("://", 1)[-1].lower().startswith(("json-schema.org/", "www.json-schema.org/")))


OUTPUT_RECORDS: dict[str, tuple[frozenset[str], ...]] = {
    "report.json": (frozenset({"certified", "checks", "adapter"}), frozenset({"recipe_hash", "status", "backend"})),
    "case.json": (frozenset({"check", "case", "command"}),),
    "compare.json": (frozenset({"agree", "backends", "recipe_hash"}),),
    "deploy.json": (frozenset({"verdict", "checks", "recipe_hash"}),),
    "environment.lock.json": (frozenset({"runtime", "providers_used", "model_sha256"}),),
}
"""Per file of OUTPUT_JSON, the fields that mark it as the record a command writes (a certificate or a run's report,
a failing case, a comparison, a deployment and its lock)."""


def _link_problem(link: Path, folder: Path) -> Diagnostic | None:
    """An I/O diagnostic for a symbolic link met in a folder search that is broken, or that leads out of the folder
    (a link to /proc/self/environ named `x.yaml` would echo its first line into a CI log): the rule of paths
    written in a spec (`resolve_path`), with its way out. None for a link that stays inside."""
    try:
        target = link.resolve(strict=True)
    except FileNotFoundError:
        return Diagnostic(str(link), 0, 0, "", f"broken symbolic link (to {os.readlink(link)})",
                          code="io")
    except (OSError, RuntimeError) as exc:  # a loop
        return Diagnostic(str(link), 0, 0, "", f"cannot follow this symbolic link ({exc})", code="io")
    root = folder.resolve()
    if target.is_relative_to(root) or os.environ.get("LOCKSTEP_ALLOW_OUTSIDE_PATHS") == "1":
        return None
    return Diagnostic(str(link), 0, 0, "", f"a symbolic link out of the folder {root} (to "
                      f"{target}): not followed; name the file itself to validate it, or set "
                      "LOCKSTEP_ALLOW_OUTSIDE_PATHS=1", code="io")


def recursive_glob(pattern: str) -> list[str]:
    """`glob.glob(pattern, recursive=True)`, except that `**` does not go into symbolic links to folders (os.walk's
    rule, and pathlib's): glob follows them, so a link to a folder above (`a/up -> ..`) repeats the tree under
    itself until paths grow too long, and two such links made `lockstep validate '**'` run for hours. A link that
    `**` meets is still a match itself (a folder search then refuses or follows it as any link). Hidden names are
    skipped, as glob skips them."""
    if pattern.endswith(os.sep) and pattern.strip(os.sep):  # `a/**/`: the folders, written as folders
        return [os.path.join(m, "") for m in recursive_glob(pattern.rstrip(os.sep)) if os.path.isdir(m)]
    parts = Path(pattern).parts
    if "**" not in parts:  # no recursion: glob's expansion is finite
        return glob.glob(pattern)
    at = parts.index("**")
    head, tail = (os.path.join(*parts[:at]) if at else ""), parts[at + 1:]
    tops = glob.glob(head) if glob.has_magic(head) else [head]
    out: list[str] = []
    for top in tops:
        if top and not os.path.isdir(top):
            continue
        for folder, subfolders, files in os.walk(top or os.curdir):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            shown = os.path.relpath(folder) if not top else folder  # `**/x.yaml` gives `a/x.yaml`, as glob does
            shown = "" if shown == os.curdir else shown
            if tail:  # the folder's own name escaped: `a[1]/*.yaml` would match in `a1/`
                out.extend(recursive_glob(os.path.join(glob.escape(shown), *tail)))
            else:
                if shown and folder == top:  # `a/**` matches `a/` itself, as glob has it
                    out.append(os.path.join(shown, ""))
                out.extend(os.path.join(shown, n) for n in [*subfolders, *files] if not n.startswith("."))
    return out


def fixed_part(pattern: str) -> Path:
    """The folder a glob pattern searches: its leading components without a wildcard (`.` for none)."""
    parts = Path(pattern).parts
    fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), parts))
    return Path(*fixed) if fixed else Path(".")


def _distinct(files: list[Path]) -> list[Path]:
    """Each file once, as first named: a file and a symbolic link to it (or the same file by two paths) are one."""
    seen: dict[Path, Path] = {}
    for f in files:
        try:
            key = f.resolve()
        except (OSError, RuntimeError):
            key = f
        seen.setdefault(key, f)
    return list(seen.values())


def validate_paths(paths: list[str]) -> Result:
    """Validate every document under `paths` (`-`: the documents piped in on standard input, once, as
    check-jsonschema reads it; their relative paths resolve against the current folder); never raises for bad
    input."""
    files, problems = expand_paths([p for p in paths if p != "-"])
    sources: list[Path | None] = [*files, *([None] if "-" in paths else [])]  # None: standard input
    result = Result(diagnostics=list(problems), io_error=bool(problems), path_problems=list(problems))
    seen: set[tuple[Any, ...]] = set()
    real: dict[str, str] = {}
    with reads_once():  # a weights or data file that several documents name is read once
        for f in sources:
            result.files += 1
            try:
                docs = (load_file(f) if f is not None
                        else load_text(read_stream(getattr(sys.stdin, "buffer", None)), STDIN))
            except SpecError as exc:
                result.diagnostics.extend(exc.diagnostics)
                result.io_error |= exc.io_error
                result.per_document.append((str(f or STDIN), 0, exc.diagnostics))
                continue
            for doc in docs:
                result.documents += 1
                _, diags = resolve_document(doc)
                result.diagnostics.extend(d for d in diags if _first_time(d, seen, real))
                result.per_document.append((str(f or STDIN), doc.index, diags))
    return result


def _first_time(d: Diagnostic, seen: set[tuple[Any, ...]], real: dict[str, str]) -> bool:
    """Whether `d` is new: a model file's problem reported by the recipe that uses it and by the file itself
    (or by two recipes) is one problem, counted once, whichever way its path was written."""
    if d.file not in real:
        real[d.file] = os.path.realpath(d.file) if d.line else d.file
    key = (real[d.file], d.line, d.column, d.path, d.message)
    if key in seen:
        return False
    seen.add(key)
    return True
