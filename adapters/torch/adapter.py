"""The PyTorch adapter: every v1 construct on native torch.nn / torch.optim, CPU and CUDA, float32/64."""

from __future__ import annotations

import torch

from lockstep import __version__
from lockstep.adapters.base import NATIVE, Adapter, Session, Support
from lockstep.adapters.torch.session import TorchSession

SUBCLASS = {
    "conv1d": "explicit F.pad before the native conv when 'same' padding is asymmetric",
    "conv2d": "explicit F.pad before the native conv when 'same' padding is asymmetric",
    "max_pool2d": "F.pad with -inf before the native pool (torch pads symmetrically, at most k/2)",
    "avg_pool2d": "asymmetric padding: native window sum divided by the native count of in-bounds positions",
    "dropout": "the standard's keep-mask replaces torch's RNG",
    "lstm": "bias_hh held at zero and frozen: the standard has one bias",
    "binary_crossentropy": "label smoothing applied to the targets before the native loss",
    "categorical_crossentropy": "from probabilities: -Σ t log p in torch ops (no native loss)",
    "global_norm": "norm from get_total_norm; max_norm rescaled to cancel torch's +1e-6",
    "cosine": "closed form per step (CosineAnnealingLR is periodic past T_max)",
    "warmup": "closed form per step (LinearLR rejects start_factor 0)",
}


class TorchAdapter(Adapter):
    name = "torch"

    def versions(self) -> dict[str, str]:
        return {"lockstep": __version__, "torch": torch.__version__}

    def devices(self) -> list[str]:
        return ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]

    def support(self, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        if device != "cpu" and not device.startswith("cuda"):
            return Support("unsupported", f"unknown device {device}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            return Support("unsupported", "no CUDA device")
        if construct in SUBCLASS:
            return Support("subclass", SUBCLASS[construct])
        return NATIVE

    def build(self, model, *, dtype: str, device: str = "cpu", recipe=None) -> Session:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("CUDA was asked for but torch sees no CUDA device")
        return TorchSession(model, dtype=dtype, device=device, recipe=recipe)
