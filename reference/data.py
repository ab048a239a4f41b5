"""A recipe's data, prepared once and identically for every backend: source, split, preprocessing, batches.

Every random choice comes from the standard's streams (reference/random.py): synthetic samples
("data", "synthetic"), the split ("data", "split"), the order of epoch e ("data", "order", e).
`Dataset.batch(step)` maps a global optimizer step to its batch without state, which makes resume
exact: a resumed run asks for the same batches an uninterrupted one would.
Bad input files are reported as `DataError`s that name the file (and line), never as tracebacks. A file
is opened only if it is a regular file (a FIFO would block forever), an .npz only after its headers
were checked against the bytes it really holds (spec/npy.py), and a file's data only if it fits the
memory limit (spec/resources.py) before anything is allocated; a csv is read in two passes, counting
then filling one array, so its text is never held in memory.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lockstep.reference.random import stream
from lockstep.spec import resources as memory
from lockstep.spec.documents import Recipe, Training
from lockstep.spec.files import NotRegularFileError, file_kind, open_regular
from lockstep.spec.formats import plural
from lockstep.spec.losses import CLASS_INDEX_LOSSES
from lockstep.spec.npy import read_npz_header
from lockstep.spec.paths import resolve_path
from lockstep.spec.semantics.data import LARGEST_CLASS, WIDE_FLOAT, class_index_range, csv_records, csv_row

PROBABILITY_LOSSES = ("binary_crossentropy", "categorical_crossentropy")  # targets are probabilities in [0, 1]


class DataError(Exception):
    """Bad data input; the message names the file (and line) and what is wrong."""


# ------------------------------------------------------------------------------------------ sources
def _phi(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def _classes_from_score(score: np.ndarray, k: int) -> np.ndarray:
    if k == 2:
        return (score > 0).astype(np.int64)
    return np.minimum((k * _phi(score)).astype(np.int64), k - 1)


def load_source(recipe: Recipe, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of the whole source, before split and preprocessing (`SOURCES` by type).

    Synthetic sources draw, in this order, from stream (seed, "data", "synthetic"): classification:
    centres [K, *shape], labels [n], noise [n, *shape]; regression: x [n, *shape], W [in, targets],
    noise [n, targets]; sequences: tokens [n, length] or values [n, length, features].
    """
    kind = recipe.data.source.type
    if kind not in SOURCES:
        raise DataError(f"no reference implementation for data source `{kind}`")
    return SOURCES[kind](recipe, base_dir)


def _synthetic_classification(recipe: Recipe, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    s = recipe.data.source
    rng = stream(recipe.seed, "data", "synthetic")
    centres = rng.normal(0.0, s.separation, size=(s.num_classes, *s.shape))
    y = rng.integers(0, s.num_classes, size=s.num_samples)
    x = centres[y] + rng.normal(size=(s.num_samples, *s.shape))
    return x, y


def _synthetic_regression(recipe: Recipe, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    s = recipe.data.source
    rng = stream(recipe.seed, "data", "synthetic")
    x = rng.normal(size=(s.num_samples, *s.shape))
    n_in = int(np.prod(s.shape))
    w = rng.normal(0.0, 1.0 / math.sqrt(n_in), size=(n_in, s.targets))
    y = x.reshape(s.num_samples, -1) @ w + s.noise * rng.normal(size=(s.num_samples, s.targets))
    return x, y


def _synthetic_sequences(recipe: Recipe, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    s = recipe.data.source
    rng = stream(recipe.seed, "data", "synthetic")
    if s.vocab_size:
        x = rng.integers(0, s.vocab_size, size=(s.num_samples, s.length))
        centred = x - (s.vocab_size - 1) / 2.0
        spread = math.sqrt((s.vocab_size**2 - 1) / 12.0 * s.length) or 1.0
        return x, _classes_from_score(centred.sum(axis=1) / spread, s.num_classes)
    x = rng.normal(size=(s.num_samples, s.length, s.features))
    return x, _classes_from_score(x[..., 0].sum(axis=1) / math.sqrt(s.length), s.num_classes)


def _dataset(recipe: Recipe, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    s = recipe.data.source
    images, targets = load_digits()
    return (images.reshape(-1, 64) if s.shape == "flat" else images[:, None]), targets


def _file(recipe: Recipe, base_dir: Path) -> Path:
    """The source's file, resolved against the recipe's folder: a regular file, or a DataError naming it."""
    s = recipe.data.source
    try:
        path = resolve_path(base_dir, s.path)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    if not path.is_file():
        try:
            kind = file_kind(path.stat().st_mode)
        except OSError:
            raise DataError(f"{path}: no such data file (from `data.source.path: {s.path}`)") from None
        raise DataError(f"{path}: is {kind}, not a regular file: refusing to read it (from `data.source.path: "
                        f"{s.path}`)")
    return path


def _probabilities(recipe: Recipe) -> bool:
    return recipe.loss.type in PROBABILITY_LOSSES and not any(p.type == "one_hot" for p in recipe.data.preprocessing)


def _npz(recipe: Recipe, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    s = recipe.data.source
    return _load_npz(_file(recipe, base_dir), s.features, s.targets, probabilities=_probabilities(recipe))


def _csv(recipe: Recipe, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    s = recipe.data.source
    path = _file(recipe, base_dir)
    return _load_csv(path, s.target, s.header, s.delimiter, s.target_type, probabilities=_probabilities(recipe),
                     loss=recipe.loss.type)


SOURCES: dict[str, Callable[[Recipe, Path], tuple[np.ndarray, np.ndarray]]] = {
    "synthetic_classification": _synthetic_classification, "synthetic_regression": _synthetic_regression,
    "synthetic_sequences": _synthetic_sequences, "npz": _npz, "csv": _csv, "dataset": _dataset}
"""Every data source of spec v1, by type: `fn(recipe, base_dir) -> (features, targets)` of the whole source."""


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits dataset: images float64 [1797, 8, 8] (0..16) and int64 targets [1797]."""
    with resources.files("lockstep.reference").joinpath("datasets/digits.npz").open("rb") as fh, \
            np.load(fh, allow_pickle=False) as z:
        return z["images"].astype(np.float64), z["targets"].astype(np.int64)


@contextlib.contextmanager
def load_npz(fh: Any) -> Iterator[Any]:
    """np.load(fh) of an .npz, its arrays read within the block: numpy's notice that a header was written by
    Python 2 (`(3L,)`, which it reads, as validation does) is not printed beside lockstep's own output."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Reading `.npy` or `.npz` file required additional header parsing",
                                UserWarning)
        with np.load(fh, allow_pickle=False) as z:
            yield z


def _fits_memory(path: Path, what: str, values: int) -> None:
    """DataError unless `values` float64 numbers, in the copies data preparation makes, fit the memory limit."""
    try:
        limit = memory.memory_limit()
    except ValueError as exc:
        raise DataError(f"{memory.ENV}: {exc}") from None
    need = values * memory.FEATURE_COPIES * memory.FLOAT_BYTES
    if limit.bytes is not None and need > limit.bytes:
        raise DataError(f"{path}: {what} need about {memory.format_bytes(need)} once prepared in float64, more "
                        f"than the memory limit of {memory.format_bytes(limit.bytes)} ({limit.source})")


def _load_npz(path: Path, features: str, targets: str, *, probabilities: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    try:
        arrays = read_npz_header(path)  # every header against the bytes really there, before numpy allocates
    except ValueError as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    missing = [k for k in (features, targets) if k not in arrays]
    if missing:
        raise DataError(f"{path}: no array named {' or '.join(map(repr, missing))} "
                        f"(it holds {', '.join(map(repr, arrays)) or 'nothing'})")
    _fits_memory(path, f"`{features}` {list(arrays[features].shape)} and `{targets}` {list(arrays[targets].shape)}",
                 math.prod(arrays[features].shape) + math.prod(arrays[targets].shape))
    try:
        with open_regular(path) as fh, load_npz(fh) as z:
            x, y = z[features], z[targets]
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    for key, a in ((features, x), (targets, y)):
        if a.ndim == 0:
            raise DataError(f"{path}: `{key}` is a scalar; it needs a leading sample axis")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
            raise DataError(f"{path}: `{key}` has dtype {a.dtype}; it must be real numbers")
        if np.issubdtype(a.dtype, np.floating) and a.dtype.itemsize > 8:
            raise DataError(f"{path}: `{key}` is {a.dtype}: {WIDE_FLOAT}")
        if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
            first = np.argwhere(~np.isfinite(a))[0]
            raise DataError(f"{path}: `{key}` holds a non-finite value at index {tuple(int(i) for i in first)}")
    if len(x) != len(y):
        raise DataError(f"{path}: `{features}` has {plural(len(x), 'sample')} but `{targets}` has {len(y)}")
    if probabilities and y.size and (y.min() < 0 or y.max() > 1):
        first = np.argwhere((y < 0) | (y > 1))[0]
        index = tuple(int(i) for i in first)
        raise DataError(f"{path}: `{targets}` holds {y[index]:g} at index {index}, outside [0, 1]: the loss takes "
                        "probabilities (or 0/1 labels) as targets")
    return x, y


def _load_csv(path: Path, target: str | int, header: bool, delimiter: str, target_type: str = "float", *,
              probabilities: bool = False, loss: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Two passes: count the records (nothing kept), check the memory, then parse into one float64 array."""
    names: list[str] = []
    count, width, named = 0, 0, not header
    try:
        with open_regular(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
            for _line, row in csv_records(fh, delimiter):
                if not named:
                    names, width, named = [c.strip() for c in row], len(row), True
                    continue
                width = width or len(row)
                count += 1
    except NotRegularFileError as exc:
        raise DataError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if not named:
        raise DataError(f"{path}: empty file (a header line was expected)")
    if isinstance(target, str):
        if not header:
            raise DataError(f"{path}: the target column is named (`{target}`) but `header` is false; "
                            "give its index instead")
        if target not in names:
            raise DataError(f"{path}:1: no column `{target}` (columns: {', '.join(names)})")
        if names.count(target) > 1:
            raise DataError(f"{path}:1: column `{target}` appears {names.count(target)} times in the header; "
                            "name the target by its index")
        col = names.index(target)
    else:
        col = target
    if not count:
        raise DataError(f"{path}: no data rows")
    if not -width <= col < width:
        raise DataError(f"{path}: target column {col} is outside the {width} columns")
    col %= width
    _fits_memory(path, f"{count:,} rows of {width} columns", count * width)
    values = np.empty((count, width))
    try:
        with open_regular(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
            records = csv_records(fh, delimiter)
            if header:
                next(records, None)
            r = -1
            for r, (line, row) in enumerate(records):
                if r >= count:
                    raise DataError(f"{path}: the file grew while it was read")
                values[r] = _parse_row(path, line, row, width, names, col, target_type, probabilities, loss)
            if r + 1 != count:
                raise DataError(f"{path}: the file shrank while it was read")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    y = values[:, col]
    return np.delete(values, col, axis=1), (y.astype(np.int64) if target_type == "class_index" else y)


def _parse_row(path: Path, line: int, row: list[str], width: int, names: list[str], col: int, target_type: str,
               probabilities: bool, loss: str) -> list[float]:
    try:
        return csv_row(row, width, names, col, target_type, probabilities, loss)
    except ValueError as exc:
        raise DataError(f"{path}:{line}: {exc}") from None


# ------------------------------------------------------------------------------------------ batches
@dataclass
class Dataset:
    """The prepared training and evaluation arrays and the standard's batch order over them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray  # the validation split, or the training split when there is none
    y_eval: np.ndarray
    batch_size: int
    shuffle: bool
    drop_last: bool
    seed: int
    held_out: bool = False  # whether x_eval is a validation split (False: it is the training data)

    @property
    def steps_per_epoch(self) -> int:
        n = len(self.x_train)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def total_steps(self, training: Training) -> int:
        """Optimizer steps of a run: `training.steps`, or `epochs` full passes."""
        return training.steps if training.steps is not None else (training.epochs or 0) * self.steps_per_epoch

    def order(self, epoch: int) -> np.ndarray:
        """Sample order of `epoch`: stream (seed, "data", "order", str(epoch)).permutation(n), or identity."""
        cached = self.__dict__.get("_order")
        if cached is not None and cached[0] == epoch:
            return cached[1]
        n = len(self.x_train)
        order = stream(self.seed, "data", "order", str(epoch)).permutation(n) if self.shuffle else np.arange(n)
        self.__dict__["_order"] = (epoch, order)  # one permutation per epoch, not per step
        return order

    def batch(self, step: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(epoch, x, y) of global optimizer step `step` (0-based); a pure function of the step."""
        epoch, i = divmod(step, self.steps_per_epoch)
        idx = self.order(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        return epoch, self.x_train[idx], self.y_train[idx]

    batches = batch  # the name the runner issue uses


# -------------------------------------------------------------------------------------------- prepare
def prepare(recipe: Recipe, base_dir: Path, input_dtype: str = "float", *,
            input_shape: tuple[int, ...] | None = None, output_shape: tuple[int, ...] | None = None,
            vocabulary: int | None = None) -> Dataset:
    """Load, split, preprocess and cast the recipe's data.

    `input_dtype` is the model input's dtype (`int64` token indices are not preprocessed). With the
    model's per-sample `input_shape`/`output_shape`, the data is checked against them (file sources
    cannot be checked statically) and 1-D float targets become [n, 1] only where the model outputs [1];
    with `vocabulary` (the smallest input_dim of the embeddings the input feeds), every token index against it.
    """
    x, y = load_source(recipe, base_dir)
    where = _describe(recipe, base_dir)
    n = len(x)
    perm = stream(recipe.seed, "data", "split").permutation(n)
    n_eval = recipe.data.split.held_out(n)
    if n - n_eval < 1:
        raise DataError(f"{where}: {plural(n, 'sample')} leave{'s' * (n == 1)} no training sample after holding "
                        f"out {n_eval}")
    train, held = perm[: n - n_eval], perm[n - n_eval:]
    x_train, y_train = x[train], y[train]
    x_eval, y_eval = (x[held], y[held]) if n_eval else (x_train, y_train)
    if recipe.data.drop_last and len(x_train) < recipe.data.batch_size:
        raise DataError(f"{where}: batch_size {recipe.data.batch_size} exceeds the "
                        f"{plural(len(x_train), 'training sample')} and drop_last is set: no batch would remain")
    if input_shape is not None and tuple(x_train.shape[1:]) != tuple(input_shape):
        raise DataError(f"{where}: samples have shape {list(x_train.shape[1:])} but the model input has shape "
                        f"{list(input_shape)}")
    dtype = np.dtype(recipe.dtype)
    features = [p for p in recipe.data.preprocessing if p.type != "one_hot"]
    if input_dtype == "int64":
        if features:
            raise DataError(f"`{features[0].type}` preprocesses floating-point features, but the model takes "
                            "integer indices (`dtype: int64`)")
        if not np.issubdtype(x_train.dtype, np.integer) and not np.array_equal(x_train, np.round(x_train)):
            raise DataError(f"{where}: the model takes integer indices but the features are not integers")
        if vocabulary is not None:  # before the cast: 1e20 is not an int64
            for a, rows in ((x_train, train), (x_eval, held if n_eval else train)):
                _tokens_within(a, vocabulary, where, rows)
        x_train, x_eval = x_train.astype(np.int64), x_eval.astype(np.int64)
    else:
        x_train, x_eval = x_train.astype(np.float64), x_eval.astype(np.float64)
        for p in features:  # fitted on the training split only, applied to both, in float64
            x_train, x_eval = PREPROCESSING[p.type](p, x_train, x_eval)
        x_train, x_eval = _in_range(x_train, dtype, "feature", where, train), \
            _in_range(x_eval, dtype, "feature", where, held if n_eval else train)
    y_train, y_eval = _targets(recipe, y_train, where, train), \
        _targets(recipe, y_eval, where, held if n_eval else train)
    if output_shape is not None:
        y_train, y_eval = _fit_targets(recipe, y_train, tuple(output_shape), where, train), \
            _fit_targets(recipe, y_eval, tuple(output_shape), where, held if n_eval else train)
    elif y_train.ndim == 1 and recipe.loss.type not in CLASS_INDEX_LOSSES:
        y_train, y_eval = y_train[:, None], y_eval[:, None]
    return Dataset(x_train, y_train, x_eval, y_eval, recipe.data.batch_size, recipe.data.shuffle,
                   recipe.data.drop_last, recipe.seed, held_out=bool(n_eval))


def _tokens_within(a: np.ndarray, vocabulary: int, where: str, rows: np.ndarray) -> None:
    """Every token index in [0, vocabulary), or a DataError naming the first that is not (it stopped the run at its
    first batch, with a traceback, after the run folder was made)."""
    bad = (a < 0) | (a >= vocabulary)
    if a.size and bad.any():
        sample, at, first = _first_sample(bad, rows)
        raise DataError(f"{where}: sample {sample}'s token{at} is {a[first]:g}, outside the embedding's "
                        f"input_dim {vocabulary} (tokens 0 to {vocabulary - 1})")


def _standardize(p: object, x_train: np.ndarray, x_eval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x − mean) / std per feature, fitted on the training split (a constant feature keeps std 1).

    A feature whose moments overflow float64 (values beyond about 1e154 square to inf, and x / inf is 0: the
    feature silently became zeros) is computed as (x/c − mean/c) / (std/c) with c = max |x| instead, the same
    number; every other feature keeps the plain formula, bit for bit."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        wide = ~(np.isfinite(mean) & np.isfinite(std))
    if not wide.any():
        std = np.where(std > 0, std, 1.0)
        return (x_train - mean) / std, (x_eval - mean) / std
    c = np.where(wide, np.abs(x_train).max(axis=0, initial=0.0), 1.0)
    scaled_mean, scaled_std = (x_train / c).mean(axis=0), (x_train / c).std(axis=0)
    scaled_std = np.where(scaled_std > 0, scaled_std, 1.0)
    plain_std = np.where(wide, 1.0, np.where(std > 0, std, 1.0))
    plain_mean = np.where(wide, 0.0, mean)

    def apply(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # the plain columns of `wide`, discarded below
            return np.where(wide, (x / c - scaled_mean) / scaled_std, (x - plain_mean) / plain_std)

    return apply(x_train), apply(x_eval)


def _min_max(p: Any, x_train: np.ndarray, x_eval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """low + (x − min) / (max − min) · (high − low) per feature, fitted on the training split.

    Where max − min overflows float64 (−1e308 to 1e308: the feature became NaN), the quotient is taken of halves,
    (x/2 − min/2) / (max/2 − min/2), the same number; other features keep the plain formula, bit for bit."""
    lo, hi = x_train.min(axis=0, initial=np.inf), x_train.max(axis=0, initial=-np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        span = np.where(hi > lo, hi - lo, 1.0)
    wide = ~np.isfinite(span)
    if not wide.any():
        return p.low + (x_train - lo) / span * (p.high - p.low), p.low + (x_eval - lo) / span * (p.high - p.low)
    half = np.where(wide, hi / 2 - lo / 2, 1.0)
    span = np.where(wide, 1.0, span)

    def apply(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return p.low + np.where(wide, (x / 2 - lo / 2) / half, (x - lo) / span) * (p.high - p.low)

    return apply(x_train), apply(x_eval)


def _one_hot(p: Any, y: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    """Integer class targets -> one-hot rows [num_classes] in the recipe's dtype (a target step: `_targets`)."""
    y = _class_indices(y, where)
    if y.size and y.max() >= p.num_classes:
        raise DataError(f"{where}: class {int(y.max())} does not fit one_hot with num_classes {p.num_classes}")
    return np.eye(p.num_classes, dtype=dtype)[y]


PREPROCESSING: dict[str, Callable[..., Any]] = {"standardize": _standardize, "min_max": _min_max,
                                                "one_hot": _one_hot}
"""Every preprocessing step of spec v1, by type: feature steps `fn(step, x_train, x_eval) -> (x_train, x_eval)`,
fitted on the training split; `one_hot`, a target step, `fn(step, y, dtype, where) -> y`."""


def _describe(recipe: Recipe, base_dir: Path) -> str:
    s = recipe.data.source
    if s.type in ("npz", "csv"):
        try:
            return str(resolve_path(base_dir, s.path))
        except ValueError:
            return s.path
    return f"data source `{getattr(s, 'name', s.type)}`"


def _class_indices(y: np.ndarray, where: str) -> np.ndarray:
    if y.dtype == np.bool_:  # False/True are the classes 0 and 1 (a bool has no integer dtype to numpy)
        y = y.astype(np.int64)
    if y.size and (not np.issubdtype(y.dtype, np.integer)
                   and not (np.all(np.isfinite(y)) and np.array_equal(y, np.round(y)))):
        raise DataError(f"{where}: class targets must be integers")
    largest = y.max().item() if y.size else 0  # compared as a Python number: no cast of 2**63 to float16
    if largest >= LARGEST_CLASS:  # before the cast, which would wrap it to a negative number
        raise DataError(f"{where}: class target {int(largest)} is not a class index "
                        f"({class_index_range(y.dtype.kind, y.dtype.itemsize)})")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise DataError(f"{where}: class targets must be non-negative (found {int(y.min())})")
    return y


def _targets(recipe: Recipe, y: np.ndarray, where: str, rows: np.ndarray | None = None) -> np.ndarray:
    """int64 class indices for sparse losses, one-hot rows where asked, else floats in the recipe's dtype."""
    dtype = np.dtype(recipe.dtype)
    one_hot = next((p for p in recipe.data.preprocessing if p.type == "one_hot"), None)
    if one_hot is not None:
        return PREPROCESSING["one_hot"](one_hot, y, dtype, where)
    if recipe.loss.type in CLASS_INDEX_LOSSES:
        return _class_indices(y, where)
    return _in_range(y, dtype, "target", where, rows)


def _first_sample(bad: np.ndarray, rows: np.ndarray | None) -> tuple[int, str, tuple[int, ...]]:
    """Where the first True of `bad` is, as the refusals say it: its sample (`rows`: each row's index in the source;
    None: the array's own), its position within the sample (" [i, j]", or "" for a per-sample scalar) and its
    index in `bad`."""
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    if not first:  # a 0-d array
        return 0, "", first
    sample = int(rows[first[0]]) if rows is not None else first[0]
    return sample, f" {list(first[1:])}" if len(first) > 1 else "", first


def _in_range(a: np.ndarray, dtype: np.dtype, what: str, where: str, rows: np.ndarray | None = None) -> np.ndarray:
    """`a` in the recipe's dtype; a finite value beyond that dtype's range (1e300 in a float32 recipe) is refused
    here, naming its sample (`rows`: each row's index in the source), rather than becoming ±inf that stops the
    run at its first step."""
    with np.errstate(over="ignore"):
        out = a.astype(dtype)
    if np.issubdtype(dtype, np.floating) and not np.all(np.isfinite(out)):
        sample, at, first = _first_sample(~np.isfinite(out), rows)
        raise DataError(f"{where}: sample {sample}'s {what}{at} is {float(a[first]):.6g}, beyond the range of the "
                        f"recipe's dtype ({dtype}: ±{float(np.finfo(dtype).max):.6g})")
    return out


def _fit_targets(recipe: Recipe, y: np.ndarray, out: tuple[int, ...], where: str, rows: np.ndarray) -> np.ndarray:
    """Check targets against the model's per-sample output shape (class axis last); a class beyond the outputs names
    its sample (`rows`: each row's index in the source), as a value beyond the dtype's range does."""
    if recipe.loss.type in CLASS_INDEX_LOSSES:
        if tuple(y.shape[1:]) != out[:-1]:
            raise DataError(f"{where}: class targets have shape {list(y.shape[1:])} per sample; a model output "
                            f"of shape {list(out)} needs {list(out[:-1])}")
        if out and y.size and y.max() >= out[-1]:
            sample, at, first = _first_sample(y >= out[-1], rows)
            raise DataError(f"{where}: sample {sample}'s class{at} {int(y[first])} is out of range for a "
                            f"model with {out[-1]} outputs (classes 0 to {out[-1] - 1})")
        return y
    if y.ndim == 1 and out == (1,):
        y = y[:, None]
    if tuple(y.shape[1:]) != out:
        raise DataError(f"{where}: targets have shape {list(y.shape[1:])} per sample but the model outputs "
                        f"shape {list(out)}")
    return y
