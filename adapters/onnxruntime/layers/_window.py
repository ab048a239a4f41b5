"""Windows of a channels-first input as one Gather: the float64 form of Conv and AveragePool.

ONNX Runtime's CPU provider has no float64 Conv or AveragePool kernel. Their float64 export pads the input
(Pad), flattens the spatial axes and gathers every window with one precomputed index table (im2col as a
Gather), so that the convolution is one Einsum and the pool one ReduceSum: operators with float64
kernels, computing the standard's formula term by term. The pads come from the exporter's `pads` seam,
like the native operators' `pads` attribute.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph


def windows(g: Graph, x: str, shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
            dilation: Sequence[int], pads: Sequence[int], out: Sequence[int], hint: str) -> str:
    """[N, C, *spatial] -> [N, C, prod(out), prod(kernel)]: window o, offset k of the zero-padded input."""
    n = len(kernel)
    channels, sizes = shape[0], shape[1:]
    begins, ends = pads[:n], pads[n:]
    padded = [s + b + e for s, b, e in zip(sizes, begins, ends, strict=True)]
    xp = g.op("Pad", [x, g.ints(f"{hint}_pads", [0, 0, *begins, 0, 0, *ends])], f"{hint}_padded") \
        if any(pads) else x
    flat = g.reshape(xp, [0, channels, -1], f"{hint}_flat")
    strides = [int(np.prod(padded[i + 1:])) for i in range(n)]  # row-major strides of the padded spatial axes
    index = np.zeros((int(np.prod(out)), int(np.prod(kernel))), dtype=np.int64)
    for oi, o in enumerate(itertools.product(*(range(v) for v in out))):
        for ki, k in enumerate(itertools.product(*(range(v) for v in kernel))):
            index[oi, ki] = sum((o[i] * stride[i] + k[i] * dilation[i]) * strides[i] for i in range(n))
    gathered = g.op("Gather", [flat, g.ints(f"{hint}_index", index.reshape(-1))], f"{hint}_gather", axis=2)
    return g.reshape(gathered, [0, channels, index.shape[0], index.shape[1]], f"{hint}_windows")


def inside_count(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int], pads: Sequence[int],
                 out: Sequence[int]) -> np.ndarray:
    """Per output position, how many of its window's positions lie inside the input (padding not counted)."""
    n = len(kernel)
    begins = pads[:n]
    count = np.zeros(tuple(out))
    for o in itertools.product(*(range(v) for v in out)):
        inside = 1
        for i in range(n):
            start = o[i] * stride[i] - begins[i]
            inside *= sum(1 for k in range(kernel[i]) if 0 <= start + k < sizes[i])
        count[o] = inside
    return count
