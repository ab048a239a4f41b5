"""`lockstep certify --adapter A`: the property-based conformance suite (conformance/) against the reference.

Exit 0 certified (every supported check passed), 1 not certified, 2 usage error or unusable adapter.
Writes DIR/report.json, DIR/junit.xml, DIR/report.html, DIR/report.md and DIR/failures/<check>/ (a
standalone spec per failure, reproducible with the command it names: `lockstep compare ... --conformance`, or
for a data-parallel failure (level 5) `lockstep certify ... --level 5 --construct C`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from lockstep.arglists import CommaList


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lockstep.conformance.suite import DEFAULT_EXAMPLES, DEFAULT_SEED

    parser.add_argument("--adapter", required=True, metavar="A",
                        help="adapter name (built-in or entry point `lockstep.adapters`) or module:attribute")
    parser.add_argument("--level", action=CommaList, default="all", metavar="L",
                        help="levels, comma-separated: 1 predictions, 2 gradients, 3 updates, 4 recipes, "
                             "5 data_parallel, or `all` (default: 1-4; level 5 starts worker processes and is "
                             "asked for by name or number); `3` alone runs level 3 only")
    parser.add_argument("--dtype", action=CommaList, default="float32,float64", metavar="D",
                        help="dtypes, comma-separated (default: float32,float64)")
    parser.add_argument("--device", action=CommaList, default=None, metavar="X",
                        help="devices, comma-separated (default: every device the adapter offers)")
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, metavar="N",
                        help=f"hypothesis examples per check (default: {DEFAULT_EXAMPLES})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                        help=f"seed of the generated cases; one seed, one set of cases (default: {DEFAULT_SEED})")
    parser.add_argument("--construct", action=CommaList, default=None, metavar="C",
                        help="only these constructs or example recipes, comma-separated (e.g. adam,conv2d,small-cnn)")
    parser.add_argument("--recipe-steps", type=int, default=None, metavar="K",
                        help="levels 4 and 5: judge only the first K steps of each example recipe (default: "
                             "every step at level 4, 5 at level 5)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="the adapter's intra-op threads (default: 1 per check, with any --jobs, so that "
                             "--jobs never changes a figure); inter-op 1")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="run the checks in N worker processes (default: the CPUs this process may use; 1: in "
                             "this process); the report is the one a single process gives. A --threads given is then "
                             "the total the workers share")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="stop a check still running after SECONDS (a hanging adapter): its worker process is "
                             "killed and the check reported an error, the others go on (default: no limit; it runs "
                             "the checks in worker processes, one at least). Loading the adapter (its import, "
                             "devices(), versions(), planning) may take SECONDS or 120 s, whichever is longer: "
                             "past it, exit 2")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="report folder (default: certify-<adapter>/)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")


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
    start = _here()  # where the user is: an adapter run in this process may change the current folder
    from lockstep import api
    from lockstep.conformance import report
    from lockstep.errors import LockstepError
    from lockstep.runfolder import FolderError
    from lockstep.spec.diagnostics import escape_text

    progress = _Progress(sys.stderr, not args.quiet)
    try:
        cert = api.certify(args.adapter, levels=args.level, dtypes=args.dtype, devices=args.device,
                           examples=args.examples, seed=args.seed, constructs=args.construct,
                           recipe_steps=args.recipe_steps, report=args.report if args.report is not None else True,
                           progress=progress, log=None if not args.quiet else lambda _m: None, threads=args.threads,
                           jobs=args.jobs, timeout=args.timeout)
    except FolderError as exc:  # its sentence names the command already
        progress.close()
        if isinstance(exc.result, api.Certificate):  # the folder went while it ran: the verdict, not the reports
            print(report.summary_table(exc.result))
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: before the reports went in, the folder is as it was
        progress.close()
        if (written := getattr(stop, "certificate", None)) is not None:
            _verdict(written, start, stopped=True)
        raise
    except LockstepError as exc:
        progress.close()
        if isinstance(exc.result, api.Certificate):  # checked, but its report could not be written: say the verdict
            print(report.summary_table(exc.result))
        print(f"lockstep certify: {escape_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    finally:
        progress.close()
    try:
        _verdict(cert, start)
    except KeyboardInterrupt:
        _verdict(cert, start, stopped=True, table=False)
        raise
    return 0 if cert.certified else 1


def _here() -> Path | None:
    try:
        return Path.cwd()
    except OSError:  # the current folder was removed
        return None


def _verdict(cert: Any, start: Path | None, stopped: bool = False, table: bool = True) -> None:
    """The summary and where the reports are; `stopped`: a signal came once they were written, which the command's
    last word ("terminated") must not be taken to undo."""
    from lockstep.conformance import report
    from lockstep.runfolder import said
    from lockstep.spec.diagnostics import escape_text

    paths = cert.files
    if table:
        print(report.summary_table(cert))
    if not paths:
        return
    shown = (f"{escape_text(said(paths['html'], start))} (also {paths['json'].name}, {paths['junit'].name}, "
             f"{paths['markdown'].name})")
    if stopped:
        with contextlib.suppress(OSError):
            print(f"lockstep certify: stopped after this run's report was written: {shown} is this run's, "
                  f"{'CERTIFIED' if cert.certified else 'NOT CERTIFIED'}", file=sys.stderr)
        return
    print(f"report: {shown}")
