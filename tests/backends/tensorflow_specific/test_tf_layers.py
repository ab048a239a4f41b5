"""What only the TensorFlow mappings have: the layouts the adapter plans (channels-last runs between convs,
transposes before flatten/concat), GRU's gate blocks and split biases, and float32 sessions that compute in
float32 (Keras dtype policies per layer, no global floatx). Every layer's agreement with the reference, on
TensorFlow and torch alike (the corners where Keras and the standard differ included), is
tests/backends/test_agreement.py.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from backend_support import CORNERS, assert_checks, random_state

from lockstep.adapters.reference import ReferenceAdapter
from lockstep.adapters.tensorflow import TensorFlowAdapter
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare
from lockstep.spec.documents import Model

pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # size-1 axes are valid


def test_layouts_planned_without_needless_transposes() -> None:
    """conv -> bn -> relu -> conv -> pool stays channels-last; flatten gets channels-first back."""
    from lockstep.adapters.tensorflow.model import TFModel

    net = TFModel(Model.model_validate(CORNERS["cnn chain"]), "float32")
    plan = {s.name: (s.channels_last_in, s.channels_last_out) for s in net.steps}
    assert all(plan[n] == (True, True) for n in ("c1", "bn", "leaky_relu_2", "drop", "max_pool2d_4", "c2", "gelu_6"))
    assert plan["flatten_7"] == (False, False)
    layout = {"x": False, **{s.name: s.channels_last_out for s in net.steps}}
    transposes = [s.name for s in net.steps for src in s.sources if layout[src] != s.channels_last_in]
    assert transposes == ["c1", "flatten_7"]  # the input once, and back before flatten


def test_gru_gate_order_and_biases() -> None:
    """Canonical (r, z, n) columns land in Keras's (z, r, h) blocks; bias_ih/bias_hh are the rows of [2, 3H]."""
    doc = cs.model_doc("case", [3, 2], [{"type": "gru", "name": "g", "units": 2}])
    tfs = TensorFlowAdapter().build(Model.model_validate(doc), dtype="float64")
    h = 2
    bias_ih = np.arange(3 * h, dtype=float)  # r: 0 1, z: 2 3, n: 4 5
    bias_hh = 10 + np.arange(3 * h, dtype=float)
    state = {"g.weight_ih": np.zeros((2, 6)), "g.weight_hh": np.zeros((2, 6)), "g.bias_ih": bias_ih,
             "g.bias_hh": bias_hh}
    tfs.set_parameters(state)
    keras_bias = tfs.net.steps[0].layer.cell.bias.numpy()
    np.testing.assert_array_equal(keras_bias[0], [2, 3, 0, 1, 4, 5])  # z, r, h
    np.testing.assert_array_equal(keras_bias[1], [12, 13, 10, 11, 14, 15])
    got = tfs.get_parameters()
    for k, v in state.items():
        np.testing.assert_array_equal(got[k], v)


def test_float32_forward_within_float32_tolerance() -> None:
    """A float32 session computes in float32 (Keras dtype policies per layer, no global floatx)."""
    import keras

    doc = CORNERS["cnn chain"]
    model = Model.model_validate(doc)
    rng = np.random.default_rng(0)
    state = random_state(model, rng)
    x = rng.normal(size=(3, 2, 6, 6))
    ref = ReferenceAdapter().build(model, dtype="float64")
    t32 = TensorFlowAdapter().build(model, dtype="float32")
    ref.set_parameters(state)
    t32.set_parameters(state)
    assert keras.config.floatx() == "float32"
    assert all(v.dtype == "float32" for v in t32.net.trainable)
    out32, out64 = t32.forward(x), ref.forward(x)
    assert np.max(np.abs(out32 - out64)) > 0  # really float32
    assert_checks([compare("eval output", out32, out64, "float32")])
