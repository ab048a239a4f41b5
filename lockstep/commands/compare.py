"""`lockstep compare RECIPE --backends reference,torch`: exit 0 when all agree, 1 when not, 2 usage."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE")
    parser.add_argument("--backends", default="reference,torch", help="comma-separated; the first is the baseline")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, help="compare only the first N steps")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--out", metavar="DIR", help="write compare.json and loss/difference plots here")
    parser.add_argument("--every", type=int, default=1, help="print every Nth step in the table")


def run(args: argparse.Namespace) -> int:
    from lockstep.compare import format_table, plot, run_compare
    from lockstep.runner import prepare_sessions

    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if len(names) < 2:
        print("lockstep compare: give at least two backends", file=sys.stderr)
        return 2
    ready = prepare_sessions("lockstep compare", args.recipe, names, args.device, args.steps)
    if isinstance(ready, int):
        return ready
    prep, built = ready
    result = run_compare(prep, {n: session for n, (_, session) in built.items()})
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_table(result, args.every))
    if args.out:
        from lockstep.atomic import write_json

        out = Path(args.out)
        write_json(out / "compare.json", result.to_json())
        plot(result, out / "compare.svg")
    return 0 if result.agree else 1
