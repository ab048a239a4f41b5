"""torch's step time on a recipe before and after the runner took charge of threads (issue #10).

Each setting runs in a fresh process (OpenMP reads its environment when torch loads):

  before   torch's own defaults: as many intra-op and inter-op threads as torch picks, OpenMP's default
           (spinning) wait policy: what `lockstep run` did before it set threads;
  after    the runner's defaults: intra-op threads = the CPUs this process may use (`os.sched_getaffinity`),
           one inter-op thread, OMP_WAIT_POLICY=PASSIVE (adapters/torch/__init__.py);
  after-1  the same with `--threads 1`.

Prints the median milliseconds per `train_step` (after a warm-up) of `--repeats` processes each, and the
ratios after / before. `--load N` keeps N busy-looping processes running meanwhile (a busy machine, on
purpose: every core shared), stopped at the end.

    python benchmarks/thread_step_time.py [--recipe examples/lstm-sequences/recipe.yaml] [--steps 120]
                                          [--repeats 3] [--load 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
mode, recipe, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "before":  # torch loads OpenMP before the adapter package could set its wait policy
    import torch
from lockstep.runner import prepare_run, masks_for
prep = prepare_run(recipe, steps)
if mode == "before":
    from lockstep.adapters.torch.session import TorchSession
    session = TorchSession(prep.model, dtype=prep.recipe.dtype, recipe=prep.recipe)
else:
    from lockstep.runner import build_session
    _, session = build_session(prep, "torch", threads=1 if mode == "after-1" else None)
    import torch
session.set_parameters(prep.initial)
times = []
for step in range(prep.total_steps):
    _, x, y = prep.data.batch(step)
    masks = masks_for(prep, step, len(x))
    t0 = time.perf_counter()
    session.train_step(x, y, masks=masks)
    times.append(time.perf_counter() - t0)
warm = times[min(10, len(times) // 4):]
print(json.dumps({{"ms": 1e3 * sorted(warm)[len(warm) // 2], "intra": torch.get_num_threads(),
                   "inter": torch.get_num_interop_threads(),
                   "wait": "default" if mode == "before" else os.environ.get("OMP_WAIT_POLICY", "default")}}))
"""


def run(mode: str, recipe: str, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, recipe, str(steps)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default=str(ROOT / "examples" / "lstm-sequences" / "recipe.yaml"))
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--load", type=int, default=0, help="busy-looping processes kept running meanwhile")
    args = p.parse_args(argv)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    results: dict[str, list[dict]] = {m: [] for m in ("before", "after", "after-1")}
    try:
        for _ in range(args.repeats):  # alternating, so that load hits every setting alike
            for mode in results:
                results[mode].append(run(mode, args.recipe, args.steps))
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    print(f"{Path(args.recipe).parent.name}, torch, {args.steps} steps, median of {args.repeats} processes, "
          f"{args.load} busy processes alongside")
    print(f"{'setting':<9} {'intra':>5} {'inter':>5} {'wait policy':<12} {'ms/step':>8}")
    ms = {}
    for mode, rows in results.items():
        ms[mode] = statistics.median(r["ms"] for r in rows)
        r = rows[0]
        print(f"{mode:<9} {r['intra']:>5} {r['inter']:>5} {r['wait']:<12} {ms[mode]:>8.2f}")
    print(f"ratio after/before: {ms['after'] / ms['before']:.2f}; after-1/before: {ms['after-1'] / ms['before']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
