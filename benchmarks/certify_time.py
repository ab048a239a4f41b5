"""Time of a default `lockstep certify` and its false alarms, per built-in adapter, over several seeds.

For each seed: the certification with default settings (every construct, all four levels, float32 and
float64, the CPU), timed from the first check to the last (adapter import and start-up excluded, they are
printed separately). Prints one row per seed (checks, examples run, failures, errors, seconds, examples/s),
then the totals and, last, `false alarms: N` (checks that failed or errored on an adapter that is correct).

    python benchmarks/certify_time.py --adapter torch [--seeds 0-4] [--examples 6] [--jobs 2]

`--jobs N` runs the checks in N worker processes as `lockstep certify --jobs N` does (each with its share of
`--threads` where given, else 1 thread, as certify's checks have); the default, 1, runs them in this process.
The time is the wall time from the first check to the last, workers' start-up included.

`--cases` also counts the distinct generated cases each run covers (a case's spec hashed: model, training
fields, array seed, batch, steps, targets), per run and over all seeds; `--shared-seed` draws them as before
issue 13 (every check under the run's seed itself, so checks sharing a strategy drew the same cases), for
comparison.

`--against B [--pairs K]` runs this certification for `--adapter` and for adapter B alternately, K pairs (default 3),
each run in a fresh process (one framework imported per process, as `lockstep certify` has it), and prints every
run's time, each pair's ratio and the ratio of the medians: a ratio between two adapters measured in one sitting,
whose pairs show how much the host moves it (issue 13's goal, TensorFlow within 2x torch:
`--adapter tensorflow --against torch`).

`--own` splits the time between the adapter's own calls (its sessions' protocol methods and `build`, each timed
exclusive of the others it calls) and everything else (hypothesis, writing the cases, the reference, the rules),
and prints the adapter's calls by method: what a faster adapter could remove at most.
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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapter", default="torch")
    ap.add_argument("--seeds", default="0", help="e.g. 0-9 or 0,3,7 (default: 0)")
    ap.add_argument("--examples", type=int, default=None, help="examples per check (default: the suite's)")
    ap.add_argument("--dtype", default="float32,float64")
    ap.add_argument("--levels", default="1,2,3,4")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every failing or erroring check")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1: this process)")
    ap.add_argument("--threads", type=int, default=None,
                    help="intra-op threads in all, shared by the workers (default: 1 per check, as lockstep certify)")
    ap.add_argument("--cases", action="store_true", help="count the distinct generated cases (spec hashes)")
    ap.add_argument("--own", action="store_true",
                    help="time the adapter's own calls (its sessions' methods and build) apart from the rest")
    ap.add_argument("--shared-seed", action="store_true",
                    help="every check draws under the run's seed itself (the draws before issue 13), to compare")
    ap.add_argument("--against", metavar="B", help="also time adapter B, alternately, and print the ratio A/B")
    ap.add_argument("--pairs", type=int, default=3, help="with --against: how many (A, B) runs (default 3)")
    args = ap.parse_args(argv)
    try:
        seeds = seed_list(args.seeds)
    except ValueError as exc:
        ap.error(str(exc))
    if args.against is not None:
        if args.pairs < 1:
            ap.error("--pairs must be at least 1")
        if args.cases or args.own or args.shared_seed:
            ap.error("--against times whole runs: --cases, --own and --shared-seed are for one adapter")
        return _against(args, argv if argv is not None else sys.argv[1:])

    t0 = time.perf_counter()
    from lockstep.adapters.registry import get
    from lockstep.conformance import suite
    from lockstep.conformance.parallel import check_threads
    from lockstep.runner import configure_threads

    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        ap.error("--jobs and --threads must be at least 1")
    if args.jobs > 1 and (args.cases or args.own):
        ap.error("--cases and --own count in this process: use them with --jobs 1")
    adapter = get(args.adapter)
    adapter.devices()
    threads = check_threads(args.threads, args.jobs)
    configure_threads(adapter, args.adapter, threads)
    if args.shared_seed:
        suite.check_seed = lambda seed, *_: seed
    cases = _CaseCounter(suite) if args.cases else None
    own = _OwnTimer(adapter) if args.own else None
    startup = time.perf_counter() - t0
    examples = args.examples or suite.DEFAULT_EXAMPLES
    print(f"adapter {args.adapter} ({', '.join(f'{k} {v}' for k, v in adapter.versions().items())}); "
          f"start-up {startup:.1f} s; {examples} examples per check; dtypes {args.dtype}; levels {args.levels}; "
          f"{args.jobs} process{'es' * (args.jobs > 1)} x {threads} threads")
    print(f"{'seed':>5}{'checks':>8}{'examples':>10}{'fail':>6}{'error':>7}{'unsupp.':>9}{'seconds':>9}{'ex/s':>8}"
          f"{'min margin':>12}")
    totals = {"checks": 0, "examples": 0, "fail": 0, "error": 0, "seconds": 0.0}
    for seed in seeds:
        options = suite.Options(levels=tuple(int(x) for x in args.levels.split(",")),
                                dtypes=tuple(args.dtype.split(",")), examples=examples, seed=seed)
        cert = suite.certify(adapter, args.adapter, options, jobs=args.jobs, source=args.adapter, threads=threads)
        counts = cert.counts()
        n_examples = sum(c.examples for c in cert.checks)
        ran = [c for c in cert.checks if c.worst is not None and c.outcome == "pass"]
        min_margin = min((m for c in ran if (m := c.worst.margin) is not None), default=float("inf"))
        print(f"{seed:>5}{len(cert.checks):>8}{n_examples:>10}{counts['fail']:>6}{counts['error']:>7}"
              f"{counts['unsupported']:>9}{cert.seconds:>9.1f}{n_examples / cert.seconds:>8.1f}{min_margin:>12.3g}",
              flush=True)
        if cases is not None:
            print(cases.line(f"seed {seed}"), flush=True)
            cases.next_run()
        if args.verbose:
            for c in cert.checks:
                if c.outcome in ("fail", "error"):
                    print(f"      {c.outcome.upper()} {c.name}: {c.message[:300]}")
        totals["checks"] += len(cert.checks)
        totals["examples"] += n_examples
        totals["fail"] += counts["fail"]
        totals["error"] += counts["error"]
        totals["seconds"] += cert.seconds
    print(f"total: {totals['checks']} checks, {totals['examples']} examples, {totals['seconds']:.1f} s, "
          f"{totals['examples'] / max(totals['seconds'], 1e-9):.1f} examples/s")
    if cases is not None and len(seeds) > 1:
        print(cases.line("all seeds", every=True))
    if own is not None:
        own.report(totals["seconds"])
        own.close()
    print(f"false alarms: {totals['fail'] + totals['error']}")
    return 0 if totals["fail"] + totals["error"] == 0 else 1


def _child_argv(argv: list[str], adapter: str) -> list[str]:
    """This run's arguments for one adapter's run alone: --adapter replaced, --against and --pairs dropped."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--adapter", "--against", "--pairs"):
            skip = "=" not in arg
            continue
        out.append(arg)
    return ["--adapter", adapter, *out]


def _against(args: argparse.Namespace, argv: list[str]) -> int:
    """A and B alternately, each run in a fresh process; every run's seconds, each pair's ratio, the medians'."""
    import re
    import statistics
    import subprocess

    times: dict[str, list[float]] = {args.adapter: [], args.against: []}
    alarms = 0
    for pair in range(1, args.pairs + 1):
        for name in (args.adapter, args.against):
            run = subprocess.run([sys.executable, __file__, *_child_argv(argv, name)], capture_output=True,
                                 text=True, check=False)
            total = re.search(r"^total: .*?, ([\d.]+) s,", run.stdout, re.M)
            alarm = re.search(r"^false alarms: (\d+)$", run.stdout, re.M)
            if total is None or alarm is None:
                print(f"{name}: the run did not finish (exit {run.returncode}):\n{run.stdout[-2000:]}"
                      f"{run.stderr[-2000:]}", file=sys.stderr)
                return 2
            times[name].append(float(total.group(1)))
            alarms += int(alarm.group(1))
        a, b = times[args.adapter][-1], times[args.against][-1]
        print(f"pair {pair}: {args.adapter} {a:.1f} s, {args.against} {b:.1f} s, ratio {a / b:.2f}", flush=True)
    ratios = [a / b for a, b in zip(times[args.adapter], times[args.against], strict=True)]
    med_a, med_b = statistics.median(times[args.adapter]), statistics.median(times[args.against])
    print(f"medians: {args.adapter} {med_a:.1f} s, {args.against} {med_b:.1f} s; ratio of the medians "
          f"{med_a / med_b:.2f} (pairs {min(ratios):.2f}-{max(ratios):.2f})")
    print(f"false alarms: {alarms}")
    return 0 if alarms == 0 else 1


class _OwnTimer:
    """Wall time inside the adapter: `build` and every protocol method of the sessions it builds, each call timed
    exclusive of the timed calls it makes (a default `step_from` is its set_state, train_step and get_state)."""

    METHODS = ("forward", "loss_and_gradients", "train_step", "set_parameters", "get_parameters",
               "get_optimizer_state", "set_optimizer_state", "get_state", "set_state", "step_from")

    def __init__(self, adapter) -> None:
        import collections

        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._stack: list[float] = []
        self._wrapped: set[type] = set()
        build = adapter.build

        def timed_build(*args, **kwargs):
            session = self._timed("build", build)(*args, **kwargs)
            self._wrap_class(type(session))
            return session

        adapter.build = timed_build
        self._restore: list[tuple[object, str, object | None]] = [(adapter, "build", adapter.__dict__.get("build"))]

    def close(self) -> None:
        """Put back what was wrapped (the adapter and its session classes may live on in the process)."""
        for owner, name, saved in reversed(self._restore):
            if saved is None:
                delattr(owner, name)
            else:
                setattr(owner, name, saved)
        self._restore = []

    def _timed(self, label: str, fn):
        import functools
        import time

        @functools.wraps(fn)
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            self._stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t0
                inner = self._stack.pop()
                self.seconds[label] += spent - inner
                self.calls[label] += 1
                if self._stack:
                    self._stack[-1] += spent

        return call

    def _wrap_class(self, cls: type) -> None:
        if cls in self._wrapped:
            return
        self._wrapped.add(cls)
        for name in self.METHODS:
            fn = getattr(cls, name, None)
            if fn is not None:
                self._restore.append((cls, name, cls.__dict__.get(name)))
                setattr(cls, name, self._timed(name, fn))

    def report(self, total: float) -> None:
        own = sum(self.seconds.values())
        print(f"adapter's own calls: {own:.1f} s of {total:.1f} s; everything else (hypothesis, the cases, the "
              f"reference, the rules): {total - own:.1f} s")
        for label, seconds in self.seconds.most_common():
            print(f"  {label:<22}{seconds:>8.2f} s{self.calls[label]:>8} calls")


class _CaseCounter:
    """Every generated case a certification runs, hashed by its spec (`Case.to_json()`), per run and overall."""

    def __init__(self, suite) -> None:
        import hashlib
        import json

        self.run: list[tuple[str, str]] = []  # (spec hash, dtype) of every case run by this run
        self.all: set[str] = set()
        self.generated_all = 0
        real = suite.run_pair

        def counting(target, case, levels, workdir):
            text = json.dumps(case.to_json(), sort_keys=True, separators=(",", ":"))
            self.run.append((hashlib.sha256(text.encode()).hexdigest(), target.dtype))
            return real(target, case, levels, workdir)

        suite.run_pair = counting

    def line(self, label: str, every: bool = False) -> str:
        if every:
            return f"  {label}: {len(self.all)} distinct generated cases of {self.generated_all} run"
        specs = {h for h, _ in self.run}
        pairs = set(self.run)
        return (f"  {label}: {len(self.run)} generated cases run, {len(specs)} distinct specs, {len(pairs)} distinct "
                f"(spec, dtype) pairs")

    def next_run(self) -> None:
        self.all.update(h for h, _ in self.run)
        self.generated_all += len(self.run)
        self.run = []


if __name__ == "__main__":
    raise SystemExit(main())
