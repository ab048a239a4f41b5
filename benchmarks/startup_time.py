"""Start-up time of `lockstep` commands: the lazy command line against the eager one it replaced.

`lockstep X` imports only the module of command X (lockstep/cli.py). The baseline is the eager command line
that this replaced: every command module imported and given its options (certify's defaults come from the
conformance suite, so hypothesis and NumPy too) before parsing, then the same `main`. Both are whole `python`
processes, timed alternately in one run, median of N; `python -c pass` shows the interpreter's own start-up.
Prints a table, then `ratio: X` last (lazy / eager for validating one example; goal < 1).

    python benchmarks/startup_time.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits-mlp" / "recipe.yaml"

LAZY = "import sys; from lockstep.cli import main; sys.exit(main(sys.argv[1:]))"
EAGER = ("import sys; import lockstep.cli as cli\n"
         "eager = cli.build_parser\n"
         "cli.build_parser = lambda command=None, every=False: eager(command, every=True)\n"
         "sys.exit(cli.main(sys.argv[1:]))")

CASES = {
    "validate --help": ["validate", "--help"],
    "validate one example": ["validate", str(EXAMPLE)],
    "--version": ["--version"],
}


def _time(code: str, args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, cwd=ROOT)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{args}: exit {proc.returncode}\n{proc.stderr.decode()}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    opts = ap.parse_args()
    bare = statistics.median(_time("pass", []) for _ in range(opts.repeats))
    print(f"python -c pass: {bare:.3f} s")
    print(f"{'command':<24}{'lazy s':>10}{'eager s':>10}{'ratio':>8}")
    ratio = 0.0
    for name, args in CASES.items():
        lazy, eager = [], []
        for _ in range(opts.repeats):  # alternate, so load on a shared machine hits both alike
            lazy.append(_time(LAZY, args))
            eager.append(_time(EAGER, args))
        lz, eg = statistics.median(lazy), statistics.median(eager)
        print(f"{name:<24}{lz:>10.3f}{eg:>10.3f}{lz / eg:>8.3f}")
        if name == "validate one example":
            ratio = lz / eg
    print(f"ratio: {ratio:.3f}")


if __name__ == "__main__":
    main()
