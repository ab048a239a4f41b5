"""What every TensorFlow layer file shares: `Slot` (canonical parameter <-> Keras variable) and layouts.

A canonical parameter (spec/layers.py: name, shape, layout) lives in Keras as a whole variable, a
transpose of one (conv kernels `[kh, kw, in, out]` vs `[out, in, kh, kw]`), a reshape (attention's
`[E, heads, head_dim]` kernels), columns reordered (GRU gates z, r, h vs r, z, n) or one row of a
fused variable (GRU's bias `[2, 3H]`). A `Slot` stores that map once, as the flat positions in the
variable of each canonical element, so parameters, gradients and optimizer state (all laid out like
the variable) convert through one description and never through copies of the rules.

Activations: the standard is channels-first, but TensorFlow's CPU convolution and pooling kernels
only run channels-last (NHWC). Each layer file says which layout it computes in (`LAYOUT`):
"channels_last" (conv, pools), "any" (elementwise layers, batch norm, global pooling: they follow
their input), or "channels_first" (everything whose meaning depends on axis order: flatten, reshape,
dense over the last axis, softmax axes, ...). The model transposes only where a layer needs the other
layout, so conv -> batch norm -> relu -> conv runs channels-last throughout, as a hand-written Keras
model would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Layout = Literal["channels_first", "channels_last", "any"]

PLACEHOLDER = "zeros"
"""The initializer of every Keras variable that holds a canonical parameter. The standard's initial parameters
(the reference's initializers, `set_parameters`) overwrite each one before any use, so Keras's random
initializers (glorot_uniform, orthogonal: a QR decomposition) would only cost time: about a fifth of building a
small session (docs/adapters/tensorflow.md, "Initial values"). Only for layers all of whose variables are slots."""


@dataclass(frozen=True)
class Slot:
    """A canonical parameter as `variable.flat[index]`; `index is None` means the whole variable as is."""

    variable: Any  # keras.Variable
    index: np.ndarray | None = None

    @classmethod
    def of(cls, variable: Any, view: Callable[[np.ndarray], np.ndarray] | None = None) -> Slot:
        """The slot whose canonical array is `view(native array)` (transposes, reshapes, slices, reorders)."""
        if view is None:
            return cls(variable)
        positions = np.arange(int(np.prod(variable.shape)), dtype=np.int64).reshape(tuple(variable.shape))
        return cls(variable, np.ascontiguousarray(view(positions)))

    def view(self, native: np.ndarray) -> np.ndarray:
        """The canonical float64 copy of an array laid out like the variable (its value, gradient or state)."""
        a = np.asarray(native, dtype=np.float64)
        return a.copy() if self.index is None else a.reshape(-1)[self.index]

    def write(self, native: np.ndarray, value: np.ndarray) -> None:
        """Write a canonical-layout value into `native` (an array laid out like the variable), in place."""
        value = np.asarray(value)
        shape = tuple(native.shape) if self.index is None else self.index.shape
        if value.shape != shape:
            raise ValueError(f"canonical shape {list(shape)} expected, got {list(value.shape)}")
        if self.index is None:
            native[...] = value
        else:
            native.reshape(-1)[self.index] = value


Slots = dict[str, Slot]


def batched_axis(axis: int) -> int:
    """A per-sample axis (spec) as an axis of the batched tensor."""
    return axis if axis < 0 else axis + 1


def to_channels_last(rank: int) -> list[int]:
    """Permutation of a batched tensor of `rank` axes moving the channel axis (1) to the end."""
    return [0, *range(2, rank), 1]


def to_channels_first(rank: int) -> list[int]:
    """Inverse of `to_channels_last`."""
    return [0, rank - 1, *range(1, rank - 1)]


def gate_columns(units: int, order: tuple[int, ...]) -> np.ndarray:
    """Column positions that put Keras's gate blocks (each `units` wide) into the standard's gate order."""
    return np.concatenate([np.arange(g * units, (g + 1) * units) for g in order])
