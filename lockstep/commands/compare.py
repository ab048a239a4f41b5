"""`lockstep compare RECIPE --backends reference,torch[,tensorflow]`: every step judged re-synchronized (each
backend starts each judged step from the reference's exact state after the step before: a verdict is about one
step's math, at any run length, on any machine), and the free-running drift of the whole trajectories shown
beside it, not judged (lockstep/compare.py).

Exit 0 when every judged step of every backend holds, 1 when one does not, 2 for bad input (invalid recipe,
unknown, unavailable or repeated backend, bad arguments, an unusable --out), always before any training.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE", help="a Recipe document (.yaml, .yml or .json)")
    parser.add_argument("--backends", default="reference,torch",
                        help="comma-separated adapter names; the first is the drift baseline, every backend but "
                             "the reference is judged against the reference (default: reference,torch)")
    parser.add_argument("--device", default="cpu",
                        help="device for the framework backends (the reference always runs on the CPU)")
    parser.add_argument("--steps", type=int, metavar="N", help="compare only the first N steps")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=None,
                        help="run the recipe in this dtype instead of its own (e.g. a float32 recipe in float64)")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="judge every N-th step (and the first 3 and the last); the table shows the judged "
                             "steps (default: 1, every step)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="intra-op threads of every backend (default: OMP_NUM_THREADS if set, else the CPUs "
                             "this process may use); inter-op threads are 1")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="stdout format (default: text)")
    parser.add_argument("--out", metavar="DIR", help="also write DIR/compare.json and the plot DIR/compare.svg")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    parser.add_argument("--conformance", action="store_true",
                        help="compare as `lockstep certify` levels 1-3 do (the first backend must be `reference`): "
                             "eval outputs, loss and gradients of the first batch, then loss, learning rate, "
                             "parameters and optimizer state over the steps, under the derived tolerances; this "
                             "replays the failures that certify writes")


def canonical(name: str) -> str:
    """A built-in adapter's name whatever its spelling (`PyTorch`, `tf`); other names as given."""
    from lockstep.adapters.registry import ALIASES, BUILTIN

    key = ALIASES.get(name.lower(), name.lower())
    return key if key in BUILTIN else name


def _usable_out(text: str) -> str | None:
    """Why --out cannot be written to, or None (checked before any training: no run is wasted on it)."""
    import os

    if not text.strip():
        return "--out: an empty path"
    out = Path(text)
    if out.exists() and not out.is_dir():
        return f"--out {out}: exists and is not a folder"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".lockstep-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"--out {out}: cannot write there ({exc.strerror or exc})"
    return None


def _usage(message: str) -> int:
    print(f"lockstep compare: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from lockstep.compare import format_table, plot, run_compare
    from lockstep.progress import Progress
    from lockstep.runner import RunError, build_session, prepare_sessions

    names = [canonical(b.strip()) for b in args.backends.split(",") if b.strip()]
    if len(names) < 2:
        return _usage("give two or more backends, e.g. --backends reference,torch")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return _usage(f"--backends names `{repeated[0]}` more than once (aliases included: pytorch is torch, tf "
                      "is tensorflow)")
    if (args.steps is not None and args.steps < 1) or args.every < 1:
        return _usage("--steps and --every must be at least 1")
    if args.threads is not None and args.threads < 1:
        return _usage("--threads must be at least 1")
    if args.out is not None:
        problem = _usable_out(args.out)
        if problem:
            return _usage(problem)
        # TODO(runfolder): take the run-folder lock on --out here (lockstep/runfolder.py, harden-cli)
    ready = prepare_sessions("lockstep compare", args.recipe, names, args.device, args.steps, threads=args.threads,
                             dtype=args.dtype)
    if isinstance(ready, int):
        return ready
    prep, built = ready
    if args.conformance:
        return _conformance(prep, built, names, args)
    try:  # the judge: the listed reference, or one of its own
        reference = built["reference"][1] if "reference" in built else build_session(prep, "reference")[1]
    except RunError as exc:
        return _usage(str(exc))
    progress = Progress(prep.total_steps, label=f"compare {','.join(names)}", enabled=not args.quiet)
    try:
        result = run_compare(prep, {n: session for n, (_, session) in built.items()}, progress, reference=reference,
                             every=args.every)
    finally:
        progress.close()
    from lockstep.fingerprint import fingerprint

    doc = {**result.to_json(), "recipe": prep.recipe.metadata.name, "recipe_hash": prep.recipe_hash,
           "versions": {n: dict(a.versions()) for n, (a, _) in built.items()}, "environment": fingerprint()}
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(format_table(result))
    if args.out:
        from lockstep.atomic import write_json

        out = Path(args.out)
        try:
            write_json(out / "compare.json", doc)
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
