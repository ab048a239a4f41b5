"""`lockstep certify --adapter A`: the property-based conformance suite (conformance/) against the reference.

Exit 0 certified (every supported check passed), 1 not certified, 2 usage error or unusable adapter.
Writes DIR/report.json, DIR/junit.xml, DIR/report.html, DIR/report.md and DIR/failures/<check>/ (a
standalone spec per failure, reproducible with the `lockstep compare ... --conformance` command it names).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

LEVEL_NAMES = {"predictions": 1, "gradients": 2, "updates": 3, "recipes": 4}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lockstep.conformance.suite import DEFAULT_EXAMPLES, DEFAULT_SEED

    parser.add_argument("--adapter", required=True, metavar="A",
                        help="adapter name (built-in or entry point `lockstep.adapters`) or module:attribute")
    parser.add_argument("--level", default="all", metavar="L",
                        help="levels, comma-separated: 1 predictions, 2 gradients, 3 updates, 4 recipes, "
                             "or `all` (default); `3` alone runs level 3 only")
    parser.add_argument("--dtype", default="float32,float64", metavar="D",
                        help="dtypes, comma-separated (default: float32,float64)")
    parser.add_argument("--device", default=None, metavar="X",
                        help="devices, comma-separated (default: every device the adapter offers)")
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, metavar="N",
                        help=f"hypothesis examples per check (default: {DEFAULT_EXAMPLES})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                        help=f"seed of the generated cases; one seed, one set of cases (default: {DEFAULT_SEED})")
    parser.add_argument("--construct", default=None, metavar="C",
                        help="only these constructs or example recipes, comma-separated (e.g. adam,conv2d,small-cnn)")
    parser.add_argument("--recipe-steps", type=int, default=None, metavar="K",
                        help="level 4: judge only the first K steps of each example recipe (default: every step)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="the adapter's intra-op threads (default: OMP_NUM_THREADS if set, else the CPUs "
                             "this process may use); inter-op 1")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="report folder (default: certify-<adapter>/)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")


def parse_levels(text: str) -> tuple[int, ...] | None:
    """`all`, level numbers or names, comma-separated; None when the text is none of those (also used by the
    pytest plugin, so `--level` and `--lockstep-level` read alike)."""
    if text.strip().lower() == "all":
        return (1, 2, 3, 4)
    out = []
    for part in text.split(","):
        p = part.strip().lower()
        if p.isdigit() and int(p) in (1, 2, 3, 4):
            out.append(int(p))
        elif p in LEVEL_NAMES:
            out.append(LEVEL_NAMES[p])
        else:
            return None
    return tuple(sorted(set(out))) or None


class _Progress:
    """One line per finished check when not on a terminal; a live line on a terminal (stderr)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream, self.enabled = stream, enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.t0 = time.perf_counter()

    def __call__(self, done: int, total: int, result) -> None:
        if not self.enabled:
            return
        from lockstep.conformance.report import fmt_margin

        margin = fmt_margin(result.worst)
        outcome = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "unsupported": "unsupported"}[result.outcome]
        elapsed = time.perf_counter() - self.t0
        line = (f"[{done:>{len(str(total))}}/{total}] {result.name:<52} {outcome:<11} {margin:<10} "
                f"{result.examples:>3} ex {result.seconds:6.1f}s  (total {elapsed:5.0f}s)")
        if self.tty and result.outcome == "pass":
            self.stream.write("\r" + line[:160] + "\x1b[K")
        else:
            self.stream.write(("\r\x1b[K" if self.tty else "") + line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from lockstep.adapters.registry import AdapterNotFound, get
    from lockstep.conformance import report
    from lockstep.conformance.suite import SPECS, Options, certify, example_recipes

    levels = parse_levels(args.level)
    if levels is None:
        print(f"lockstep certify: --level {args.level!r}: expected 1-4, level names "
              f"({', '.join(LEVEL_NAMES)}) or `all`", file=sys.stderr)
        return 2
    dtypes = tuple(d.strip() for d in args.dtype.split(",") if d.strip())
    bad = [d for d in dtypes if d not in ("float32", "float64")]
    if bad or not dtypes:
        print(f"lockstep certify: --dtype: expected float32 and/or float64, got {args.dtype!r}", file=sys.stderr)
        return 2
    if args.examples < 1 or (args.recipe_steps is not None and args.recipe_steps < 1) or (
            args.threads is not None and args.threads < 1):
        print("lockstep certify: --examples, --recipe-steps and --threads must be at least 1", file=sys.stderr)
        return 2
    constructs = None
    if args.construct:
        constructs = tuple(c.strip() for c in args.construct.split(",") if c.strip())
        known = {s.construct for s in SPECS} | {p.parent.name for p in example_recipes()}
        unknown = [c for c in constructs if c not in known]
        if unknown:
            from difflib import get_close_matches

            hint = get_close_matches(unknown[0], sorted(known), n=1)
            print(f"lockstep certify: --construct: unknown `{unknown[0]}`"
                  + (f"; did you mean `{hint[0]}`?" if hint else f"; known: {', '.join(sorted(known))}"),
                  file=sys.stderr)
            return 2
    try:
        adapter = get(args.adapter)
        from lockstep.runner import configure_threads

        configure_threads(adapter, args.adapter, args.threads)  # recorded in the report's environment
        offered = list(adapter.devices())
    except AdapterNotFound as exc:
        print(f"lockstep certify: {exc}", file=sys.stderr)
        return 2
    devices = None
    if args.device:
        devices = tuple(d.strip() for d in args.device.split(",") if d.strip())
        missing = [d for d in devices if d not in offered]
        if missing:
            print(f"lockstep certify: adapter `{args.adapter}` offers {', '.join(offered)}; not {missing[0]}",
                  file=sys.stderr)
            return 2
    out = Path(args.report or f"certify-{adapter.name if hasattr(adapter, 'name') else 'adapter'}")
    if out.exists() and not out.is_dir():
        print(f"lockstep certify: --report {out}: exists and is not a folder", file=sys.stderr)
        return 2
    try:  # failures are written as they are found: the folder must be writable before the first check
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".lockstep-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        print(f"lockstep certify: --report {out}: cannot write there ({exc.strerror or exc})", file=sys.stderr)
        return 2
    name = args.adapter
    options = Options(levels=levels, dtypes=dtypes, devices=devices, examples=args.examples, seed=args.seed,
                      constructs=constructs, recipe_steps=args.recipe_steps, report_dir=out)
    progress = _Progress(sys.stderr, not args.quiet)
    if not args.quiet:
        print(f"lockstep certify: adapter `{name}`, levels {','.join(map(str, levels))}, {', '.join(dtypes)}, "
              f"devices {', '.join(devices or offered)}, {args.examples} examples per check, seed {args.seed}",
              file=sys.stderr)
    _clear_failures(out)
    try:
        cert = certify(adapter, name, options, progress)
    finally:
        progress.close()
    try:
        paths = report.write_reports(cert, out)
    except OSError as exc:
        print(f"lockstep certify: cannot write the report to {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(report.summary_table(cert))
    print(f"report: {paths['html']} (also {paths['json'].name}, {paths['junit'].name}, {paths['markdown'].name})")
    return 0 if cert.certified else 1


def _clear_failures(out: Path) -> None:
    """A new certification replaces the failures of an earlier one in the same folder."""
    import shutil

    failures = out / "failures"
    if failures.is_dir():
        shutil.rmtree(failures, ignore_errors=True)
