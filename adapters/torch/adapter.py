"""The PyTorch adapter: every spec v1 construct on native torch.nn / torch.optim, CPU and CUDA, float32/64.

`support()` answers from one table: `native` where a torch class or option has the standard's semantics,
`subclass` where a documented subclass or a native option closes a gap (the note says how; the full
account is docs/adapters/torch.md). Nothing in v1 is unsupported on torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from lockstep import __version__
from lockstep.adapters.base import FrameworkAdapter, Session
from lockstep.adapters.torch.session import TorchSession

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

SUBCLASS: dict[str, str] = {
    "conv1d": "asymmetric padding (the standard's 'same' with stride: odd element at the end) is an explicit "
              "F.pad before the native nn.Conv1d (PaddedConv1d); symmetric padding is native",
    "conv2d": "asymmetric padding (the standard's 'same' with stride: odd element at the end) is an explicit "
              "F.pad before the native nn.Conv2d (PaddedConv2d); symmetric padding is native",
    "max_pool2d": "asymmetric or larger-than-half-window padding is F.pad with -inf before nn.MaxPool2d "
                  "(PaddedMaxPool2d)",
    "avg_pool2d": "asymmetric padding: native window sums (divisor_override=1) divided by the in-bounds count "
                  "(PaddedAvgPool2d); symmetric padding is count_include_pad=False",
    "dropout": "the standard's keep-mask replaces torch's RNG (StandardDropout, an nn.Dropout subclass)",
    "lstm": "torch's second bias bias_hh_l0 is held at zero and frozen so the gradient lands on the one bias",
    "binary_crossentropy": "label smoothing is applied to the targets; from probabilities the loss is "
                           "-(t log p + (1-t) log(1-p)) in torch ops (F.binary_cross_entropy clamps); "
                           "from logits F.binary_cross_entropy_with_logits is native",
    "categorical_crossentropy": "from logits native (F.cross_entropy, label_smoothing); from probabilities "
                                "-Σ t log p in torch ops (torch has no such loss)",
    "sparse_categorical_crossentropy": "from logits native (F.cross_entropy, label_smoothing); from "
                                       "probabilities -Σ t log p in torch ops",
    "adamw": "coupled L2 (regularization.l2) is added to the gradients by the session: AdamW's weight_decay is "
             "the decoupled one",
    "cosine": "HeldCosineAnnealingLR: CosineAnnealingLR holding eta_min after T_max (torch's is periodic)",
    "warmup": "LinearLR(start_factor); a start factor of 0 (LinearLR refuses it) is LambdaLR(t / W)",
    "global_norm": "get_total_norm + clip_grads_with_norm_ with max_norm rescaled by (norm + 1e-6) / norm to "
                   "cancel torch's epsilon",
}

NATIVE_NOTES: dict[str, str] = {
    "dense": "nn.Linear (weight transposed)", "gru": "nn.GRU(batch_first=True): gates r, z, n, reset after",
    "multi_head_attention": "nn.MultiheadAttention(batch_first=True), q/k/v slices of in_proj_weight",
    "batch_norm": "nn.BatchNorm1d/2d/3d: torch's momentum and running-variance conventions are the standard's",
    "step": "StepLR", "exponential": "ExponentialLR", "constant": "no scheduler",
    "sgd": "torch.optim.SGD", "adam": "torch.optim.Adam", "rmsprop": "torch.optim.RMSprop(alpha=rho)",
    "adagrad": "torch.optim.Adagrad(lr_decay=0)", "l2": "the optimizer's weight_decay (coupled)",
    "value": "clip_grad_value_",
}


class TorchAdapter(FrameworkAdapter):
    """`--backend torch`. `allow_tf32=None` reads LOCKSTEP_ALLOW_TF32 (off unless set to 1)."""

    name = "torch"
    SUBCLASS = SUBCLASS
    NATIVE_NOTES = NATIVE_NOTES
    FRAMEWORK = "torch"
    PART = "torch"

    def __init__(self, allow_tf32: bool | None = None) -> None:
        self.allow_tf32 = allow_tf32

    def versions(self) -> dict[str, str]:
        v = {"lockstep": __version__, "torch": torch.__version__}
        if torch.cuda.is_available():
            v["cuda"] = str(torch.version.cuda)
            v["cudnn"] = str(torch.backends.cudnn.version())
        return v

    def devices(self) -> list[str]:
        return ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]

    def device_problem(self, device: str) -> str | None:
        kind, _, index = device.partition(":")
        if kind == "cpu" and not index:
            return None
        if kind != "cuda" or (index and not index.isdigit()):
            return f"unknown device `{device}` (cpu, cuda or cuda:N)"
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return "torch sees no CUDA device here"
        if index and int(index) >= count:
            return f"there is no {device} (torch sees {count} CUDA device{'s' * (count > 1)})"
        return None

    def configure_threads(self, intra_op: int, inter_op: int = 1) -> dict[str, Any]:
        """torch.set_num_threads (intra-op, any time) and set_num_interop_threads (only before torch's first
        inter-op work: afterwards it is fixed, and the value in effect is reported)."""
        torch.set_num_threads(max(1, int(intra_op)))
        try:
            torch.set_num_interop_threads(max(1, int(inter_op)))
        except RuntimeError:  # "cannot set number of interop threads after parallel work has started"
            pass
        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}

    def build(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None) -> Session:
        self.check_target(dtype, device)
        return TorchSession(model, dtype=dtype, device=device, recipe=recipe, allow_tf32=self.allow_tf32)
