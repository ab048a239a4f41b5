"""`lockstep run RECIPE --backend B`: train; progress; metrics.jsonl; checkpoints; report; loss plot.

Exit 0 when the run completes, 1 when training fails (a non-finite loss or gradient), 2 for bad input or
I/O (missing or invalid recipe, unknown or uninstalled backend, unusable --out or checkpoint, a folder in use
or holding another run, an output that would overwrite an input, a report that cannot be written): never a
traceback for any of those. Every check of the output folder happens before any training.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockstep.runfolder import RunFolder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE", help="a Recipe document (.yaml, .yml or .json)")
    parser.add_argument("--backend", "-b", default="reference",
                        help="adapter: a name (`lockstep adapters` lists them), an entry point, or module:attribute "
                             "(default: reference)")
    parser.add_argument("--device", default="cpu", help="device for the backend, e.g. cpu, cuda, cuda:1 (default: cpu)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder, locked while the run lives; a new run needs it new or empty "
                             "(default: runs/<recipe name>-<backend>)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    again.add_argument("--overwrite", action="store_true",
                       help="start afresh in an --out holding an earlier run: its metrics.jsonl, report.json, "
                            "loss.svg and checkpoints/ are removed (nothing else is) when the new run can train")
    parser.add_argument("--steps", type=int, metavar="N", help="stop after N steps at most (smoke tests)")
    parser.add_argument("--replicas", type=int, metavar="N",
                        help="data-parallel replicas (default: the recipe's `distribution.replicas`, else 1; under "
                             "torchrun: WORLD_SIZE); torch starts one process per replica (docs/distributed.md)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")


def _fail(exc: Exception, code: int) -> int:
    for d in getattr(exc, "diagnostics", []):
        print(d.format(), file=sys.stderr)
    print(f"lockstep run: {exc}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from lockstep.runfolder import RUN_OUTPUTS, FolderError, check_out_arg, claim, recipe_inputs
    from lockstep.runner import RunError, load_recipe

    if args.steps is not None and args.steps < 1:
        print("lockstep run: --steps must be at least 1", file=sys.stderr)
        return 2
    try:
        check_out_arg(args.out, "--out", "lockstep run")
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:  # the recipe names the default folder and the inputs that no output may overwrite
        loaded = load_recipe(args.recipe)
    except RunError as exc:
        return _fail(exc, exc.exit_code)
    recipe = loaded[0]
    from lockstep.distributed import run_command as run_data_parallel

    code = run_data_parallel(args, loaded)  # --replicas N, the recipe's distribution, torchrun; None: one process
    if code is not None:
        return code
    out = out_folder(args, recipe)
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "fresh"
    try:
        folder = claim(out, outputs=RUN_OUTPUTS, inputs=recipe_inputs(args.recipe, loaded), mode=mode,
                       prog="lockstep run")
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        for note in folder.notes:
            print(f"lockstep run: {note}", file=sys.stderr)
        return _train(args, folder, recipe.checkpoint is not None)
    finally:
        folder.release()


def out_folder(args: argparse.Namespace, recipe) -> Path:
    """`--out`, or runs/<recipe name>-<backend>."""
    return Path(args.out or f"runs/{recipe.metadata.name}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.backend)}")


def _train(args: argparse.Namespace, folder: RunFolder, checkpointed: bool) -> int:
    from lockstep.checkpoint import checkpoints
    from lockstep.progress import Progress
    from lockstep.runfolder import FolderError
    from lockstep.runner import RunError, RunFailed, prepare_sessions, train, write_report

    out = folder.path

    if args.resume:  # said before training starts from step 0, not after
        if not checkpointed:
            print(f"lockstep run: --resume: nothing to resume: the recipe writes no checkpoints (no `checkpoint:` "
                  f"section); training from step 0 into {out}", file=sys.stderr)
        elif (out / "checkpoints").exists() and not (out / "checkpoints").is_dir():
            print(f"lockstep run: {out / 'checkpoints'} is not a folder; remove it, or use another --out",
                  file=sys.stderr)
            return 2
        elif not checkpoints(out / "checkpoints"):
            print(f"lockstep run: --resume: nothing to resume in {out} (no checkpoint); training from step 0",
                  file=sys.stderr)
    ready = prepare_sessions("lockstep run", args.recipe, [args.backend], args.device, args.steps)
    if isinstance(ready, int):
        return ready
    prep, built = ready
    try:  # ready to train: --overwrite removes the previous run's files now, not before the backend was built
        folder.start()
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 2
    adapter, session = built[args.backend]
    name = prep.recipe.metadata.name
    versions = dict(adapter.versions())
    progress = Progress(prep.total_steps, label=f"{name} [{args.backend}]", enabled=not args.quiet)
    t0 = time.perf_counter()

    def report(result, error: str | None = None) -> int:
        """Write report.json and loss.svg; 0, or 2 (said on stderr) when they cannot be written."""
        try:
            write_report(out, prep, result, backend=args.backend, device=args.device, versions=versions,
                         wall=time.perf_counter() - t0, error=error)
        except OSError as exc:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            print(f"lockstep run: cannot write the report in {out}{where}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        return 0

    try:
        result = train(prep, session, out=out, resume=args.resume, progress=progress, backend=args.backend)
    except RunFailed as exc:
        progress.close()
        code = report(exc.result, str(exc))
        return max(_fail(exc, 1), code)  # the run's outcome is said even when its report could not be written
    except RunError as exc:
        progress.close()
        return _fail(exc, exc.exit_code)
    except OSError as exc:  # disk full, permissions: the last complete checkpoint is still there
        progress.close()
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"lockstep run: cannot write in {out}{where}: {exc.strerror or exc}; the last complete checkpoint "
              "is kept (continue with --resume)", file=sys.stderr)
        return 2
    progress.close()
    code = report(result)
    summary = ", ".join(f"{k} {v:.4g}" for k, v in result.eval_metrics.items())
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    print(f"{name}: {result.steps} steps on {args.backend}{resumed}; final train loss {result.final_loss:.4g}; "
          f"eval {summary}; outputs in {out}/")
    return code
