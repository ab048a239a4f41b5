"""Semantic checks beyond the schema: shapes through the model, graph structure, references between
documents, data against model, loss against output, and hyper-parameter combinations.

The schema (pydantic, and the exported JSON Schema) can only judge one field at a time; a spec that
passes it can still fail minutes into a run on a GPU. Everything here is decided statically, without
numpy or a framework, so `lockstep validate` stays a seconds-long CI step. Each problem is one
`Diagnostic` located at the field it concerns (`loaded.locate(path)`), naming the layers, fields and
shapes involved.

`validate.validate_document` calls `check(document, loaded, base_dir=...)` after pydantic validation.
`infer_shapes` and `layer_names` are the public helpers that tools share with the reference.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import itertools
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lockstep.spec import distribution, resources
from lockstep.spec.base import FLOAT_MAX, Shape, ShapeError
from lockstep.spec.diagnostics import Diagnostic, SpecError, format_path
from lockstep.spec.documents import Environment, Model, Recipe
from lockstep.spec.files import file_kind, open_regular
from lockstep.spec.graph import ModelGraph, Node, build_graph, default_name
from lockstep.spec.losses import CLASS_INDEX_LOSSES
from lockstep.spec.npy import ArrayInfo, read_npz_header

__all__ = [
    "DIGITS_SHAPES", "ArrayInfo", "Located", "check", "check_environment", "check_model", "check_recipe",
    "data_feature_shape", "infer_shapes", "layer_names", "load_model", "num_classes", "num_samples",
    "read_npz_header", "resolve_path", "valid_requirement", "valid_specifier",
]

PathParts = tuple[str | int, ...]

DIGITS_SHAPES: dict[str, Shape] = {"flat": (64,), "image": (1, 8, 8)}
DIGITS_SAMPLES = 1797
DIGITS_CLASSES = 10
FLOAT32_EPS = 2.0**-23
MAX_CSV_BYTES = 64 * 1024 * 1024  # larger files are not read at validation time (checked when a run loads them)


class Located(Protocol):
    """What the checks need of a loaded document: its file name, its data and where each field is."""

    file: str
    data: Any

    def locate(self, path: PathParts) -> tuple[int, int]: ...


def _diag(doc: Located, path: PathParts, message: str, suggestion: str | None = None,
          code: str = "semantic", expected: str | None = None) -> Diagnostic:
    line, col = doc.locate(tuple(path))
    return Diagnostic(doc.file, line, col, format_path(path), message, expected, suggestion, code)


# ------------------------------------------------------------------------------------- public helpers
def layer_names(model: Model) -> list[str]:
    """Every layer's name in document order: its `name`, or `<type>_<index>` (the reference's naming)."""
    raw = model.layers if model.layers is not None else model.nodes or []
    return [default_name(layer, i) for i, layer in enumerate(raw)]


def infer_shapes(model: Model) -> dict[str, Shape]:
    """Per-sample output shape of every layer, in execution order.

    Raises ShapeError (a ValueError) naming every problem when the model's shapes, names or graph do
    not work out; `check` reports the same problems with their locations.
    """
    graph = build_graph(model)
    if graph.problems:
        raise ShapeError("; ".join(p.message for p in graph.problems))
    return {n.name: n.shape for n in graph.nodes}


def resolve_path(base_dir: Path, relative: str) -> Path:
    """A path from a spec, resolved inside the spec's folder.

    Leaving the folder (absolute paths, `..`, symlinks pointing out) is refused unless
    LOCKSTEP_ALLOW_OUTSIDE_PATHS=1: validating or running a spec must not read arbitrary files.
    Raises ValueError with a message naming the path.
    """
    try:
        p = Path(relative)
        full = (p if p.is_absolute() else Path(base_dir) / p).resolve()
        root = Path(base_dir).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops
        shown = relative.encode("unicode_escape").decode("ascii")
        raise ValueError(f"`{shown}` is not a usable path ({exc})") from None
    if os.environ.get("LOCKSTEP_ALLOW_OUTSIDE_PATHS") != "1":
        how = None
        if p.is_absolute():
            how = "is an absolute path; paths in a spec are relative to"
        elif not full.is_relative_to(root):
            how = "leaves"
        if how:
            raise ValueError(f"`{relative}` {how} the spec's folder {root} "
                             "(set LOCKSTEP_ALLOW_OUTSIDE_PATHS=1 to allow other paths)")
    return full


# ----------------------------------------------------------------------------------------- dispatch
def check(document: object, loaded: Located, *, base_dir: Path) -> list[Diagnostic]:
    """Every semantic problem of one schema-valid document (empty when there is none)."""
    if isinstance(document, Model):
        out = check_model(document, loaded, base_dir=Path(base_dir))
    elif isinstance(document, Recipe):
        out = check_recipe(document, loaded, base_dir=Path(base_dir))
    elif isinstance(document, Environment):
        out = check_environment(document, loaded)
    else:
        return []
    here = [d for d in out if d.file == loaded.file]  # a recipe's model file reports in its own file, after
    return sorted(here, key=lambda d: (d.line, d.column)) + [d for d in out if d.file != loaded.file]


# -------------------------------------------------------------------------------------------- models
_EXPECTED_RANK = {"conv1d": 2, "conv2d": 3, "max_pool2d": 3, "avg_pool2d": 3, "lstm": 2, "gru": 2,
                  "multi_head_attention": 2}


def _reshape_example(shape: Shape, rank: int, kind: str) -> list[int] | None:
    n = math.prod(shape)
    if rank == 3:
        if len(shape) == 1:
            k = math.isqrt(n)
            return [1, k, k] if k * k == n and k > 1 else None
        return [shape[0], shape[1], math.prod(shape[2:])] if len(shape) > 3 else [1, *shape]
    if rank == 2:
        if len(shape) == 1:
            return [1, n] if kind == "conv1d" else [n, 1]
        return [shape[0], math.prod(shape[1:])]
    return None


def _shape_hint(node: Node) -> str:
    """How to fix the commonest rank mismatch: the previous layer's output has the wrong rank."""
    want = _EXPECTED_RANK.get(node.type)
    if want is None or len(node.input_shapes) != 1 or len(node.input_shapes[0]) == want:
        return ""
    example = _reshape_example(node.input_shapes[0], want, node.type)
    if example is None:
        layout = {2: "[C, L]" if node.type == "conv1d" else "[T, features]", 3: "[C, H, W]"}[want]
        return f"; insert a `reshape` to {layout} before `{node.name}`"
    return f"; insert `{{type: reshape, shape: {example}}}` before `{node.name}`"


def _channels_hint(node: Node, model: Model) -> str:
    """A Keras habit: images written channels-last ([H, W, C], e.g. [8, 8, 1]) where the standard, like ONNX and
    PyTorch, is channels-first ([C, H, W]); said with the fixed shape."""
    if node.type not in ("conv2d", "max_pool2d", "avg_pool2d") or len(node.input_shapes) != 1:
        return ""
    shape = list(node.input_shapes[0])
    if len(shape) != 3 or shape[-1] > 4 or shape[0] <= shape[-1]:
        return ""
    fixed = [shape[-1], *shape[:-1]]
    source = node.inputs[0]
    fix = (f"write the input `{source}` as `shape: {fixed}` (and its data in that layout)"
           if source in {i.name for i in model.inputs} else f"give `{node.name}` an input of shape {fixed}")
    return (f"; {node.type} takes channels-first images [C, H, W] in the standard (as in ONNX and PyTorch), and "
            f"{shape} looks channels-last ([H, W, C], Keras's default): {fix}")


def _graph_code(message: str) -> str:
    if "cannot take" in message:
        return "shape"
    if "integer indices" in message or "floating-point" in message:
        return "dtype"
    if "has no parameter" in message:
        return "initializer"
    return "graph"


def check_model(model: Model, doc: Located, *, base_dir: Path, prefix: PathParts = ()) -> list[Diagnostic]:
    """Names, references, cycles, dangling nodes, dtypes, shapes, initializer keys, weights file."""
    graph = build_graph(model)
    section = "layers" if model.layers is not None else "nodes"
    by_index = {n.index: n for n in graph.nodes}
    out = []
    for p in graph.problems:
        message = p.message
        if "cannot take" in message and len(p.where) == 2 and p.where[0] == section and p.where[1] in by_index:
            node = by_index[p.where[1]]  # type: ignore[index]
            message += _channels_hint(node, model) or _shape_hint(node)
        out.append(_diag(doc, (*prefix, *p.where), message, p.suggestion, code=_graph_code(p.message)))
    if model.weights is not None:
        out.extend(_check_weights(model, graph, doc, base_dir, prefix))
    if not graph.problems:
        out.extend(_check_model_memory(model, graph, doc, prefix))
    return out


def _check_weights(model: Model, graph: ModelGraph, doc: Located, base_dir: Path,
                   prefix: PathParts) -> list[Diagnostic]:
    where = (*prefix, "weights", "path")
    path = model.weights.path  # type: ignore[union-attr]
    try:
        full = resolve_path(base_dir, path)
    except ValueError as exc:
        return [_diag(doc, where, str(exc), code="path")]
    if not full.is_file():
        return [_diag(doc, where, _missing("weights file", path, full), code="reference")]
    try:
        arrays = read_npz_header(full)
    except ValueError as exc:
        return [_diag(doc, where, f"weights file `{path}` is not a readable .npz: {exc}", code="reference")]
    if graph.problems:
        return []  # canonical names and shapes are unknown until the model itself is right
    wanted = {**graph.parameters(), **graph.buffers()}
    out = []
    strict = model.weights.strict  # type: ignore[union-attr]
    missing = [k for k in wanted if k not in arrays]
    extra = [k for k in arrays if k not in wanted]
    if strict and (missing or extra):
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f"`{k}`" for k in missing[:8]) + (" ..." if len(missing) > 8 else ""))
        if extra:
            hints = []
            for k in extra[:8]:
                close = difflib.get_close_matches(k, [m for m in missing] or list(wanted), n=1)
                hints.append(f"`{k}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
            parts.append("unexpected " + ", ".join(hints) + (" ..." if len(extra) > 8 else ""))
        out.append(_diag(doc, where, f"weights file `{path}` does not match the model's canonical names "
                         f"({'; '.join(parts)}); with `strict: true` every parameter and buffer must be present "
                         "and nothing else", code="weights"))
    for name, spec in wanted.items():
        info = arrays.get(name)
        if info is None:
            continue
        if info.shape != tuple(spec.shape):
            out.append(_diag(doc, where, f"`{name}` in `{path}` has shape {list(info.shape)}, the model's "
                             f"canonical layout is {list(spec.shape)}", code="weights"))
        elif info.kind not in "fiub":
            out.append(_diag(doc, where, f"`{name}` in `{path}` has dtype {info.descr}; weights must be real "
                             "numbers", code="weights"))
    return out


def _missing(what: str, relative: str, full: Path) -> str:
    """Why `full` cannot be read as a file: a folder, a FIFO, a device or a socket (never opened), or missing."""
    try:
        mode = full.stat().st_mode
    except OSError:
        return f"{what} `{relative}` does not exist (looked for {full})"
    if stat.S_ISDIR(mode):
        return f"{what} `{relative}` is a folder, not a file ({full})"
    return f"{what} `{relative}` is {file_kind(mode)}, not a regular file: refusing to read it ({full})"


# ---------------------------------------------------------------------------------------- .npz files
# ArrayInfo and read_npz_header live in spec/npy.py (headers checked against the bytes really there);
# they are re-exported here, where tools have always found them.


# -------------------------------------------------------------------------------------- recipe data
@dataclass
class DataFacts:
    """What is statically known about a recipe's data: every field None when unknown."""

    label: str  # how messages name the source
    samples: int | None = None
    features: Shape | None = None
    feature_kind: str | None = None  # "float" or "int"
    targets: Shape | None = None  # per sample, after one_hot
    target_kind: str | None = None  # "class" (indices), "onehot", "float"
    classes: int | None = None
    vocab: int | None = None
    approx_samples: int | None = None  # a large csv's row count estimated from its first MiB (memory check only)
    target_values: tuple[tuple[float, int], tuple[float, int], str] | None = None  # (low, line), (high, line), what


def data_feature_shape(recipe: Recipe) -> Shape | None:
    """Per-sample feature shape of a synthetic or shipped source (None for files)."""
    s = recipe.data.source
    if s.type in ("synthetic_classification", "synthetic_regression"):
        return tuple(s.shape)
    if s.type == "synthetic_sequences":
        return (s.length,) if s.vocab_size else (s.length, s.features)
    if s.type == "dataset":
        return DIGITS_SHAPES[s.shape]
    return None


def num_samples(recipe: Recipe) -> int | None:
    """Number of samples of a synthetic or shipped source (None for files)."""
    s = recipe.data.source
    if s.type == "dataset":
        return DIGITS_SAMPLES
    return getattr(s, "num_samples", None)


def num_classes(recipe: Recipe) -> int | None:
    """Number of classes of a synthetic or shipped classification source."""
    s = recipe.data.source
    if s.type == "dataset":
        return DIGITS_CLASSES
    if s.type in ("synthetic_classification", "synthetic_sequences"):
        return s.num_classes
    return None


def _source_facts(recipe: Recipe, doc: Located, base_dir: Path, out: list[Diagnostic]) -> DataFacts:
    s = recipe.data.source
    facts = DataFacts(label=f"`{s.type}`", samples=num_samples(recipe), features=data_feature_shape(recipe),
                      classes=num_classes(recipe))
    if s.type in ("synthetic_classification", "dataset", "synthetic_sequences"):
        facts.feature_kind = "int" if getattr(s, "vocab_size", None) else "float"
        facts.vocab = getattr(s, "vocab_size", None)
        facts.targets, facts.target_kind = (), "class"
        if s.type == "dataset":
            facts.label = f"the `{s.name}` dataset"
    elif s.type == "synthetic_regression":
        facts.feature_kind, facts.targets, facts.target_kind = "float", (s.targets,), "float"
    else:
        where = ("data", "source", "path")
        facts.label = f"`{s.path}`"
        try:
            full = resolve_path(base_dir, s.path)
        except ValueError as exc:
            out.append(_diag(doc, where, str(exc), code="path"))
            return facts
        if not full.is_file():
            out.append(_diag(doc, where, _missing("data file", s.path, full), code="reference"))
            return facts
        if s.type == "npz":
            _npz_facts(s, full, facts, doc, out)
        else:
            _csv_facts(s, full, facts, doc, out)
    return facts


def _npz_facts(s: Any, full: Path, facts: DataFacts, doc: Located, out: list[Diagnostic]) -> None:
    try:
        arrays = read_npz_header(full)
    except ValueError as exc:
        out.append(_diag(doc, ("data", "source", "path"), f"`{s.path}` is not a readable .npz file: {exc}",
                         code="data"))
        return
    bad = False
    for key, field in ((s.features, "features"), (s.targets, "targets")):
        if key not in arrays:
            close = difflib.get_close_matches(key, list(arrays), n=1)
            out.append(_diag(doc, ("data", "source", field), f"`{s.path}` has no array `{key}` (it holds "
                             f"{', '.join(f'`{k}`' for k in arrays) or 'nothing'})", close[0] if close else None,
                             code="data"))
            bad = True
        elif arrays[key].kind not in "fiub" or not arrays[key].shape:
            what = "a scalar" if not arrays[key].shape else f"dtype {arrays[key].descr}"
            out.append(_diag(doc, ("data", "source", field), f"array `{key}` in `{s.path}` is {what}; it must be "
                             "real numbers with a leading sample axis", code="data"))
            bad = True
    if bad:
        return
    x, y = arrays[s.features], arrays[s.targets]
    if x.shape[0] != y.shape[0]:
        out.append(_diag(doc, ("data", "source", "path"), f"`{s.features}` has {x.shape[0]} samples but "
                         f"`{s.targets}` has {y.shape[0]} in `{s.path}`", code="data"))
        return
    facts.samples, facts.features = x.shape[0], x.shape[1:]
    # float arrays may hold integral tokens or labels (a run accepts those), so only integer dtypes are telling
    facts.feature_kind = "int" if x.kind in "iub" else None
    facts.targets = y.shape[1:]
    facts.target_kind = "class" if y.kind in "iub" and len(y.shape) == 1 else None


def _csv_rows(fh: Any, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line the record ends on, cells) of every non-blank record."""
    reader = csv.reader(fh, delimiter=delimiter)
    for row in reader:
        if row and any(c.strip() for c in row):
            yield reader.line_num, row


def _csv_facts(s: Any, full: Path, facts: DataFacts, doc: Located, out: list[Diagnostic]) -> None:
    """Rows, columns and the target column's range of a csv source (a large file: its size, from its first MiB)."""
    try:
        with open_regular(full) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
            size = os.fstat(raw.fileno()).st_size
            if size > MAX_CSV_BYTES:  # not read whole at validation: the memory check gets an estimate
                sample = fh.read(2**20)
                rows_seen = max(sample.count("\n"), 1)
                head = next(csv.reader([sample.split("\n", 1)[0]], delimiter=s.delimiter), [])
                facts.approx_samples = size * rows_seen // max(len(sample.encode()), 1)
                facts.features = (max(len(head) - 1, 0),)
                return
            rows = _csv_rows(fh, s.delimiter)
            first = next(rows, None)
            if first is None:
                out.append(_diag(doc, ("data", "source", "path"), f"`{s.path}` is empty", code="data"))
                return
            width = len(first[1])
            names = [c.strip() for c in first[1]] if s.header else []
            col = (names.index(s.target) if s.target in names else None) if isinstance(s.target, str) \
                else (s.target % width if -width <= s.target < width else None)
            data_rows = rows if s.header else itertools.chain([first], rows)
            count, target = 0, _Range()
            for line, row in data_rows:
                count += 1
                if col is not None and col < len(row):
                    target.add(row[col], line)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        out.append(_diag(doc, ("data", "source", "path"), f"cannot read `{s.path}`: {exc}", code="data"))
        return
    if isinstance(s.target, str):
        if not s.header:
            out.append(_diag(doc, ("data", "source", "target"), f"the target column is named (`{s.target}`) but "
                             "`header` is false; give the column's index instead", code="data"))
            return
        if s.target not in names:
            close = difflib.get_close_matches(s.target, names, n=1)
            out.append(_diag(doc, ("data", "source", "target"), f"`{s.path}` has no column `{s.target}` "
                             f"(columns: {', '.join(names)})", close[0] if close else None, code="data"))
            return
    elif col is None:
        out.append(_diag(doc, ("data", "source", "target"), f"target column {s.target} is outside the {width} "
                         f"columns of `{s.path}`", code="data"))
        return
    if count < 1:
        out.append(_diag(doc, ("data", "source", "path"), f"`{s.path}` has no data rows", code="data"))
        return
    facts.samples, facts.features = count, (width - 1,)
    facts.targets, facts.target_kind = (), ("class" if s.target_type == "class_index" else None)
    if target.numeric and target.low is not None:
        column = f"column `{names[col]}`" if names else f"column {col}"  # type: ignore[index]
        facts.target_values = (target.low, target.high, f"`{s.path}` {column}")  # type: ignore[assignment]


class _Range:
    """The smallest and largest value of a column, with their lines (numeric stays False past a non-number)."""

    def __init__(self) -> None:
        self.numeric = True
        self.low: tuple[float, int] | None = None
        self.high: tuple[float, int] | None = None

    def add(self, cell: str, line: int) -> None:
        if not self.numeric:
            return
        try:
            v = float(cell)
        except ValueError:
            self.numeric = False  # data preparation names the cell
            return
        if self.low is None or v < self.low[0]:
            self.low = (v, line)
        if self.high is None or v > self.high[0]:
            self.high = (v, line)


# ---------------------------------------------------------------------------------- recipe -> model
class _Nested:
    """A recipe's inline `model` seen as a document of its own, located inside the recipe."""

    def __init__(self, parent: Any, data: Any) -> None:
        self.parent = parent
        self.data = data
        self.file = parent.file
        self.index = getattr(parent, "index", 0)
        self.line, self.column = parent.locate(("model",))

    def locate(self, path: PathParts) -> tuple[int, int]:
        return self.parent.locate(("model", *tuple(path)))

    def key_location(self, path: PathParts) -> tuple[int, int]:
        finder = getattr(self.parent, "key_location", None)
        return finder(("model", *tuple(path))) if finder else self.locate(path)


def load_model(recipe: Recipe, doc: Located, base_dir: Path) -> tuple[Model | None, list[Diagnostic]]:
    """The recipe's model (inline, or the one Model document at its relative path), validated.

    Problems of an inline model are located in the recipe (`model.layers[2].units`); problems of a
    model file are located in that file.
    """
    from lockstep.spec.validate import validate_document

    if isinstance(recipe.model, dict):
        kind = recipe.model.get("kind")
        if kind is not None and kind != "Model":
            return None, [_diag(doc, ("model", "kind"), f"an inline `model` must be a Model document, not "
                                f"`{kind}`", "Model", code="kind")]
        obj, diags = validate_document(_Nested(doc, recipe.model), base_dir=base_dir)  # type: ignore[arg-type]
        fixed = [Diagnostic(d.file, d.line, d.column, "model" + ("." + d.path if d.path else ""), d.message,
                            d.expected, d.suggestion, d.code, d.related) for d in diags]
        return obj, fixed  # type: ignore[return-value]
    try:
        full = resolve_path(base_dir, recipe.model)
    except ValueError as exc:
        return None, [_diag(doc, ("model",), str(exc), code="path")]
    if full.is_dir():
        return None, [_diag(doc, ("model",), f"`{recipe.model}` is a folder; `model` names a Model document "
                            "file (or holds the Model inline)", code="reference")]
    if not full.is_file():
        if full.exists():  # a FIFO, a device or a socket: never opened
            return None, [_diag(doc, ("model",), _missing("model file", recipe.model, full), code="reference")]
        near = sorted(p.name for p in full.parent.glob("*.y*ml")) if full.parent.is_dir() else []
        close = difflib.get_close_matches(full.name, near, n=1)
        return None, [_diag(doc, ("model",), f"model file `{recipe.model}` does not exist (looked for {full})",
                            close[0] if close else None, code="reference")]
    from lockstep.spec.loader import load_text, read_text

    shown = os.path.normpath(os.path.join(base_dir, recipe.model))  # as the user would name it, not resolved
    try:
        docs = load_text(read_text(full), shown)
    except SpecError as exc:
        return None, [dataclasses.replace(d, file=shown) if d.file == str(full) else d for d in exc.diagnostics]
    models = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind") == "Model"]
    if len(models) != 1:
        return None, [_diag(doc, ("model",), f"`{recipe.model}` must hold exactly one Model document, "
                            f"found {len(models)}", code="reference")]
    obj, diags = validate_document(models[0], base_dir=full.parent)
    return obj, diags  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ recipes
def check_recipe(recipe: Recipe, doc: Located, *, base_dir: Path) -> list[Diagnostic]:
    """The model reference, data files, sample counts, schedule lengths, and recipe against model."""
    out: list[Diagnostic] = []
    model, diags = load_model(recipe, doc, base_dir)
    out.extend(diags)
    facts = _source_facts(recipe, doc, base_dir, out)
    _apply_preprocessing(recipe, facts, doc, out)

    n_train = None
    if facts.samples is not None:
        held = math.ceil(facts.samples * recipe.data.split.validation)
        n_train = facts.samples - held
        b = recipe.data.batch_size
        if n_train < 1:
            out.append(_diag(doc, ("data", "split", "validation"), f"holding out {held} of {facts.samples} samples "
                             "leaves no training sample", code="range"))
            n_train = None
        elif b > n_train:
            split = f" ({held} of {facts.samples} are held out for validation)" if held else ""
            what = ("drop_last is set, so no batch would remain" if recipe.data.drop_last
                    else "every batch would be the whole training split")
            out.append(_diag(doc, ("data", "batch_size"), f"batch_size {b} exceeds the {n_train} training "
                             f"samples{split}: {what}", code="range", expected=f"at most {n_train}"))
    total = _total_steps(recipe, n_train)
    out.extend(_check_schedule(recipe, total, doc))
    opt = recipe.optimizer
    if opt.type == "sgd" and opt.nesterov and opt.momentum == 0:
        out.append(_diag(doc, ("optimizer", "nesterov"), "Nesterov momentum needs `momentum` > 0; with momentum 0 "
                         "`nesterov: true` does nothing", code="range"))
    if model is not None:
        graph = build_graph(model)
        found = _check_against_model(recipe, model, graph, facts, n_train, doc)
        if not graph.problems:
            found += [_diag(doc, p.path, p.message, code="distribution", expected=p.expected)
                      for p in distribution.problems(recipe, graph, n_train, total)]
        out.extend(found)
        if not found and not graph.problems:
            out.extend(_check_memory(recipe, model, graph, facts, total, doc))
    return out


def _memory_limit(doc: Located, where: PathParts) -> resources.Limit | Diagnostic:
    try:
        return resources.memory_limit()
    except ValueError as exc:
        return _diag(doc, where, f"{resources.ENV}: {exc}", code="memory")


def _check_model_memory(model: Model, graph: ModelGraph, doc: Located, prefix: PathParts) -> list[Diagnostic]:
    """A Model alone: its parameters must fit (held once, in float64)."""
    limit = _memory_limit(doc, prefix)
    if isinstance(limit, Diagnostic):
        return [limit]
    section = "layers" if model.layers is not None else "nodes"
    needs = resources.parameter_needs(graph, prefix, section, copies=1)
    found = resources.too_much(needs, limit, "to hold the model in float64")
    return [] if found is None else [_diag(doc, found[0].path, found[1], code="memory")]


def _check_memory(recipe: Recipe, model: Model, graph: ModelGraph, facts: DataFacts, total_steps: int | None,
                  doc: Located) -> list[Diagnostic]:
    """Parameters, optimizer state, the activations of a batch, the data and the history against the limit."""
    limit = _memory_limit(doc, ())
    if isinstance(limit, Diagnostic):
        return [limit]
    if limit.bytes is None:
        return []
    section = "layers" if model.layers is not None else "nodes"
    prefix: PathParts = ("model",)
    states = resources.optimizer_states(recipe.optimizer)
    needs = resources.parameter_needs(graph, prefix, section, copies=resources.PARAM_COPIES, states=states)
    b = recipe.data.batch_size
    train = resources.activation_needs(graph, prefix, section, b, resources.ACTIVATION_COPIES,
                                       f"a training batch of {b} sample{'s' * (b != 1)}")
    samples = facts.samples if facts.samples is not None else facts.approx_samples
    if samples is not None:
        held = math.ceil(samples * recipe.data.split.validation)
        n_eval = held or samples
        c = min(n_eval, resources.EVAL_CHUNK)
        chunk = resources.activation_needs(graph, prefix, section, c, 1, f"evaluation ({c} sample{'s' * (c != 1)} "
                                           "at a time)")
        outputs = math.prod(graph.output_shapes()[0]) * n_eval * resources.FLOAT_BYTES
        if outputs:
            chunk.append(resources.Need(f"the model's outputs on {n_eval} evaluation samples", ("evaluation",),
                                        outputs))
        train = train if sum(n.bytes for n in train) >= sum(n.bytes for n in chunk) else chunk
        features = math.prod(facts.features) if facts.features is not None else 1
        targets = math.prod(facts.targets) if facts.targets else 1
        data = samples * (features * resources.FEATURE_COPIES + targets * resources.TARGET_COPIES)
        src = recipe.data.source
        if src.type == "synthetic_classification":
            data += src.num_classes * features
        about = "about " if facts.samples is None else ""
        needs.append(resources.Need(f"the data ({about}{samples:,} samples of {list(facts.features or ())} features)",
                                    ("data", "source"), data * resources.FLOAT_BYTES))
    needs.extend(train)
    if total_steps is not None:
        needs.append(resources.Need(f"the run's history ({total_steps:,} steps)", ("training",),
                                    total_steps * resources.HISTORY_BYTES_PER_STEP))
    found = resources.too_much(needs, limit, "to run this recipe")
    return [] if found is None else [_diag(doc, found[0].path, found[1], code="memory")]


def _apply_preprocessing(recipe: Recipe, facts: DataFacts, doc: Located, out: list[Diagnostic]) -> None:
    kinds = [p.type for p in recipe.data.preprocessing]
    for i, t in enumerate(kinds):
        if kinds.index(t) != i:
            out.append(_diag(doc, ("data", "preprocessing", i), f"`{t}` appears twice (first at "
                             f"data.preprocessing[{kinds.index(t)}])", code="data"))
    if "standardize" in kinds and "min_max" in kinds:
        out.append(_diag(doc, ("data", "preprocessing", kinds.index("min_max")),
                         "use one of `standardize` and `min_max`, not both: the second undoes the first", code="data"))
    if "one_hot" in kinds:
        i = kinds.index("one_hot")
        oh = recipe.data.preprocessing[i]
        if facts.target_kind == "float" and recipe.data.source.type == "synthetic_regression":
            out.append(_diag(doc, ("data", "preprocessing", i), "`one_hot` turns class indices into one-hot rows, "
                             "but `synthetic_regression` gives real-valued targets", code="data"))
            return
        if facts.classes is not None and facts.classes != oh.num_classes:  # type: ignore[union-attr]
            out.append(_diag(doc, ("data", "preprocessing", i, "num_classes"), f"one_hot makes "
                             f"{oh.num_classes} classes but {facts.label} has {facts.classes}",  # type: ignore[union-attr]
                             code="data", expected=str(facts.classes)))
        if facts.targets is not None:
            facts.targets = (*facts.targets, oh.num_classes)  # type: ignore[union-attr]
        facts.target_kind = "onehot"
        facts.classes = oh.num_classes  # type: ignore[union-attr]


def _total_steps(recipe: Recipe, n_train: int | None) -> int | None:
    if recipe.training.steps is not None:
        return recipe.training.steps
    if n_train is None:
        return None
    b = recipe.data.batch_size
    per_epoch = n_train // b if recipe.data.drop_last else math.ceil(n_train / b)
    return (recipe.training.epochs or 0) * per_epoch or None


def _check_schedule(recipe: Recipe, total: int | None, doc: Located) -> list[Diagnostic]:
    out = []
    sched = recipe.schedule
    lr = recipe.optimizer.learning_rate
    if sched.type == "cosine" and sched.min_learning_rate > lr:
        out.append(_diag(doc, ("schedule", "min_learning_rate"), f"min_learning_rate {sched.min_learning_rate} is "
                         f"above the optimizer's learning_rate {lr}: the cosine would rise, not decay", code="range",
                         expected=f"at most {lr}"))
    if total is None:
        return out
    run = f"{total} training steps" + ("" if recipe.training.steps is not None else
                                       f" ({recipe.training.epochs} epochs)")
    warm = sched.warmup.steps if sched.warmup is not None else 0
    if warm and warm >= total:
        out.append(_diag(doc, ("schedule", "warmup", "steps"), f"the warm-up of {warm} steps does not end before "
                         f"training does ({run})", code="range", expected=f"fewer than {total}"))
    else:
        left = total - warm
        after = f"{left} steps follow the warm-up" if warm else f"training has {run}"
        if sched.type == "cosine" and sched.decay_steps > left:
            out.append(_diag(doc, ("schedule", "decay_steps"), f"cosine decays over {sched.decay_steps} steps but "
                             f"{after}: the learning rate would still be decaying when training ends",
                             code="range", expected=f"at most {left}"))
        power = (left - 1) // sched.step_size if sched.type == "step" else left - 1
        if sched.type in ("exponential", "step") and sched.gamma > 1 and \
                math.log(lr) + power * math.log(sched.gamma) > math.log(FLOAT_MAX):
            out.append(_diag(doc, ("schedule", "gamma"), f"gamma {sched.gamma:g} grows the learning rate past the "
                             f"largest float64 before training ends ({lr:g} x {sched.gamma:g}^{power} at the last of "
                             f"{run})", code="range", expected="a gamma that keeps the learning rate finite"))
        if sched.type == "step" and sched.step_size >= left:
            out.append(_diag(doc, ("schedule", "step_size"), f"the step schedule first decays after "
                             f"{sched.step_size} steps but {after}: it would never decay", code="range",
                             expected=f"fewer than {left}"))
    for key in ("evaluation", "checkpoint"):
        section = getattr(recipe, key)
        if section is not None and section.every is not None and section.every > total:
            out.append(_diag(doc, (key, "every"), f"every {section.every} steps never happens in a run of {run}",
                             code="range", expected=f"at most {total}"))
    return out


def _output_node(graph: ModelGraph) -> Node | None:
    """The node that produces the output, looking through dropout (identity at evaluation)."""
    node = graph.by_name.get(graph.outputs[0]) if graph.outputs else None
    while node is not None and node.type == "dropout" and node.inputs:
        node = graph.by_name.get(node.inputs[0])
    return node


def _flatten_hint(graph: ModelGraph) -> str:
    for n in graph.nodes:
        if n.type == "dense" and n.input_shapes and len(n.input_shapes[0]) > 1 and n.name in _feeds_output(graph):
            return (f"; `{n.name}` (dense) acts on the last axis of its input {list(n.input_shapes[0])} only: "
                    f"insert `{{type: flatten}}` before it")
        if n.type in ("lstm", "gru") and n.layer.return_sequences and n.name in _feeds_output(graph):  # type: ignore[attr-defined]
            return f"; `{n.name}` ({n.type}) has `return_sequences: true`, which keeps the time axis"
    return ""


def _feeds_output(graph: ModelGraph) -> set[str]:
    """Nodes on the single-input chain that ends at the output."""
    chain, node = set(), graph.by_name.get(graph.outputs[0]) if graph.outputs else None
    while node is not None and len(node.inputs) == 1:
        chain.add(node.name)
        node = graph.by_name.get(node.inputs[0])
    if node is not None:
        chain.add(node.name)
    return chain


def _describe_output(graph: ModelGraph, model_ref: str) -> str:
    node = _output_node(graph)
    what = f"`{node.name}` ({node.type})" if node is not None else f"`{graph.outputs[0]}`"
    return f"the model{model_ref} outputs {list(graph.output_shapes()[0])} from {what}"


def _check_against_model(recipe: Recipe, model: Model, graph: ModelGraph, facts: DataFacts, n_train: int | None,
                         doc: Located) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if graph.problems:
        return out  # already reported against the model
    if len(model.inputs) != 1 or len(graph.outputs) != 1:
        out.append(_diag(doc, ("model",), f"a recipe trains a model with one input and one output in spec v1; "
                         f"this one has {len(model.inputs)} inputs and {len(graph.outputs)} outputs", code="model"))
        return out
    ref = f" `{recipe.model}`" if isinstance(recipe.model, str) else ""
    inp = model.inputs[0]
    if facts.features is not None and facts.features != tuple(inp.shape):
        src = recipe.data.source
        fix = next((k for k, v in DIGITS_SHAPES.items() if v == tuple(inp.shape)), None) \
            if src.type == "dataset" else None
        out.append(_diag(doc, ("data", "source", "shape") if fix else ("data", "source"),
                         f"{facts.label} gives samples of shape {list(facts.features)} but input `{inp.name}` of the "
                         f"model{ref} has shape {list(inp.shape)}", fix, code="data"))
    if inp.dtype == "int64" and facts.feature_kind == "float":
        out.append(_diag(doc, ("data", "source"), f"input `{inp.name}` of the model{ref} takes integer indices "
                         f"(`dtype: int64`) but {facts.label} gives floating-point features", code="dtype"))
    if inp.dtype == "int64":
        for i, p in enumerate(recipe.data.preprocessing):
            if p.type in ("standardize", "min_max"):
                out.append(_diag(doc, ("data", "preprocessing", i), f"`{p.type}` rescales floating-point features, "
                                 f"but input `{inp.name}` of the model{ref} takes integer indices", code="dtype"))
    if facts.vocab is not None:
        for n in graph.nodes:
            if n.type == "embedding" and inp.name in n.inputs and n.layer.input_dim < facts.vocab:  # type: ignore[attr-defined]
                out.append(_diag(doc, ("data", "source", "vocab_size"), f"tokens range over 0..{facts.vocab - 1} "
                                 f"but embedding `{n.name}` of the model{ref} has input_dim "
                                 f"{n.layer.input_dim}", code="data",  # type: ignore[attr-defined]
                                 expected=f"input_dim >= {facts.vocab}"))
    out.extend(_check_batch_norm(recipe, graph, n_train, ref, doc))
    out.extend(_check_loss(recipe, graph, facts, ref, doc))
    if "accuracy" in recipe.evaluation.metrics and facts.target_kind == "float":
        i = recipe.evaluation.metrics.index("accuracy")
        out.append(_diag(doc, ("evaluation", "metrics", i), f"`accuracy` needs class targets; {facts.label} gives "
                         "real-valued targets", code="metric"))
    return out


def _check_batch_norm(recipe: Recipe, graph: ModelGraph, n_train: int | None, ref: str,
                      doc: Located) -> list[Diagnostic]:
    """Batch norm in training needs two or more values per channel (batch x spatial positions)."""
    b = recipe.data.batch_size
    for n in graph.nodes:
        if n.type != "batch_norm":
            continue
        spatial = math.prod(n.input_shapes[0][1:])
        if b * spatial < 2:
            return [_diag(doc, ("data", "batch_size"), f"batch_norm `{n.name}` of the model{ref} normalizes each "
                          f"channel over the batch, and a batch of {b} sample(s) of shape {list(n.input_shapes[0])} "
                          "gives it one value per channel", code="range", expected="at least 2")]
        if n_train is not None and not recipe.data.drop_last and n_train % b and (n_train % b) * spatial < 2:
            return [_diag(doc, ("data", "batch_size"), f"the last batch of every epoch holds {n_train % b} sample of "
                          f"the {n_train} training samples, and batch_norm `{n.name}` of the model{ref} needs two or "
                          "more values per channel: set `drop_last: true` or change batch_size", code="range")]
    return []


def _fits(targets: Shape, out: Shape, class_index: bool) -> bool:
    if class_index:
        return targets == out[:-1]
    return targets == out or (targets == () and out == (1,))


def _check_loss(recipe: Recipe, graph: ModelGraph, facts: DataFacts, ref: str, doc: Located) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    loss = recipe.loss
    shape = graph.output_shapes()[0]
    last = shape[-1] if shape else 1
    node = _output_node(graph)
    ends = node.type if node is not None else None
    said = _describe_output(graph, ref)
    sparse = loss.type in CLASS_INDEX_LOSSES
    here = ("loss", "type")

    if loss.type in (*CLASS_INDEX_LOSSES, "categorical_crossentropy") and last < 2:
        out.append(_diag(doc, here, f"`{loss.type}` needs one output per class (at least 2) on the last axis, but "
                         f"{said}", code="loss"))
        return out
    if sparse and facts.target_kind == "onehot":
        i = [p.type for p in recipe.data.preprocessing].index("one_hot")
        out.append(_diag(doc, ("data", "preprocessing", i), f"`{loss.type}` takes class indices; remove the "
                         "`one_hot` step or use `categorical_crossentropy`", code="loss"))
        return out
    if loss.type == "categorical_crossentropy" and facts.target_kind == "class":
        out.append(_diag(doc, here, f"`categorical_crossentropy` needs one-hot targets but {facts.label} gives class "
                         "indices: add `{type: one_hot, num_classes: N}` to data.preprocessing, or use "
                         "`sparse_categorical_crossentropy`", "sparse_categorical_crossentropy", code="loss"))
        return out
    if (sparse or loss.type in ("categorical_crossentropy", "binary_crossentropy")) and \
            recipe.data.source.type == "synthetic_regression":
        out.append(_diag(doc, here, f"`{loss.type}` needs class targets but `synthetic_regression` gives "
                         "real-valued ones; use `mse`, `mae` or `huber`", code="loss"))
        return out

    if facts.targets is not None and not _fits(facts.targets, shape, sparse):
        if sparse:
            need = "[" + ", ".join([*map(str, facts.targets), "C"]) + "]"
            which = ("one class index per sample" if facts.targets == ()
                     else f"class indices of shape {list(facts.targets)} per sample")
            msg = f"the targets are {which}, so the output must be {need} (C classes), but {said}"
        elif facts.targets == () and loss.type == "binary_crossentropy":
            msg = (f"`binary_crossentropy` with one 0/1 target per sample needs an output of shape [1], but {said}"
                   + ("; for one output per class use `sparse_categorical_crossentropy`" if last >= 2 else ""))
        elif facts.target_kind == "onehot":
            i = [p.type for p in recipe.data.preprocessing].index("one_hot")
            out.append(_diag(doc, ("data", "preprocessing", i, "num_classes"), f"one_hot makes targets of shape "
                             f"{list(facts.targets)} per sample but {said}" + _flatten_hint(graph), code="loss"))
            return out
        else:
            msg = f"{facts.label} gives targets of shape {list(facts.targets) or [1]} per sample but {said}"
        out.append(_diag(doc, here, msg + _flatten_hint(graph), code="loss"))
        return out
    if sparse and facts.classes is not None and facts.classes != last:
        out.append(_diag(doc, here, f"{facts.label} has {facts.classes} classes but {said} ({last} values per sample "
                         "on the class axis)", code="loss", expected=f"an output of {facts.classes} classes"))
    if loss.type == "categorical_crossentropy" and facts.target_kind == "onehot" and facts.classes != last:
        i = [p.type for p in recipe.data.preprocessing].index("one_hot")
        out.append(_diag(doc, ("data", "preprocessing", i, "num_classes"), f"one_hot makes {facts.classes} classes "
                         f"but {said}", code="loss", expected=str(last)))
    out.extend(_check_target_values(loss.type, facts, last, recipe, doc))
    if loss.type == "binary_crossentropy" and facts.target_kind == "class" and facts.classes not in (None, 2):
        out.append(_diag(doc, here, f"`binary_crossentropy` takes 0/1 targets; {facts.label} has {facts.classes} "
                         "classes (use `sparse_categorical_crossentropy`)", "sparse_categorical_crossentropy",
                         code="loss"))
    out.extend(_check_output_activation(recipe, node, ends, shape, said, doc))
    return out


def _check_target_values(loss: str, facts: DataFacts, last: int, recipe: Recipe, doc: Located) -> list[Diagnostic]:
    """A file's target values against the loss: BCE takes [0, 1] (5 would train to a loss of -5e6), class
    indices run from 0 to the number of outputs - 1 (or of one_hot classes)."""
    if facts.target_values is None:
        return []
    (low, low_line), (high, high_line), what = facts.target_values
    where = ("data", "source", "target")
    if loss == "binary_crossentropy" and facts.target_kind != "onehot" and (low < 0 or high > 1):
        bad, line = (low, low_line) if low < 0 else (high, high_line)
        return [_diag(doc, where, f"{what} holds {bad:g} (line {line}), but `binary_crossentropy` takes targets "
                      "in [0, 1] (probabilities, or 0/1 labels)", code="data", expected="values in [0, 1]")]
    one_hot = next((p for p in recipe.data.preprocessing if p.type == "one_hot"), None)
    classes = one_hot.num_classes if one_hot is not None else last if loss in CLASS_INDEX_LOSSES else None
    if classes is None:
        return []
    if low < 0:
        return [_diag(doc, where, f"{what} holds {low:g} (line {low_line}); class indices are 0 or more",
                      code="data", expected=f"class indices 0 to {classes - 1}")]
    if high >= classes:
        by = "one_hot's num_classes gives" if one_hot is not None else "the model's outputs give"
        return [_diag(doc, where, f"{what} holds class {high:g} (line {high_line}), but {by} {classes} classes "
                      f"(0 to {classes - 1})", code="data", expected=f"class indices 0 to {classes - 1}")]
    return []


def _check_output_activation(recipe: Recipe, node: Node | None, ends: str | None, shape: Shape, said: str,
                             doc: Located) -> list[Diagnostic]:
    """Logits vs probabilities vs log-probabilities: the mistakes that train silently wrong or give NaN."""
    loss = recipe.loss
    axis_last = node is not None and ends in ("softmax", "log_softmax") and \
        node.layer.axis % max(len(shape), 1) == len(shape) - 1  # type: ignore[attr-defined]
    if loss.type == "nll":
        if not (ends == "log_softmax" and axis_last):
            return [_diag(doc, ("loss", "type"), f"`nll` takes log-probabilities over the last axis, but {said}: end "
                          "the model with `{type: log_softmax}`, or use `sparse_categorical_crossentropy` with "
                          "`from_logits: true`", code="loss")]
        return []
    if loss.type in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if not loss.from_logits and not (ends == "softmax" and axis_last):
            return [_diag(doc, ("loss", "from_logits"), f"`from_logits: false` means the model outputs probabilities "
                          f"(a softmax over the last axis), but {said}: end it with `{{type: softmax}}` or set "
                          "`from_logits: true`", "true", code="loss")]
        if loss.from_logits and ends == "softmax":
            return [_diag(doc, ("loss", "from_logits"), f"{said}, which already gives probabilities; "
                          "`from_logits: true` would apply softmax a second time: set `from_logits: false` or "
                          "remove the softmax", "false", code="loss")]
    if loss.type == "binary_crossentropy":
        if not loss.from_logits and ends not in ("sigmoid", "softmax"):
            return [_diag(doc, ("loss", "from_logits"), f"`from_logits: false` means the model outputs probabilities "
                          f"in (0, 1), but {said}: end it with `{{type: sigmoid}}` or set `from_logits: true`",
                          "true", code="loss")]
        if loss.from_logits and ends == "sigmoid":
            return [_diag(doc, ("loss", "from_logits"), f"{said}, which already gives probabilities; "
                          "`from_logits: true` would apply the sigmoid a second time: set `from_logits: false` or "
                          "remove the sigmoid", "false", code="loss")]
    return []


# -------------------------------------------------------------------------------------- environments
_RELEASE = r"[0-9]+(?:\.[0-9]+)*"
_PRE = r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?"
_POST = r"(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?"
_DEV = r"(?:[-_.]?dev[-_.]?[0-9]*)?"
_LOCAL = r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?"
_EPOCH = r"(?:[0-9]+!)?"
_PUBLIC = rf"v?{_EPOCH}{_RELEASE}{_PRE}{_POST}{_DEV}"
_CLAUSE = re.compile(
    rf"""^\s*(?:
        ===\s*[^\s,;]+                                                  # arbitrary equality
      | (?:==|!=)\s*(?:v?{_EPOCH}{_RELEASE}\.\*|{_PUBLIC}{_LOCAL})      # prefix match or exact version
      | ~=\s*v?{_EPOCH}[0-9]+(?:\.[0-9]+)+{_PRE}{_POST}{_DEV}           # compatible release: two parts or more
      | (?:<=|>=|<|>)\s*{_PUBLIC}                                       # ordered comparison
    )\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_BARE_VERSION = re.compile(rf"^\s*{_PUBLIC}\s*$", re.IGNORECASE)
_PACKAGE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def valid_specifier(spec: str) -> bool:
    """Whether `spec` is a PEP 440 version specifier set (`>=1.17`, `~=2.2`, `>=2,<3`, `==1.*`).

    A small regex instead of `packaging`, which `lockstep.spec` does not depend on. An empty string
    means "any version".
    """
    if not spec.strip():
        return True
    return all(_CLAUSE.match(clause) for clause in spec.split(","))


def valid_requirement(name: str) -> bool:
    """Whether `name` is a PEP 508 distribution name."""
    return bool(_PACKAGE.match(name))


def _specifier_suggestion(spec: str) -> str | None:
    s = spec.strip()
    if _BARE_VERSION.match(s):
        return f"=={s}"
    if s.startswith("^") and _BARE_VERSION.match(s[1:]):
        major = s[1:].lstrip("v").split(".")[0]
        return f">={s[1:]},<{int(major) + 1}" if major.isdigit() else None
    if s.startswith("~") and not s.startswith("~=") and _BARE_VERSION.match(s[1:]):
        return f"~={s[1:]}" if "." in s else None
    if s.startswith("=") and not s.startswith("==") and _BARE_VERSION.match(s[1:]):
        return f"=={s[1:]}"
    return None


def _check_deploy_dtype(env: Environment, doc: Located) -> list[Diagnostic]:
    """int8 is judged by a metric budget (elementwise errors of a quantized model say little), every other
    dtype by its tolerance; quantization settings belong to int8 targets on onnxruntime."""
    out = []
    if env.dtype == "int8":
        if not env.max_metric_drop:
            out.append(_diag(doc, ("max_metric_drop",), "an int8 target needs `max_metric_drop`: the largest "
                             "worsening of each recipe metric it accepts (quantized predictions are judged by "
                             "their metrics, not elementwise)", code="tolerance",
                             expected="e.g. `max_metric_drop: {accuracy: 0.02}`"))
        if env.runtime != "onnxruntime":
            out.append(_diag(doc, ("dtype",), f"int8 targets are quantized by onnxruntime.quantization; runtime "
                             f"`{env.runtime}` has no int8 deployment here", code="range",
                             expected="runtime: onnxruntime"))
    elif env.tolerance is None:
        out.append(_diag(doc, ("tolerance",), f"a {env.dtype} target needs `tolerance` (rtol, atol): how closely its "
                         "predictions must match the float64 reference", code="tolerance",
                         expected="e.g. `tolerance: {rtol: 1.0e-4, atol: 1.0e-5}`"))
    if env.quantization is not None and env.dtype != "int8":
        out.append(_diag(doc, ("quantization",), f"`quantization` applies to int8 targets; this one is {env.dtype}",
                         code="range", expected="dtype: int8, or no `quantization`"))
    return out


def check_environment(env: Environment, doc: Located) -> list[Diagnostic]:
    """Requirement names and specifiers, a tolerance that can be met and means something, the budget."""
    out = []
    for pkg, spec in env.requirements.items():
        if not valid_requirement(pkg):
            out.append(_diag(doc, ("requirements", pkg), f"`{pkg}` is not a package name", code="requirement",
                             expected="a PEP 508 name such as `onnxruntime` or `torch`"))
        if not valid_specifier(spec):
            out.append(_diag(doc, ("requirements", pkg), f"`{spec}` is not a version specifier for `{pkg}`",
                             _specifier_suggestion(spec), code="requirement",
                             expected="PEP 440 specifiers such as `>=1.17`, `==2.13.0`, `~=2.2` or `>=2.2,<3`"))
    out += _check_deploy_dtype(env, doc)
    tol = env.tolerance
    eps = {"float32": FLOAT32_EPS, "float16": 2.0**-10}.get(env.dtype)
    if tol is None:
        pass
    elif tol.rtol == 0 and tol.atol == 0:
        out.append(_diag(doc, ("tolerance",), "rtol and atol are both 0: predictions would have to equal the "
                         "float64 reference bit for bit, which no runtime does", code="tolerance"))
    elif eps is not None and tol.atol == 0 and tol.rtol < eps / 2:
        out.append(_diag(doc, ("tolerance", "rtol"), f"rtol {tol.rtol:g} with atol 0 is below {env.dtype}'s rounding "
                         f"error ({eps / 2:.3g}): rounding the reference to {env.dtype} alone would exceed it",
                         code="tolerance", expected=f"at least {eps:.3g} for {env.dtype}"))
    if tol is not None and tol.rtol >= 1:
        out.append(_diag(doc, ("tolerance", "rtol"), f"rtol {tol.rtol:g} accepts predictions off by 100% or more "
                         "(even 0 for any reference value): it checks nothing", code="tolerance",
                         expected="a value below 1"))
    budget = env.latency_budget
    if budget is not None:
        if budget.batch_size not in env.batch_sizes:
            out.append(_diag(doc, ("latency_budget", "batch_size"), f"batch size {budget.batch_size} is not among "
                             f"batch_sizes {env.batch_sizes}", code="range",
                             expected="one of " + ", ".join(map(str, env.batch_sizes))))
        if budget.p50_ms is not None and budget.p99_ms is not None and budget.p50_ms > budget.p99_ms:
            out.append(_diag(doc, ("latency_budget", "p50_ms"), f"p50_ms {budget.p50_ms} exceeds p99_ms "
                             f"{budget.p99_ms}: the median cannot be slower than the 99th percentile", code="range"))
    if env.device.startswith("gpu") and env.runtime in ("onnxruntime", "torch"):
        fixed = "cuda" + env.device[3:]
        out.append(_diag(doc, ("device",), f"{env.runtime} names its GPU device `cuda`, not `gpu`", fixed,
                         code="device"))
    return out
