"""The TensorFlow layer files that start their Keras variables at `layers/_base.PLACEHOLDER` (zeros) instead of Keras's
random initializers may do so only because `set_parameters` overwrites every one of those variables: each must
be a canonical parameter's or a buffer's. A variable outside the slots would keep the placeholder and compute
with it (a scale-free rms_norm keeps Keras's scale at its initial ones: the first try of this, 4 false alarms,
docs/conformance.md). The layer files are found by their use of the name, so a new one is checked too."""

from __future__ import annotations

import inspect
import sys
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("tensorflow")

from lockstep.adapters.tensorflow import layers
from lockstep.adapters.tensorflow.model import TFModel
from lockstep.conformance import strategies as cs
from lockstep.spec.documents import Model


@cache
def _placeholder_layers() -> list[str]:
    """The layer types whose module, or a shared layer module it builds with (`_conv`), names PLACEHOLDER."""
    def uses(t: str) -> bool:
        mod = layers.get(t)
        names = {mod.__name__} | {getattr(v, "__module__", None) for v in vars(mod).values() if callable(v)}
        return any("PLACEHOLDER" in inspect.getsource(sys.modules[n]) for n in names
                   if n and n.startswith(layers.__name__ + ".") and not n.endswith("._base"))

    return sorted(t for t in layers.TYPES if t not in layers.UNSUPPORTED and uses(t))


def test_the_placeholder_layers_are_the_expected_ones() -> None:
    """If this changes, the property below covers the new set: the list here only says the scan finds them."""
    assert set(_placeholder_layers()) >= {"dense", "conv1d", "conv2d", "embedding", "positional_embedding", "lstm",
                                          "gru", "multi_head_attention"}, _placeholder_layers()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_every_variable_of_a_placeholder_layer_is_set_by_set_parameters(data: st.DataObject) -> None:
    construct = data.draw(st.sampled_from(_placeholder_layers()), label="construct")
    doc = data.draw(cs.layer_model(construct), label="model")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    net = TFModel(Model.model_validate(doc), dtype)
    covered = {id(slot.variable) for slot in (*net.slots.values(), *net.buffer_slots.values())}
    for step in net.steps:
        if step.type not in _placeholder_layers():
            continue
        loose = [v.path for v in step.layer.weights if id(v) not in covered]
        assert not loose, f"{construct} ({dtype}): {step.name}'s Keras variables {loose} are no canonical parameter " \
                          f"or buffer, so set_parameters leaves them at the placeholder; model: {doc}"
