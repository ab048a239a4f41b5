"""What a recipe's data statically is, for the semantic checks: samples, feature and target shapes and kinds,
classes, vocabulary, and a csv target column's range, read from the source's fields or from the headers of its
file (never the whole array: a .npz's headers, a csv's rows up to `MAX_CSV_BYTES`), with the preprocessing
applied. Problems met on the way (a missing array or column, an unreadable file) are diagnostics.
"""

from __future__ import annotations

import csv
import decimal
import difflib
import io
import itertools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep.spec.base import Shape
from lockstep.spec.diagnostics import Diagnostic
from lockstep.spec.documents import Recipe
from lockstep.spec.files import open_regular
from lockstep.spec.formats import plural
from lockstep.spec.npy import read_npz_header, scan_npz_values
from lockstep.spec.paths import missing_file, resolve_path
from lockstep.spec.semantics.located import Located
from lockstep.spec.semantics.located import diag as _diag

__all__ = ["DIGITS_CLASSES", "DIGITS_SAMPLES", "DIGITS_SHAPES", "LARGEST_CLASS", "LARGEST_CSV_CLASS",
           "MAX_CSV_BYTES", "WIDE_FLOAT",
           "DataFacts", "apply_preprocessing", "class_index_range", "csv_records", "csv_row", "data_feature_shape",
           "is_class_index",
           "num_classes", "num_samples", "source_facts", "total_steps"]

DIGITS_SHAPES: dict[str, Shape] = {"flat": (64,), "image": (1, 8, 8)}
DIGITS_SAMPLES = 1797
DIGITS_CLASSES = 10
MAX_CSV_BYTES = 64 * 1024 * 1024  # larger files are not read at validation time (checked when a run loads them)
WIDE_FLOAT = ("wider than the float64 the reference computes in (its values would be rounded, and the largest "
              "become inf): save the data as float64")
"""Why float128 (long double) data is refused, by validation and by a run alike."""
LARGEST_CLASS = 2**63  # a class index must be below it: an int64, as every backend holds class targets
LARGEST_CSV_CLASS = int(math.nextafter(float(LARGEST_CLASS), 0))  # 2**63 - 1024: the largest a csv cell's float64 holds


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
    target_values: tuple[tuple[float, str], tuple[float, str], str] | None = None  # (low, where), (high, where), what
    target_fraction: tuple[float, str] | None = None  # a target that is not a whole number, and where
    feature_values: tuple[tuple[float, str], tuple[float, str], str] | None = None  # as target_values, every feature
    feature_fraction: tuple[float, str] | None = None  # a feature that is not a whole number (token indices), where


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


def source_facts(recipe: Recipe, doc: Located, base_dir: Path, out: list[Diagnostic]) -> DataFacts:
    """The facts of the recipe's source; problems with its file are appended to `out`."""
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
            out.append(_diag(doc, where, missing_file("data file", s.path, full), code="reference"))
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
        elif arrays[key].kind == "f" and (arrays[key].itemsize or 0) > 8:
            out.append(_diag(doc, ("data", "source", field), f"array `{key}` in `{s.path}` is "
                             f"{arrays[key].dtype_name}: {WIDE_FLOAT}", code="data"))
            bad = True
    if bad:
        return
    x, y = arrays[s.features], arrays[s.targets]
    if x.shape[0] != y.shape[0]:
        out.append(_diag(doc, ("data", "source", "path"), f"`{s.features}` has {plural(x.shape[0], 'sample')} but "
                         f"`{s.targets}` has {y.shape[0]} in `{s.path}`", code="data"))
        return
    facts.samples, facts.features = x.shape[0], x.shape[1:]
    # float arrays may hold integral tokens or labels (a run accepts those), so only integer dtypes are telling
    facts.feature_kind = "int" if x.kind in "iub" else None
    facts.targets = y.shape[1:]
    facts.target_kind = "class" if y.kind in "iub" and len(y.shape) == 1 else None
    try:  # the values too, up to MAX_CSV_BYTES (a NaN passed validation, then stopped the run at loading)
        values = scan_npz_values(full, [s.features, s.targets], MAX_CSV_BYTES)
    except ValueError:
        values = {}
    for key in (s.features, s.targets):
        bad = values[key].nonfinite if key in values else None
        if bad is not None:
            out.append(_diag(doc, ("data", "source", "path"), f"`{s.path}`: `{key}` holds a non-finite value "
                             f"({bad[0]}) at index {bad[1]}", code="data"))
            return
    facts.target_values, facts.target_fraction = _span(values.get(s.targets), f"`{s.path}` array `{s.targets}`")
    facts.feature_values, facts.feature_fraction = _span(values.get(s.features), f"`{s.path}` array `{s.features}`")


def _span(got: Any, what: str) -> tuple[Any, tuple[float, str] | None]:
    """An array's scanned values as DataFacts holds them: ((low, where), (high, where), what) and its first value
    that is not a whole number (None, None when they are unknown)."""
    if got is None or got.low is None or got.high is None:
        return None, None
    fraction = None if got.fraction is None else (got.fraction[0], _sample(got.fraction[1]))
    return ((got.low[0], _sample(got.low[1])), (got.high[0], _sample(got.high[1])), what), fraction


def _sample(index: tuple[int, ...]) -> str:
    """Where an element of a data array is, said as a run says it: its sample, and the place within it."""
    return f"sample {index[0]}" + (f" {list(index[1:])}" if len(index) > 1 else "")


def csv_records(fh: Any, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line the record ends on, cells) of every non-blank record (blank lines are not samples): how validation
    and a run both read a csv source."""
    reader = csv.reader(fh, delimiter=delimiter)
    for row in reader:
        if row and "".join(row).strip():  # a row of blank cells is a blank line
            yield reader.line_num, row


_PLAIN = re.compile(r"[0-9eE.+\-\s]*", re.ASCII)
"""Only the characters of a plain number: a row of these whose cells float() reads is a row of _NUMBERs."""

_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
"""A CSV cell's number: ASCII decimal digits, an optional point and exponent (Python's float() also takes
underscores, `5_0` = 50, and every script's digits, `٥` = 5: a typo or a foreign file read as a number)."""


def csv_row(row: list[str], width: int, names: list[str], col: int, target_type: str, probabilities: bool = False,
            loss: str = "") -> list[float]:
    """One data row's values, by the standard's rule for a csv cell (v1-semantics, csv: every cell a finite
    number; a class index a non-negative integer; probabilities in [0, 1] for a probability loss), or ValueError
    saying what is wrong, as `lockstep run` and `lockstep validate` both say it (the caller adds file and line)."""
    if len(row) != width:
        raise ValueError(f"{len(row)} cells, expected {width}")
    try:  # the usual row, at C speed: plain ASCII numbers (one pattern over the row, not one per cell), all finite
        fast = list(map(float, row)) if _PLAIN.fullmatch("".join(row)) else None
    except ValueError:
        fast = None
    if fast is not None and all(map(math.isfinite, fast)):
        v = fast[col] if 0 <= col < width else 0.0
        if not (target_type == "class_index" and not (is_class_index(v) and _exact(row[col], v))) \
                and not (probabilities and not 0 <= v <= 1):
            return fast
    out = []  # cell by cell, for the message naming the first bad one
    for c, cell in enumerate(row):
        try:
            v = float(cell)
        except ValueError:
            v = None
        if v is None or (math.isfinite(v) and not _NUMBER.fullmatch(cell)):  # float() also reads 5_0 and ٥
            raise ValueError(f"`{cell.strip()}` in column {_column(names, c)} is not a number")
        if not math.isfinite(v):
            raise ValueError(f"`{cell.strip()}` in column {_column(names, c)} is not a finite number")
        if c == col and target_type == "class_index" and not is_class_index(v):
            said = _read_as(cell, v)
            raise ValueError(f"target `{cell.strip()}` in column {_column(names, c)} is not a class index{said} "
                             f"({class_index_range()}{'' if said else ': a cell is read as a float64'})")
        if c == col and target_type == "class_index" and not _exact(cell, v):  # 9223372036854774785: ...784
            above = f" (above 2**53 = {2**53}, a float64 holds only some integers)" if v >= 2**53 else ""
            raise ValueError(f"target `{cell.strip()}` in column {_column(names, c)} is not a class index"
                             f"{_read_as(cell, v)}, not the number the cell says{above}")
        if c == col and probabilities and not 0.0 <= v <= 1.0:
            raise ValueError(f"target `{cell.strip()}` in column {_column(names, c)} is outside [0, 1]: `{loss}` "
                             "takes probabilities (or 0/1 labels) as targets")
        out.append(v)
    return out


def _read_as(cell: str, v: float) -> str:
    """What a cell's text became as a float64, where that is another number (9223372036854775807 is
    9223372036854775808, 0.99999999999999999999 is 1), a whole number: said beside the class index it seemed to
    be."""
    return "" if not v.is_integer() or _exact(cell, v) else f": read as a float64, as every cell is, it is {int(v)}"


def _exact(cell: str, v: float) -> bool:
    """Whether the float64 `v` is exactly the number a cell's text says (a class index must be: 9223372036854774785
    becomes 9223372036854774784, another class). A cell of up to 15 digits always is; others are compared as
    decimals, exactly."""
    text = cell.strip()
    if len(text) <= 15 and text.isdigit() and text.isascii():
        return True
    try:
        return decimal.Decimal(text) == decimal.Decimal(v)
    except (ArithmeticError, ValueError):  # not a decimal (csv_row has refused it before)
        return True


def class_index_range(kind: str = "f", itemsize: int = 8) -> str:
    """The class indices that values of a numpy kind and size can be, said alike of a csv cell (a float64) and of an
    .npz array: whole numbers from 0 below LARGEST_CLASS (an int64, as every backend holds class targets), so at
    most 2**63 - 1 in an integer array and the largest float below 2**63 in a float one (2**63 - 1024 in float64)."""
    if kind == "f":
        below = 2 ** (63 - (24 if itemsize == 4 else 53))  # the spacing of that float just below 2**63
        return f"an integer from 0 to 2**63 - {below}, the largest float{8 * itemsize} below 2**63"
    return "an integer from 0 to 2**63 - 1, the largest int64"


def is_class_index(v: float) -> bool:
    """Whether `v` is a class index: a whole number from 0, below LARGEST_CLASS (1e20 became -2**63 in int64)."""
    return 0 <= v < LARGEST_CLASS and v == int(v)


def _column(names: list[str], c: int) -> str:
    return f"`{names[c]}`" if c < len(names) else str(c + 1)


SAMPLE_CSV_CHARS = 2**20
"""How much of a csv over MAX_CSV_BYTES validation reads (whole records, after the header): its rows are checked as
a run checks them, and the row count is estimated from them. A record that is not whole within MAX_CSV_BYTES +
SAMPLE_CSV_CHARS characters (a header of a million columns) is not judged."""


class _Head:
    """The lines of a text file, as csv_records takes them, up to `budget` characters in all: a large csv is read
    by the same reader as a small one (a leading blank line, CR-only line endings, quoted newlines), its first
    records only. `cut` when the budget ended inside a line (the record that holds it is incomplete)."""

    def __init__(self, fh: Any, budget: int) -> None:
        self.fh, self.budget, self.chars, self.nbytes, self.cut = fh, budget, 0, 0, False

    def __iter__(self) -> _Head:
        return self

    def __next__(self) -> str:
        if self.cut or self.chars >= self.budget:
            self.cut = True
            raise StopIteration
        line = self.fh.readline(self.budget - self.chars)
        if not line:
            raise StopIteration
        self.chars += len(line)
        self.nbytes += len(line.encode("utf-8", "surrogatepass"))
        if self.chars >= self.budget and not line.endswith(("\n", "\r")):
            self.cut = True
        return line


def _csv_facts(s: Any, full: Path, facts: DataFacts, doc: Located, out: list[Diagnostic]) -> None:
    """Rows, columns and the target column's range of a csv source. A file over MAX_CSV_BYTES: its header and
    target checked, and its first records (SAMPLE_CSV_CHARS) read as a run reads them, the rows estimated."""
    head: _Head | None = None
    try:
        with open_regular(full) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
            size = os.fstat(raw.fileno()).st_size
            head = _Head(fh, MAX_CSV_BYTES + SAMPLE_CSV_CHARS) if size > MAX_CSV_BYTES else None  # not read whole
            rows = csv_records(head if head is not None else fh, s.delimiter)
            first = next(rows, None)
            if head is not None and (first is None or head.cut):  # no whole first record: nothing to say
                return
            if first is None:
                out.append(_diag(doc, ("data", "source", "path"), f"`{s.path}` is empty", code="data"))
                return
            width = len(first[1])
            names = [c.strip() for c in first[1]] if s.header else []
            col = (names.index(s.target) if s.target in names else None) if isinstance(s.target, str) \
                else (s.target % width if -width <= s.target < width else None)
            data_rows = rows if s.header else itertools.chain([first], rows)
            if isinstance(s.target, str) and names.count(s.target) > 1:  # as a run refuses it
                out.append(_diag(doc, ("data", "source", "target"), f"`{s.path}`:1: column `{s.target}` appears "
                                 f"{names.count(s.target)} times in the header; name the target by its index",
                                 code="data"))
                return
            count, target, features = 0, _Range(), _Range()
            for line, row in data_rows:
                if head is not None and head.cut:  # the budget ended inside this record
                    break
                count += 1
                if col is not None:  # a bad cell or row: a run stops there, so validation says so (once)
                    try:
                        values = csv_row(row, width, names, col, s.target_type)
                    except ValueError as exc:
                        out.append(_diag(doc, ("data", "source", "path"), f"`{s.path}`:{line}: {exc}", code="data"))
                        return
                    target.add(values[col], f"line {line}")
                    features.add_all(values[:col] + values[col + 1:], f"line {line}")
                if head is not None and head.chars >= SAMPLE_CSV_CHARS:
                    break
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        if head is not None and head.cut:  # a record cut by the budget: the rest of the file would complete it
            return
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
    if head is not None:  # a large file: its width is known, its rows estimated (the memory check), not counted
        facts.approx_samples = size * max(count, 1) // max(head.nbytes, 1)
        facts.features = (width - 1,)
        return
    if count < 1:
        out.append(_diag(doc, ("data", "source", "path"), f"`{s.path}` has no data rows", code="data"))
        return
    facts.samples, facts.features = count, (width - 1,)
    facts.targets, facts.target_kind = (), ("class" if s.target_type == "class_index" else None)
    if target.low is not None:
        column = f"column `{names[col]}`" if names else f"column {col}"  # type: ignore[index]
        facts.target_values = (target.low, target.high, f"`{s.path}` {column}")  # type: ignore[assignment]
        facts.target_fraction = target.fraction
    if features.low is not None:
        facts.feature_values = (features.low, features.high, f"`{s.path}`")  # type: ignore[assignment]
        facts.feature_fraction = features.fraction


class _Range:
    """The smallest and largest value of a column (or columns), with their lines, and the first value that is not a
    whole number (each value a finite number: csv_row)."""

    def __init__(self) -> None:
        self.low: tuple[float, str] | None = None
        self.high: tuple[float, str] | None = None
        self.fraction: tuple[float, str] | None = None

    def add(self, v: float, line: str) -> None:
        if self.low is None or v < self.low[0]:
            self.low = (v, line)
        if self.high is None or v > self.high[0]:
            self.high = (v, line)
        if self.fraction is None and not v.is_integer():
            self.fraction = (v, line)

    def add_all(self, values: list[float], line: str) -> None:
        if values:
            self.add(min(values), line)
            self.add(max(values), line)
            if self.fraction is None:
                self.fraction = next(((v, line) for v in values if not v.is_integer()), None)


def apply_preprocessing(recipe: Recipe, facts: DataFacts, doc: Located, out: list[Diagnostic]) -> None:
    """The preprocessing steps applied to `facts` (one_hot changes the targets); misuse appended to `out`."""
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


def total_steps(recipe: Recipe, n_train: int | None) -> int | None:
    """Optimizer steps of the whole run (None when epochs are given and the training samples are unknown)."""
    if recipe.training.steps is not None:
        return recipe.training.steps
    if n_train is None:
        return None
    b = recipe.data.batch_size
    per_epoch = n_train // b if recipe.data.drop_last else math.ceil(n_train / b)
    return (recipe.training.epochs or 0) * per_epoch or None

