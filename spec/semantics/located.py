"""What every semantic check needs of a document: where each of its fields was written, and one way to say a
problem there (a `Diagnostic` at the field's line and column)."""

from __future__ import annotations

from typing import Any, Protocol

from lockstep.spec.diagnostics import Diagnostic, format_path

__all__ = ["Located", "PathParts", "diag"]

PathParts = tuple[str | int, ...]


class Located(Protocol):
    """What the checks need of a loaded document: its file name, its data and where each field is."""

    file: str
    data: Any

    def locate(self, path: PathParts) -> tuple[int, int]: ...


def diag(doc: Located, path: PathParts, message: str, suggestion: str | None = None,
         code: str = "semantic", expected: str | None = None) -> Diagnostic:
    """A problem of `doc` at the field `path` (its line and column, or those of the nearest enclosing field)."""
    line, col = doc.locate(tuple(path))
    return Diagnostic(doc.file, line, col, format_path(path), message, expected, suggestion, code)
