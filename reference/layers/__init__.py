"""The reference math of every v1 layer: one module per spec `type`, named like it (spec/layers.py).

Each module has `forward(layer, inputs, params, ctx) -> (output, cache)` and
`backward(layer, grad_output, cache) -> (input_grads, param_grads)`; see docs/internals.md. Beside them,
`magnitude` and `magnitude_backward` are the layer's rules of the float32 magnitude pass
(reference/layers/_magnitude.py, reference/error_bounds.py, docs/spec/v1-semantics.md § Tolerances).
All modules are imported here so that a missing or broken one fails at import, not mid-training.
"""

from __future__ import annotations

from types import ModuleType

from lockstep.reference.layers import (
    add,
    avg_pool2d,
    batch_norm,
    concat,
    conv1d,
    conv2d,
    dense,
    dropout,
    elu,
    embedding,
    flatten,
    gelu,
    global_avg_pool,
    gru,
    layer_norm,
    leaky_relu,
    log_softmax,
    lstm,
    max_pool2d,
    multi_head_attention,
    relu,
    reshape,
    sigmoid,
    silu,
    softmax,
    tanh,
)
from lockstep.reference.layers.context import ForwardContext

MODULES: dict[str, ModuleType] = {m.__name__.rsplit(".", 1)[1]: m for m in (
    dense, conv1d, conv2d, max_pool2d, avg_pool2d, global_avg_pool, flatten, reshape, dropout, batch_norm,
    layer_norm, embedding, lstm, gru, multi_head_attention, relu, leaky_relu, elu, gelu, silu, sigmoid, tanh,
    softmax, log_softmax, add, concat,
)}

__all__ = ["MODULES", "ForwardContext", "get"]


def get(type_name: str) -> ModuleType:
    """The reference module of layer type `type_name` (a spec v1 `type`)."""
    try:
        return MODULES[type_name]
    except KeyError:
        raise KeyError(f"no reference implementation for layer type `{type_name}`") from None
