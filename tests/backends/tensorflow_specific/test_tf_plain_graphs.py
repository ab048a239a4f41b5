"""The TensorFlow session's compiled functions run without grappler's rewrites (adapters/tensorflow/session.py,
`plain_graphs`): per call and per thread, never the process-wide optimizer setting, which other TensorFlow code
in the process keeps."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tensorflow.core.protobuf import config_pb2  # noqa: E402
from tensorflow.python.eager import context  # noqa: E402

from lockstep.adapters.tensorflow import session as tf_session  # noqa: E402
from lockstep.spec.documents import Model  # noqa: E402

MODEL = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "plain"},
         "inputs": [{"name": "x", "shape": [3]}], "layers": [{"type": "dense", "name": "d", "units": 2}]}


def _meta_optimizer_off() -> bool:
    config = config_pb2.ConfigProto()
    config.ParseFromString(context.context().function_call_options.config_proto_serialized or b"")
    return config.graph_options.rewrite_options.disable_meta_optimizer


def test_plain_graphs_turns_rewrites_off_inside_and_restores_after(monkeypatch) -> None:
    monkeypatch.setattr(tf_session, "REWRITES", False)
    before = context.context().function_call_options
    assert not _meta_optimizer_off(), "the process starts with grappler on"
    with tf_session.plain_graphs():
        assert _meta_optimizer_off(), "inside plain_graphs the meta optimizer must be off"
    assert context.context().function_call_options is before, "the caller's call options must come back"
    assert tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer") is not True, \
        "the process-wide optimizer setting must not change"


def test_rewrites_env_keeps_grappler(monkeypatch) -> None:
    monkeypatch.setattr(tf_session, "REWRITES", True)
    with tf_session.plain_graphs():
        assert not _meta_optimizer_off(), "LOCKSTEP_TF_GRAPH_REWRITES=1 must leave grappler on"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_session_calls_run_plain_and_agree_with_rewrites(monkeypatch, dtype: str) -> None:
    """The session's forward sees the plain options during its call, leaves the caller's in place after, and
    gives the numbers grappler's graph gives (this dense model has nothing grappler would fuse differently)."""
    seen: list[bool] = []
    real = tf_session.plain_graphs

    def spying():
        ctx = real()

        class Spy:
            def __enter__(self):
                ctx.__enter__()
                seen.append(_meta_optimizer_off())

            def __exit__(self, *exc):
                return ctx.__exit__(*exc)

        return Spy()

    monkeypatch.setattr(tf_session, "REWRITES", False)
    monkeypatch.setattr(tf_session, "plain_graphs", spying)
    model = Model.model_validate(MODEL)
    x = np.random.default_rng(0).normal(size=(4, 3))
    plain = tf_session.TFSession(model, dtype=dtype)
    params = plain.get_parameters()
    out_plain = plain.forward(x)
    assert seen == [True], f"the forward's call must run with the meta optimizer off, saw {seen}"
    assert not _meta_optimizer_off(), "the options after the call must be the caller's"
    monkeypatch.setattr(tf_session, "REWRITES", True)
    rewritten = tf_session.TFSession(model, dtype=dtype)
    rewritten.set_parameters(params)
    out_rewritten = rewritten.forward(x)
    np.testing.assert_array_equal(out_plain, out_rewritten, err_msg=f"{dtype}: plain vs rewritten graph")
