"""Overhead of `lockstep run` over an idiomatic hand-written training loop doing the same work.

For each example recipe with a hand-written baseline (benchmarks/baselines/<framework>_loop.py), times
in one run, alternating, (a) the runner as `lockstep run` drives it (adapter session, metrics.jsonl,
checkpoints, evaluation) and (b) the hand-written loop (same model, initial weights, batches,
optimizer, schedule, clipping and evaluation cadence). Prints a table, then the median of the per-recipe
time ratios last: `ratio: X` (runner / hand-written; goal <= 1.05 on CPU).

    python benchmarks/runner_overhead.py --backend torch [--device cpu] [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
import time
from pathlib import Path

from lockstep.adapters.registry import get
from lockstep.runner import prepare_run, train

ROOT = Path(__file__).resolve().parents[1]


def run_lockstep(prep, backend: str, device: str) -> float:
    session = get(backend).build(prep.model, dtype=prep.recipe.dtype, device=device, recipe=prep.recipe)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        train(prep, session, out=Path(out))
        return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="torch", choices=["torch", "tensorflow"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    baseline = importlib.import_module(f"benchmarks.baselines.{args.backend}_loop")
    if args.backend == "torch":
        import torch

        torch.set_num_threads(max(1, torch.get_num_threads()))
    ratios = []
    print(f"{'recipe':<20}{'steps':>7}{'lockstep s':>12}{'hand-written s':>16}{'ratio':>8}")
    for name in baseline.MODELS:
        prep = prepare_run(ROOT / "examples" / name / "recipe.yaml")
        ours, theirs = [], []
        run_lockstep(prep, args.backend, args.device)  # warm-up both (allocator, kernels)
        baseline.train(prep, name)
        for _ in range(args.repeats):
            ours.append(run_lockstep(prep, args.backend, args.device))
            theirs.append(baseline.train(prep, name))
        mo, mt = statistics.median(ours), statistics.median(theirs)
        ratios.append(mo / mt)
        print(f"{name:<20}{prep.total_steps:>7}{mo:>12.3f}{mt:>16.3f}{mo / mt:>8.3f}")
    print(f"ratio: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
