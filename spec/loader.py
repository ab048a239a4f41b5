"""Load YAML and JSON documents with the line and column of every node.

Safe by construction: the file is *composed* (parsed to nodes) and never constructed by PyYAML, so no
tag can run code; only the standard YAML tags are accepted. Duplicate keys are errors naming both
lines. Size, nesting depth and the number of nodes (alias expansion included) are bounded, so an
alias bomb or a pathological file fails fast with a clear message instead of eating memory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from lockstep.spec.diagnostics import Diagnostic, SpecError, format_path

try:  # the C parser is ~10x faster; the pure-Python one behaves the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    _STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_constructor = SafeConstructor()

_FLOAT_12 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$")

Path_ = tuple[str | int, ...]


@dataclass
class LoadedDocument:
    """One document of a file: plain data plus where each node came from."""

    data: Any
    file: str
    index: int
    line: int = 1
    column: int = 1
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict, repr=False)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict, repr=False)

    def locate(self, path: Path_ | list[str | int]) -> tuple[int, int]:
        """Line and column of the deepest existing node on `path` (a missing key points at its mapping)."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return (self.line, self.column)

    def key_location(self, path: Path_ | list[str | int]) -> tuple[int, int]:
        """Where the key itself is written (for unknown keys), else `locate`."""
        path = tuple(path)
        return self.key_positions.get(path) or self.locate(path)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.nodes = 0
        self.errors: list[Diagnostic] = []

    def error(self, node: yaml.Node, path: Path_, message: str, code: str, **kw: Any) -> None:
        m = node.start_mark
        self.errors.append(Diagnostic(self.file, m.line + 1, m.column + 1, format_path(path), message,
                                      code=code, **kw))

    def build(self, node: yaml.Node, path: Path_, doc: LoadedDocument, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} nodes (alias expansion included): refusing to expand further")
        if depth > MAX_DEPTH:
            raise _TooBig(f"nesting deeper than {MAX_DEPTH} levels")
        doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):
            if tag not in _SCALAR_TAGS:
                if tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"):
                    return node.value  # keep the text; the schema decides whether it is acceptable
                self.error(node, path, f"the tag `{tag}` is not allowed: only plain YAML values are read "
                           "(nothing in a spec is ever executed)", "tag")
                return None
            if not node.style:  # plain scalars resolve by YAML 1.2's core schema, not 1.1's
                if tag == _STR and _FLOAT_12.match(node.value):
                    return float(node.value)
                if tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
                    return node.value  # `yes`, `no`, `on`, `off` stay strings (the "Norway problem")
            return _constructor.construct_object(node, deep=False)
        if isinstance(node, yaml.SequenceNode):
            if tag != _SEQ:
                self.error(node, path, f"the tag `{tag}` is not allowed on a list", "tag")
            return [self.build(item, (*path, i), doc, depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if tag != _MAP:
                self.error(node, path, f"the tag `{tag}` is not allowed on a mapping", "tag")
            out: dict[Any, Any] = {}
            seen: dict[Any, yaml.Node] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        self.error(key_node, path, "merge keys (`<<`) are not supported; write the keys out",
                                   "merge-key")
                    else:
                        self.error(key_node, path, "mapping keys must be plain scalars", "key")
                    continue
                key = self.build(key_node, (*path, "<key>"), doc, depth + 1)
                if key in seen:
                    first = seen[key].start_mark
                    self.error(key_node, (*path, str(key)),
                               f"duplicate key `{key}` (first defined on line {first.line + 1})",
                               "duplicate-key", related=((first.line + 1, first.column + 1),))
                    continue
                seen[key] = key_node
                child: Path_ = (*path, key if isinstance(key, (str, int)) else str(key))
                doc.key_positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.build(value_node, child, doc, depth + 1)
            doc.positions.pop((*path, "<key>"), None)
            return out
        raise _TooBig(f"unexpected YAML node {type(node).__name__}")  # pragma: no cover


class _TooBig(Exception):
    pass


def _compose_all(text: str) -> Iterator[yaml.Node]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def load_text(text: str, file: str = "<string>") -> list[LoadedDocument]:
    """All documents in `text`; raises SpecError with located diagnostics for anything unreadable."""
    if "\x00" in text:
        raise SpecError([Diagnostic(file, 0, 0, "", "binary file: not a YAML or JSON document", code="binary")])
    builder = _Builder(file)
    docs: list[LoadedDocument] = []
    try:
        for index, node in enumerate(_compose_all(text)):
            doc = LoadedDocument(None, file, index, node.start_mark.line + 1, node.start_mark.column + 1)
            doc.data = builder.build(node, (), doc, 0)
            docs.append(doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        if "found undefined alias" in str(problem) or "found undefined alias" in str(exc):
            problem = "undefined alias"
        raise SpecError([Diagnostic(file, line, col, "", f"invalid YAML: {problem}", code="yaml")]) from None
    except yaml.YAMLError as exc:  # reader errors: control characters, bad encodings
        mark = getattr(exc, "position", None)
        raise SpecError([Diagnostic(file, 0, 0, "", f"unreadable text: {exc}", code="yaml")]) from None
    except _TooBig as exc:
        raise SpecError([Diagnostic(file, 0, 0, "", f"document too large: {exc}", code="too-large")]) from None
    except RecursionError:
        raise SpecError([Diagnostic(file, 0, 0, "", f"document nested deeper than {MAX_DEPTH} levels",
                                    code="too-large")]) from None
    if builder.errors:
        raise SpecError(builder.errors)
    if not docs:
        raise SpecError([Diagnostic(file, 0, 0, "", "no document: the file is empty", code="empty")])
    return docs


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text, or SpecError(io_error=True) naming what is wrong with it."""
    name = str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise SpecError([Diagnostic(name, 0, 0, "", f"file is {size} bytes; documents are limited to "
                                        f"{MAX_BYTES} bytes", code="too-large")])
        raw = p.read_bytes()
    except SpecError:
        raise
    except IsADirectoryError:
        raise SpecError([Diagnostic(name, 0, 0, "", "is a directory", code="io")], io_error=True) from None
    except OSError as exc:
        raise SpecError([Diagnostic(name, 0, 0, "", f"cannot read: {exc.strerror or exc}", code="io")],
                        io_error=True) from None
    if b"\x00" in raw:
        raise SpecError([Diagnostic(name, 0, 0, "", "binary file: not a YAML or JSON document", code="binary")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError([Diagnostic(name, line, 0, "", "not valid UTF-8 text", code="encoding")]) from None


def load_file(path: str | os.PathLike[str]) -> list[LoadedDocument]:
    return load_text(read_text(path), str(path))


def dump_yaml(data: Any) -> str:
    """Plain block YAML in key order, for migrated or generated documents."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)
