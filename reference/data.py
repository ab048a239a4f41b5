"""A recipe's data, prepared once and identically for every backend: source, split, preprocessing, batches.

Every random choice comes from the standard's streams (reference/random.py): synthetic samples
("data", "synthetic"), the split ("data", "split"), the order of epoch e ("data", "order", e).
`batch(step)` maps a global optimizer step to its batch without state, which makes resume exact.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from lockstep.reference.random import stream
from lockstep.spec.documents import Recipe
from lockstep.spec.losses import CLASS_INDEX_LOSSES
from lockstep.spec.semantics import resolve_path


class DataError(Exception):
    """Bad data input; the message names the file (and line) and what is wrong."""


def _phi(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def _classes_from_score(score: np.ndarray, k: int) -> np.ndarray:
    if k == 2:
        return (score > 0).astype(np.int64)
    return np.minimum((k * _phi(score)).astype(np.int64), k - 1)


def load_source(recipe: Recipe, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of the whole source (before split and preprocessing)."""
    s = recipe.data.source
    rng = stream(recipe.seed, "data", "synthetic")
    if s.type == "synthetic_classification":
        centres = rng.normal(0.0, s.separation, size=(s.num_classes, *s.shape))
        y = rng.integers(0, s.num_classes, size=s.num_samples)
        x = centres[y] + rng.normal(size=(s.num_samples, *s.shape))
        return x, y
    if s.type == "synthetic_regression":
        x = rng.normal(size=(s.num_samples, *s.shape))
        n_in = int(np.prod(s.shape))
        w = rng.normal(0.0, 1.0 / math.sqrt(n_in), size=(n_in, s.targets))
        y = x.reshape(s.num_samples, -1) @ w + s.noise * rng.normal(size=(s.num_samples, s.targets))
        return x, y
    if s.type == "synthetic_sequences":
        if s.vocab_size:
            x = rng.integers(0, s.vocab_size, size=(s.num_samples, s.length))
            centred = x - (s.vocab_size - 1) / 2.0
            spread = math.sqrt((s.vocab_size**2 - 1) / 12.0 * s.length) or 1.0
            return x, _classes_from_score(centred.sum(axis=1) / spread, s.num_classes)
        x = rng.normal(size=(s.num_samples, s.length, s.features))
        return x, _classes_from_score(x[..., 0].sum(axis=1) / math.sqrt(s.length), s.num_classes)
    if s.type == "dataset":
        with resources.files("lockstep.reference").joinpath("datasets/digits.npz").open("rb") as fh, \
                np.load(fh) as z:
            images, targets = z["images"].astype(np.float64), z["targets"].astype(np.int64)
        return (images.reshape(-1, 64) if s.shape == "flat" else images[:, None]), targets
    try:
        path = resolve_path(base_dir, s.path)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    if s.type == "npz":
        return _load_npz(path, s.features, s.targets)
    return _load_csv(path, s.target, s.header, s.delimiter)


def _load_npz(path: Path, features: str, targets: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in (features, targets) if k not in z.files]
            if missing:
                raise DataError(f"{path}: no array named {', '.join(map(repr, missing))} (it has {z.files})")
            x, y = z[features], z[targets]
    except DataError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    if len(x) != len(y):
        raise DataError(f"{path}: `{features}` has {len(x)} samples but `{targets}` has {len(y)}")
    if not np.issubdtype(x.dtype, np.number) or not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{path}: arrays must be numeric")
    return x, y


def _load_csv(path: Path, target: str | int, header: bool, delimiter: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh, delimiter=delimiter))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    first = 0
    names: list[str] = []
    if header:
        if not rows:
            raise DataError(f"{path}: empty file")
        names, first = [c.strip() for c in rows[0]], 1
    if isinstance(target, str):
        if target not in names:
            raise DataError(f"{path}:1: no column `{target}` (columns: {', '.join(names)})")
        col = names.index(target)
    else:
        col = target
    values = []
    width = None
    for i, row in enumerate(rows[first:], start=first + 1):
        if not row or all(not c.strip() for c in row):
            continue
        if width is None:
            width = len(row)
            if not -width <= col < width:
                raise DataError(f"{path}:{i}: target column {col} is outside the {width} columns")
        if len(row) != width:
            raise DataError(f"{path}:{i}: {len(row)} cells, expected {width}")
        try:
            values.append([float(c) for c in row])
        except ValueError:
            bad = next(c for c in row if not _is_float(c))
            raise DataError(f"{path}:{i}: `{bad}` is not a number") from None
    if not values:
        raise DataError(f"{path}: no data rows")
    a = np.array(values)
    col %= a.shape[1]
    return np.delete(a, col, axis=1), a[:, col]


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    batch_size: int
    shuffle: bool
    drop_last: bool
    seed: int

    @property
    def steps_per_epoch(self) -> int:
        n = len(self.x_train)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        n = len(self.x_train)
        return stream(self.seed, "data", "order", str(epoch)).permutation(n) if self.shuffle else np.arange(n)

    def batch(self, step: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(epoch, x, y) of global optimizer step `step` (0-based)."""
        epoch, i = divmod(step, self.steps_per_epoch)
        idx = self.order(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        return epoch, self.x_train[idx], self.y_train[idx]


def prepare(recipe: Recipe, base_dir: Path, input_dtype: str = "float") -> Dataset:
    x, y = load_source(recipe, base_dir)
    n = len(x)
    perm = stream(recipe.seed, "data", "split").permutation(n)
    n_eval = math.ceil(n * recipe.data.split.validation)
    train, held = perm[: n - n_eval], perm[n - n_eval:]
    x_train, y_train = x[train], y[train]
    x_eval, y_eval = (x[held], y[held]) if n_eval else (x_train, y_train)
    dtype = np.dtype(recipe.dtype)
    if input_dtype != "int64":
        x_train, x_eval = x_train.astype(np.float64), x_eval.astype(np.float64)
        for p in recipe.data.preprocessing:
            if p.type == "standardize":
                mean, std = x_train.mean(axis=0), x_train.std(axis=0)
                std = np.where(std > 0, std, 1.0)
                x_train, x_eval = (x_train - mean) / std, (x_eval - mean) / std
            elif p.type == "min_max":
                lo, hi = x_train.min(axis=0), x_train.max(axis=0)
                span = np.where(hi > lo, hi - lo, 1.0)
                x_train = p.low + (x_train - lo) / span * (p.high - p.low)
                x_eval = p.low + (x_eval - lo) / span * (p.high - p.low)
        x_train, x_eval = x_train.astype(dtype), x_eval.astype(dtype)
    else:
        x_train, x_eval = x_train.astype(np.int64), x_eval.astype(np.int64)
    one_hot = next((p for p in recipe.data.preprocessing if p.type == "one_hot"), None)
    if one_hot is not None:
        eye = np.eye(one_hot.num_classes, dtype=dtype)
        y_train, y_eval = eye[y_train.astype(np.int64)], eye[y_eval.astype(np.int64)]
    elif recipe.loss.type in CLASS_INDEX_LOSSES:
        y_train, y_eval = y_train.astype(np.int64), y_eval.astype(np.int64)
    else:
        y_train, y_eval = y_train.astype(dtype), y_eval.astype(dtype)
    if recipe.loss.type == "binary_crossentropy" and y_train.ndim == 1:
        y_train, y_eval = y_train[:, None], y_eval[:, None]
    return Dataset(x_train, y_train, x_eval, y_eval, recipe.data.batch_size, recipe.data.shuffle,
                   recipe.data.drop_last, recipe.seed)
