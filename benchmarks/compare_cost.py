"""Cost of the re-synchronized judgement: a judged `lockstep compare` against running the backends freely.

For every example recipe (in its own dtype, or `--dtype`), times in one process, alternating:

  judged   `lockstep.compare.run_compare` on fresh sessions: the free run of every backend (the drift table)
           plus, at each judged step, each judged backend's re-synchronized step (`Session.step_from` the
           reference's state) and the step's rules; i.e. `lockstep compare` minus parsing the recipe,
           preparing its data and building sessions, which both sides share;
  free     the same backends trained freely, a plain loop of `train_step` calls on each (the baseline: what
           running them costs without any comparison).

Prints one row per recipe (the minimum over `--repeats` runs of each, which load on a shared machine inflates
least) with the ratio judged / free, then `worst ratio: X` (goal: at most 2).

With `--end-to-end`, also what a user waits for: the wall time of the command `lockstep compare RECIPE --backends
...` against the sum of `lockstep run RECIPE --backend B` for each backend (each a fresh process: imports, parsing,
data, sessions, tracing, training, outputs), and their ratio.

    python benchmarks/compare_cost.py [--backends reference,torch,tensorflow] [--every 1] [--threads N]
                                      [--repeats 3] [--recipes small-cnn,digits-mlp] [--dtype float64]
                                      [--clock wall|cpu] [--end-to-end]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/compare_cost.py` from anywhere
    sys.path.insert(0, str(ROOT))

from lockstep.compare import run_compare  # noqa: E402
from lockstep.conformance.suite import example_recipes  # noqa: E402
from lockstep.runner import Prepared, build_session, masks_for, prepare_run  # noqa: E402


def _sessions(prep: Prepared, names: list[str], threads: int | None) -> dict:
    return {n: build_session(prep, n, threads=threads)[1] for n in names}


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_free(prep: Prepared, names: list[str], threads: int | None, clock=time.perf_counter) -> float:
    sessions = _sessions(prep, names, threads)
    for s in sessions.values():
        s.set_parameters(prep.initial)
    t0 = clock()
    for step in range(prep.total_steps):
        _, x, y = prep.data.batch(step)
        masks = masks_for(prep, step, len(x))
        for s in sessions.values():
            s.train_step(x, y, masks=masks)
    return clock() - t0


def time_judged(prep: Prepared, names: list[str], threads: int | None, every: int, clock=time.perf_counter
                ) -> tuple[float, bool, list[int]]:
    sessions = _sessions(prep, names, threads)
    reference = sessions["reference"] if "reference" in sessions else build_session(prep, "reference")[1]
    t0 = clock()
    result = run_compare(prep, sessions, reference=reference, every=every)
    return clock() - t0, result.agree, result.tiers


def _command_seconds(args: list[str]) -> float:
    """Wall seconds of one `lockstep` command in a fresh process (exit 0 required)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lockstep", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"`lockstep {' '.join(args)}` exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return seconds


def time_commands(recipe: Path, names: list[str], threads: int | None, every: int, dtype: str | None
                  ) -> tuple[float, float]:
    """(the runs' seconds summed, the compare's seconds): the commands as a user types them."""
    common = [*(["--threads", str(threads)] if threads else []), *(["--set", f"dtype={dtype}"] if dtype else [])]
    with tempfile.TemporaryDirectory() as tmp:
        runs = sum(_command_seconds(["run", str(recipe), "--backend", n, "--out", f"{tmp}/{n}", *common])
                   for n in names)
        compare = _command_seconds(["compare", str(recipe), "--backends", ",".join(names), "--every", str(every),
                                    "--out", f"{tmp}/compare", *common])
    return runs, compare


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="reference,torch,tensorflow")
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--recipes", default=None, help="comma-separated example names (default: all)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall time, or this process's CPU time (steadier on a shared machine with --threads 1)")
    p.add_argument("--end-to-end", action="store_true",
                   help="also time the commands: `lockstep compare` against the `lockstep run`s of every backend")
    args = p.parse_args(argv)
    clock = CLOCKS[args.clock]
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    wanted = set(args.recipes.split(",")) if args.recipes else None
    recipes = [r for r in example_recipes() if wanted is None or r.parent.name in wanted]
    print(f"backends {','.join(names)}, every {args.every}, threads {args.threads or 'default'}, "
          f"{args.clock} clock, min of {args.repeats} runs")
    print(f"{'recipe':<18} {'dtype':<8} {'steps':>5} {'free s':>8} {'judged s':>9} {'ratio':>6}  verdict  "
          "tiers (value/floor/derived)")
    ratios, commands = [], []
    for recipe in recipes:
        prep = prepare_run(recipe, dtype=args.dtype)
        free, judged, agree, tiers = [], [], True, [0, 0, 0]
        for _ in range(args.repeats):  # alternating, so that load hits both alike
            free.append(time_free(prep, names, args.threads, clock))
            seconds, ok, tiers = time_judged(prep, names, args.threads, args.every, clock)
            judged.append(seconds)
            agree = agree and ok
        ratio = min(judged) / min(free)
        ratios.append(ratio)
        line = (f"{recipe.parent.name:<18} {prep.recipe.dtype:<8} {prep.total_steps:>5} {min(free):>8.2f} "
                f"{min(judged):>9.2f} {ratio:>6.2f}  {'agree' if agree else 'DIVERGE':<8} {'/'.join(map(str, tiers))}")
        if args.end_to_end:
            pairs = [time_commands(recipe, names, args.threads, args.every, args.dtype) for _ in range(args.repeats)]
            runs, compare = min(r for r, _ in pairs), min(c for _, c in pairs)
            commands.append(compare / runs)
            line += f"   commands: runs {runs:.1f} s, compare {compare:.1f} s, ratio {compare / runs:.2f}"
        print(line, flush=True)
    print(f"worst ratio: {max(ratios):.2f}")
    if commands:
        print(f"worst ratio of the commands (compare / the runs): {max(commands):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
