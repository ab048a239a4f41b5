"""A value kept beside a document, never in it, for as long as the document lives: where it was read from.

A loaded document must equal the same document built in Python, so the file and lines it came from cannot be one of
its fields; they are kept here, keyed by the document's identity and dropped with it. The API keeps a `load`ed
document's Provenance (and a copy of the document keeps its original's: its relative paths mean the same files);
deploy keeps the Environment file it read, to name a field's line in its own refusals.
"""

from __future__ import annotations

import weakref
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Beside(Generic[T]):
    """One kind of value kept beside documents. `copied`: a copy of a document (`model_copy`, `copy.copy`,
    `copy.deepcopy`) keeps its original's value."""

    def __init__(self, *, copied: bool = False) -> None:
        self._slots: dict[int, tuple[weakref.ref[Any], T]] = {}
        self._copied = copied

    def put(self, doc: Any, value: T) -> None:
        if self._copied:
            from lockstep.spec.documents import COPY_HOOKS

            if self._copy not in COPY_HOOKS:
                COPY_HOOKS.append(self._copy)
        key, slots = id(doc), self._slots
        slots[key] = (weakref.ref(doc, lambda _ref, key=key: slots.pop(key, None)), value)

    def get(self, doc: Any) -> T | None:
        """The value kept beside `doc` (None: none, or the one kept was for another object since gone)."""
        entry = self._slots.get(id(doc))
        return entry[1] if entry is not None and entry[0]() is doc else None

    def _copy(self, original: Any, copied: Any) -> None:
        value = self.get(original)
        if value is not None:
            self.put(copied, value)
