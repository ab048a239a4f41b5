"""`python -m lockstep.conformance.mutants`: certify every planted-bug adapter and print the detection table.

    python -m lockstep.conformance.mutants [--examples N] [--seed S] [--full] [--mutant NAME,...]

Each mutant is certified with the suite's default settings restricted to the constructs it touches (with
`--full`: the whole default certification, every construct, all levels, float32 and float64), and the
reference adapter is certified on the same constructs as the control (a false alarm, a check the correct
adapter fails, would make every detection meaningless; a check that errors for it too is reported, not a false
alarm). Prints a Markdown table; exits 1 if any mutant escapes or the control fails a check, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from lockstep.conformance.mutants import DTYPES, MUTANTS, Detection, detect, options_for
from lockstep.conformance.results import Certification
from lockstep.conformance.suite import DEFAULT_EXAMPLES, DEFAULT_SEED, Options, certify


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lockstep.conformance.mutants",
                                description="Certify adapters with planted bugs; every one must be caught.")
    p.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, metavar="N",
                   help=f"hypothesis examples per check (default: the suite's, {DEFAULT_EXAMPLES})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                   help=f"seed of the generated cases (default: the suite's, {DEFAULT_SEED})")
    p.add_argument("--full", action="store_true",
                   help="run the whole default certification for each mutant (every construct, all levels, "
                        "float32 and float64) instead of the constructs it touches")
    p.add_argument("--dtype", default=",".join(DTYPES), metavar="D",
                   help=f"dtypes of the restricted runs, comma-separated (default: {','.join(DTYPES)}; "
                        "mutants.DTYPES says why); --full always runs float32 and float64")
    p.add_argument("--mutant", default=None, metavar="NAME",
                   help=f"only these mutants, comma-separated (default: all {len(MUTANTS)})")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    return p


def table(detections: Sequence[Detection]) -> str:
    """The Markdown detection table: mutant | planted bug | caught by | examples until caught | seconds."""
    lines = ["| mutant | planted bug | caught by (check: first diverging quantity) | examples until caught | seconds |",
             "| --- | --- | --- | ---: | ---: |"]
    for d in detections:
        c = d.caught_by
        if d.caught and c is not None:
            more = len(d.failures) - 1
            caught = f"`{c.name}`: {c.message}" + (f" (+{more} more failing)" if more > 0 else "")
            examples = str(c.examples)
        else:
            caught, examples = "**ESCAPED**: " + _escape_note(d), "-"
        lines.append(f"| `{d.mutant.name}` | {d.mutant.plants} | {caught.replace('|', '/')} | {examples} | "
                     f"{d.seconds:.1f} |")
    return "\n".join(lines)


def _escape_note(d: Detection) -> str:
    cert = d.certification
    errors = [c for c in cert.checks if c.outcome == "error"]
    if errors:
        return f"{len(errors)} checks errored, none failed ({errors[0].name}: {errors[0].message[:120]})"
    return f"every check of {', '.join(d.mutant.constructs)} passed"


def control(detections: Sequence[Detection], examples: int, seed: int, full: bool) -> list[Certification]:
    """Each correct adapter the detections' mutants plant bugs in (the reference; onnxruntime for the export
    mutants) on the union of their constructs and dtypes (the whole suite with full)."""
    out = []
    for target in dict.fromkeys(d.mutant.control for d in detections):
        group = [d for d in detections if d.mutant.control == target]
        constructs = tuple(dict.fromkeys(c for d in group for c in d.mutant.constructs))
        dtypes = tuple(dict.fromkeys(t for d in group for t in d.certification.dtypes)) or DTYPES
        adapter = group[0].mutant.load_control()
        levels = tuple(sorted({*Options().levels, *(lv for d in group for lv in d.mutant.levels or ())}))
        out.append(certify(adapter, adapter.name, options_for(None, examples, seed, full=full,
                                                               constructs=constructs, dtypes=dtypes, levels=levels)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.examples < 1:
        print("python -m lockstep.conformance.mutants: --examples must be at least 1", file=sys.stderr)
        return 2
    dtypes = tuple(d.strip() for d in args.dtype.split(",") if d.strip())
    if not dtypes or any(d not in ("float32", "float64") for d in dtypes):
        print(f"python -m lockstep.conformance.mutants: --dtype: expected float32 and/or float64, got {args.dtype!r}",
              file=sys.stderr)
        return 2
    names = list(MUTANTS) if not args.mutant else [n.strip() for n in args.mutant.split(",") if n.strip()]
    unknown = [n for n in names if n not in MUTANTS]
    if unknown or not names:
        print(f"python -m lockstep.conformance.mutants: unknown mutant `{unknown[0] if unknown else ''}`; "
              f"known: {', '.join(MUTANTS)}", file=sys.stderr)
        return 2
    detections: list[Detection] = []
    for name in names:
        mutant = MUTANTS[name]
        if not mutant.available:
            print(f"{name:<34} skipped: needs lockstep-standard[onnx] (onnxruntime is not installed)", file=sys.stderr)
            continue
        wanted = tuple(t for t in dtypes if t in (mutant.dtypes or dtypes)) or mutant.dtypes
        d = detect(mutant, options_for(mutant, args.examples, args.seed, full=args.full, dtypes=wanted))
        detections.append(d)
        if not args.quiet:
            verdict = f"caught by {d.caught_by.name} after {d.caught_by.examples}" if d.caught and d.caught_by \
                else "ESCAPED"
            print(f"{name:<34} {verdict} ({d.seconds:.1f}s)", file=sys.stderr)
    t0 = time.perf_counter()
    controls = control(detections, args.examples, args.seed, args.full)
    seconds = time.perf_counter() - t0
    scope = "the whole default certification" if args.full else "the mutants' constructs"
    print(table(detections))
    print()
    dtypes = ", ".join(dict.fromkeys(t for c in controls for t in c.dtypes))
    where = ("every construct and example recipe, levels 1-4, float32 and float64" if args.full
             else f"every level of the constructs each mutant touches, {dtypes}")
    print(f"Settings: {args.examples} examples per check, seed {args.seed}, {where}.")
    false_alarms = 0
    for ctrl in controls:
        counts = ctrl.counts()
        false_alarms += counts["fail"]
        print(f"Control: the {ctrl.adapter} adapter on {scope}: {'certified' if ctrl.certified else 'NOT CERTIFIED'} "
              f"({counts['pass']} pass, {counts['fail']} fail, {counts['error']} error, "
              f"{counts['unsupported']} unsupported).")
        for c in ctrl.checks:
            if c.outcome in ("fail", "error"):
                print(f"- control {'FALSE ALARM' if c.outcome == 'fail' else 'error'}: {c.name}: {c.message[:200]}")
    print(f"Controls took {seconds:.1f} s.")
    escaped = [d.mutant.name for d in detections if not d.caught]
    if escaped:
        print(f"Escaped: {', '.join(escaped)}.")
    return 0 if not escaped and false_alarms == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
