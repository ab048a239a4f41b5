"""What a layer's forward needs besides its inputs and parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ForwardContext:
    training: bool = False
    buffers: dict[str, np.ndarray] = field(default_factory=dict)  # updated in place when training
    dropout_mask: np.ndarray | None = None  # keep-mask for this layer and step (training only)
