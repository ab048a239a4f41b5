"""The TensorFlow adapter (`pip install 'lockstep-standard[tensorflow]'`): `--backend tensorflow`.

Importing this package does not import TensorFlow; `TensorFlowAdapter` does, on first access, so a
missing TensorFlow surfaces as one ModuleNotFoundError naming `tensorflow` (which the registry turns
into an install hint).

TensorFlow reads two environment variables once, when it is first imported, so this package sets them
before that import and only where the user has not (docs/adapters/tensorflow.md, "Environment"):
`TF_CPP_MIN_LOG_LEVEL=2` silences the C++ start-up chatter that would otherwise interleave with the
runner's progress display; `TF_ENABLE_ONEDNN_OPTS=0` turns off oneDNN's custom CPU kernels, whose
float32 results depend on the thread count (measured: small-cnn's final float32 loss changes in the 7th
digit between 1 and 2 intra-op threads with oneDNN, not at all without it) and which are not faster for
Lockstep's small models. Float64 results are the same either way.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockstep.adapters.tensorflow.adapter import TensorFlowAdapter

#: whether TensorFlow was imported before this package (then the defaults below came too late)
IMPORTED_BEFORE_ADAPTER = "tensorflow" in sys.modules
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__all__ = ["TensorFlowAdapter"]


def __getattr__(name: str) -> Any:
    if name == "TensorFlowAdapter":
        import tensorflow  # noqa: F401  - first: without TensorFlow, the missing module is said to be it, not keras

        from lockstep.adapters.tensorflow.adapter import TensorFlowAdapter

        return TensorFlowAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
