"""Where TensorFlow's time goes in a certification's small cases: an eager op, a Keras layer, a small training
step by phase (the adapter's session against the same step hand-written in plain TensorFlow), and a compiled
step's trace. The figures behind docs/conformance.md, "Why 2× is out of reach in this design".

    python benchmarks/tf_eager_costs.py [--repeat 400]

Every row is the best of 5 timings of `--repeat` calls (µs or ms per call) and its ratio to the row's baseline,
measured in the same run: a raw op (`tf.raw_ops`) for the ops, the layer's math in plain `tf` ops for the layers,
and for the step a hand-written eager step (tf.Variables, a GradientTape, the momentum update in tf ops). One
intra-op thread, as certify's checks run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def best(fn: Callable[[], object], repeat: int) -> float:
    """Seconds per call: the best of 5 timings of `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        times.append((time.perf_counter() - t0) / repeat)
    return min(times)


def row(label: str, seconds: float, baseline: float, unit: str = "us") -> None:
    scale = 1e6 if unit == "us" else 1e3
    print(f"  {label:<58} {seconds * scale:9.2f} {unit}   x{seconds / baseline:6.2f}")


def _model_doc() -> dict:
    from lockstep.conformance import strategies as cs

    return cs.model_doc("mlp", [5], [{"type": "dense", "name": "a", "units": 7}, {"type": "relu"},
                                     {"type": "dense", "name": "b", "units": 3}])


def _recipe(optimizer: dict, dtype: str):
    from lockstep.spec.documents import Recipe

    return Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "step"}, "model": _model_doc(), "seed": 0,
        "dtype": dtype, "data": {"source": {"type": "synthetic_regression", "num_samples": 8, "shape": [5]},
                                 "batch_size": 4},
        "loss": {"type": "mse"}, "optimizer": optimizer, "training": {"steps": 3},
        "schedule": {"type": "cosine", "decay_steps": 5, "warmup": {"steps": 2}}})


def _torch_step(xb, yb) -> Callable[[], None] | None:
    """The hand-written step in torch (autograd, the momentum buffer under no_grad), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(5, 7, generator=gen, requires_grad=True), torch.zeros(7, requires_grad=True),
              torch.randn(7, 3, generator=gen, requires_grad=True), torch.zeros(3, requires_grad=True)]
    buffers = [torch.zeros_like(p) for p in params]
    x, y = torch.tensor(xb, dtype=torch.float32), torch.tensor(yb, dtype=torch.float32)

    def step() -> None:
        w1, b1, w2, b2 = params
        loss = ((torch.relu(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, b, g in zip(params, buffers, grads, strict=True):
                b.mul_(0.9).add_(g)
                p.sub_(0.01 * b)

    return step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=400, help="calls per timing (steps use a tenth, at least 2)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from lockstep.adapters.tensorflow import TensorFlowAdapter  # first: it sets TensorFlow's defaults (oneDNN off)

    adapter = TensorFlowAdapter()
    import keras
    import tensorflow as tf

    threads = adapter.configure_threads(1)  # kept as they are where TensorFlow's runtime has started already
    n, steps = args.repeat, max(2, args.repeat // 10)
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, intra-op threads {threads['intra_op']} "
          f"(0: every core), best of 5 x {n} calls")

    print("an eager op on a 4x3 float32 tensor (baseline: tf.raw_ops.AddV2)")
    a = tf.constant(np.ones((4, 3), np.float32))
    v = keras.Variable(np.ones((4, 3), np.float32))
    raw = best(lambda: tf.raw_ops.AddV2(x=a, y=a), n)
    row("tf.raw_ops.AddV2", raw, raw)
    row("tf.add", best(lambda: tf.add(a, a), n), raw)
    row("keras.ops.add", best(lambda: keras.ops.add(a, a), n), raw)
    row("Keras variable + tensor", best(lambda: v + a, n), raw)
    row("Keras variable .assign_sub", best(lambda: v.assign_sub(a), n), raw)

    print("a Keras layer called eagerly on 4x8 float32 (baseline: its math in tf ops)")
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32))
    dense = keras.layers.Dense(8, dtype="float32")
    relu = keras.layers.ReLU(dtype="float32")
    dense(x), relu(x)
    kernel, bias = tf.constant(dense.kernel.numpy()), tf.constant(dense.bias.numpy())
    base = best(lambda: tf.add(tf.matmul(x, kernel), bias), n)
    row("Dense: tf.matmul + tf.add", base, base)
    row("Dense: layer.call(x) (the layer's math, Keras ops)", best(lambda: dense.call(x), n), base)
    row("Dense: layer(x) (Layer.__call__ around it)", best(lambda: dense(x), n), base)
    base = best(lambda: tf.nn.relu(x), n)
    row("ReLU: tf.nn.relu", base, base)
    row("ReLU: layer.call(x)", best(lambda: relu.call(x), n), base)
    row("ReLU: layer(x)", best(lambda: relu(x), n), base)

    rng = np.random.default_rng(0)
    xb, yb = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    from lockstep.spec.documents import Model

    model = Model.model_validate(_model_doc())

    def session(optimizer: dict, eager: bool = True):
        recipe = _recipe(optimizer, "float32")
        s = adapter.build(model, dtype="float32", recipe=recipe)
        if eager:
            s.expect_few_calls()
        return s

    # the hand-written baseline: the same step in plain TensorFlow, eagerly (SGD with momentum, PyTorch's buffer)
    w1, b1 = tf.Variable(rng.normal(size=(5, 7)).astype(np.float32)), tf.Variable(np.zeros(7, np.float32))
    w2, b2 = tf.Variable(rng.normal(size=(7, 3)).astype(np.float32)), tf.Variable(np.zeros(3, np.float32))
    params = [w1, b1, w2, b2]
    buffers = [tf.Variable(tf.zeros_like(p)) for p in params]
    xt, yt = tf.constant(xb.astype(np.float32)), tf.constant(yb.astype(np.float32))

    def plain_step() -> None:
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.matmul(xt, w1) + b1)
            loss = tf.reduce_mean(tf.square(tf.matmul(h, w2) + b2 - yt))
        for p, b, g in zip(params, buffers, tape.gradient(loss, params), strict=True):
            b.assign(0.9 * b + g)
            p.assign_sub(0.01 * b)

    base = best(plain_step, steps)
    print(f"a training step, mlp 5-7-3, mse, cosine with warm-up, batch 4, float32 (baseline: the step in plain tf "
          f"ops, {base * 1e3:.2f} ms)")
    row("hand-written: tf.Variables, GradientTape, momentum in tf ops, no schedule", base, base, "ms")
    torch_step = _torch_step(xb, yb)
    if torch_step is not None:
        row("hand-written in torch, for scale (the same step, eager)", best(torch_step, steps), base, "ms")
    row("adapter: build a session (Keras layers, their variables)", best(lambda: session(
        {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}).opt, steps), base, "ms")
    def phases(label: str, opt: dict) -> None:
        s = session(opt)
        s.train_step(xb, yb)
        row(f"adapter, eager step, {label}", best(lambda: s.train_step(xb, yb), steps), base, "ms")
        inputs, y, _ = s._unpack((*s._input_args(xb), s._target_arg(yb)), True)
        row("  of it: the forward (Layer.__call__ per layer)", best(lambda: s.net(inputs, None, training=True), steps),
            base, "ms")
        row("  of it: forward, loss and tape gradient", best(lambda: s._loss_grads(inputs, y, {}), steps), base, "ms")
        grads = s._loss_grads(inputs, y, {})[1]
        row("  of it: the schedule (Keras CosineDecay)", best(lambda: s.schedule(s.opt.iterations), steps), base, "ms")
        row("  of it: Keras's optimizer.apply (4 variables)", best(lambda: s.opt.apply(grads, s.net.trainable), steps),
            base, "ms")

    phases("SGD with momentum 0.9 (written update)", {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9})
    phases("Adam (Keras's own update_step, bridged)", {"type": "adam", "learning_rate": 0.01})

    def compiled_first() -> None:
        s = session({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}, eager=False)
        s.train_step(xb, yb)

    compiled = session({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}, eager=False)
    compiled.train_step(xb, yb)
    row("adapter, compiled: build, trace and first step (SGD momentum)", best(compiled_first, max(2, steps // 4)),
        base, "ms")
    row("adapter, compiled: each step after", best(lambda: compiled.train_step(xb, yb), steps), base, "ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
