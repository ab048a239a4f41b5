"""What a layer's forward needs besides its inputs and parameters, and the types every layer module shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Params = dict[str, np.ndarray]
"""A layer's parameters (or their gradients) by short name: `weight`, `bias`, `weight_ih`, ..."""

Cache = Any
"""Whatever a layer's forward keeps for its backward; opaque to everyone else."""

Gradients = tuple[list[np.ndarray | None], Params]
"""A backward's result: d/d each input (None for integer inputs), d/d each parameter."""


@dataclass
class ForwardContext:
    """Mode and per-step state: kept out of the parameters because they are not trained.

    `buffers` are this layer's buffers under their short names (`running_mean`); batch norm updates
    them in place in training, so the caller's arrays see the new running statistics.
    `dropout_mask` is the standard's keep-mask for this layer and step (batch axis first), drawn by the
    runner from `reference.random.dropout_mask` so every backend drops the same units.
    """

    training: bool = False
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    dropout_mask: np.ndarray | None = None
