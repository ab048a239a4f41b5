"""Time per training step of the float64 reference on every example recipe.

The reference is an oracle, not a trainer, but people run it (it is the first backend and CI's), so
its cost per step is worth knowing. For the digits MLP the same run is also timed against a
hand-written NumPy loop (dense-relu-dense, softmax cross-entropy, Adam) doing identical work, and
the ratio of medians is printed last (`ratio: X`, runner over hand-written).

    python benchmarks/reference_step_time.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from lockstep.adapters.reference import ReferenceAdapter
from lockstep.runner import prepare_run, train

ROOT = Path(__file__).resolve().parents[1]


def run_recipe(path: Path) -> tuple[float, int]:
    prep = prepare_run(path)
    session = ReferenceAdapter().build(prep.model, dtype=prep.recipe.dtype, recipe=prep.recipe)
    t0 = time.perf_counter()
    result = train(prep, session)
    return time.perf_counter() - t0, result.steps


def handwritten_mlp(path: Path) -> float:
    """The digits MLP by hand: same data, batches, initial weights, Adam, and steps; no evaluation."""
    prep = prepare_run(path)
    p = {k: v.copy() for k, v in prep.initial.items()}
    names = list(p)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    lr, b1, b2, eps = 0.003, 0.9, 0.999, 1e-8
    t0 = time.perf_counter()
    for step in range(prep.total_steps):
        _, x, y = prep.data.batch(step)
        x = x.astype(np.float64)
        h = x @ p["hidden.weight"] + p["hidden.bias"]
        a = np.maximum(h, 0)
        z = a @ p["logits.weight"] + p["logits.bias"]
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e / e.sum(axis=1, keepdims=True)
        n = len(x)
        dz = s.copy()
        dz[np.arange(n), y] -= 1
        dz /= n
        g = {"logits.weight": a.T @ dz, "logits.bias": dz.sum(0)}
        da = dz @ p["logits.weight"].T * (h > 0)
        g["hidden.weight"] = x.T @ da
        g["hidden.bias"] = da.sum(0)
        t = step + 1
        for k in names:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v2[k] = b2 * v2[k] + (1 - b2) * g[k] ** 2
            p[k] -= lr * (m[k] / (1 - b1**t)) / (np.sqrt(v2[k] / (1 - b2**t)) + eps)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{'recipe':<20}{'steps':>7}{'median ms/step':>16}")
    for path in sorted((ROOT / "examples").glob("*/recipe.yaml")):
        times = []
        for _ in range(args.repeats):
            wall, steps = run_recipe(path)
            times.append(wall / steps)
        print(f"{path.parent.name:<20}{steps:>7}{statistics.median(times) * 1e3:>16.3f}")
    mlp = ROOT / "examples" / "digits-mlp" / "recipe.yaml"
    ours, base = [], []
    for _ in range(args.repeats):  # alternate so machine-load drift hits both alike
        ours.append(run_recipe(mlp)[0])
        base.append(handwritten_mlp(mlp))
    print(f"digits-mlp runner {statistics.median(ours):.3f} s vs hand-written NumPy {statistics.median(base):.3f} s "
          "(the runner also evaluates every 50 steps)")
    print(f"ratio: {statistics.median(ours) / statistics.median(base):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
