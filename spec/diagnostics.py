"""Diagnostics: every problem found in a document, located by file, line, column and field path."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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

    def format(self) -> str:
        """`file:line:col: path: message (expected ...) did you mean ...?` — one line, grep-friendly."""
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where}: {self.path + ': ' if self.path else ''}{self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        if self.suggestion:
            text += f"; did you mean `{self.suggestion}`?"
        return text


class SpecError(Exception):
    """Raised with one or more diagnostics; commands print them and exit 1 (or 2 for I/O)."""

    def __init__(self, diagnostics: list[Diagnostic], *, io_error: bool = False) -> None:
        self.diagnostics = list(diagnostics)
        self.io_error = io_error
        super().__init__("\n".join(d.format() for d in self.diagnostics))


def format_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """("layers", 2, "units") -> "layers[2].units"."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out
