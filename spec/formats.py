"""Output formats for diagnostics: text (people), json (tools), github (workflow annotations), junit (XML).

They live in the spec, not in one command, so that every command that reports on documents
(validate, migrate, certify's saved cases) can print the same four formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from lockstep.spec.diagnostics import UNSAFE_BEYOND_C0, Diagnostic, escape_text

__all__ = ["FORMATS", "github", "json_text", "junit", "plural", "render", "summary", "text"]

FORMATS = ("text", "json", "github", "junit")


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 step`, `2 steps`; `many` where the plural is not the word and an s (`class`, `classes`)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def summary(files: int, documents: int, errors: int) -> str:
    """`3 files, 4 documents, 1 error` — the last line of the text format."""
    return f"{plural(files, 'file')}, {plural(documents, 'document')}, {plural(errors, 'error')}"


def _body(d: Diagnostic) -> str:
    """The diagnostic without its `file:line:col: ` prefix (control characters escaped)."""
    return d.body()


def text(diagnostics: Iterable[Diagnostic], files: int, documents: int, *, quiet: bool = False) -> str:
    """One grep-friendly line per problem, then the summary (unless quiet)."""
    diagnostics = list(diagnostics)
    lines = [d.format() for d in diagnostics]
    if not quiet:
        lines.append(summary(files, documents, len(diagnostics)))
    return "\n".join(lines)


# json.dumps escapes C0 inside strings itself (the newlines outside them are the layout); DEL, C1, bidi controls and
# surrogates it writes raw. They only occur inside strings, where a JSON escape keeps the value.
_JSON_UNSAFE = re.compile(f"[{UNSAFE_BEYOND_C0}]")


def json_text(diagnostics: Iterable[Diagnostic]) -> str:
    """A JSON list of objects: file, line, column, path, message, expected, suggestion, code, related.

    Strings keep their exact value (tools get the real text); every control character is written as a
    JSON escape (`\\u009b`), so printing the report acts on nothing."""
    text = json.dumps([d.to_dict() for d in diagnostics], indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _property(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C")


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands: each problem becomes an annotation on its line of the file.

    `::error file=F,line=L,col=C,title=T::message`; problems about a whole file (line 0) carry no
    line, so GitHub annotates the file itself.
    """
    out = []
    for d in diagnostics:
        params = [f"file={_property(escape_text(d.file))}"]
        if d.line > 0:
            params.append(f"line={d.line}")
            if d.column > 0:
                params.append(f"col={d.column}")
        params.append(f"title={_property(escape_text('lockstep: ' + (d.path or d.code)))}")
        out.append(f"::error {','.join(params)}::{_data(_body(d))}")
    return "\n".join(out)


def junit(per_document: Iterable[tuple[str, int, list[Diagnostic]]], path_problems: Iterable[Diagnostic] = (),
          *, suite: str = "lockstep validate") -> str:
    """JUnit XML: one test case per document (or per unreadable file or path), failed if it has problems."""
    cases: list[str] = []
    failures = 0

    def case(classname: str, name: str, diags: list[Diagnostic]) -> None:
        nonlocal failures
        head = f"    <testcase classname={quoteattr(escape_text(classname))} name={quoteattr(name)}"
        if not diags:
            cases.append(head + "/>")
            return
        failures += 1
        body = escape("\n".join(d.format() for d in diags))
        cases.append(f"{head}>\n      <failure message={quoteattr(_body(diags[0]))} type={quoteattr(diags[0].code)}>"
                     f"{body}</failure>\n    </testcase>")

    for file, index, diags in per_document:
        case(file, f"document {index + 1}", diags)
    for d in path_problems:
        case(d.file, "path", [d])
    counts = f'tests="{len(cases)}" failures="{failures}" errors="0"'
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f"<testsuites name={quoteattr(suite)} {counts}>\n"
            f"  <testsuite name={quoteattr(suite)} {counts}>\n"
            + "".join(c + "\n" for c in cases)
            + "  </testsuite>\n</testsuites>")


def render(fmt: str, diagnostics: list[Diagnostic], *, files: int = 0, documents: int = 0,
           per_document: Iterable[tuple[str, int, list[Diagnostic]]] = (), path_problems: Iterable[Diagnostic] = (),
           quiet: bool = False) -> str:
    """The report in one of FORMATS."""
    if fmt == "json":
        return json_text(diagnostics)
    if fmt == "github":
        return github(diagnostics)
    if fmt == "junit":
        return junit(per_document, path_problems)
    if fmt == "text":
        return text(diagnostics, files, documents, quiet=quiet)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
