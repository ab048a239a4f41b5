"""'same' padding with the odd element at the start (top/left) when the stride is > 1.

torch's `padding="same"` refuses strided convolutions, so a torch adapter pads explicitly for stride > 1;
computing `(total − total // 2, total // 2)` puts the extra row/column first, ONNX's `SAME_LOWER` (and
Caffe-style ports), where TensorFlow's `SAME` and the standard's 'same' put it last (`SAME_UPPER`:
docs/spec/v1-semantics.md, divergence 6). Stride-1 axes keep the correct padding, as they would through
torch's native 'same'. Only an odd total padding on a strided axis shows it, in conv1d, conv2d and the pools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockstep.conformance.mutants._base import MutantAdapter, rewrite_layers

if TYPE_CHECKING:
    from lockstep.spec.documents import Model
    from lockstep.spec.graph import Node
    from lockstep.spec.layers import LayerBase

PADDED = ("conv1d", "conv2d", "max_pool2d", "avg_pool2d")


def _swapped(node: Node) -> LayerBase | None:
    """The layer with its 'same' padding written out, the odd element first on strided axes; else None."""
    layer = node.layer
    if node.type not in PADDED or layer.padding != "same":
        return None
    geometry = layer.geometry(node.input_shapes[0])
    stride, pads = geometry[1], geometry[-1]
    explicit: list[int] = []
    for s, (before, after) in zip(stride, pads, strict=True):
        explicit += [after, before] if s > 1 else [before, after]  # the bug: (after, before) when strided
    return layer.model_copy(update={"padding": explicit})


class SamePaddingAsymmetryAdapter(MutantAdapter):
    """'same' padding with the odd element at the start on strided axes."""

    name = "mutant-same_padding_asymmetry"

    def rewrite_model(self, model: Model) -> Model:
        return rewrite_layers(model, _swapped)
