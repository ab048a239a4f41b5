"""Overhead of `lockstep run` over an idiomatic hand-written training loop doing the same work.

For every example recipe that the backend's hand-written baseline covers (benchmarks/baselines/
<backend>_loop.py, interface in benchmarks/baselines/__init__.py), times in one process, alternating:

  lockstep      the adapter's session built and driven by the runner (`runner.train`: per-step
                metrics.jsonl, the recipe's evaluations and checkpoints), i.e. `lockstep run` minus
                parsing the recipe and preparing its data, which both sides share;
  hand-written  the same model written by hand, the same initial weights, batches, optimizer, schedule,
                clipping, L2, evaluation cadence, a loss log line per step and checkpoints (torch.save).

Prints one row per recipe (median seconds of `--repeats` runs each) and, last, `ratio: X`: the median
over recipes of lockstep / hand-written (goal: at most 1.05 on a CPU).

    python benchmarks/runner_overhead.py --backend torch [--device cpu|cuda] [--repeats 5] [--threads 1]
                                         [--clock wall|cpu] [--recipes digits-mlp,small-cnn]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/runner_overhead.py` from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks import baselines  # noqa: E402
from lockstep.adapters.registry import get  # noqa: E402
from lockstep.runner import Prepared, prepare_run, train  # noqa: E402


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_lockstep(prep: Prepared, backend: str, device: str, clock=time.perf_counter) -> float:
    with tempfile.TemporaryDirectory() as out:
        t0 = clock()
        session = get(backend).build(prep.model, dtype=prep.recipe.dtype, device=device, recipe=prep.recipe)
        train(prep, session, out=Path(out), backend=backend)
        _sync(device)
        return clock() - t0


def time_baseline(module, prep: Prepared, device: str, clock=time.perf_counter) -> float:
    """The baseline times itself on the wall clock; for `--clock cpu` the process CPU time is taken around it."""
    with tempfile.TemporaryDirectory() as out:
        if clock is time.perf_counter:
            return module.train(prep, device, Path(out))
        t0 = clock()
        module.train(prep, device, Path(out))
        return clock() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="torch", help=f"one of {', '.join(baselines.available())}")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per side and recipe (after one warm-up)")
    ap.add_argument("--threads", type=int, help="framework intra-op threads for both sides (default: its own)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall (default) or cpu: process CPU time, steadier on a shared machine (CPU, one thread)")
    ap.add_argument("--recipes", help="comma-separated example names (default: every example the baseline covers)")
    args = ap.parse_args(argv)
    try:
        module = baselines.load(args.backend)
    except ModuleNotFoundError as exc:
        print(f"runner_overhead: no hand-written baseline for `{args.backend}` here ({exc})", file=sys.stderr)
        return 2
    if hasattr(module, "configure"):
        module.configure(args.threads)
    wanted = set(args.recipes.split(",")) if args.recipes else None
    ratios = []
    print(f"backend {args.backend}, device {args.device}, {args.repeats} repeats, threads {args.threads or 'default'}, "
          f"median {args.clock}-clock seconds per run")
    print(f"{'recipe':<18}{'dtype':>8}{'steps':>7}{'lockstep s':>12}{'hand-written s':>16}{'ratio':>8}")
    for path in sorted((ROOT / "examples").glob("*/recipe.yaml")):
        if wanted is not None and path.parent.name not in wanted:
            continue
        prep = prepare_run(path)
        name = prep.recipe.metadata.name
        if not module.supports(prep):
            print(f"{name:<18}  (no hand-written {args.backend} loop for this recipe: skipped)")
            continue
        clock = CLOCKS[args.clock]
        time_lockstep(prep, args.backend, args.device)  # warm-up: allocator, kernels, lazy imports
        time_baseline(module, prep, args.device)
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(time_lockstep(prep, args.backend, args.device, clock))
            theirs.append(time_baseline(module, prep, args.device, clock))
        mo, mt = statistics.median(ours), statistics.median(theirs)
        ratios.append(mo / mt)
        print(f"{name:<18}{prep.recipe.dtype:>8}{prep.total_steps:>7}{mo:>12.4f}{mt:>16.4f}{mo / mt:>8.3f}")
    if not ratios:
        print("runner_overhead: no recipe to time", file=sys.stderr)
        return 2
    print(f"ratio: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
