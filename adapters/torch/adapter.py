"""The PyTorch adapter: every spec v1 construct on native torch.nn / torch.optim, CPU and CUDA, float32/64.

`support()` answers from one table, `PROVENANCE`: `native` where a torch class or option has the standard's
semantics (named), `bridged` where it does with a stated adjustment, `written` where the adapter computes the
construct itself (the note says why; the full account is docs/adapters/torch.md). Nothing in v1 is unsupported
on torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from lockstep import __version__
from lockstep.adapters.base import FrameworkAdapter, Session, Support, bridged, native, unknown_device, written
from lockstep.adapters.torch.session import TorchSession

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

PROVENANCE: dict[str, Support | dict[str, Support]] = {
    # layers
    "dense": native("torch.nn.Linear (weight transposed); `tied_to`: its weight is the embedding's Parameter"),
    "conv1d": bridged("torch.nn.Conv1d; padding the standard puts asymmetrically ('same' with stride: the odd "
                      "element at the end) is an explicit zero F.pad before it (PaddedConv1d)"),
    "conv2d": bridged("torch.nn.Conv2d; padding the standard puts asymmetrically ('same' with stride: the odd "
                      "element at the end) is an explicit zero F.pad before it (PaddedConv2d)"),
    "max_pool2d": bridged("torch.nn.MaxPool2d; asymmetric or larger-than-half-window padding is an explicit "
                          "F.pad with -inf before it (PaddedMaxPool2d)"),
    "avg_pool2d": bridged("torch.nn.AvgPool2d(count_include_pad=False); asymmetric padding: its window sums "
                          "(divisor_override=1) divided by the in-bounds count (PaddedAvgPool2d)"),
    "dropout": written("x · keep / (1 - rate) (StandardDropout): the standard's keep-mask replaces torch's RNG, "
                       "so nn.Dropout's own kernel never runs"),
    "batch_norm": native("torch.nn.BatchNorm1d/2d/3d: torch's momentum and running-variance conventions are "
                         "the standard's (an identity that makes the backward's gradient contiguous works "
                         "around a torch 2.13 CPU bug)"),
    "layer_norm": native("torch.nn.LayerNorm"),
    "embedding": native("torch.nn.Embedding"),
    "lstm": bridged("torch.nn.LSTM with its second bias bias_hh_l0 held at zero and frozen, so the gradient "
                    "lands on the standard's one bias"),
    "gru": native("torch.nn.GRU(batch_first=True): gates r, z, n, reset after"),
    "multi_head_attention": written("with `rotary`: nn.MultiheadAttention's parameters, but its projections, "
                                    "the rotation and F.scaled_dot_product_attention called by the adapter "
                                    "(RotarySelfAttention: torch's layer cannot rotate between projections and "
                                    "scores); without `rotary` native torch.nn.MultiheadAttention(batch_first=True), "
                                    "q/k/v slices of in_proj_weight, the causal mask as attn_mask"),
    "rms_norm": native("torch.nn.RMSNorm(normalized_shape, eps=ε, elementwise_affine=scale)"),
    "positional_embedding": written("sinusoidal: the standard's float64 table rounded once to the dtype and "
                                    "added (torch has no sinusoidal layer); learned: native torch.nn.Embedding "
                                    "looked up at positions 0..T-1 and added"),
    "multiply": native("torch.mul (the * operator: torch has no multiply layer)"),
    "flatten": native("torch.nn.Flatten"), "reshape": native("torch.nn.Flatten + torch.nn.Unflatten"),
    "global_avg_pool": native("torch.nn.AdaptiveAvgPool1d/2d/3d(1); ranks above 4: torch.mean"),
    "add": native("torch.add (the + operator: torch has no add layer)"), "concat": native("torch.cat"),
    "relu": native("torch.nn.ReLU"), "leaky_relu": native("torch.nn.LeakyReLU(negative_slope)"),
    "elu": native("torch.nn.ELU(alpha)"), "gelu": native("torch.nn.GELU(approximate)"),
    "silu": native("torch.nn.SiLU"), "sigmoid": native("torch.nn.Sigmoid"), "tanh": native("torch.nn.Tanh"),
    "softmax": native("torch.nn.Softmax(dim)"), "log_softmax": native("torch.nn.LogSoftmax(dim)"),
    # losses
    "mse": native("F.mse_loss"), "mae": native("F.l1_loss"), "huber": native("F.huber_loss(delta)"),
    "binary_crossentropy": written("from probabilities -(t log p + (1 - t) log(1 - p)) in torch ops "
                                   "(F.binary_cross_entropy clamps log at -100); from logits bridged: "
                                   "F.binary_cross_entropy_with_logits on targets smoothed first (torch has no "
                                   "binary label smoothing)"),
    "categorical_crossentropy": written("from probabilities -Σ t log p in torch ops (torch has no such loss); "
                                        "from logits native F.cross_entropy(label_smoothing)"),
    "sparse_categorical_crossentropy": written("from probabilities -Σ t log p in torch ops (torch has no such "
                                               "loss); from logits native F.cross_entropy(label_smoothing)"),
    "nll": native("F.nll_loss"),
    # optimizers
    "sgd": native("torch.optim.SGD(momentum, dampening, nesterov); Nesterov with dampening refused, as torch.optim.SGD "
                 "refuses it"), "adam": native("torch.optim.Adam"),
    "adamw": native("torch.optim.AdamW"), "rmsprop": native("torch.optim.RMSprop(alpha=rho)"),
    "adagrad": native("torch.optim.Adagrad(lr_decay=0)"),
    "l2": written("with AdamW (whose weight_decay is decoupled) the session adds l2·w to the gradients "
                  "(torch._foreach_add_); with every other optimizer native: its coupled weight_decay"),
    # schedules
    "constant": native("no scheduler: torch.optim's lr as it is"), "step": native("torch.optim.lr_scheduler.StepLR"),
    "exponential": native("torch.optim.lr_scheduler.ExponentialLR"),
    "cosine": bridged("torch.optim.lr_scheduler.CosineAnnealingLR held at eta_min after T_max "
                      "(HeldCosineAnnealingLR; torch's is periodic)"),
    "warmup": written("a start factor of 0 (LinearLR refuses it; the spec's default) is LambdaLR over the "
                      "reference's t / W; other start factors native LinearLR(start_factor)"),
    # clipping
    "global_norm": bridged("torch.nn.utils.clip_grads_with_norm_ with max_norm rescaled by (norm + 1e-6) / norm "
                           "to cancel torch's epsilon; the norm is get_total_norm's, taken again on the gradients "
                           "scaled by a power of two where its sum of squares overflows (norms above 2^64 in "
                           "float32)"),
    "value": native("torch.nn.utils.clip_grad_value_"),
}
"""Every construct's provenance on torch (adapters/base.py: native, bridged, written), audited against the
mapping modules; docs/adapters/torch.md tells the same story in prose."""


class TorchAdapter(FrameworkAdapter):
    """`--backend torch`. `allow_tf32=None` reads LOCKSTEP_ALLOW_TF32 (off unless set to 1)."""

    name = "torch"
    PROVENANCE = PROVENANCE
    FRAMEWORK = "torch"
    PART = "torch"
    EXECUTION = "eager: torch ops one by one (nothing compiled or scripted)"

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
        if (unknown := unknown_device(device)) is not None:
            return unknown
        kind, _, index = device.partition(":")
        if kind == "cpu":
            return None
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
