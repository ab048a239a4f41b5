"""`lockstep run RECIPE --backend B`: train; progress; metrics.jsonl; checkpoints; report; plot (`lockstep.run`).

Exit 0 when the run completes, 1 when training fails (a non-finite loss or gradient), 2 for bad input or
I/O (missing or invalid recipe or override, unknown or uninstalled backend, unusable --out or checkpoint, a folder
in use or holding another run, an output that would overwrite an input, a report that cannot be written, no
TensorBoard writer for --tensorboard): never a traceback for any of those. Every check of the output folder
happens before any training.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockstep.api import RunResult


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
                            "loss.svg, recipe.resolved.yaml, tensorboard/ and checkpoints/ are removed (nothing else "
                            "is) when the new run can train")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a field of the recipe, e.g. --set optimizer.learning_rate=0.01 --set "
                             "training.steps=50 (repeatable; the value is YAML; validated like the file; the "
                             "effective recipe is written to recipe.resolved.yaml)")
    parser.add_argument("--seed", type=int, metavar="S", help="the recipe's seed (the same as --set seed=S)")
    parser.add_argument("--steps", type=int, metavar="N", help="stop after N steps at most (smoke tests)")
    parser.add_argument("--replicas", type=int, metavar="N",
                        help="data-parallel replicas (default: the recipe's `distribution.replicas`, else 1; under "
                             "torchrun: WORLD_SIZE); torch starts one process per replica (docs/distributed.md)")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write TensorBoard event files into DIR/tensorboard/ (needs the tensorboard "
                             "package or TensorFlow)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="intra-op threads (default: OMP_NUM_THREADS if set, else the CPUs this process may "
                             "use); inter-op threads are 1")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    from lockstep import api
    from lockstep.errors import LockstepError
    from lockstep.runfolder import FolderError
    from lockstep.spec.diagnostics import escape_text

    def say(message: str) -> None:
        print(f"lockstep run: {message}", file=sys.stderr)

    from lockstep.distributed import run_command as run_data_parallel

    if isinstance(args.backend, str):  # `PyTorch` is `torch`: one folder name, one name in checkpoints and reports
        args.backend = api.canonical_backend(args.backend)
    code = run_data_parallel(args)  # --replicas N, the recipe's distribution, torchrun; None: one process
    if code is not None:
        return code
    try:
        result = api.run(args.recipe, args.backend, args.out, args.resume, args.overrides, seed=args.seed,
                         device=args.device, steps=args.steps, overwrite=args.overwrite, tensorboard=args.tensorboard,
                         progress=not args.quiet, log=say, threads=args.threads)
    except FolderError as exc:  # its sentence names the command already
        print(exc, file=sys.stderr)
        return 2
    except LockstepError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        say(escape_text(str(exc)))
        if exc.result is not None and not isinstance(exc, api.TrainingFailed):
            _summary(exc.result)  # trained, but the report could not be written
        return exc.exit_code
    _summary(result)
    return 0


def _summary(r: RunResult) -> None:
    from lockstep.runfolder import said

    metrics = ", ".join(f"{k} {v:.4g}" for k, v in r.metrics.items())
    resumed = f" (resumed at step {r.resumed_from})" if r.resumed_from else ""
    evaluated = f"eval {metrics}; " if metrics else ""  # `evaluation: {metrics: []}` evaluates nothing
    # the folder where its files are (a folder moved mid-run: where it went); one removed mid-run kept nothing
    kept = f"outputs in {said(r.folder)}/" if r.folder.is_dir() else "no outputs kept (its folder was removed)"
    print(f"{r.recipe.metadata.name}: {r.steps} step{'s' * (r.steps != 1)} on {r.backend}{resumed}; final train loss "
          f"{r.final_loss:.4g}; {evaluated}{kept}")
