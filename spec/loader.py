"""Load YAML and JSON documents with the line and column of every node.

Why it is built this way:

- **Safe by construction.** Documents are built straight from the parser's *events*; PyYAML's
  constructor never runs, so no tag can execute code. Only the standard YAML tags are accepted
  (`!!python/...`, `!custom` and friends are errors).
- **Bounded.** The C composer recurses once per nesting level and crashes the interpreter on a deeply
  nested file (`[[[[...`), so we do not use it: the events come from a flat state machine (libyaml's,
  or PyYAML's pure parser) and the document is built without recursion. File size (`MAX_BYTES`),
  nesting depth (`MAX_DEPTH`, aliases included), the number of nodes in a file after alias expansion
  (`MAX_NODES`) and the number of documents in a file (`MAX_DOCUMENTS`) are capped, so an alias bomb,
  a million empty documents or a pathological file fails fast with a clear message and bounded memory.
  Only regular files are opened (spec/files.py): a FIFO would block the reader forever.
- **Strict.** Duplicate keys are errors naming both lines; merge keys (`<<`) are refused rather than
  silently applied or ignored. A `.json` file must be JSON (RFC 8259): a trailing comma, a comment or
  `NaN`, which YAML would read, is an error.
- **YAML 1.2 scalars.** Plain scalars resolve by the YAML 1.2 core schema, the one JSON agrees with:
  `1e-3` is a number, `yes`/`no`/`on`/`off` are strings, `010` is ten and `1:20` is a string.
- **Fast.** One pass over libyaml's events builds the data and the positions together.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from lockstep.spec.diagnostics import Diagnostic, SpecError, format_path, key_part
from lockstep.spec.files import NotRegularFileError, open_regular

try:  # libyaml's parser is ~10x faster; PyYAML's pure one emits the same events
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _Parser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Parser  # type: ignore[assignment]

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_DOCUMENTS", "MAX_NODES", "LoadedDocument", "dump_yaml", "load_file",
           "load_text", "read_text"]

MAX_BYTES = 5 * 1024 * 1024
"""Largest file read, in bytes. Real specs are a few KB; anything bigger is a mistake or an attack."""
STDIN = "<stdin>"  # the name a document piped to `lockstep validate -` is reported under
MAX_DEPTH = 64
"""Deepest nesting of lists and mappings, aliases included."""
MAX_NODES = 100_000
"""Most nodes in one file, all its documents together, after alias expansion (an alias bomb stops here,
without expanding)."""
MAX_DOCUMENTS = 1_000
"""Most documents (`---`) in one file. Real files hold a handful; a million empty ones would otherwise
take gigabytes of memory to report on."""

PathParts = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_TYPED = {_TAG + "timestamp": "a date and time", _TAG + "binary": "bytes"}  # standard tags other readers turn into
# values no document field holds: refused, where their text was kept (`!!binary YWJj` was the name "YWJj" here, and
# bytes to check-jsonschema: one file, two meanings)
_MAP_TAGS = {None, "!", _TAG + "map"}
_SEQ_TAGS = {None, "!", _TAG + "seq"}

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1023-core-schema)
_INT_RE = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF_RE = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN_RE = re.compile(r"\.(nan|NaN|NAN)")
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
_NUMBER_START = frozenset("0123456789+-.")


@dataclass
class LoadedDocument:
    """One document of a file: plain data, and where each of its nodes was written.

    `positions` maps a field path (`("layers", 2, "units")`) to the 1-based (line, column) of the
    node's value; `key_positions` maps it to where the key was written.
    """

    data: Any
    file: str
    index: int
    line: int = 1
    column: int = 1
    positions: dict[PathParts, tuple[int, int]] = field(default_factory=dict, repr=False)
    key_positions: dict[PathParts, tuple[int, int]] = field(default_factory=dict, repr=False)

    def locate(self, path: PathParts | list[str | int]) -> tuple[int, int]:
        """Line and column of the deepest existing node on `path` (a missing key points at its mapping)."""
        parts = tuple(path)
        positions = self.positions
        while parts:
            found = positions.get(parts)
            if found is not None:
                return found
            parts = parts[:-1]
        return (self.line, self.column)

    def key_location(self, path: PathParts | list[str | int]) -> tuple[int, int]:
        """Where the key itself is written (for unknown keys), else `locate(path)`."""
        return self.key_positions.get(tuple(path)) or self.locate(path)


class _Abort(Exception):
    """A bound was hit: stop reading this file."""

    def __init__(self, message: str, code: str, mark: Any = None) -> None:
        super().__init__(message)
        self.message, self.code, self.mark = message, code, mark


class _Frame:
    """An open list or mapping while its events arrive."""

    __slots__ = ("anchor", "expect_value", "first_keys", "height", "is_map", "key", "key_part", "mark",
                 "nodes_at_start", "path", "skip_value", "value")

    def __init__(self, value: Any, path: PathParts | None, anchor: str | None, nodes: int, mark: Any) -> None:
        self.mark = mark
        self.value = value
        self.is_map = isinstance(value, dict)
        self.path = path  # None: not recorded (inside a rejected key, or under a duplicate)
        self.anchor = anchor
        self.nodes_at_start = nodes
        self.height = 1
        self.key: Any = None  # mapping: the key waiting for its value, and its path element
        self.key_part: str | int = ""
        self.expect_value = False
        self.skip_value = False  # the value belongs to a rejected key: read it, keep nothing
        self.first_keys: dict[Any, tuple[int, int]] = {}


class LongInteger(str):
    """An unquoted integer with more digits than Python converts (`sys.get_int_max_str_digits`), kept as its text:
    no field takes such a value, and its message must not call it a quoted string."""


class _WrittenFloat(float):
    """A float that keeps the text it was written as, for messages that refuse it."""

    written: str

    def __new__(cls, text: str) -> _WrittenFloat:
        number = super().__new__(cls, text)
        number.written = text
        return number


class BeyondFloat(_WrittenFloat):
    """A number written beyond float64's range (`1e400`): infinite, as YAML and JSON read it, but said as written,
    not as `.inf`, in a message refusing it."""


class BelowFloat(_WrittenFloat):
    """A non-zero number written below float64's smallest (`1e-400`): zero (with its sign), as YAML and JSON read
    it, but said as written, not as `0.0`, in a message refusing it (`learning_rate: 1e-400` read "expected a
    number > 0, got 0.0")."""


def _read_float(text: str) -> float:
    """A float literal, marked where float64 cannot hold what it says (beyond its range, or non-zero below it)."""
    number = float(text)
    if math.isinf(number):
        return BeyondFloat(text)
    if number == 0.0 and any(c in "123456789" for c in text.lower().partition("e")[0]):
        return BelowFloat(text)
    return number


def _resolve_plain(value: str) -> Any:
    """A plain (unquoted) scalar by the YAML 1.2 core schema."""
    if not value:
        return None
    first = value[0]
    if first in _NUMBER_START:
        if _INT_RE.fullmatch(value):
            try:
                if value.startswith("0o"):
                    return int(value[2:], 8)
                if value.startswith("0x"):
                    return int(value[2:], 16)
                return int(value, 10)
            except ValueError:  # more digits than Python converts (sys.int_info): keep the text, marked as a number
                return LongInteger(value)
        if _FLOAT_RE.fullmatch(value):
            return _read_float(value)
        if _INF_RE.fullmatch(value):
            return -math.inf if first == "-" else math.inf
        if _NAN_RE.fullmatch(value):
            return math.nan
        return value
    if value in _NULLS:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return value


class _Reader:
    """Builds every document of one text from parser events."""

    def __init__(self, file: str, columns: Columns | None = None) -> None:
        self.file = file
        self.columns = columns if columns is not None else Columns()  # the file's columns, where its text was rewritten
        self.errors: list[Diagnostic] = []
        self.nodes = 0  # every node of the file so far, aliases expanded (MAX_NODES bounds the file's memory)

    def _error(self, mark: Any, path: PathParts | None, message: str, code: str, **kw: Any) -> None:
        self.errors.append(Diagnostic(self.file, *self.columns.at(mark), format_path(path or ()),
                                      message, code=code, **kw))

    def _scalar(self, ev: ScalarEvent, path: PathParts | None) -> Any:
        tag, value = ev.tag, ev.value
        if tag is None or tag == "!":
            return _resolve_plain(value) if not ev.style and tag is None else value
        if tag == _STR:
            return value
        if tag in (_INT, _FLOAT, _BOOL, _NULL):
            resolved = _resolve_plain(value)
            ok = {_INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
                  _FLOAT: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                  _BOOL: lambda v: isinstance(v, bool), _NULL: lambda v: v is None}[tag](resolved)
            if ok:
                return float(resolved) if tag == _FLOAT else resolved
            self._error(ev.start_mark, path, f"`{value}` is not a valid `!!{tag[len(_TAG):]}`", "tag")
            return value
        if tag in _TYPED:
            self._error(ev.start_mark, path, f"the tag `!!{tag[len(_TAG):]}` is not allowed: other YAML readers make "
                        f"{_TYPED[tag]} of `{value[:40]}`, which no field holds; write the text without the tag",
                        "tag")
            return None
        self._error(ev.start_mark, path, f"the tag `{tag}` is not allowed: only plain YAML and JSON values are "
                    "read (nothing in a spec is ever executed)", "tag")
        return None

    def document(self, parser: Any, index: int) -> LoadedDocument:
        """Build one document; the parser stands after its DocumentStartEvent."""
        doc = LoadedDocument(None, self.file, index)
        positions, key_positions = doc.positions, doc.key_positions
        anchors: dict[str, tuple[Any, int, int]] = {}  # name -> (value, nodes, height)
        open_anchors: set[str] = set()
        stack: list[_Frame] = []
        nodes = self.nodes
        get_event = parser.get_event
        at = self.columns.at
        root_set = False

        while True:
            ev = get_event()
            cls = ev.__class__
            # ----------------------------------------------------------- where the next node goes
            if cls is MappingEndEvent or cls is SequenceEndEvent:
                frame = stack.pop()
                value, height, mark, scalar = frame.value, frame.height, frame.mark, None
                count = nodes - frame.nodes_at_start + 1
                if frame.anchor is not None:
                    anchors[frame.anchor] = (value, count, height)
                    open_anchors.discard(frame.anchor)
            else:
                if stack:
                    top = stack[-1]
                    if top.is_map:
                        if not top.expect_value or top.skip_value or top.path is None:
                            path: PathParts | None = None  # a key (recorded in `_key`), or not recorded
                        else:
                            path = (*top.path, top.key_part)
                    else:
                        path = None if top.path is None else (*top.path, len(top.value))
                else:
                    path = ()
                mark, scalar = ev.start_mark, None
                if cls is AliasEvent:
                    name = ev.anchor
                    if name in open_anchors:
                        raise _Abort(f"alias `*{name}` refers to the node that contains it (a recursive "
                                     "structure)", "alias", mark)
                    if name not in anchors:
                        raise _Abort(f"alias `*{name}` has no anchor `&{name}` before it", "alias", mark)
                    value, count, height = anchors[name]
                    nodes += count
                    if nodes > MAX_NODES:
                        raise _Abort(f"more than {MAX_NODES} values in one file once aliases are expanded (an alias "
                                     "bomb?): refusing to expand further", "too-large", mark)
                    if len(stack) + height > MAX_DEPTH:
                        raise _Abort(f"nested deeper than {MAX_DEPTH} levels through alias `*{name}` (the limit "
                                     "for a document)",
                                     "too-large", mark)
                    if path is not None:
                        positions[path] = at(mark)
                    value = _copy(value) if height else value
                else:
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise _Abort(f"more than {MAX_NODES} values in one file (the limit)", "too-large", mark)
                    if path is not None:
                        positions[path] = at(mark)
                    if cls is ScalarEvent:
                        value, height, scalar = self._scalar(ev, path), 0, ev
                        if ev.anchor is not None:
                            anchors[ev.anchor] = (value, 1, 0)
                    elif cls is MappingStartEvent or cls is SequenceStartEvent:
                        if len(stack) >= MAX_DEPTH:
                            raise _Abort(f"nested deeper than {MAX_DEPTH} levels (the limit for a document)",
                                         "too-large", mark)
                        is_map = cls is MappingStartEvent
                        if ev.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
                            self._error(mark, path, f"the tag `{ev.tag}` is not allowed on a "
                                        f"{'mapping' if is_map else 'list'}", "tag")
                        if ev.anchor is not None:
                            open_anchors.add(ev.anchor)
                        stack.append(_Frame({} if is_map else [], path, ev.anchor, nodes, mark))
                        continue
                    else:  # pragma: no cover - the parser emits nothing else inside a document
                        raise _Abort(f"unexpected YAML event {cls.__name__}", "yaml", mark)
            # ------------------------------------------------------------ deliver the finished node
            if not stack:
                if root_set:  # pragma: no cover - one node per document
                    raise _Abort("more than one node in a document", "yaml", mark)
                doc.data = value
                root_set = True
                end = get_event()
                if end.__class__ is not DocumentEndEvent:  # pragma: no cover
                    raise _Abort("expected the end of the document", "yaml", end.start_mark)
                if positions:
                    doc.line, doc.column = positions.get((), (1, 1))
                self.nodes = nodes
                return doc
            top = stack[-1]
            if height + 1 > top.height:
                top.height = height + 1
            if not top.is_map:
                top.value.append(value)
            elif top.expect_value:
                if not top.skip_value:
                    top.value[top.key] = value
                top.expect_value = top.skip_value = False
            else:
                self._key(top, value, scalar, mark, key_positions)

    def _key(self, top: _Frame, key: Any, scalar: Any, mark: Any, key_positions: dict[PathParts, tuple[int, int]]
             ) -> None:
        """A mapping key arrived (`scalar` is its event, None when it was a list, mapping or alias)."""
        at = self.columns.at(mark)
        top.expect_value, top.skip_value = True, True
        if isinstance(key, (dict, list)):
            self._error(mark, top.path, "mapping keys must be plain scalars (a string, most often)", "key")
        elif key == "<<" and scalar is not None and not scalar.style and scalar.tag is None:
            self._error(mark, top.path, "merge keys (`<<`) are not supported; write the keys out", "merge-key")
        elif key in top.first_keys:
            first = top.first_keys[key]
            child = None if top.path is None else (*top.path, key_part(key))  # said as YAML writes it
            was = next(k for k in top.first_keys if k == key)
            said = f"duplicate key `{_key_text(key)}` (first defined on line {first[0]})"
            if type(was) is not type(key):  # `1` and `true` (or `1.0`): one key to a mapping read into Python
                said = (f"duplicate key: `{_key_text(key)}` and `{_key_text(was)}` (line {first[0]}) are one key "
                        "here (equal numbers: true is 1); give distinct keys")
            self._error(mark, child, said, "duplicate-key", related=(first,))
        else:
            top.first_keys[key] = at
            top.key, top.key_part, top.skip_value = key, key_part(key), False
            if top.path is not None:
                key_positions[(*top.path, top.key_part)] = at

    def read(self, text: str) -> list[LoadedDocument]:
        parser = _Parser(text)
        docs: list[LoadedDocument] = []
        try:
            parser.get_event()  # StreamStartEvent
            while True:
                ev = parser.get_event()
                if ev.__class__ is StreamEndEvent:
                    break
                if ev.__class__ is DocumentStartEvent:
                    if ev.version is not None and tuple(ev.version) != (1, 2):  # `%YAML 1.1`: its readers take
                        # `010` for 8 and `yes` for true, this one for 10 and "yes" (YAML 1.2): one file, two meanings
                        raise _Abort(f"the directive `%YAML {'.'.join(map(str, ev.version))}` asks for a YAML version "
                                     "this reader does not follow: specs are YAML 1.2 (`010` is ten, `yes` is text); "
                                     "remove the directive, or write `%YAML 1.2`", "yaml", ev.start_mark)
                    if len(docs) >= MAX_DOCUMENTS:
                        raise _Abort(f"more than {MAX_DOCUMENTS} documents in one file (the limit); split it",
                                     "too-large", ev.start_mark)
                    docs.append(self.document(parser, len(docs)))
                elif ev.__class__ is StreamStartEvent:  # pragma: no cover
                    continue
        finally:
            parser.dispose()
        return docs


def _key_text(key: Any) -> str:
    """A mapping key as YAML writes it (`null`, `true`), for messages: Python's text says `None` and `True`."""
    return format_path((key,)) if not isinstance(key, int) or isinstance(key, bool) else str(key)


def _copy(value: Any) -> Any:
    """A deep copy of plain data (aliases are expanded into independent copies)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _char_offset_to_line_col(text: str, offset: int) -> tuple[int, int]:
    """Line and column (from 1) of a character, the lines ended as YAML 1.2 and editors end them: LF, CRLF or a
    lone CR (a file saved with classic Mac line ends had every JSON error on line 1)."""
    before = text[:offset]
    line = before.count("\n") + before.count("\r") - before.count("\r\n") + 1
    return line, len(before) - max(before.rfind("\n"), before.rfind("\r"))


def _byte_offset_to_line_col(text: str, offset: int) -> tuple[int, int]:
    return _char_offset_to_line_col(text.encode("utf-8", "surrogatepass")[:offset].decode("utf-8", "replace"),
                                    offset)


class Columns:
    """Where a rewrite of a file's text (the JSON forms YAML does not read as they are, below) made a line longer or
    shorter: a column in the rewritten text is said as the file has it. Lines are never added or removed. Built from
    the rewritten text and its edits, each (offset in it, length there, length in the text before)."""

    def __init__(self, text: str = "", edits: list[tuple[int, int, int]] | None = None,
                 then: Columns | None = None) -> None:
        # per line, its edits in order as (columns where each begins, where each ends, the growth up to each's end)
        self.lines: dict[int, tuple[list[int], list[int], list[int]]] = {}
        self.then = then  # the rewrite before this one (its columns are the ones this one's edits map back to)
        if edits:
            starts = [0, *(m.end() for m in _LINE_END.finditer(text))]
            for offset, new, old in edits:
                line = bisect.bisect_right(starts, offset)
                begins, ends, grown = self.lines.setdefault(line, ([], [], []))
                column = offset - starts[line - 1] + 1
                begins.append(column)
                ends.append(column + new)
                grown.append((grown[-1] if grown else 0) + new - old)

    def after(self, earlier: Columns) -> Columns:
        """This rewrite, made of the text `earlier`'s gave: both, this one's columns mapped back through that one's."""
        if not self.lines:
            return earlier
        self.then = earlier if earlier.lines or earlier.then is not None else None
        return self

    def column(self, line: int, column: int) -> int:
        """The file's column (from 1) of what the rewritten text has at (`line`, `column`)."""
        found = column
        if line in self.lines:  # a line with many edits (json.dumps's one line of emoji) is searched, not walked
            begins, ends, grown = self.lines[line]
            before = bisect.bisect_right(ends, column)  # the edits that end at or before the column
            if before:
                found -= grown[before - 1]
            if before < len(begins) and column > begins[before]:  # inside an edit: where it begins
                found -= column - begins[before]
        return self.then.column(line, found) if self.then is not None else found

    def at(self, mark: Any) -> tuple[int, int]:
        """A YAML mark as (line, column) from 1, the column the file's."""
        if not self.lines:  # the text as the file has it (nearly every file): no lookup on every node
            return mark.line + 1, mark.column + 1
        return mark.line + 1, self.column(mark.line + 1, mark.column + 1)


_LINE_END = re.compile(r"\r\n|\r|\n")


# JSON that YAML does not read as it is: surrogate-pair escapes (`json.dumps` writes them for emoji), raw
# C1 controls and raw line separators (U+2028/9, which YAML folds) inside strings. They only occur
# inside JSON strings, so rewriting them as YAML escapes of the same characters keeps the meaning
# (the columns after them on that line are said as the file has them: `Columns`).
_JSON_ESCAPES = re.compile(r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|.)"
                           r"|[\x7f-\x9f\u2028\u2029]", re.S)
_RAW = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def _json_compatible(text: str) -> tuple[str, Columns]:
    if "\\u" not in text and not _RAW.search(text):
        return text, Columns()
    edits: list[tuple[int, int, int]] = []
    grown = [0]

    def fix(m: re.Match[str]) -> str:
        if m.group(1):
            high, low = int(m.group(1), 16), int(m.group(2), 16)
            new = f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"
        else:
            found = m.group(0)
            new = f"\\u{ord(found):04X}" if len(found) == 1 else found
        if len(new) != m.end() - m.start():
            edits.append((m.start() + grown[0], len(new), m.end() - m.start()))
            grown[0] += len(new) - (m.end() - m.start())
        return new

    out = _JSON_ESCAPES.sub(fix, text)
    return out, Columns(out, edits)


# JSON's keys that YAML's flow mappings do not take as they are, in a text json.loads has read: a key whose `:`
# is on a later line (YAML's implicit keys are one line) and a key over 1024 characters (YAML's limit for an
# implicit key). The first gets its `:` moved up to the key (the `:`'s own place becomes a space, so every line
# keeps its length and every later token its column); the second is made an explicit key (`? "key"`), in the
# two blanks before it where there are two (where there are fewer, the later columns of that line are said as
# the file has them: `Columns`). Valid JSON was refused as "invalid JSON: did not find expected ',' or '}'". A tab,
# which JSON holds only as a blank (a string's is escaped), becomes a space: PyYAML's own parser (where libyaml is
# missing) refused a tab-indented file ("found character '\\t' that cannot start any token").
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)  # every string in turn: in JSON, each `"` outside one
_BEFORE_COLON = re.compile(r"[ \t\r\n]*:")  # starts one, so none is read from inside another
_LONGEST_KEY = 1000  # YAML's 1024, less a margin


def _json_for_yaml(text: str) -> tuple[str, Columns]:
    text = text.replace("\t", " ")
    parts: list[str] = []
    edits: list[tuple[int, int, int]] = []  # the `? ` put before a long key where it had fewer than two blanks
    done = length = 0
    for m in _JSON_STRING.finditer(text):
        if (after := _BEFORE_COLON.match(text, m.end())) is None:
            continue  # a value
        gap = after.group(0)[:-1]
        long = after.end() - m.start() > _LONGEST_KEY  # YAML measures from the key to its `:`
        if "\n" not in gap and "\r" not in gap and not long:
            continue
        start = m.start()
        before = text[done:start]
        if long:
            blanks = min(len(before) - len(before.rstrip(" \t")), 2)
            before = before[: len(before) - blanks] + "? "
            if blanks < 2:
                edits.append((length + len(before) - 2, 2, blanks))
        parts += [before, m.group(0)]
        colon = m.end() + len(gap)
        parts.append(":" + gap + " " if ("\n" in gap or "\r" in gap) else gap + ":")
        length += sum(map(len, parts[-3:]))
        done = colon + 1
    out = "".join(parts) + text[done:] if parts else text
    return out, Columns(out, edits)


def _json_error(text: str, file: str, exc: json.JSONDecodeError) -> Diagnostic:
    """One located diagnostic for text that is not JSON; a trailing comma (which YAML would accept) by name."""
    before = text[: exc.pos].rstrip()
    if before.endswith(",") and text[exc.pos: exc.pos + 1] in ("}", "]"):
        line, col = _char_offset_to_line_col(text, len(before) - 1)
        closer = text[exc.pos]
        return Diagnostic(file, line, col, "", f"invalid JSON: a trailing comma before `{closer}` (JSON allows "
                          "none; remove it)", code="json")
    line, col = _char_offset_to_line_col(text, exc.pos)  # json counts lines by LF alone
    return Diagnostic(file, line, col, "", f"invalid JSON: {exc.msg}", code="json")


class _JsonConstant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _JsonConstant(name)


def _check_json(text: str, file: str) -> bool:
    """A `.json` file must be JSON, not merely YAML: JSON tools and the schema read it as JSON. False where Python
    could not read it to the end (too deep, a number too long), which the YAML reader then says."""
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise SpecError([_json_error(text, file, exc)]) from None
    except _JsonConstant as exc:
        found = re.search(rf"(?<![\w\"]){re.escape(str(exc))}(?![\w\"])", text)
        line, col = _char_offset_to_line_col(text, found.start()) if found else (0, 0)
        raise SpecError([Diagnostic(file, line, col, "", f"invalid JSON: `{exc}` is not a JSON value (JSON has no "
                                    "NaN or infinity)", code="json")]) from None
    except (RecursionError, ValueError, MemoryError):
        return False  # nested too deep or a number too long for Python: the YAML reader below says which, located
    return True


_YAML11_BREAK = re.compile("[\x85\u2028\u2029]")
"""NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR: line breaks to PyYAML and libyaml (YAML 1.1), ordinary characters to
YAML 1.2. Read raw, `# note<U+2028>seed: 5` set a seed in a comment and `"a<U+0085>b"` loaded as `a b`, so a YAML
text holding one is refused (JSON holds them in strings only, where they are escaped for the reader above)."""
_BREAK_NAMES = {"\x85": "NEXT LINE", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR"}
_BREAK_ESCAPES = {"\x85": "N", "\u2028": "L", "\u2029": "P"}


def load_text(text: str, file: str = "<string>") -> list[LoadedDocument]:
    """All documents in `text`; raises SpecError with located diagnostics for anything unreadable.

    JSON is read as YAML 1.2 (of which it is a subset), so both get the same line numbers and checks.
    """
    if "\x00" in text:
        raise SpecError([Diagnostic(file, 0, 0, "", "binary file: not a YAML or JSON document", code="binary")])
    is_json = file.lower().endswith(".json")
    read = is_json and _check_json(text, file)
    columns = Columns()
    if is_json or text.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
        text, columns = _json_compatible(text)
    elif (odd := _YAML11_BREAK.search(text)) is not None:
        line, col = _char_offset_to_line_col(text, odd.start())
        char = odd.group(0)
        raise SpecError([Diagnostic(file, line, col, "", f"character U+{ord(char):04X} ({_BREAK_NAMES[char]}): the "
                                    "YAML reader takes it for a line break, as YAML 1.1 did (YAML 1.2 does not), so "
                                    "this file would mean one thing here and another to other tools; remove it, or "
                                    f"write it as the escape `\\{_BREAK_ESCAPES[char]}` inside a double-quoted "
                                    "string", code="yaml")])
    if read:  # JSON to the end (its tabs are blanks), after the escapes, which change a key's length
        text, rewritten = _json_for_yaml(text)
        columns = rewritten.after(columns)
    reader = _Reader(file, columns)
    try:
        docs = reader.read(text)
    except _Abort as exc:
        line, col = columns.at(exc.mark) if exc.mark is not None else (0, 0)
        raise SpecError([*reader.errors, Diagnostic(file, line, col, "", exc.message, code=exc.code)]
                        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = columns.at(mark) if mark else (0, 0)
        problem = exc.problem or exc.context or "not valid YAML"
        if "maximum nesting depth" in problem:  # libyaml ≥ 0.2.6 stops its scanner, which reads ahead, at 1000
            raise SpecError([*reader.errors, Diagnostic(file, line, col, "", f"nested deeper than {MAX_DEPTH} "
                                                        "levels (the limit for a document)", code="too-large")]
                            ) from None
        if exc.context and exc.problem and exc.context_mark and exc.context_mark.line != getattr(mark, "line", -1):
            problem += f" ({exc.context} on line {exc.context_mark.line + 1})"
        kind = "JSON" if is_json else "YAML"  # what json.loads accepts and YAML does not (`"\ud800"`): still JSON's
        raise SpecError([*reader.errors, Diagnostic(file, line, col, "", f"invalid {kind}: {problem}", code="yaml")]
                        ) from None
    except yaml.reader.ReaderError as exc:  # libyaml counts bytes of UTF-8, PyYAML characters
        line, col = (_byte_offset_to_line_col(text, exc.position) if _Parser.__name__.startswith("C")
                     else _char_offset_to_line_col(text, exc.position))
        col = columns.column(line, col)
        what = f"character U+{exc.character:04X}" if isinstance(exc.character, int) else "byte"
        raise SpecError([Diagnostic(file, line, col, "", f"unreadable text: {what}: {exc.reason}",
                                    code="yaml")]) from None
    except UnicodeEncodeError as exc:  # a lone surrogate in a str handed to us (files decode as UTF-8 first)
        line, col = _char_offset_to_line_col(text, exc.start)
        col = columns.column(line, col)
        raise SpecError([Diagnostic(file, line, col, "", f"not valid Unicode text (lone surrogate "
                                    f"U+{ord(text[exc.start]):04X})", code="encoding")]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error above is marked or a reader error
        raise SpecError([Diagnostic(file, 0, 0, "", f"invalid YAML: {exc}", code="yaml")]) from None
    if reader.errors:
        raise SpecError(reader.errors)
    if not docs:
        raise SpecError([Diagnostic(file, 0, 0, "", "no document: the file is empty (or only comments)",
                                    code="empty")])
    return docs


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text, or SpecError naming what is wrong with it (io_error=True when it cannot be read)."""
    name = str(path)
    if not name:
        raise SpecError([Diagnostic(name, 0, 0, "", "empty path", code="io")], io_error=True)
    try:
        with open_regular(path) as fh:  # a FIFO or a device is refused before it is opened
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_BYTES:
                raise SpecError([Diagnostic(name, 0, 0, "", f"file is {size} bytes; documents are limited to "
                                            f"{MAX_BYTES} bytes ({MAX_BYTES // (1024 * 1024)} MiB)",
                                            code="too-large")])
            raw = fh.read(MAX_BYTES + 1)
    except SpecError:
        raise
    except NotRegularFileError as exc:
        raise SpecError([Diagnostic(name, 0, 0, "", str(exc), code="io")], io_error=True) from None
    except OSError as exc:
        raise SpecError([Diagnostic(name, 0, 0, "", f"cannot read: {exc.strerror or exc}", code="io")],
                        io_error=True) from None
    return decode(raw, name)


def read_stream(stream: BinaryIO | None, name: str = STDIN) -> str:
    """The text of a document piped in (`lockstep validate -`), with a file's checks: size, NUL bytes, UTF-8.
    None: there is no binary stream to read (a closed or replaced sys.stdin)."""
    try:
        if stream is None:
            raise OSError("no standard input")
        raw = stream.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a closed stream
        why = getattr(exc, "strerror", None) or exc
        raise SpecError([Diagnostic(name, 0, 0, "", f"cannot read: {why}", code="io")], io_error=True) from None
    return decode(raw, name)


_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
              (b"\xfe\xff", "UTF-16"))  # the UTF-32 marks first: UTF-32LE's starts with UTF-16LE's


def decode(raw: bytes, name: str) -> str:
    """A document's bytes as text, or SpecError: more than MAX_BYTES, binary, or not UTF-8."""
    if len(raw) > MAX_BYTES:  # a pipe or a file that grew
        raise SpecError([Diagnostic(name, 0, 0, "", f"more than {MAX_BYTES} bytes; documents are limited to "
                                    f"{MAX_BYTES} bytes", code="too-large")])
    wide = next((enc for bom, enc in _WIDE_BOMS if raw.startswith(bom)), None)
    if wide is not None:  # (its NUL bytes would read as binary)
        raise SpecError([Diagnostic(name, 0, 0, "", f"{wide} text (its byte order mark says so): documents are read "
                                    "as UTF-8; save the file as UTF-8", code="encoding")])
    if b"\x00" in raw:
        raise SpecError([Diagnostic(name, 0, 0, "", "binary file: not a YAML or JSON document", code="binary")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # utf-8-sig counts from after the BOM
        head = raw[bom: bom + exc.start].decode("utf-8", "replace")
        line, column = _char_offset_to_line_col(head, len(head))
        raise SpecError([Diagnostic(name, line, column, "", f"not valid UTF-8 text (byte "
                                    f"0x{raw[bom + exc.start]:02x})", code="encoding")]) from None


def load_file(path: str | os.PathLike[str]) -> list[LoadedDocument]:
    """Every document of one YAML or JSON file (SpecError for anything unreadable)."""
    return load_text(read_text(path), str(path))


# --------------------------------------------------------------------------------------------- dump
class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """safe_dump, but strings that YAML 1.2 would read as numbers (`1e-3`, `0o17`) are quoted, so that
    what we write reads back the same with this loader and with YAML 1.1 tools alike."""


def _represent_str(dumper: Any, value: str) -> Any:
    """A string holding NEL, U+2028 or U+2029 is written double-quoted, where they become the escapes `\\N`, `\\L`,
    `\\P`: written raw (PyYAML's choice), the loader refuses them and YAML 1.1 tools fold them into spaces."""
    style = '"' if _YAML11_BREAK.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_implicit_resolver(_FLOAT, re.compile(r"^(?:[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)$"),
                              list("-+0123456789."))
_Dumper.add_implicit_resolver(_INT, re.compile(r"^(?:0o[0-7]+|0x[0-9a-fA-F]+)$"), list("0"))


def dump_yaml(data: Any, *, block: bool = False) -> str:
    """YAML in key order that this loader reads back equal: block style with leaf lists and mappings in
    flow style (`shape: [3, 32, 32]`), or, with `block=True`, block style throughout on unwrapped lines."""
    if block:
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                         width=2**31 - 1)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None)
