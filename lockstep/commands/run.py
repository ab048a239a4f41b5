"""`lockstep run RECIPE --backend B`: train; progress; metrics.jsonl; checkpoints; report; loss plot."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE")
    parser.add_argument("--backend", default="reference", help="adapter name, entry point or module:attribute")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/<recipe>-<backend>)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--steps", type=int, help="stop after this many steps (smoke tests)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    from lockstep.adapters.registry import AdapterNotFound, get
    from lockstep.progress import Progress
    from lockstep.runner import RunError, prepare_run, train, write_report

    if args.steps is not None and args.steps < 1:
        print("lockstep run: --steps must be at least 1", file=sys.stderr)
        return 2
    try:
        prep = prepare_run(args.recipe, args.steps)
        adapter = get(args.backend)
        session = adapter.build(prep.model, dtype=prep.recipe.dtype, device=args.device, recipe=prep.recipe)
    except RunError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        print(f"lockstep run: {exc}", file=sys.stderr)
        return exc.exit_code
    except (AdapterNotFound, ValueError, KeyError) as exc:
        print(f"lockstep run: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or f"runs/{prep.recipe.metadata.name}-{args.backend.replace(':', '_')}")
    progress = Progress(prep.total_steps, label=f"{prep.recipe.metadata.name} [{args.backend}]",
                        enabled=not args.quiet)
    t0 = time.perf_counter()
    try:
        result = train(prep, session, out=out, resume=args.resume, progress=progress)
    except RunError as exc:
        progress.close()
        print(f"lockstep run: {exc}", file=sys.stderr)
        return exc.exit_code
    progress.close()
    write_report(out, prep, result, backend=args.backend, device=args.device, versions=adapter.versions(),
                 wall=time.perf_counter() - t0)
    summary = ", ".join(f"{k} {v:.4g}" for k, v in result.eval_metrics.items())
    print(f"{prep.recipe.metadata.name}: {result.steps} steps on {args.backend}; final train loss "
          f"{result.final_loss:.4g}; eval {summary}; outputs in {out}/")
    return 0
