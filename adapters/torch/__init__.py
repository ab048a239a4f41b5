"""The PyTorch adapter (`pip install 'lockstep-standard[torch]'`): `--backend torch`.

Importing this package does not import torch; `TorchAdapter` does, on first access, so a missing torch
surfaces as one ModuleNotFoundError naming `torch` (which the registry turns into an install hint).

OpenMP reads `OMP_WAIT_POLICY` once, when torch loads it, so this package sets it before that import and only
where the user has not: `PASSIVE` makes idle OpenMP threads sleep instead of spinning. The runner gives torch
one intra-op thread per usable CPU (`--threads`); with the default active policy, a spinning thread that
shares its core with another process stalls every parallel region (measured on a busy 2-core machine:
lstm-sequences at 62 ms/step with 2 spinning threads, 4 ms/step passive, 2 ms/step with 1 thread;
docs/benchmarks.md). Results do not depend on it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

#: whether torch was imported before this package (then the default below came too late)
IMPORTED_BEFORE_ADAPTER = "torch" in sys.modules
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if TYPE_CHECKING:
    from lockstep.adapters.torch.adapter import TorchAdapter

__all__ = ["TorchAdapter"]


def __getattr__(name: str) -> Any:
    if name == "TorchAdapter":
        from lockstep.adapters.torch.adapter import TorchAdapter

        return TorchAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
