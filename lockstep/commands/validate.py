"""`lockstep validate PATH...`: validate documents; exit 0 valid, 1 invalid, 2 usage or unreadable."""

from __future__ import annotations

import argparse
import json
import sys
from xml.sax.saxutils import escape, quoteattr

from lockstep.spec.validate import Result, validate_paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders (searched recursively) or globs")
    parser.add_argument("--format", choices=["text", "json", "github", "junit"], default="text",
                        help="text (default), json (a list of errors), github (workflow annotations), junit (XML)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print errors only, no summary")


def _text(result: Result, quiet: bool) -> str:
    lines = [d.format() for d in result.diagnostics]
    if not quiet:
        status = "valid" if result.ok else f"{len(result.diagnostics)} error(s)"
        lines.append(f"{result.files} file(s), {result.documents} document(s): {status}")
    return "\n".join(lines)


def _github(result: Result) -> str:
    def prop(s: str) -> str:
        return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C")

    def data(s: str) -> str:
        return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    out = []
    for d in result.diagnostics:
        msg = d.format().split(": ", 1)[1] if ": " in d.format() else d.message
        out.append(f"::error file={prop(d.file)},line={max(d.line, 1)},col={max(d.column, 1)},"
                   f"title={prop('lockstep ' + d.code)}::{data(msg)}")
    return "\n".join(out)


def _junit(result: Result) -> str:
    cases = []
    for file, index, diags in result.per_document:
        name = quoteattr(f"{file}#{index}")
        if diags:
            body = escape("\n".join(d.format() for d in diags))
            cases.append(f'  <testcase classname="lockstep.validate" name={name}>'
                         f'<failure message={quoteattr(diags[0].message)}>{body}</failure></testcase>')
        else:
            cases.append(f'  <testcase classname="lockstep.validate" name={name}/>')
    for d in result.diagnostics:
        if not any(d in diags for _, _, diags in result.per_document):
            cases.append(f'  <testcase classname="lockstep.validate" name={quoteattr(d.file)}>'
                         f'<failure message={quoteattr(d.message)}>{escape(d.format())}</failure></testcase>')
    failures = sum(1 for c in cases if "<failure" in c)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuite name="lockstep validate" tests="{len(cases)}" failures="{failures}" errors="0">\n'
            + "\n".join(cases) + "\n</testsuite>")


def run(args: argparse.Namespace) -> int:
    result = validate_paths(args.paths)
    if args.format == "json":
        text = json.dumps([d.to_dict() for d in result.diagnostics], indent=2)
    elif args.format == "github":
        text = _github(result)
    elif args.format == "junit":
        text = _junit(result)
    else:
        text = _text(result, args.quiet)
    if text:
        print(text, file=sys.stdout)
    if result.io_error:
        return 2
    return 0 if result.ok else 1
