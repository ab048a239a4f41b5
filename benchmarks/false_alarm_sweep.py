"""False-alarm sweep: certify a *correct* adapter over many seeds and print every check that does not pass.

A certification draws different cases under each `--seed` (edge classes included: conformance/edges.py), so a
tolerance that is too tight, or an edge the adapter mishandles, shows up as a failure on some seed. Every
failure is either a real framework/adapter bug (docs/conformance.md, "Found in real frameworks") or a bound to
fix in the construct's rule module; none may be waved through.

    python benchmarks/false_alarm_sweep.py --adapter torch --seeds 0-19
    python benchmarks/false_alarm_sweep.py --adapter tensorflow --seeds 0-4 --report /tmp/sweep-tf

Levels default to 1-3 (the generated cases; level 4's example recipes do not depend on the edge strategies but
do follow `--seed`: add `--level 1,2,3,4`). Exit 0 when every seed certifies, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import seed_list  # noqa: E402 - after the repository root is on the path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 0,3,7 (default 0-19)")
    parser.add_argument("--level", default="1,2,3")
    parser.add_argument("--dtype", default="float32,float64")
    parser.add_argument("--construct", default=None, help="only these constructs, comma-separated")
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--report", type=Path, default=None, help="a report folder per failing seed under DIR")
    try:
        args = parser.parse_args(argv)
        seeds = seed_list(args.seeds)
        levels = tuple(int(v) for v in args.level.split(","))
    except ValueError as exc:
        print(f"false_alarm_sweep: {exc}", file=sys.stderr)
        return 2

    from lockstep.adapters.registry import get
    from lockstep.conformance import suite
    from lockstep.errors import LockstepError

    try:
        adapter = get(args.adapter)
    except (LockstepError, KeyError) as exc:
        print(f"false_alarm_sweep: {exc}", file=sys.stderr)
        return 2
    known = {s.construct for s in suite.SPECS}
    unknown = sorted(set(args.construct.split(",")) - known) if args.construct else []
    if unknown or not seeds or (args.examples is not None and args.examples < 1):
        print(f"false_alarm_sweep: unknown constructs {', '.join(unknown)}" if unknown
              else "false_alarm_sweep: need at least one seed and one example", file=sys.stderr)
        return 2
    if args.report is not None:
        try:
            args.report.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"false_alarm_sweep: cannot create the report folder {args.report}: {exc.strerror}", file=sys.stderr)
            return 2
    failures = 0
    t_all = time.perf_counter()
    for seed in seeds:
        report = args.report / f"seed-{seed}" if args.report else None
        options = suite.Options(levels=levels, dtypes=tuple(args.dtype.split(",")), seed=seed,
                                examples=args.examples or suite.DEFAULT_EXAMPLES, report_dir=report,
                                constructs=tuple(args.construct.split(",")) if args.construct else None)
        t0 = time.perf_counter()
        cert = suite.certify(adapter, args.adapter, options)
        if report is not None and not cert.certified:
            from lockstep.conformance.report import write_reports

            write_reports(cert, report)
        bad = [c for c in cert.checks if c.outcome in ("fail", "error")]
        failures += bool(bad)
        print(f"seed {seed}: {len(cert.checks)} checks, {len(bad)} not passing, "
              f"{sum(c.examples for c in cert.checks)} examples, {time.perf_counter() - t0:.0f} s", flush=True)
        for c in bad:
            where = f" [{c.failure_dir}]" if c.failure_dir else ""
            print(f"  {c.outcome.upper()} {c.name}: {c.message}{where}", flush=True)
    print(f"{len(seeds) - failures} of {len(seeds)} seeds certified; {failures} with a failure "
          f"({time.perf_counter() - t_all:.0f} s)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
