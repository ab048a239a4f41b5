"""The PyTorch adapter (`pip install 'lockstep-standard[torch]'`): `--backend torch`.

Importing this package does not import torch; `TorchAdapter` does, on first access, so a missing torch
surfaces as one ModuleNotFoundError naming `torch` (which the registry turns into an install hint).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockstep.adapters.torch.adapter import TorchAdapter

__all__ = ["TorchAdapter"]


def __getattr__(name: str) -> Any:
    if name == "TorchAdapter":
        from lockstep.adapters.torch.adapter import TorchAdapter

        return TorchAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
