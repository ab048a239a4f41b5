"""The PyTorch adapter (needs `pip install 'lockstep[torch]'`)."""

from lockstep.adapters.torch.adapter import TorchAdapter

__all__ = ["TorchAdapter"]
