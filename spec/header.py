"""The header every document starts with: a mapping with a known `apiVersion` (the current one, or one that
`lockstep migrate` reads) and `kind`. Checked before anything else, so a document of another version or kind
is said to be that, not a list of schema errors."""

from __future__ import annotations

import re

from lockstep.spec.base import API_VERSION, SUPPORTED_VERSIONS
from lockstep.spec.diagnostics import Diagnostic
from lockstep.spec.documents import KINDS
from lockstep.spec.loader import LoadedDocument
from lockstep.spec.wording import close_match as _close
from lockstep.spec.wording import one_of as _one_of
from lockstep.spec.wording import said as _got

try:  # migrations are a separate part of the spec; the header check works without them
    from lockstep.spec import migrations as _migrations
except ImportError:  # pragma: no cover - they ship with lockstep
    _migrations = None  # type: ignore[assignment]

__all__ = ["check_header", "readable_versions"]


def readable_versions() -> tuple[str, ...]:
    """The spec versions this Lockstep reads: older ones it migrates, and the current ones."""
    migratable = tuple(sorted(getattr(_migrations, "MIGRATABLE", ()))) if _migrations is not None else ()
    return (*migratable, *SUPPORTED_VERSIONS)


def check_header(doc: LoadedDocument) -> list[Diagnostic]:
    """The document is a mapping with a known `apiVersion` and `kind` (checked before anything else)."""
    data = doc.data
    if not isinstance(data, dict):
        message = ("empty document (a stray `---`?)" if data is None
                   else f"a document must be a mapping, got {_got(data)}")
        return [Diagnostic(doc.file, doc.line, doc.column, "", message, "a mapping with `apiVersion` and `kind`",
                           code="schema")]
    out = []
    readable = readable_versions()
    version = data.get("apiVersion")
    if version is None:
        out.append(Diagnostic(doc.file, doc.line, doc.column, "apiVersion", "missing required field `apiVersion`",
                              f"`{API_VERSION}`", code="version"))
    elif not isinstance(version, str):
        line, col = doc.locate(("apiVersion",))
        out.append(Diagnostic(doc.file, line, col, "apiVersion",
                              f"the spec version must be a string, got {_got(version)}", _one_of(readable),
                              code="version"))
    elif version not in readable:
        line, col = doc.locate(("apiVersion",))
        newer = re.fullmatch(r"lockstep/v(\d+)\w*", version)
        current = re.fullmatch(r"lockstep/v(\d+)\w*", API_VERSION)
        hint = ("; it was written for a newer spec version: upgrade lockstep to read it"
                if newer and current and int(newer.group(1)) > int(current.group(1)) else "")
        out.append(Diagnostic(doc.file, line, col, "apiVersion", f"unknown spec version `{version}`: this lockstep "
                              "reads " + ", ".join(f"`{v}`" for v in readable) + hint,
                              suggestion=None if hint else _close(version, readable, 0.7), code="version"))
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        line, col = doc.locate(("kind",))
        if kind is None:
            message, suggestion = "missing required field `kind`", None
        elif isinstance(kind, str):
            message, suggestion = f"unknown kind `{kind}`", _close(kind, list(KINDS), 0.5)
        else:
            message, suggestion = f"the kind must be a string, got {_got(kind)}", None
        out.append(Diagnostic(doc.file, line, col, "kind", message, _one_of(list(KINDS)), suggestion, code="kind"))
    return out
