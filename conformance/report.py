"""The reports of `lockstep certify`: report.json (machines), junit.xml (CI), report.html and report.md (people),
the terminal summary table, and the margin plot (inline SVG, no plotting library).

Everything here renders a `Certification` (conformance/results.py); nothing runs an adapter. Numbers read the
same everywhere: errors and tolerances to 3 significant digits, the margin as ×N by one rule (`margin_of`: 1/ratio;
×∞ when the error is 0; ×0 when a measured error's ratio is inf); "none" for an error and its margin where none was
measured (the adapter produced inf/nan, a shape, a missing name) and for a tolerance where none applied."""

from __future__ import annotations

import html
import math
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from lockstep.spec.atomic import json_text, write_set
from lockstep.spec.diagnostics import UNSAFE, UNSAFE_BEYOND_C0
from lockstep.spec.formats import plural

from .results import LEVELS, Certification, CheckResult, Worst

REPORT_FILES = {"json": "report.json", "junit": "junit.xml", "html": "report.html", "markdown": "report.md"}
"""Report kind -> file name inside the report folder."""

DTYPE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"]  # no red: red means failing


# ------------------------------------------------------------------------------------------------ entry points

def write_reports(cert: Certification, folder: Path, failures: Path | None = None,
                  trash: Path | None = None) -> dict[str, Path]:
    """Write report.json, junit.xml, report.html and report.md into `folder` (created if missing) as one set:
    a Ctrl-C or SIGTERM cannot leave two runs' reports side by side (`atomic.write_set`). `failures`: the folder
    this run's failing cases were written into (staged); it becomes `folder/failures` in the same step, and an
    earlier run's `failures/` is moved to `trash` (the caller removes it) or removed.

    Returns {"json": path, "junit": path, "html": path, "markdown": path}."""
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / name for kind, name in REPORT_FILES.items()}
    texts = {"json": report_json_text(cert),
             "junit": junit_xml(cert), "html": html_report(cert), "markdown": markdown_report(cert)}

    moved: list[tuple[Path, Path]] = []  # the renames swap_failures made, for unswap

    def swap_failures() -> None:
        if failures is None:  # written in place (the pytest plugin's): kept as they are
            return
        old = folder / "failures"
        if old.is_dir() and not old.is_symlink():
            if trash is not None:
                trash.parent.mkdir(parents=True, exist_ok=True)
                old.rename(trash)
                moved.append((old, trash))
            else:
                shutil.rmtree(old)
        if failures.is_dir():
            failures.rename(old)
            moved.append((failures, old))

    def unswap() -> None:
        """A report that could not be renamed into place: the failures go back with the other reports."""
        for source, target in reversed(moved):
            target.rename(source)

    write_set({paths[k]: texts[k].encode("utf-8") for k in paths}, before=swap_failures, undo=unswap)
    return paths


def report_json_text(cert: Certification) -> str:
    """report.json's text, as `write_reports` writes it."""
    return json_text(unicode_json(_json(cert)))


def _json(cert: Certification) -> dict[str, Any]:
    """report.json's content: `Certification.to_json`, whose worsts (`Worst.to_json`) say what the other reports
    say by the same rule."""
    return cert.to_json()


def unreplaceable(folder: Path) -> str | None:
    """What in `folder` the next run's reports cannot replace, named: a report that is a folder, a symbolic link, a
    pipe or a device, or a `failures` that is not a plain folder; None when nothing is in the way. Asked before any
    check runs, since the reports are written after them all (`write_reports` would refuse it then)."""
    import os
    import stat

    from lockstep.spec.files import file_kind

    for name in (*REPORT_FILES.values(), "failures"):
        try:
            mode = os.lstat(folder / name).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            return f"{name}, which cannot be read ({exc.strerror or exc})"
        want = "folder" if name == "failures" else "regular file"
        if stat.S_ISDIR(mode) if name == "failures" else stat.S_ISREG(mode):
            continue
        return f"{name}, which is {file_kind(mode)}, not a {want}"
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_json(value: Any) -> Any:
    """`value` (report.json's content) with each lone surrogate in its strings, keys included, replaced by U+FFFD, as
    report.md, report.html and junit.xml show it: an adapter's `versions()` or message may carry one (Python's
    stand-in for an undecodable byte), and `\\udcff` in JSON is no Unicode text a JSON reader accepts."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {unicode_json(k): unicode_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unicode_json(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------------ numbers

def fmt_number(x: float) -> str:
    """3 significant digits, compact exponent: 1.23e-5, 0.001, 37.5, 1.23e4; inf and nan as words."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    s = f"{x:.3g}"
    if "e" in s:
        mantissa, exponent = s.split("e")
        s = f"{mantissa}e{int(exponent)}"
    return s


def fmt_ratio(x: float) -> str:
    """Like fmt_number, with as many more digits as it takes for a value other than 1 not to read as 1
    (a ratio of 1.0004 fails: it must not print as 1)."""
    s = fmt_number(x)
    for digits in range(4, 18):
        if not math.isfinite(x) or x == 1 or float(s) != 1:
            break
        s = f"{x:.{digits}g}"
    return s


def unmeasured(worst: Worst) -> bool:
    """`Worst.unmeasured`: no comparison could be made at any element (error, tolerance and margin none)."""
    return worst.unmeasured


def no_error(worst: Worst) -> bool:
    """`Worst.no_error`: no finite error was measured (error and margin none, the tolerance as it is)."""
    return worst.no_error


def failure_kind(worst: Worst | None) -> str:
    """What a failing worst is, in one word (JUnit's failure `type`): `shape`, `non-finite` (a non-finite value where
    a finite one is due, or a ratio that is not a number), `missing` (a quantity the adapter did not give), or
    `tolerance` (a measured error over its tolerance: also one whose ratio overflowed, 1e308 against 1e-300, which
    was typed `non-finite`)."""
    if worst is None:
        return "tolerance"
    if unmeasured(worst):
        q = worst.quantity
        return "shape" if " (shape [" in q else "non-finite" if " (non-finite" in q else "missing"
    return "non-finite" if worst.no_error or math.isnan(worst.ratio) else "tolerance"


def margin_of(worst: Worst) -> float | None:
    """The margin every report states (`Worst.margin`, the one rule; report.json's `margin`, ×N elsewhere;
    docs/conformance.md, "Reports"): 1/ratio, inf where the error is 0, 0 where a measured error's ratio is inf,
    None where no error was measured or the ratio is not a number."""
    return worst.margin


def fmt_margin(worst: Worst | None) -> str:
    """`margin_of` as ×N: "×∞" when the error is 0, "×0" when a measured error's ratio is inf, "none" where there is
    no margin (no error measured); "" without a worst."""
    if worst is None:
        return ""
    margin = margin_of(worst)
    if margin is None:
        return "none"
    return "×∞" if math.isinf(margin) else "×" + fmt_ratio(margin)


def fmt_seconds(seconds: float) -> str:
    """12.3 s, 4 min 05 s, 1 h 02 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _worst_words(worst: Worst) -> str:
    """`gradient w: error 1.23e-5 vs tolerance 1e-5 (ratio 1.23, margin ×0.813)`; `output (shape [1, 2], the
    reference's [1, 1]): error none vs tolerance none (ratio inf, margin none)` where no comparison could be made,
    `output (non-finite (nan; the reference's is 0.5)): error none vs tolerance 1e-12 (ratio inf, margin none)` where
    a value was not finite, as report.json says them (null, null or the tolerance, "inf", null)."""
    return (f"{worst.quantity}: error {fmt_error(worst)} vs tolerance {fmt_tolerance(worst)} "
            f"(ratio {fmt_ratio(worst.ratio)}, margin {fmt_margin(worst)})")


def fmt_error(worst: Worst) -> str:
    return "none" if no_error(worst) else fmt_number(worst.error)


def fmt_tolerance(worst: Worst) -> str:
    return "none" if unmeasured(worst) else fmt_number(worst.tolerance)


# ------------------------------------------------------------------------------------------------ ordering

def _levels(cert: Certification) -> list[int]:
    return sorted(set(cert.levels) | {c.level for c in cert.checks})


def _dtypes(cert: Certification) -> list[str]:
    out = list(dict.fromkeys(cert.dtypes))
    for c in cert.checks:
        if c.dtype not in out:
            out.append(c.dtype)
    return out


def ordered_checks(cert: Certification) -> list[CheckResult]:
    """The checks grouped by level, then construct, then dtype and device (the order of every listing)."""
    dtypes, devices = _dtypes(cert), list(dict.fromkeys([*cert.devices, *(c.device for c in cert.checks)]))
    return sorted(cert.checks, key=lambda c: (c.level, c.construct, dtypes.index(c.dtype), devices.index(c.device)))


def _constructs(cert: Certification) -> list[str]:
    """Constructs ordered by the lowest level they appear at, then by name."""
    lowest: dict[str, int] = {}
    for c in cert.checks:
        lowest[c.construct] = min(lowest.get(c.construct, c.level), c.level)
    return sorted(lowest, key=lambda name: (lowest[name], name))


def _cells(cert: Certification) -> dict[tuple[str, int], list[CheckResult]]:
    cells: dict[tuple[str, int], list[CheckResult]] = {}
    for c in ordered_checks(cert):
        cells.setdefault((c.construct, c.level), []).append(c)
    return cells


def _by_construct(cert: Certification) -> dict[str, list[CheckResult]]:
    out: dict[str, list[CheckResult]] = {}
    for c in ordered_checks(cert):
        out.setdefault(c.construct, []).append(c)
    return out


def _junit_provenance(c: CheckResult) -> str:
    return (f"      <properties><property name=\"provenance\" value={_xml_attr(c.provenance)}/></properties>\n"
            if c.provenance else "")


def _smallest_margin(checks: Iterable[CheckResult]) -> Worst | None:
    """The passing check's worst with the largest ratio (the smallest margin), if any passed with a comparison."""
    worsts = [c.worst for c in checks if c.outcome == "pass" and c.worst is not None]
    return max(worsts, key=lambda w: w.ratio if not math.isnan(w.ratio) else math.inf, default=None)


def _cell_text(outcome: str, checks: list[CheckResult]) -> str:
    """`pass ×37`, `partial ×37`, `FAIL`, `ERROR`, `unsupported`."""
    if outcome in ("fail", "error"):
        return outcome.upper()
    margin = fmt_margin(_smallest_margin(checks))
    return f"{outcome} {margin}" if margin and outcome != "unsupported" else outcome


def _problems(cert: Certification) -> list[CheckResult]:
    return [c for c in ordered_checks(cert) if c.outcome in ("fail", "error")]


def _problems_title(problems: list[CheckResult]) -> str:
    return "Failures and errors" if any(c.outcome == "error" for c in problems) else "Failures"


def _versions(cert: Certification) -> str:
    return ", ".join(f"{k} {v}" for k, v in cert.adapter_versions.items())


def counts_line(n: dict[str, int]) -> str:
    """`6 checks: 4 pass, 2 fail, 0 error, 0 unsupported` — one wording for certify and the pytest plugin."""
    return (f"{plural(sum(n.values()), 'check')}: {n['pass']} pass, {n['fail']} fail, {n['error']} error, "
            f"{n['unsupported']} unsupported")


def _provenance_words(cert: Certification) -> str:
    """`provenance of the checks run: native 40 · bridged 12 · written 20`."""
    n = cert.provenance_counts()
    if not any(n.values()):  # "native 0 · bridged 0 · written 0" read as if nothing had run
        ran = [c for c in cert.checks if c.outcome != "unsupported"]
        if all(c.level >= 4 or c.support.startswith("composite") for c in ran):
            return ("provenance of the checks run: none of one construct (example recipes and random models span "
                    "several; `lockstep adapters --details` gives each construct's)")
        # a construct's own check without one: support() failed, or its worker ended before it was heard
        return ("provenance of the checks run: none recorded (`lockstep adapters --details` gives each "
                "construct's)")
    return "provenance of the checks run: " + " · ".join(f"{k} {v}" for k, v in n.items())


def _execution_modes(cert: Certification) -> str:
    """`eager at levels 1, 2, 3 (152 checks) · compiled at level 4 (14 checks)`; "" when the adapter's sessions
    state no mode (adapters/base.py, `Session.execution`)."""
    parts = []
    for mode, levels in cert.execution_counts().items():
        at = ", ".join(map(str, levels))
        n = sum(levels.values())
        parts.append(f"{mode} at level{'s' * (len(levels) > 1)} {at} ({n} check{'s' * (n != 1)})")
    return " · ".join(parts)


def _blind_words(cert: Certification) -> str:
    """Where a level-4 pass says nothing of some updates: quantities its steps changed whose bounds would also pass
    them unmoved (`CheckResult.blind_quantities`); "" where no step asked had any."""
    blind = [c for c in cert.checks if c.blind_quantities]
    if not blind:
        return ""
    from .resync import BLIND_EVERY, FIRST_STEPS, blind_words  # (numpy and the reference: only where needed)

    each = "; ".join(f"{c.name}: {blind_words(c.blind_quantities, c.blind_steps, c.blind_checked)}" for c in blind)
    n = len(blind)
    return (f"{n} check{'s' * (n != 1)} of example recipes had bounds that would also pass unmoved what a step "
            f"changed, so {'their verdicts say' if n != 1 else 'its verdict says'} nothing of those updates (steps "
            f"asked: the first {FIRST_STEPS}, every {BLIND_EVERY}th, the last; report.json `blind_quantities`): "
            f"{each}")


def _construct_provenance(checks: Iterable[CheckResult]) -> str:
    """A construct's provenance over its checks: `native`, or `native/written` where dtypes differ (in check
    order); `composite` for random models and example recipes, `-` where nothing declared one."""
    seen = list(dict.fromkeys(c.provenance for c in checks if c.provenance))
    if seen:
        return "/".join(seen)
    return "-"


def _recipe_steps_words(cert: Certification) -> str:
    """`at most the first 2 steps of each example recipe judged (--recipe-steps 2): a longer one was cut short`; ""
    where no example recipe was judged. "At most": a cap above a recipe's length judges it whole (`--recipe-steps
    99999` was said to have cut a 300-step recipe short)."""
    if not cert.caps_recipes:
        return ""
    k = cert.recipe_steps
    return (f"at most the first {k} step{'s' * (k != 1)} of each example recipe judged (--recipe-steps {k}): a "
            "longer one was cut short")


def _examples_words(cert: Certification) -> str:
    return f"{plural(sum(c.examples for c in cert.checks), 'example')} run ({cert.examples} per check asked)"


def _verdict(cert: Certification) -> str:
    """A pytest session that ran part of its plan is certified for those checks only, as its terminal says."""
    if cert.certified and cert.selection:
        return "CERTIFIED FOR THESE CHECKS"
    return "CERTIFIED" if cert.certified else "NOT CERTIFIED"


# ------------------------------------------------------------------------------------------------ terminal

def summary_table(cert: Certification, *, width: int = 100) -> str:
    """The plain-text table printed at the end of `lockstep certify`: a line per construct, a column per level
    (combined outcome and smallest margin), a footer with counts, examples, time and verdict, then a line per
    failure (check, first diverging quantity, error vs tolerance, failure folder). No line exceeds `width`."""
    levels = _levels(cert)
    cells = _cells(cert)
    coverage = cert.coverage()
    by_construct = _by_construct(cert)
    rows: list[tuple[str, list[str]]] = []
    for construct in _constructs(cert):
        texts = []
        for level in levels:
            outcome = coverage.get(construct, {}).get(LEVELS.get(level, str(level)))
            texts.append("-" if outcome is None else _cell_text(outcome, cells.get((construct, level), [])))
        texts.append(_construct_provenance(by_construct.get(construct, [])))
        rows.append((_plain(construct), texts))
    heads = [*(LEVELS.get(level, str(level)) for level in levels), "provenance"]
    col_widths = [max([len(h)] + [len(r[1][i]) for r in rows]) for i, h in enumerate(heads)]
    name_width = max([len("construct")] + [len(r[0]) for r in rows])
    name_width = max(8, min(name_width, width - sum(w + 2 for w in col_widths)))

    def line(name: str, texts: list[str]) -> str:
        if len(name) > name_width:
            name = name[: name_width - 1] + "…"
        s = name.ljust(name_width) + "".join("  " + t.ljust(w) for t, w in zip(texts, col_widths, strict=True))
        s = s.rstrip()
        return s if len(s) <= width else s[: width - 1] + "…"

    out = [line("construct", heads), "-" * min(width, name_width + sum(w + 2 for w in col_widths))]
    out += [line(name, texts) for name, texts in rows]
    if not rows:
        out.append("(no checks)")
    out.append("-" * min(width, max(len(x) for x in out)))
    footer = [
        f"adapter {cert.adapter}" + (f" ({_versions(cert)})" if cert.adapter_versions else "")
        + f" · spec {cert.spec_version} · suite {cert.suite_version}",
        counts_line(cert.counts()),
        _provenance_words(cert),
        *[f"execution: {modes}" for modes in [_execution_modes(cert)] if modes],
        *[f"bounds: {words}" for words in [_blind_words(cert)] if words],
        f"{_examples_words(cert)} · {fmt_seconds(cert.seconds)} · seed {cert.seed}",
        *[f"recipes: {words}" for words in [_recipe_steps_words(cert)] if words],
        _verdict(cert),
    ]
    for c in _problems(cert):
        if c.outcome == "fail":
            # the first diverging quantity (in computation order) says where to look; the worst may be downstream
            what = (f"first diverges at {_first_line(c.message)}" if c.message
                    else _worst_words(c.worst) if c.worst is not None else "failed")
            where = f" → {c.failure_dir}" if c.failure_dir else ""
            footer.append(f"FAIL {c.name}: {what}{where}")
        else:
            footer.append(f"ERROR {c.name}: {_first_line(c.message) or 'error'}")
    for text in map(_plain, footer):
        out += textwrap.wrap(text, width=width, subsequent_indent="    ", break_on_hyphens=False) or [""]
    return "\n".join(out)


_CONTROL = re.compile(f"[{UNSAFE}]")  # what a terminal would act on: C0, C1, bidi overrides, separators
_SHOWN_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f{UNSAFE_BEYOND_C0}]")  # the same but \t, \n: a code block keeps them


def _plain(text: str) -> str:
    """Text safe to print on a terminal: control characters (escape sequences, bells, newlines) replaced."""
    return _CONTROL.sub("\ufffd", text)


def shown_text(text: str) -> str:
    """Text as report.md and report.html show an adapter's message: its lines and tabs kept, escape sequences, NULs,
    bells and bidi overrides replaced by U+FFFD. The failure folders' files say it the same way."""
    return _SHOWN_CONTROL.sub("\ufffd", text)


def one_line(text: str) -> str:
    """`text` on one line with nothing a terminal or a YAML comment would act on: a line of its own (a comment)."""
    return _plain(" ".join(text.split()))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# ------------------------------------------------------------------------------------------------ JUnit XML

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Character data that XML 1.0 accepts: escaped, with the characters it forbids replaced by U+FFFD."""
    return xml_escape(_XML_INVALID.sub("\ufffd", text))


def _xml_attr(text: str) -> str:
    return quoteattr(_XML_INVALID.sub("\ufffd", text))


def junit_xml(cert: Certification) -> str:
    """JUnit XML: one <testsuite> per level, one <testcase> per check (classname
    `lockstep.certify.<adapter>.<level_name>`, name `<construct>[<dtype>,<device>]`); fail -> <failure> with the
    worst quantity, error, tolerance, ratio and the reproduce command; error -> <error>; unsupported -> <skipped>."""
    properties = {"adapter": cert.adapter, "spec_version": cert.spec_version, "suite_version": cert.suite_version,
                  "seed": str(cert.seed), "examples_per_check": str(cert.examples),
                  **({"recipe_steps": str(cert.recipe_steps)} if cert.caps_recipes else {}),
                  "verdict": _verdict(cert), **({"selection": cert.selection} if cert.selection else {}),
                  **{f"version.{k}": v for k, v in cert.adapter_versions.items()},
                  **{f"environment.{k}": v for k, v in cert.environment.items()}}
    props = "".join(f"      <property name={_xml_attr(k)} value={_xml_attr(str(v))}/>\n" for k, v in properties.items())
    suites: list[str] = []
    for level in _levels(cert):
        checks = [c for c in ordered_checks(cert) if c.level == level]
        if not checks:
            continue
        level_name = LEVELS.get(level, str(level))
        classname = f"lockstep.certify.{cert.adapter}.{level_name}"
        n = {k: sum(c.outcome == k for c in checks) for k in ("fail", "error", "unsupported")}
        attrs = (f"name={_xml_attr(classname)} tests=\"{len(checks)}\" failures=\"{n['fail']}\" "
                 f"errors=\"{n['error']}\" skipped=\"{n['unsupported']}\" "
                 f"time=\"{sum(c.seconds for c in checks):.3f}\"")
        cases = "".join(_junit_case(c, classname) for c in checks)
        suites.append(f"  <testsuite {attrs}>\n    <properties>\n{props}    </properties>\n{cases}  </testsuite>\n")
    n = cert.counts()
    tests, errors = len(cert.checks), n["error"]
    if not cert.certified and not n["fail"] and not n["error"]:  # nothing ran: NOT CERTIFIED, exit 1, and a JUnit
        # reader must not show it green (every case skipped, no failure): one error case says why
        classname = f"lockstep.certify.{cert.adapter}"
        why = _nothing_ran_words(cert)
        case = (f"    <testcase classname={_xml_attr(classname)} name=\"no check ran\" time=\"0.000\">\n"
                f"      <error message={_xml_attr(why)} type=\"nothing-ran\">{_xml_text(why)}</error>\n"
                "    </testcase>\n")
        suites.append(f"  <testsuite name={_xml_attr(classname)} tests=\"1\" failures=\"0\" errors=\"1\" "
                      f"skipped=\"0\" time=\"0.000\">\n    <properties>\n{props}    </properties>\n{case}"
                      "  </testsuite>\n")
        tests, errors = tests + 1, errors + 1
    top = (f"name={_xml_attr(f'lockstep certify {cert.adapter}')} tests=\"{tests}\" "
           f"failures=\"{n['fail']}\" errors=\"{errors}\" skipped=\"{n['unsupported']}\" "
           f"time=\"{cert.seconds:.3f}\"")
    return f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites {top}>\n{"".join(suites)}</testsuites>\n'


def _nothing_ran_words(cert: Certification) -> str:
    """Why a certification that ran no check is NOT CERTIFIED, in one sentence."""
    if not cert.checks:
        return "no check ran: nothing was planned, so nothing is certified (NOT CERTIFIED)"
    k = len(cert.checks)
    asked = f"all {k} checks asked are" if k > 1 else "the one check asked is"
    return f"no check ran: {asked} unsupported by adapter {cert.adapter}, so nothing is certified (NOT CERTIFIED)"


def _junit_case(c: CheckResult, classname: str) -> str:
    head = (f"    <testcase classname={_xml_attr(classname)} name={_xml_attr(f'{c.construct}[{c.dtype},{c.device}]')} "
            f"time=\"{c.seconds:.3f}\"")
    if c.outcome == "pass":
        out = f"examples {c.examples}" + (f"; worst {_worst_words(c.worst)}" if c.worst else "")
        if c.support:
            out += f"; support {c.support}"
        return f"{head}>\n{_junit_provenance(c)}      <system-out>{_xml_text(out)}</system-out>\n    </testcase>\n"
    if c.outcome == "unsupported":
        reason = c.message or c.support or "unsupported"
        return f"{head}>\n      <skipped message={_xml_attr(reason)}/>\n    </testcase>\n"
    body = _problem_text(c)
    if c.outcome == "fail":
        message = _worst_words(c.worst) if c.worst is not None else (_first_line(c.message) or "failed")
        if c.reproduce:
            message += f"; reproduce: {c.reproduce}"
        kind = failure_kind(c.worst)
        tag = "failure"
    else:
        message, kind, tag = _first_line(c.message) or "error", "error", "error"
    return (f"{head}>\n{_junit_provenance(c)}      <{tag} message={_xml_attr(message)} type={_xml_attr(kind)}>"
            f"{_xml_text(body)}</{tag}>\n    </testcase>\n")


def _problem_text(c: CheckResult) -> str:
    """A failure or error in plain text: message, worst comparison, examples, folder, reproduce command."""
    lines = [c.message.strip()] if c.message.strip() else []
    if c.worst is not None:
        lines.append(f"worst {_worst_words(c.worst)}")
    lines.append(f"examples run: {c.examples}")
    if c.failure_dir:
        lines.append(f"failure folder: {c.failure_dir}")
    if c.reproduce:
        lines.append(f"reproduce: {c.reproduce}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ margin plot

def margins_svg(cert: Certification) -> str:
    """The margin plot, a standalone SVG: every check that ran (with a comparison) as a dot at its worst
    error/tolerance ratio on a log axis; the ratio-1 line is the tolerance (passing below, failing above);
    grouped by level then construct, coloured by dtype; zero errors and non-finite ratios sit in bands at the
    bottom and top. Each dot's tooltip names the check and its numbers."""
    checks = [c for c in ordered_checks(cert) if c.outcome != "unsupported" and c.worst is not None]
    dtypes = _dtypes(cert)
    color = {d: DTYPE_COLORS[i % len(DTYPE_COLORS)] for i, d in enumerate(dtypes)}

    def kind(w: Worst) -> str:
        return "nonfinite" if math.isnan(w.ratio) or math.isinf(w.ratio) else "zero" if w.ratio <= 0 else "finite"

    kinds = {id(c): kind(c.worst) for c in checks if c.worst is not None}

    def log_ratio(w: Worst) -> float:  # clamped, so that every decade of the axis is a finite float (1e308 ...)
        return max(-300.0, min(300.0, math.log10(w.ratio)))

    logs = [log_ratio(c.worst) for c in checks if c.worst is not None and kinds[id(c)] == "finite"]
    lo, hi = min([-1.0, *logs]), max([1.0, *logs])
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    has_zero = "zero" in kinds.values()
    has_nonfinite = "nonfinite" in kinds.values()
    band_kinds = {failure_kind(c.worst) for c in checks if c.worst is not None and kinds[id(c)] == "nonfinite"}
    band_words = "non-finite" if band_kinds <= {"non-finite"} else "no ratio"  # a shape mismatch is not non-finite

    # x layout in units (levels separated by a gap, constructs side by side, a slot per check), then scaled
    slot, min_group, construct_gap, level_gap = 10.0, 14.0, 4.0, 22.0
    longest = max((min(len(c.construct), 18) for c in checks), default=0)
    ml, mr, mt, mb = 70, 20, 84, 30 + round(5.2 * longest)
    x = level_gap / 2
    dots: list[tuple[float, CheckResult]] = []
    groups: list[tuple[float, float, str]] = []  # (x0, x1, construct) per construct group
    level_spans: list[tuple[float, float, int]] = []
    for level in _levels(cert):
        in_level = [c for c in checks if c.level == level]
        if not in_level:
            continue
        start = x
        for construct in dict.fromkeys(c.construct for c in in_level):
            members = [c for c in in_level if c.construct == construct]
            w = max(min_group, slot * len(members))
            offset = (w - slot * len(members)) / 2
            dots += [(x + offset + slot * (i + 0.5), c) for i, c in enumerate(members)]
            groups.append((x, x + w, construct))
            x += w + construct_gap
        level_spans.append((start, x - construct_gap, level))
        x += level_gap
    content = x - level_gap / 2
    scale = (640 - ml - mr) / content if 0 < content < 640 - ml - mr else 1.0  # a few checks fill the frame

    def sx(u: float) -> float:
        return ml + u * scale

    width = max(640, math.ceil(sx(content) + mr))
    band, ph = 26, 300
    top = mt + (band if has_nonfinite else 0)  # the log axis spans [top, top + ph]
    bottom = top + ph + (band if has_zero else 0)
    height = bottom + mb
    plot_right = width - mr

    def sy(log_ratio: float) -> float:
        return top + ph - (log_ratio - lo) / (hi - lo) * ph

    title = f"Margins of {cert.adapter}: worst error / tolerance per check"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{ml}" y="22" font-size="15">{_xml_text(title)}</text>',
           f'<text x="{ml}" y="40" fill="#555">{_xml_text(_margin_subtitle(cert, len(checks)))}</text>']
    lx = ml  # legend: dtype colours, the tolerance line, the outline of checks that did not pass
    for d in dtypes:
        out.append(f'<circle cx="{lx + 4}" cy="55" r="4" fill="{color[d]}"/>'
                   f'<text x="{lx + 12}" y="59">{_xml_text(d)}</text>')
        lx += 24 + 7 * len(d)
    out.append(f'<line x1="{lx}" y1="55" x2="{lx + 22}" y2="55" stroke="#d62728" stroke-width="1.5" '
               f'stroke-dasharray="6 3"/><text x="{lx + 28}" y="59">tolerance (ratio 1)</text>'
               f'<circle cx="{lx + 158}" cy="55" r="4" fill="#fff" stroke="#000"/>'
               f'<text x="{lx + 166}" y="59">not passed</text>')
    y1 = sy(0.0)
    out.append(f'<rect x="{ml}" y="{mt}" width="{plot_right - ml}" height="{y1 - mt:.1f}" fill="#fdecea"/>'
               f'<rect x="{ml}" y="{mt}" width="{plot_right - ml}" height="{bottom - mt}" fill="none" stroke="#888"/>')
    decades = list(range(math.ceil(lo), math.floor(hi) + 1))
    step = max(1, math.ceil(len(decades) / 12))
    for t in decades:
        if t % step and t != 0:
            continue
        y = sy(t)
        fill = ' fill="#d62728"' if t == 0 else ""
        out.append(f'<line x1="{ml - 5}" y1="{y:.1f}" x2="{plot_right}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                   f'<text x="{ml - 8}" y="{y + 4:.1f}" text-anchor="end"{fill}>{_decade(t)}</text>')
    out.append(f'<line x1="{ml}" y1="{y1:.1f}" x2="{plot_right}" y2="{y1:.1f}" stroke="#d62728" '
               'stroke-width="1.5" stroke-dasharray="6 3"/>')
    if has_nonfinite:
        out.append(f'<line x1="{ml}" y1="{top}" x2="{plot_right}" y2="{top}" stroke="#888" stroke-dasharray="2 2"/>'
                   f'<text x="{ml - 8}" y="{mt + band / 2 + 4}" text-anchor="end">{band_words}</text>')
    zero_y = top + ph + band / 2
    if has_zero:
        out.append(f'<line x1="{ml}" y1="{top + ph}" x2="{plot_right}" y2="{top + ph}" stroke="#888" '
                   f'stroke-dasharray="2 2"/><text x="{ml - 8}" y="{zero_y + 4}" text-anchor="end">error 0</text>')
    out.append(f'<text x="16" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 {top + ph / 2})">'
               'error / tolerance (log)</text>')
    for i, (u0, u1, level) in enumerate(level_spans):
        x0, x1 = sx(u0), sx(u1)
        if i:
            sep = sx(u0 - level_gap / 2)
            out.append(f'<line x1="{sep:.1f}" y1="{mt}" x2="{sep:.1f}" y2="{bottom}" stroke="#888"/>')
        full = f"{level} {LEVELS.get(level, '')}"
        label = full if x1 - x0 >= 6.5 * len(full) else str(level)
        out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{mt - 6}" text-anchor="middle" font-size="11" fill="#333">'
                   f'<title>level {_xml_text(full)}</title>{_xml_text(label)}</text>')
    label_y = bottom + 10
    for u0, u1, construct in groups:
        cx = sx((u0 + u1) / 2)
        label = construct if len(construct) <= 18 else construct[:17] + "…"
        out.append(f'<text x="{cx:.1f}" y="{label_y}" font-size="10" text-anchor="end" '
                   f'transform="rotate(-60 {cx:.1f} {label_y})"><title>{_xml_text(construct)}</title>'
                   f'{_xml_text(label)}</text>')
    for u, c in dots:
        assert c.worst is not None
        cx = sx(u)
        tip = _xml_text(f"{c.name} ({c.outcome})\n{_worst_words(c.worst)}")
        k, fill = kinds[id(c)], color[c.dtype]
        stroke = ' stroke="#000" stroke-width="1"' if c.outcome != "pass" else ""
        if k == "finite":
            cy = sy(log_ratio(c.worst))
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{fill}"{stroke}><title>{tip}</title></circle>')
        elif k == "zero":  # a triangle pointing down: below every finite ratio
            out.append(f'<path d="M{cx - 4.5:.1f},{zero_y - 4:.1f} L{cx + 4.5:.1f},{zero_y - 4:.1f} '
                       f'L{cx:.1f},{zero_y + 4:.1f} Z" fill="{fill}"{stroke}><title>{tip}</title></path>')
        else:  # a triangle pointing up: beyond every finite ratio
            cy = mt + band / 2
            out.append(f'<path d="M{cx - 4.5:.1f},{cy + 4:.1f} L{cx + 4.5:.1f},{cy + 4:.1f} L{cx:.1f},{cy - 4:.1f} Z" '
                       f'fill="{fill}"{stroke}><title>{tip}</title></path>')
    if not dots:
        out.append(f'<text x="{(ml + plot_right) / 2}" y="{top + ph / 2}" text-anchor="middle" fill="#555">'
                   'no check ran</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _decade(t: int) -> str:
    """The label of the axis tick at 10**t (t may lie beyond what a float64 holds)."""
    return fmt_number(10.0**t) if -300 <= t <= 300 else f"1e{t}"


def _margin_subtitle(cert: Certification, n: int) -> str:
    fails = sum(c.outcome == "fail" for c in cert.checks)
    return f"{n} checks plotted, {fails} beyond tolerance; margin = 1 / ratio; {_verdict(cert)}"


# ------------------------------------------------------------------------------------------------ HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:bold;color:white;font-size:18px}
.verdict.yes{background:#2e7d32} .verdict.no{background:#c62828}
.pass{background:#d4edda} .fail{background:#f8d7da;font-weight:bold} .error{background:#ffe0b2;font-weight:bold}
.unsupported{background:#eceff1;color:#666} .partial{background:#fff3cd} .na{color:#aaa}
td.prov{font-style:italic} td.prov.native{color:#1b5e20} td.prov.bridged{color:#8d6e00} td.prov.written{color:#b71c1c}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;white-space:pre-wrap} .plot{overflow-x:auto}
.facts th{background:none;border:none;text-align:right;padding-right:12px;color:#555}
.facts td{border:none}
""".strip()


def _h(text: object) -> str:
    """HTML-escaped text (quotes included, so it is safe in attributes too), without control characters or bidi
    overrides (which would reorder what the page shows)."""
    return html.escape(_SHOWN_CONTROL.sub("\ufffd", str(text)), quote=True)


def _href(path: str) -> str:
    return _h(quote(path, safe="/._-~"))


def html_report(cert: Certification) -> str:
    """One self-contained page: header and verdict, coverage table, margin plot, all checks, failures."""
    n = cert.counts()
    execution = _execution_modes(cert)
    facts = [("adapter", cert.adapter), ("adapter versions", _versions(cert) or "-"),
             ("spec version", cert.spec_version), ("suite version", cert.suite_version),
             ("checks", counts_line(cert.counts())), ("provenance", _provenance_words(cert)),
             *((("execution", execution),) if execution else ()),
             *((("bounds", blind),) if (blind := _blind_words(cert)) else ()),
             ("examples", _examples_words(cert)),
             *((("recipes", steps),) if (steps := _recipe_steps_words(cert)) else ()),
             ("time", fmt_seconds(cert.seconds)), ("seed", str(cert.seed)),
             ("levels", ", ".join(f"{k} {LEVELS.get(k, '')}" for k in _levels(cert))),
             ("dtypes", ", ".join(cert.dtypes)), ("devices", ", ".join(cert.devices)),
             *((f"environment: {k}", v) for k, v in cert.environment.items())]
    verdict_class = "yes" if cert.certified else "no"
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{_h(f'Lockstep certification: {cert.adapter} — {_verdict(cert)}')}</title>",
        f"<style>\n{_CSS}\n</style>", "</head>", "<body>",
        f"<h1>Lockstep certification of <code>{_h(cert.adapter)}</code></h1>",
        f'<p><span class="verdict {verdict_class}">{_verdict(cert)}</span> &nbsp; '
        f"{n['pass']} pass · {n['fail']} fail · {n['error']} error · {n['unsupported']} unsupported · "
        f"{_h(_provenance_words(cert))}</p>",
        *([f"<p><b>Selection:</b> {_h(cert.selection)}</p>"] if cert.selection else []),
        "<p>Provenance says what a verdict is evidence about: <b>native</b>, the framework's own op or class "
        "(named); <b>bridged</b>, that op with a stated adjustment; <b>written</b>, the adapter's own math.</p>",
        '<table class="facts">',
        *(f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in facts),
        "</table>",
        "<h2>Coverage</h2>",
        "<p>Constructs × levels; each cell combines the checks over dtypes and devices and shows the smallest "
        "margin of those that passed (hover for the details of each check).</p>",
        _html_coverage(cert),
        "<h2>Margins</h2>",
        "<p>For every check that ran: the worst error / tolerance over its examples and compared quantities. "
        "The dashed line is the tolerance; checks below it pass, above it fail.</p>",
        f'<div class="plot">\n{margins_svg(cert)}</div>',
        "<h2>All checks</h2>",
        _html_checks(cert),
        _html_failures(cert),
        _html_unsupported(cert),
        "</body>", "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _html_coverage(cert: Certification) -> str:
    levels, cells, coverage = _levels(cert), _cells(cert), cert.coverage()
    by_construct = _by_construct(cert)
    rows = ["<table>", "<tr><th>construct</th>"
            + "".join(f"<th>{level} {_h(LEVELS.get(level, ''))}</th>" for level in levels) + "<th>provenance</th></tr>"]
    for construct in _constructs(cert):
        tds = []
        for level in levels:
            outcome = coverage.get(construct, {}).get(LEVELS.get(level, str(level)))
            checks = cells.get((construct, level), [])
            if outcome is None:
                tds.append('<td class="na" title="not applicable">-</td>')
                continue
            tip = "\n".join(_check_tip(c) for c in checks)
            tds.append(f'<td class="{outcome}" title="{_h(tip)}">{_h(_cell_text(outcome, checks))}</td>')
        prov = _construct_provenance(by_construct.get(construct, []))
        tds.append(f'<td class="prov {_h(prov.split("/")[-1])}">{_h(prov)}</td>')
        rows.append(f"<tr><th>{_h(construct)}</th>{''.join(tds)}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _check_tip(c: CheckResult) -> str:
    s = f"{c.dtype} {c.device}: {c.outcome}"
    if c.worst is not None:
        s += f", {fmt_margin(c.worst)} ({c.worst.quantity})"
    if c.examples:
        s += f", {c.examples} example{'s' if c.examples != 1 else ''}"
    if c.support:
        s += f"; {c.support}"
    if c.execution and c.outcome != "unsupported":
        s += f"; ran {c.execution}"
    if c.blind_quantities:
        s += f"; bounds would pass {len(c.blind_quantities)} quantities unmoved (of {c.blind_checked} steps asked)"
    if c.outcome == "unsupported" and c.message:
        s += f"; {c.message}"
    return s


def _html_checks(cert: Certification) -> str:
    heads = ["construct", "level", "dtype", "device", "outcome", "provenance", "support", "execution", "examples",
             "worst quantity", "error", "tolerance", "margin", "time"]
    problems = {id(c): i for i, c in enumerate(_problems(cert))}
    rows = ["<table>", "<tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"]
    for c in ordered_checks(cert):
        w = c.worst
        outcome = _h(c.outcome)
        if id(c) in problems:
            outcome = f'<a href="#problem-{problems[id(c)]}">{outcome}</a>'
        elif c.outcome == "unsupported" and c.message:
            outcome = f'<span title="{_h(c.message)}">{outcome}</span>'
        cols = [f"<td>{_h(c.construct)}</td>", f"<td>{c.level} {_h(c.level_name)}</td>",
                f"<td>{_h(c.dtype)}</td>", f"<td>{_h(c.device)}</td>", f'<td class="{c.outcome}">{outcome}</td>',
                f"<td>{_h(c.provenance or '-')}</td>", f"<td>{_h(c.support)}</td>",
                f"<td>{_h(c.execution or '-')}</td>", f'<td class="num">{c.examples}</td>',
                f"<td>{_h(w.quantity) if w else ''}</td>",
                f'<td class="num">{fmt_error(w) if w else ""}</td>',
                f'<td class="num">{fmt_tolerance(w) if w else ""}</td>',
                f'<td class="num">{_h(fmt_margin(w))}</td>', f'<td class="num">{fmt_seconds(c.seconds)}</td>']
        rows.append("<tr>" + "".join(cols) + "</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _html_failures(cert: Certification) -> str:
    problems = _problems(cert)
    if not problems:
        return "<h2>Failures</h2>\n<p>None.</p>"
    out = [f"<h2>{_problems_title(problems)} ({len(problems)})</h2>"]
    for i, c in enumerate(problems):
        out.append(f'<h3 id="problem-{i}">{_h(c.outcome.upper())} <code>{_h(c.name)}</code></h3>')
        if c.message.strip():
            out.append(f"<pre>{_h(c.message.strip())}</pre>")
        items = []
        if c.worst is not None:
            items.append(f"<li>worst: {_h(_worst_words(c.worst))}</li>")
        items.append(f"<li>examples run: {c.examples}</li>")
        if c.failure_dir:
            items.append(f'<li>failure folder: <a href="{_href(c.failure_dir)}">{_h(c.failure_dir)}</a></li>')
        out.append("<ul>" + "".join(items) + "</ul>")
        if c.reproduce:
            out.append(f"<p>Reproduce:</p>\n<pre><code>{_h(c.reproduce)}</code></pre>")
    return "\n".join(out)


def _unsupported_groups(cert: Certification) -> list[tuple[str, str, list[CheckResult]]]:
    groups: dict[tuple[str, str], list[CheckResult]] = {}
    for c in ordered_checks(cert):
        if c.outcome == "unsupported":
            groups.setdefault((c.construct, c.message or c.support or "unsupported"), []).append(c)
    return [(construct, reason, checks) for (construct, reason), checks in groups.items()]


def _where(checks: list[CheckResult]) -> str:
    levels = ", ".join(dict.fromkeys(c.level_name for c in checks))
    combos = ", ".join(dict.fromkeys(f"{c.dtype}/{c.device}" for c in checks))
    return f"{levels}; {combos}"


def _html_unsupported(cert: Certification) -> str:
    groups = _unsupported_groups(cert)
    if not groups:
        return ""
    items = "".join(f"<li><code>{_h(construct)}</code> ({_h(_where(checks))}): {_h(reason)}</li>"
                    for construct, reason, checks in groups)
    return f"<h2>Unsupported</h2>\n<ul>{items}</ul>"


# ------------------------------------------------------------------------------------------------ Markdown

_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|&#])")


def _md(text: object) -> str:
    """Inline Markdown text: punctuation that could start markup backslash-escaped, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(_SHOWN_CONTROL.sub("\ufffd", str(text)).split()))


def _md_code_block(text: str) -> str:
    """A fenced block of `text` (an adapter's message: its own lines kept, its escape sequences, NULs and bidi
    overrides replaced, as `cat report.md` would act on them), its fence longer than any backtick run in it."""
    text = _SHOWN_CONTROL.sub("\ufffd", text)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", text)), default=0))
    return f"{fence}text\n{text}\n{fence}"


def _md_link(path: str) -> str:
    return f"[{_md(path)}]({quote(path, safe='/._-~')})"


def markdown_report(cert: Certification) -> str:
    """The essentials in Markdown: summary, coverage table, failures (and unsupported constructs)."""
    levels, cells, coverage = _levels(cert), _cells(cert), cert.coverage()
    execution = _execution_modes(cert)
    out = [f"# Lockstep certification of {_md(cert.adapter)}: **{_verdict(cert)}**", "",
           "| | |", "| --- | --- |",
           f"| adapter | {_md(cert.adapter)} |",
           f"| versions | {_md(_versions(cert) or '-')} |",
           f"| spec / suite | {_md(cert.spec_version)} / {_md(cert.suite_version)} |",
           f"| checks | {_md(counts_line(cert.counts()))} |",
           *([f"| selection | {_md(cert.selection)} |"] if cert.selection else []),
           f"| provenance | {_md(_provenance_words(cert))} |",
           *([f"| execution | {_md(execution)} |"] if execution else []),
           *([f"| bounds | {_md(blind)} |"] if (blind := _blind_words(cert)) else []),
           f"| examples | {_md(_examples_words(cert))} |",
           *([f"| recipes | {_md(steps)} |"] if (steps := _recipe_steps_words(cert)) else []),
           f"| time | {fmt_seconds(cert.seconds)} |",
           f"| seed | {cert.seed} |",
           f"| dtypes / devices | {_md(', '.join(cert.dtypes))} / {_md(', '.join(cert.devices))} |",
           "", "## Coverage", "",
           "| construct | " + " | ".join(f"{level} {_md(LEVELS.get(level, ''))}" for level in levels)
           + " | provenance |",
           "| --- |" + " --- |" * (len(levels) + 1)]
    by_construct = _by_construct(cert)
    for construct in _constructs(cert):
        texts = []
        for level in levels:
            outcome = coverage.get(construct, {}).get(LEVELS.get(level, str(level)))
            text = "-" if outcome is None else _md(_cell_text(outcome, cells.get((construct, level), [])))
            texts.append(f"**{text}**" if outcome in ("fail", "error") else text)
        texts.append(_md(_construct_provenance(by_construct.get(construct, []))))
        out.append(f"| {_md(construct)} | " + " | ".join(texts) + " |")
    problems = _problems(cert)
    out += ["", f"## {_problems_title(problems)} ({len(problems)})", ""]
    if not problems:
        out.append("None.")
    for c in problems:
        out += [f"### {c.outcome.upper()} {_md(c.name)}", ""]
        if c.message.strip():
            out += [_md_code_block(c.message.strip()), ""]
        if c.worst is not None:
            out += [f"- worst: {_md(_worst_words(c.worst))}"]
        out += [f"- examples run: {c.examples}"]
        if c.failure_dir:
            out += [f"- failure folder: {_md_link(c.failure_dir)}"]
        out.append("")
        if c.reproduce:
            out += ["Reproduce:", "", _md_code_block(c.reproduce), ""]
    groups = _unsupported_groups(cert)
    if groups:
        out += ["", "## Unsupported", ""]
        out += [f"- {_md(construct)} ({_md(_where(checks))}): {_md(reason)}" for construct, reason, checks in groups]
    return "\n".join(out).rstrip() + "\n"
