"""`lockstep compare RECIPE --backends reference,torch[,tensorflow]`: every step judged re-synchronized (each
backend starts each judged step from the reference's exact state after the step before: a verdict is about one
step's math, at any run length, on any machine), and the free-running drift of the whole trajectories shown
beside it, not judged (lockstep/compare.py).

Exit 0 when every judged step of every backend holds, 1 when one does not, 2 for bad input (invalid recipe,
unknown, unavailable or repeated backend, bad arguments, an unusable --out), always before any training, and 2
when --out cannot take the result once it is there (a full disk; the folder moved or removed meanwhile: the
result is printed, its files are not written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lockstep.arglists import CommaList
from lockstep.commands import stdout_to_stderr
from lockstep.spec.atomic import json_text, strict_json

if TYPE_CHECKING:
    from lockstep.runfolder import RunFolder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE", help="a Recipe document (.yaml, .yml or .json)")
    parser.add_argument("--backends", action=CommaList, default="reference,torch",
                        help="comma-separated adapter names; the first is the drift baseline, every backend but "
                             "the reference is judged against the reference (default: reference,torch)")
    parser.add_argument("--device", default="cpu",
                        help="device for the framework backends (the reference always runs on the CPU)")
    parser.add_argument("--steps", type=int, metavar="N", help="compare only the first N steps")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=None,
                        help="run the recipe in this dtype instead of its own (e.g. a float32 recipe in float64)")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="judge every N-th step (and the first 3 and the last); the table shows the judged "
                             "steps (default: 1, every step)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="intra-op threads of every backend (default: OMP_NUM_THREADS if set, else the CPUs "
                             "this process may use); inter-op threads are 1")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="stdout format (default: text)")
    parser.add_argument("--out", metavar="DIR", help="also write DIR/compare.json and the plot DIR/compare.svg (the "
                        "folder is locked while the comparison runs; a folder holding anything else is refused)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the compare.json and compare.svg of an earlier comparison in --out (only with "
                             "--out: without it nothing is written)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a field of the recipe, e.g. --set training.steps=50 (repeatable; the value "
                             "is YAML; validated like the file)")
    parser.add_argument("--seed", type=int, metavar="S", help="the recipe's seed (the same as --set seed=S)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    parser.add_argument("--conformance", action="store_true",
                        help="compare as `lockstep certify` levels 1-3 do (the first backend must be `reference`): "
                             "eval outputs, loss and gradients of the first batch, then loss, learning rate, "
                             "parameters and optimizer state over the steps, under the derived tolerances; this "
                             "replays the failures that certify writes")


def canonical(name: str) -> str:
    """A built-in adapter's name whatever its spelling (`PyTorch`, `tf`); other names as given."""
    from lockstep.api import canonical_backend

    return canonical_backend(name)


def _usage(message: str) -> int:
    print(f"lockstep compare: {message}", file=sys.stderr)
    return 2


OUTPUTS = ("compare.json", "compare.svg")


def is_comparison(doc: object) -> bool:
    """Whether a compare.json is a comparison's, so that --overwrite may replace it (and the compare.svg beside it):
    every one holds these (sweep V: a user's own `{"my": "settings"}` compare.json was replaced)."""
    verdict = doc.get("verdict") if isinstance(doc, dict) else None
    return (isinstance(doc, dict) and isinstance(verdict, dict) and verdict.get("kind") == "re-synchronized"
            and isinstance(doc.get("agree"), bool) and isinstance(doc.get("backends"), list)
            and isinstance(doc.get("steps"), list) and isinstance(doc.get("judge"), str))


def foreign_outputs(folder: Path, shown: str) -> str | None:
    """Why --out may not take `folder`'s compare.json and compare.svg for a comparison's (None: it may): a
    compare.json that is not one, or a compare.svg with no comparison beside it, is someone else's file."""
    import os

    from lockstep.spec.files import read_json_file

    out = folder / "compare.json"
    if os.path.lexists(out):
        if not out.is_file() or out.is_symlink() or not is_comparison(read_json_file(out, 1 << 28)):
            return f"--out {shown} holds a compare.json that is not a comparison's; choose another --out"
    elif os.path.lexists(folder / "compare.svg"):
        return (f"--out {shown} holds compare.svg but no compare.json: not a comparison's folder; choose another "
                "--out")
    return None


def run(args: argparse.Namespace) -> int:
    from lockstep import api
    from lockstep.errors import LockstepError
    from lockstep.runfolder import FolderError, check_out_arg, claim, recipe_inputs, refuse_others
    from lockstep.spec.diagnostics import escape_text

    if args.every < 1:
        return _usage("--every must be at least 1")
    if args.conformance and (args.out is not None or args.every != 1):  # accepted and ignored before
        return _usage(f"--conformance judges every step and writes nothing; leave out "
                      f"{'--out' if args.out is not None else '--every'} (it applies to the drift comparison)")
    if args.overwrite and args.out is None:  # nothing is written without --out: the flag would be silently void
        return _usage("--overwrite replaces the files of an earlier comparison in --out; give --out DIR (without "
                      "--out nothing is written)")
    folder = None
    try:
        if args.out is not None:  # checked and locked before any training: no run is wasted on it
            check_out_arg(args.out, "--out", "lockstep compare", without="to write nothing")
            ours = False
            if Path(args.out).is_dir():  # --overwrite wrote beside a run's files (or a deployment's)
                refuse_others(Path(args.out), "a comparison's", "lockstep compare", "--out")
                if problem := foreign_outputs(Path(args.out), escape_text(args.out)):
                    return _usage(problem)
                ours = (Path(args.out) / "compare.json").exists()
            folder = claim(Path(args.out), outputs=OUTPUTS, inputs=recipe_inputs(args.recipe),
                           mode="overwrite" if args.overwrite else "fresh", prog="lockstep compare",
                           earlier="an earlier comparison",
                           hint="choose another --out, or --overwrite to replace its compare.json and compare.svg"
                           if ours else "choose another --out, or --overwrite to write compare.json and compare.svg "
                           "beside them")
        if args.conformance:
            with stdout_to_stderr(args.format == "json"):  # an adapter's prints (its import, build, every level)
                prep, built = api._compare_sessions(args.recipe, args.backends, device=args.device, steps=args.steps,
                                                    overrides=args.overrides, seed=args.seed, dtype=args.dtype,
                                                    threads=args.threads)
                report = _conformance(prep, built, list(built), args)
            return 2 if report is None else _show_conformance(report, prep, list(built), args)
        with stdout_to_stderr(args.format == "json"):  # an adapter's prints
            result = api.compare(args.recipe, args.backends, device=args.device, steps=args.steps,
                                 overrides=args.overrides, seed=args.seed, every=args.every, dtype=args.dtype,
                                 threads=args.threads, progress=not args.quiet)
        code = _show(result, args)
        if folder is not None:
            code = max(code, _write(result, folder))
        return code
    except FolderError as exc:  # its sentence names the command already
        print(exc, file=sys.stderr)
        return 2
    except LockstepError as exc:
        partial = getattr(exc, "comparison", None)  # an adapter failed mid-run: the steps compared before it
        if partial is not None and partial.rows:
            _show(partial, args)
            if folder is not None:
                try:
                    _write(partial, folder)
                except FolderError as gone:  # said, and then why the comparison stopped
                    print(gone, file=sys.stderr)
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        _usage(escape_text(str(exc)))  # 2: bad input; 1: a backend that failed (its session raised)
        return exc.exit_code
    finally:
        if folder is not None:
            folder.release()


def _show(result, args: argparse.Namespace) -> int:
    from lockstep.compare import format_table

    if args.format == "json":
        print(json_text(result.to_json()), end="")  # as compare.json is written
    else:
        print(format_table(result))
    return 0 if result.agree else 1


def _write(result, folder: RunFolder) -> int:
    """compare.json and the plot, into the folder claimed (by its absolute path: a backend that changed the current
    folder does not move them), which must still be where it was claimed: moved or removed while the comparison
    ran, FolderError (exit 2) saying so, with the earlier comparison's files (--overwrite) left as they were."""
    from lockstep.compare import plot
    from lockstep.spec.atomic import held_signals, write_json

    folder.check_in_place(unwritten="compare.json and compare.svg were")  # the result is on standard output
    written = False
    try:
        with held_signals():  # a SIGTERM between removing the earlier files and writing these left neither
            folder.start()
            try:
                write_json(folder.path / "compare.json", result.to_json())
                plot(result, folder.path / "compare.svg")
                written = True
            except OSError as exc:
                return _usage(f"cannot write to {folder.shown}: {exc.strerror or exc}")
    except KeyboardInterrupt:  # held through the writing, acted on at its end: the exit status says stopped, so
        if written:  # this says that the files are the new ones, whole
            print(f"lockstep compare: stopped after compare.json and compare.svg were written to {folder.shown}",
                  file=sys.stderr)
        raise
    return 0


def _conformance(prep, built, names: list[str], args: argparse.Namespace) -> dict[str, list[dict]] | None:
    """The conformance levels 1-3 on this recipe, the reference against each other backend: per backend, its
    comparisons (None, said: the first backend is not the reference)."""
    from lockstep.conformance.levels import Pair, run_levels

    if names[0] != "reference":
        print("lockstep compare: --conformance compares against the reference: give --backends reference,A",
              file=sys.stderr)
        return None
    from lockstep.runner import build_session

    report: dict[str, list[dict]] = {}
    for i, name in enumerate(names[1:]):
        # each backend is judged from a reference that has not trained yet: the one shared before had taken the
        # first backend's steps, and every backend after it "diverged" (optimizer step count 3, reference 6)
        reference = built["reference"][1] if i == 0 else build_session(prep, "reference", "cpu", args.threads)[1]
        pair = Pair(prep, reference, built[name][1], prep.recipe.dtype)
        rows = []
        for level, checks in run_levels(pair, (1, 2, 3), reraise_unsupported=False).items():
            if isinstance(checks, Exception):  # the adapter raised: an error to report, not a traceback
                rows.append({"level": level, "quantity": "error", "error": "inf", "tolerance": 0.0, "ratio": "inf",
                             "ok": False, "text": f"{name} raised {type(checks).__name__}: {checks}"})
                continue
            for c in checks:
                rows.append({"level": level, "quantity": c.quantity, "error": c.error, "tolerance": c.tolerance,
                             "ratio": c.ratio, "ok": c.ok, "text": c.describe()})
        report[name] = rows
    return report


def _show_conformance(report: dict[str, list[dict]], prep, names: list[str], args: argparse.Namespace) -> int:
    """Print `_conformance`'s comparisons (text or JSON); 0 when every one holds, 1 when one does not."""
    ok = all(r["ok"] for rows in report.values() for r in rows)
    if args.format == "json":
        print(json.dumps(strict_json({"agree": ok, "dtype": prep.recipe.dtype, "backends": names,
                                      "checks": {b: [{k: v for k, v in r.items() if k != "text"} for r in rows]
                                                 for b, rows in report.items()}}), indent=2, default=str,
                         allow_nan=False))
        return 0 if ok else 1
    for name, rows in report.items():
        bad = [r for r in rows if not r["ok"]]
        print(f"{name} against reference ({prep.recipe.dtype}, {len(rows)} comparisons, conformance tolerances):")
        for r in rows:
            print(f"  {'ok  ' if r['ok'] else 'FAIL'} level {r['level']} {r['text']}")
        if bad:
            print(f"{name} diverges: first at {bad[0]['text']}")
        else:
            print(f"{name} agrees with the reference in every comparison")
    return 0 if ok else 1
