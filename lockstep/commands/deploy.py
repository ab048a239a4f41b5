"""`lockstep deploy RECIPE_OR_RUN --environment ENV`: export, run on the target, check against the reference
(`lockstep.deploy`).

Exit 0 when every check holds (predictions within the tolerance at every batch size, or the metric budget
for int8; the latency budget; the requirements), 1 when one fails (or the model cannot be exported), 2 for
bad input found before any work (missing weights, a runtime or provider not installed, an unwritable
folder, an invalid document). See lockstep/deploy.py and docs/tutorials/deploy.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from lockstep.spec.atomic import json_text

if TYPE_CHECKING:
    from lockstep.deploy import Result

PROG = "lockstep deploy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="RECIPE_OR_RUN",
                        help="a finished run folder (its final checkpoint is deployed) or a recipe with --weights")
    parser.add_argument("--environment", "-e", required=True, metavar="ENV",
                        help="the Environment document of the target (runtime onnxruntime)")
    parser.add_argument("--weights", "-w", metavar="CKPT",
                        help="a checkpoint (step-XXXXXXXX.npz) or an .npz of canonical parameters "
                             "(default for a run folder: its final checkpoint; a run that did not finish needs "
                             "--weights)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: deploy/<environment name>)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="what to print: the text summary (default) or deploy.json")
    parser.add_argument("--exporter", choices=("spec", "torch"), default="spec",
                        help="spec (default): ONNX built from the Model document itself, no framework needed; "
                             "torch: torch.onnx.export of the torch adapter's module (TorchScript exporter)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    from lockstep import api
    from lockstep.commands import stdout_to_stderr
    from lockstep.errors import LockstepError
    from lockstep.spec.diagnostics import escape_text

    try:
        with stdout_to_stderr(args.format == "json"):  # the exporter's, the runtime's and the adapters' prints
            result = api.deploy(args.source, args.environment, weights=args.weights, out=args.out,
                                exporter=args.exporter, progress=not args.quiet)
    except LockstepError as exc:
        from lockstep.deploy import Result

        if isinstance(exc.result, Result):  # checked, but its files could not be written: the verdict still said
            _say(exc.result, args.format, written=False)
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        print(f"{PROG}: {escape_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    _say(result, args.format)
    return 0 if result.ok else 1


def _say(result: Result, form: str, written: bool = True) -> None:
    """The deployment's report on standard output; without its `outputs:` line where none was written."""
    if form == "json":
        print(json_text(result.report), end="")  # as deploy.json is written: "nan", never a bare NaN
    else:
        print(result.summary if written else result.summary.rsplit("\n", 1)[0])
