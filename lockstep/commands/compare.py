"""`lockstep compare RECIPE --backends reference,torch[,tensorflow]`: one recipe on several backends in lock
step (same initial bits, same batches, same dropout masks); a per-step table of losses and relative
differences against the first backend, and the first step and quantity that exceed the tolerance.

Exit 0 when every backend agrees with the first at every step, 1 when one diverges, 2 for bad input
(invalid recipe, unknown or unavailable backend, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE", help="a Recipe document (.yaml, .yml or .json)")
    parser.add_argument("--backends", default="reference,torch",
                        help="comma-separated adapter names; the first is the baseline (default: reference,torch)")
    parser.add_argument("--device", default="cpu",
                        help="device for the framework backends (the reference always runs on the CPU)")
    parser.add_argument("--steps", type=int, metavar="N", help="compare only the first N steps")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="stdout format (default: text)")
    parser.add_argument("--out", metavar="DIR", help="also write DIR/compare.json and the plot DIR/compare.svg")
    parser.add_argument("--every", type=int, default=1, metavar="K", help="text table: print every Kth step")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    parser.add_argument("--conformance", action="store_true",
                        help="compare as `lockstep certify` does (the first backend must be `reference`): eval "
                             "outputs, loss and gradients of the first batch, then loss, learning rate, parameters "
                             "and optimizer state over the steps, under the derived tolerances; this replays the "
                             "failures that certify writes")


def run(args: argparse.Namespace) -> int:
    from lockstep.compare import format_table, plot, run_compare
    from lockstep.progress import Progress
    from lockstep.runner import prepare_sessions

    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        print("lockstep compare: give two or more different backends, e.g. --backends reference,torch",
              file=sys.stderr)
        return 2
    if (args.steps is not None and args.steps < 1) or args.every < 1:
        print("lockstep compare: --steps and --every must be at least 1", file=sys.stderr)
        return 2
    ready = prepare_sessions("lockstep compare", args.recipe, names, args.device, args.steps)
    if isinstance(ready, int):
        return ready
    prep, built = ready
    if args.conformance:
        return _conformance(prep, built, names, args)
    progress = Progress(prep.total_steps, label=f"compare {','.join(names)}", enabled=not args.quiet)
    try:
        result = run_compare(prep, {n: session for n, (_, session) in built.items()}, progress)
    finally:
        progress.close()
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_table(result, args.every))
    if args.out:
        from lockstep.atomic import write_json

        out = Path(args.out)
        try:
            write_json(out / "compare.json", result.to_json())
            plot(result, out / "compare.svg")
        except OSError as exc:
            print(f"lockstep compare: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return 0 if result.agree else 1


def _conformance(prep, built, names: list[str], args: argparse.Namespace) -> int:
    """The conformance levels 1-3 on this recipe, the reference against each other backend."""
    from lockstep.conformance.levels import Pair, run_levels

    if names[0] != "reference":
        print("lockstep compare: --conformance compares against the reference: give --backends reference,A",
              file=sys.stderr)
        return 2
    reference = built["reference"][1]
    report: dict[str, list[dict]] = {}
    ok = True
    for name in names[1:]:
        pair = Pair(prep, reference, built[name][1], prep.recipe.dtype)
        rows = []
        for level, checks in run_levels(pair, (1, 2, 3), reraise_unsupported=False).items():
            if isinstance(checks, Exception):  # the adapter raised: an error to report, not a traceback
                rows.append({"level": level, "quantity": "error", "error": "inf", "tolerance": 0.0, "ratio": "inf",
                             "ok": False, "text": f"{name} raised {type(checks).__name__}: {checks}"})
                continue
            for c in checks:
                rows.append({"level": level, "quantity": c.quantity, "error": c.error, "tolerance": c.tolerance,
                             "ratio": c.ratio, "ok": c.ok, "text": c.describe()})
        report[name] = rows
        ok = ok and all(r["ok"] for r in rows)
    if args.format == "json":
        print(json.dumps({"agree": ok, "dtype": prep.recipe.dtype, "backends": names,
                          "checks": {b: [{k: v for k, v in r.items() if k != "text"} for r in rows]
                                     for b, rows in report.items()}}, indent=2, default=str))
        return 0 if ok else 1
    for name, rows in report.items():
        bad = [r for r in rows if not r["ok"]]
        print(f"{name} against reference ({prep.recipe.dtype}, {len(rows)} comparisons, conformance tolerances):")
        for r in rows:
            if not r["ok"] or args.every == 1:
                print(f"  {'ok  ' if r['ok'] else 'FAIL'} level {r['level']} {r['text']}")
        if bad:
            print(f"{name} diverges: first at {bad[0]['text']}")
        else:
            print(f"{name} agrees with the reference in every comparison")
    return 0 if ok else 1
