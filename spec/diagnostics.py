"""Diagnostics: every problem found in a document, located by file, line, column and field path."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# What a terminal (or a log viewer) would act on rather than show: C0 and C1 controls (ESC starts an ANSI
# sequence, CSI U+009B does on its own, CR and LF forge lines), line and paragraph separators, bidi
# overrides (which reorder what is shown), lone surrogates (which cannot be printed at all), and the
# noncharacters U+FFFE and U+FFFF (which XML 1.0 forbids: a JUnit report holding one does not parse).
UNSAFE_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff"
UNSAFE = "\x00-\x1f" + UNSAFE_BEYOND_C0  # regex class ranges
_UNSAFE = re.compile(f"[{UNSAFE}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(m: re.Match[str]) -> str:
    c = m.group(0)
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def lone_surrogate(text: str) -> int | None:
    """The first lone surrogate in `text` (Python's stand-in for an undecodable byte of a file name or argument),
    as a code point, or None: no file can hold one, and writing one raises UnicodeEncodeError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return ord(text[exc.start])
    return None


def escape_text(text: str) -> str:
    """`text` with every character a terminal would act on written as an escape (`\\x1b`, `\\n`, `\\u202e`):
    documents and file names are input, and echoing them raw would let them recolour, rewrite or forge lines."""
    return _UNSAFE.sub(_escape_one, text) if _UNSAFE.search(text) else text


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one document. `line` and `column` are 1-based; 0 means "the whole file"."""

    file: str
    line: int
    column: int
    path: str  # field path such as "layers[2].units"; "" for the document itself
    message: str
    expected: str | None = None
    suggestion: str | None = None
    code: str = "invalid"  # short machine-readable category: yaml, duplicate-key, schema, shape, ...
    related: tuple[tuple[int, int], ...] = field(default=())  # other (line, column) pairs involved

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["related"] = [list(x) for x in self.related]
        return d

    def location(self) -> str:
        """`file:line:col`, control characters escaped; an empty file name (an empty argument) as `''`."""
        return f"{escape_text(self.file) if self.file else repr('')}:{self.line}:{self.column}"

    def body(self) -> str:
        """`path: message (expected ...); did you mean ...?`, control characters escaped."""
        text = f"{self.path + ': ' if self.path else ''}{self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        if self.suggestion:
            text += f"; did you mean `{self.suggestion}`?"
        return escape_text(text)

    def format(self) -> str:
        """`file:line:col: path: message (expected ...) did you mean ...?` — one line, grep-friendly, with
        every control character of the document or the file name escaped (`\\x1b`), never printed raw."""
        return f"{self.location()}: {self.body()}"


@dataclass(frozen=True)
class UnlocatedDiagnostic(Diagnostic):
    """A problem with no place in a file: in a `--set` override (`where` = "--set optimizer.lr=0.1") or in a
    document built in Python (`where` = "<recipe digits>"). Printed as `WHERE: message`; when `named`, the field
    path is the one the override names and is not repeated."""

    where: str = ""
    named: bool = False

    @classmethod
    def of(cls, d: Diagnostic, where: str, named: bool = False) -> UnlocatedDiagnostic:
        """`d` said at `where` instead of a file position."""
        return cls(**{f.name: getattr(d, f.name) for f in fields(Diagnostic)}, where=where, named=named)

    def location(self) -> str:
        return escape_text(self.where or self.file)

    def body(self) -> str:
        if not self.named:
            return super().body()
        text = self.message
        if self.expected and not self.suggestion:
            text += f" (expected {self.expected})"
        if self.suggestion:
            text += f"; did you mean `{self.suggestion}`?"
        return escape_text(text)



class SpecError(Exception):
    """Raised with one or more diagnostics; commands print them and exit 1 (or 2 for I/O)."""

    def __init__(self, diagnostics: list[Diagnostic], *, io_error: bool = False) -> None:
        self.diagnostics = list(diagnostics)
        self.io_error = io_error
        super().__init__("\n".join(d.format() for d in self.diagnostics))


def key_part(key: object) -> str:
    """A mapping key as an element of a field path: a string as it is, any other key as YAML writes it (`null`,
    `true`, `1.5`), so that a path under a null key reads `metadata.null.a`, not Python's `metadata.None.a`. The
    loader keys positions by it, and every path built from data or from pydantic's locations must agree."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def format_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """("layers", 2, "units") -> "layers[2].units"."""
    out = ""
    for p in parts:
        if isinstance(p, int) and not isinstance(p, bool):
            out += f"[{p}]"
        else:  # a YAML key may be null or a boolean: said as YAML says it (`metadata.null`, not `metadata.None`)
            out += ("." if out else "") + key_part(p)
    return out
