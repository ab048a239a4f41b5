"""`lockstep run RECIPE --backend B`: train; progress; metrics.jsonl; checkpoints; report; loss plot.

Exit 0 when the run completes, 1 when training fails (a non-finite loss or gradient), 2 for bad input
(missing or invalid recipe, unknown or uninstalled backend, unusable --out or checkpoint): never a
traceback for any of those.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE", help="a Recipe document (.yaml, .yml or .json)")
    parser.add_argument("--backend", "-b", default="reference",
                        help="adapter: a name (`lockstep adapters` lists them), an entry point, or module:attribute "
                             "(default: reference)")
    parser.add_argument("--device", default="cpu", help="device for the backend, e.g. cpu, cuda, cuda:1 (default: cpu)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/<recipe name>-<backend>)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--steps", type=int, metavar="N", help="stop after N steps at most (smoke tests)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="intra-op threads (default: OMP_NUM_THREADS if set, else the CPUs this process may "
                             "use); inter-op threads are 1")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")


def _fail(exc: Exception, code: int) -> int:
    for d in getattr(exc, "diagnostics", []):
        print(d.format(), file=sys.stderr)
    print(f"lockstep run: {exc}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from lockstep.progress import Progress
    from lockstep.runner import RunError, RunFailed, prepare_sessions, train, write_report

    if (args.steps is not None and args.steps < 1) or (args.threads is not None and args.threads < 1):
        print("lockstep run: --steps and --threads must be at least 1", file=sys.stderr)
        return 2
    ready = prepare_sessions("lockstep run", args.recipe, [args.backend], args.device, args.steps,
                             threads=args.threads)
    if isinstance(ready, int):
        return ready
    prep, built = ready
    adapter, session = built[args.backend]
    name = prep.recipe.metadata.name
    out = Path(args.out or f"runs/{name}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.backend)}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"lockstep run: cannot use {out} as the output folder ({exc.strerror or exc})", file=sys.stderr)
        return 2
    versions = dict(adapter.versions())
    progress = Progress(prep.total_steps, label=f"{name} [{args.backend}]", enabled=not args.quiet)
    t0 = time.perf_counter()
    try:
        result = train(prep, session, out=out, resume=args.resume, progress=progress, backend=args.backend)
    except RunFailed as exc:
        progress.close()
        write_report(out, prep, exc.result, backend=args.backend, device=args.device, versions=versions,
                     wall=time.perf_counter() - t0, error=str(exc))
        return _fail(exc, 1)
    except RunError as exc:
        progress.close()
        return _fail(exc, exc.exit_code)
    except OSError as exc:  # disk full, permissions: the last complete checkpoint is still there
        progress.close()
        print(f"lockstep run: cannot write to {out}: {exc}", file=sys.stderr)
        return 1
    progress.close()
    write_report(out, prep, result, backend=args.backend, device=args.device, versions=versions,
                 wall=time.perf_counter() - t0)
    if args.resume and result.resumed_from is None:
        print(f"lockstep run: nothing to resume in {out} (no checkpoint); trained from step 0", file=sys.stderr)
    summary = ", ".join(f"{k} {v:.4g}" for k, v in result.eval_metrics.items())
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    print(f"{name}: {result.steps} steps on {args.backend}{resumed}; final train loss {result.final_loss:.4g}; "
          f"eval {summary}; outputs in {out}/")
    return 0
