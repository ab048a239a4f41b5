"""`lockstep adapters`: which backends are installed, their versions and devices, and why others are not.

Exit 0, or 1 when a third-party adapter (an entry point of the group `lockstep.adapters`) is installed but
cannot be loaded, is registered by two distributions under one name, or has a built-in adapter's name (which
keeps meaning the built-in one): a vendor's CI must not read "installed" from a listing that hides a broken
package. Each such adapter is named on stderr with its entry point and the distribution that installed it. A built-in
adapter whose framework is simply not installed is listed as unavailable and is no error. `--adapter A` lists
only A (exit 2 when no adapter here is called A, rather than a listing that silently leaves it out). With
`--details`, a construct whose support() raises or answers no Support shows `error` and the exit is 1; the
unusable adapters are said, and exit 1, as without it. An adapter loading for NOTICE_SECONDS is named on stderr
(a hanging import left the command silent), and one still loading at certify's limit is stopped and listed.
Every answer is read through adapters/checked.py: a hostile adapter is a listed reason, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockstep.adapters.registry import Listing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json"], default="text",
                        help="what to print: the table (default) or JSON for scripts (a list of the adapters; with "
                             "--details, what each declares)")
    parser.add_argument("--details", action="store_true",
                        help="every construct each available adapter runs, with its provenance per dtype: native "
                             "(the framework's own op or class, named), bridged (with a stated adjustment) or "
                             "written (the adapter's own math, with the reason)")
    parser.add_argument("--adapter", metavar="A", action="append",
                        help="only this adapter (repeatable; default: every one); a name this listing does not know "
                             "is an error (exit 2), and with --details so is one that is not available here")


def _details(rows: list, wanted: list[str] | None) -> tuple[dict[str, dict], list[str]]:
    """{adapter: {execution, constructs: [{construct, kind, float32: {status, note}, float64: {...}}]}} and the
    names asked for that are not available here."""
    from lockstep.adapters.base import Support, provenance_table
    from lockstep.adapters.checked import safe_str
    from lockstep.adapters.registry import AdapterNotFound, get

    def cell(s: Support | Exception) -> dict[str, str]:
        """A declaration, or `error` with what support() did instead (adapters/checked.py says it)."""
        return {"status": s.status, "note": s.note} if isinstance(s, Support) else {"status": "error", "note": str(s)}

    names = [r.name for r in rows if r.available]
    missing = [n for n in wanted or [] if n not in names]
    out: dict[str, dict] = {}
    for name in (n for n in names if not wanted or n in wanted):
        try:
            adapter = get(name)
        except AdapterNotFound as exc:  # loaded for the listing, not again (a licence, an exclusive device)
            out[name] = {"execution": "", "constructs": [], "error": str(exc)}
            continue
        execution = getattr(adapter, "EXECUTION", "")
        if not isinstance(execution, str):
            execution = safe_str(execution, "(its EXECUTION cannot be shown)")
        out[name] = {"execution": execution,
                     "constructs": [{"construct": construct, "kind": kind,
                                     **{dt: cell(s) for dt, s in by_dtype.items()}}
                                    for construct, kind, by_dtype in provenance_table(adapter, strict=False)]}
    return out, missing


def _shown(text: object) -> str:
    """An adapter's own text (devices, versions, notes, reasons) as the terminal shows it: a control character in
    it is written as an escape, not obeyed (it could clear the screen or forge lines of the listing)."""
    from lockstep.adapters.checked import safe_str
    from lockstep.spec.diagnostics import escape_text

    return escape_text(safe_str(text))


def _errors(details: dict[str, dict]) -> list[str]:
    """One line per adapter whose support() raised or answered no Support for some construct."""
    lines = []
    for name, detail in details.items():
        if detail.get("error"):
            lines.append(f"lockstep adapters: the adapter `{name}` cannot be used for --details: "
                         f"{_shown(detail['error'])}")
            continue
        bad = [r for r in detail["constructs"] if "error" in (r["float32"]["status"], r["float64"]["status"])]
        if bad:
            first = next(bad[0][dt]["note"] for dt in ("float32", "float64") if bad[0][dt]["status"] == "error")
            lines.append(f"lockstep adapters: the adapter `{name}` cannot say what it supports for {len(bad)} "
                         f"construct{'s' if len(bad) > 1 else ''} (first, `{bad[0]['construct']}`: {_shown(first)})")
    return lines


def _print_details(details: dict[str, dict]) -> None:
    for name, detail in details.items():
        rows = detail["constructs"]
        if not rows:
            continue
        counts = {k: sum(r[dt]["status"] == k for r in rows for dt in ("float32", "float64"))
                  for k in ("native", "bridged", "written", "unsupported", "error")}
        if not counts["error"]:
            del counts["error"]
        print(f"{_shown(name)}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + " (constructs × float32, "
              "float64)")
        print(f"  execution: {_shown(detail['execution'] or 'not stated by the adapter')}")
        width = max(len(r["construct"]) for r in rows) + 2
        for r in rows:
            a, b = r["float32"], r["float64"]
            if a == b:
                print(f"  {r['construct']:<{width}}{a['status']:<18}{_shown(a['note'])}")
                continue
            for first, (dt, s) in zip((True, False), (("float32", a), ("float64", b)), strict=True):
                print(f"  {r['construct'] if first else '':<{width}}{dt + ': ' + s['status']:<22}{_shown(s['note'])}")
        print()


NOTICE_SECONDS = 5.0
"""How long an adapter may load before `lockstep adapters` says which one it is waiting for (a third-party import
that hangs left the command silent)."""


def _load(name: str, source: str, build: Callable[[], Listing]) -> Listing:
    """`build()`, announced on stderr once it has taken NOTICE_SECONDS (a third-party adapter), and stopped after
    certify's limit on an adapter's loading (conformance.parallel.LOAD_SECONDS): the row says so, the listing goes
    on."""
    from lockstep.adapters.registry import Listing
    from lockstep.conformance.parallel import LOAD_SECONDS, bounded
    from lockstep.errors import LockstepError

    def notice() -> None:
        print(f"lockstep adapters: still loading the adapter `{_shown(name)}` ({_shown(source)}) after "
              f"{NOTICE_SECONDS:g} s; it is stopped at {LOAD_SECONDS:g} s", file=sys.stderr, flush=True)

    timer = threading.Timer(NOTICE_SECONDS, notice)
    timer.daemon = True
    if source != "built-in":  # a framework's own import is slow on a cold disk, and no one's hang
        timer.start()
    try:
        return bounded(LOAD_SECONDS, build, f"loading the adapter `{name}`")
    except LockstepError:
        return Listing(name, False, reason=f"adapter `{name}` ({source}) failed to load: still loading after "
                       f"{LOAD_SECONDS:g} s, stopped (lockstep certify gives an adapter's loading as long)",
                       source=source)
    finally:
        timer.cancel()


def _unusable(rows: list[Listing], skip: Iterable[str] = ()) -> int:
    """Say on stderr each installed third-party adapter that cannot be used (failed to load, registered twice), each
    `module:attribute` asked for that cannot, and each entry point hidden by a built-in name; how many."""
    from lockstep.adapters.registry import BUILTIN, GROUP, entry_points, registered, shadowed, target

    found = registered()  # once, for both notes below
    eps = entry_points(found)
    broken = [r for r in rows if not r.available and r.name in eps and r.name not in BUILTIN and r.name not in skip]
    for r in broken:
        ep = eps[r.name]
        dist = getattr(ep, "dist", None)
        by = f", installed by {dist.name} {dist.version}" if dist is not None else ""
        cause = r.reason.split(" failed to load: ", 1)[-1]
        print(f"lockstep adapters: the adapter `{_shown(r.name)}` cannot be used: entry point "
              f"`{_shown(f'{ep.name} = {ep.value}')}` (group {GROUP}{_shown(by)}): {_shown(cause)}", file=sys.stderr)
    named = [r for r in rows if not r.available and r.source == "module:attribute" and r.name not in skip]
    for r in named:  # asked for by --adapter
        print(f"lockstep adapters: the adapter `{_shown(r.name)}` cannot be used: {_shown(r.reason)}", file=sys.stderr)
    hidden = shadowed(found)
    for name, ep in hidden:  # `--adapter torch` would certify the built-in one, not the vendor's
        print(f"lockstep adapters: the entry point `{_shown(f'{ep.name} = {ep.value}')}` (group {GROUP}) has the name "
              f"of a built-in adapter, which `{_shown(name)}` keeps meaning; name it `{_shown(target(ep))}`, or "
              "register it under a name of its own", file=sys.stderr)
    return len(broken) + len(named) + len(hidden)


def run(args: argparse.Namespace) -> int:
    from lockstep.adapters.registry import available
    from lockstep.commands import stdout_to_stderr

    with stdout_to_stderr(args.format == "json"):  # an adapter's own prints
        rows = available([a.strip() for a in args.adapter or () if ":" in a], load=_load)  # module:attribute
    if args.adapter is not None:  # a filter, like `pip list`'s names: a name that matches nothing is refused
        from lockstep.api import canonical_backend
        from lockstep.spec.diagnostics import escape_text

        if not all(a.strip() for a in args.adapter):
            print("lockstep adapters: --adapter is empty; give an adapter name, or leave --adapter out for every one",
                  file=sys.stderr)
            return 2
        wanted = list(dict.fromkeys(canonical_backend(a.strip()) for a in args.adapter))
        known = [r.name for r in rows]
        unknown = [a for a in wanted if a not in known]
        for name in unknown:
            comma = ("; --adapter takes one name: repeat it (--adapter " + " --adapter ".join(
                p.strip() for p in name.split(",") if p.strip()) + ")") if "," in name else ""
            print(f"lockstep adapters: `{escape_text(name)}` is not an available adapter here: no adapter has that "
                  f"name (known: {', '.join(known)}){escape_text(comma)}", file=sys.stderr)
        if unknown:
            return 2
        args.adapter = wanted
        rows = [r for r in rows if r.name in wanted]
    if getattr(args, "details", False):
        with stdout_to_stderr(args.format == "json"):
            details, missing = _details(rows, args.adapter)
        if args.format == "json":
            print(json.dumps(details, indent=2, ensure_ascii=False))
        else:
            _print_details(details)
        reasons = {r.name: r.reason for r in rows if not r.available and r.reason}
        for name in missing:  # why, as the plain listing says it ("needs the module `torch`...")
            why = f": {escape_text(reasons[name])}" if name in reasons else " (`lockstep adapters` lists them)"
            print(f"lockstep adapters: `{escape_text(name)}` is not an available adapter here{why}", file=sys.stderr)
        errors = _errors(details)
        for line in errors:
            print(line, file=sys.stderr)
        unusable = _unusable(rows, skip=missing)  # as without --details: a broken package is never hidden
        return 2 if missing else 1 if errors or unusable else 0
    if args.format == "json":
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        names = {r.name: _shown(r.name) for r in rows}  # an entry point's name is the vendor's text: escapes shown
        width = max(len(n) for n in names.values()) + 2
        shown_devices = {r.name: _shown(", ".join(r.devices)) for r in rows if r.available}
        device_width = max([16, *map(len, shown_devices.values())]) + 2  # `cpu, cuda:0, tpu:7` ran into the versions
        for r in rows:
            if r.available:
                versions = _shown(", ".join(f"{k} {v}" for k, v in r.versions.items()))
                print(f"{names[r.name]:<{width}}{shown_devices[r.name]:<{device_width}}{versions}")
            else:
                print(f"{names[r.name]:<{width}}unavailable: {_shown(r.reason)}")
    return 1 if _unusable(rows) else 0
