"""docs/reproducers/keras-grouped-conv-recompiles (docs/conformance.md, "Found in real frameworks"): Keras compiles
a grouped convolution with XLA anew at every eager call, because it makes a new `tf.function(jit_compile=True)`
inside its backend's `conv` each time. Checked by counting its traces, not by timing; if a Keras release
caches it, this fails and the entry should say it is fixed."""

from __future__ import annotations

import numpy as np
import pytest
from tests_support import run_reproducer

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

REPRODUCER = "keras-grouped-conv-recompiles/keras_only.py"


def test_each_eager_grouped_conv_call_is_traced_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    from keras.src.backend.tensorflow import nn as keras_tf_nn

    traces: list[int] = []
    real = keras_tf_nn.tf.function

    def counting(*args, **kwargs):
        decorate = real(*args, **kwargs)
        if not kwargs.get("jit_compile"):
            return decorate

        def wrap(fn):
            def body(*a, **k):  # runs once per trace of the function Keras made
                traces.append(1)
                return fn(*a, **k)
            return decorate(body)
        return wrap

    monkeypatch.setattr(keras_tf_nn.tf, "function", counting)
    x = tf.constant(np.ones((1, 6, 6, 4)), dtype="float32")
    grouped, plain = keras.layers.Conv2D(4, 3, groups=2), keras.layers.Conv2D(4, 3)
    grouped(x), plain(x)
    before = len(traces)
    for _ in range(3):
        plain(x)
    assert len(traces) == before, "the ungrouped convolution does not go through XLA"
    for _ in range(3):
        grouped(x)
    assert len(traces) - before == 3, f"{len(traces) - before} traces in 3 calls of one layer on one input"


def test_the_reproducer_runs() -> None:
    out = run_reproducer(REPRODUCER, timeout=300)
    lines = [line for line in out.splitlines() if line.startswith("  Conv2D")]
    assert len(lines) == 3 and "groups=2) eager" in lines[1], out
