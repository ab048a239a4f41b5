"""A spec Model as native Keras layers run in the standard's node order (spec.graph), layouts planned once.

The plan decides, per node, whether its input arrives channels-first (the standard's layout) or
channels-last (TensorFlow's CPU conv/pool layout), from each layer file's `LAYOUT`; transposes are
inserted only where a node needs the other layout, and the model's outputs are channels-first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from lockstep.adapters.tensorflow import layers
from lockstep.adapters.tensorflow.layers._base import Slot, Slots, to_channels_first, to_channels_last
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph

TAKES_TRAINING = frozenset({"batch_norm", "dropout", "lstm", "gru", "multi_head_attention"})
MERGES = frozenset({"add", "concat", "multiply"})


@dataclass
class Step:
    """One node of the plan: its Keras layer, its sources, and the layouts in and out."""

    name: str
    type: str
    sources: list[str]
    layer: Any  # keras.layers.Layer
    channels_last_in: bool
    channels_last_out: bool


def _laid_out(shape: tuple[int, ...], channels_last: bool) -> tuple[int, ...]:
    """A node's per-sample shape (the standard's, channels first) as its layer sees it."""
    return (*shape[1:], shape[0]) if channels_last and len(shape) >= 2 else tuple(shape)


def _relayout(x: tf.Tensor, is_cl: bool, want_cl: bool) -> tf.Tensor:
    if is_cl == want_cl:
        return x
    rank = len(x.shape)
    return tf.transpose(x, to_channels_last(rank) if want_cl else to_channels_first(rank))


class TFModel:
    """Native Keras layers for every node, their canonical slots, and a forward over the node plan."""

    def __init__(self, model: Model, dtype: str) -> None:
        self.graph = build_graph(model)
        if self.graph.problems:
            raise ValueError("; ".join(p.message for p in self.graph.problems))
        self.dtype = dtype
        self.input_names = list(self.graph.input_shapes)
        self.outputs = list(self.graph.outputs)
        is_cl = dict.fromkeys(self.input_names, False)
        self.steps: list[Step] = []
        for n in self.graph.nodes:
            mod = layers.get(n.type)
            srcs = [is_cl[s] for s in n.inputs]
            laid_out = len(n.input_shapes[0]) >= 2  # layouts differ only with a channel axis and more
            if mod.LAYOUT == "channels_last":
                want = laid_out
            elif mod.LAYOUT == "any":
                want = laid_out and all(srcs)
            else:
                want = False
            layer = mod.build(n.layer, n.input_shapes, dtype, channels_last=want)
            out = want and len(n.shape) >= 2
            self.steps.append(Step(n.name, n.type, list(n.inputs), layer, want, out))
            is_cl[n.name] = out
        built = {s.name: s.layer for s in self.steps}
        for n, s in zip(self.graph.nodes, self.steps, strict=True):  # tied parameters: the owner's variable
            for short, (owner, owned) in n.layer.ties().items():
                layers.get(n.type).tie(s.layer, short, built[owner], owned)
        self._build()
        self.slots: Slots = {}
        self.buffer_slots: Slots = {}
        for s in self.steps:
            mod = layers.get(s.type)
            if hasattr(mod, "slots"):
                self.slots.update({f"{s.name}.{k}": v for k, v in mod.slots(s.layer).items()})
            if hasattr(mod, "buffer_slots"):
                self.buffer_slots.update({f"{s.name}.{k}": v for k, v in mod.buffer_slots(s.layer).items()})
        self.trainable = _unique(slot.variable for slot in self.slots.values())
        self.buffers = _unique(slot.variable for slot in self.buffer_slots.values())
        self._check_coverage()

    def _build(self) -> None:
        """Create every variable from the plan's shapes (each layer's own `build`, as Keras's first call would do
        it), without running a forward pass: a forward on zeros cost a third of a small model's build and four
        fifths of a recurrent one's (its time loop), all of it discarded."""
        for n, s in zip(self.graph.nodes, self.steps, strict=True):
            shapes = [(None, *_laid_out(shape, s.channels_last_in)) for shape in n.input_shapes]
            if not s.layer.built:
                s.layer.build(shapes if s.type in MERGES else shapes[0])

    def _check_coverage(self) -> None:
        """Every Keras trainable variable is some canonical parameter (else it would train unseen)."""
        known = {id(v) for v in self.trainable}
        for s in self.steps:
            for v in s.layer.trainable_variables:
                if id(v) not in known:
                    raise RuntimeError(f"{s.name}: Keras variable {v.path} has no canonical parameter")

    def __call__(self, inputs: dict[str, tf.Tensor], masks: dict[str, tf.Tensor] | None = None, *,
                 training: bool = False) -> tf.Tensor:
        values: dict[str, tf.Tensor] = dict(inputs)
        is_cl = dict.fromkeys(inputs, False)
        for s in self.steps:
            xs = [_relayout(values[src], is_cl[src], s.channels_last_in) for src in s.sources]
            if s.type in MERGES:
                y = s.layer(xs)
            elif s.type == "dropout":
                y = s.layer(xs[0], training=training, keep=masks.get(s.name) if masks else None)
            elif s.type in TAKES_TRAINING:
                y = s.layer(xs[0], training=training)
            else:
                y = s.layer(xs[0])
            values[s.name] = y
            is_cl[s.name] = s.channels_last_out
        outs = [_relayout(values[o], is_cl[o], False) for o in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    @property
    def dropout_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shapes of the dropout layers that need a keep-mask in training (rate > 0)."""
        return {n.name: tuple(n.shape) for n in self.graph.nodes if n.type == "dropout" and n.layer.rate > 0}


def _unique(variables) -> list[Any]:
    seen: dict[int, Any] = {}
    for v in variables:
        seen.setdefault(id(v), v)
    return list(seen.values())


def read(variable: Any) -> np.ndarray:
    """A writable NumPy copy of a Keras variable's value."""
    return np.array(variable.numpy())


def slot_groups(slots: Slots) -> dict[int, tuple[Any, list[tuple[str, Slot]]]]:
    """Slots grouped by the variable they live in (several canonical parameters may share one)."""
    out: dict[int, tuple[Any, list[tuple[str, Slot]]]] = {}
    for name, slot in slots.items():
        out.setdefault(id(slot.variable), (slot.variable, []))[1].append((name, slot))
    return out

