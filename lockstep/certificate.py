"""`lockstep.Certificate`: what `lockstep.certify` returns, report.json's content as objects.

Kept out of lockstep/api.py because it extends the conformance suite's `Certification`, and `lockstep validate`
(which starts through the API) must not import the suite.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lockstep.conformance.results import Certification, CheckResult, Worst
from lockstep.errors import LockstepError
from lockstep.spec.atomic import JOURNAL


@dataclass
class Certificate(Certification):
    """A certification as objects: report.json's content (adapter, versions, settings, environment, every
    CheckResult with its worst comparison), `certified`, `counts()`, `coverage()`; `report_dir` and `files` say
    where the reports were written, absolute (none when `report=False`). `Certificate.read(path)` reads a
    report.json."""

    report_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def of(cls, cert: Certification, report_dir: Path | None = None, files: dict[str, Path] | None = None
           ) -> Certificate:
        """`cert` (the suite's result) with where its reports were written."""
        return cls(**{f.name: getattr(cert, f.name) for f in fields(Certification)}, report_dir=report_dir,
                   files=dict(files or {}))

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that failed or errored, each with the folder of its standalone reproducer."""
        return [c for c in self.checks if c.outcome in ("fail", "error")]

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Certificate:
        """The certificate a report.json (or the folder holding it) records."""
        from lockstep.spec.files import open_regular
        from lockstep.spec.wording import got

        text = os.fspath(path) if isinstance(path, os.PathLike) else path
        if not isinstance(text, str) or "\0" in text:
            raise LockstepError(f"path: expected a path (str or os.PathLike), got {got(path)}")
        if not text:  # '' read ./report.json
            raise LockstepError("Certificate.read: no path given (an empty path names no file)")
        p = Path(path)
        try:
            p = p / "report.json" if p.is_dir() else p
            where = Path(os.path.abspath(p.parent))  # as certify returns it: right whatever the folder becomes
            if os.path.lexists(where / JOURNAL):  # a set being renamed into place, or one a killed certify split
                raise LockstepError(f"{p}: {JOURNAL} beside it says that the reports there are being replaced, or "
                                    "were when a certify was killed: they may be of two runs; read it once that "
                                    "certify has ended, or certify into that folder again")
            with open_regular(p) as fh:  # a FIFO is refused, not waited on forever
                data = json.loads(fh.read().decode("utf-8"))
            cert = cls(adapter=data["adapter"], adapter_versions=data["adapter_versions"],
                       spec_version=data["spec_version"], suite_version=data["suite_version"], seed=data["seed"],
                       examples=data["examples_per_check"], levels=_levels(data["levels"]),
                       dtypes=data["dtypes"], devices=data["devices"], environment=data["environment"],
                       checks=[_check(c, i) for i, c in enumerate(_list(data["checks"], "checks"))],
                       seconds=float(data["seconds"]),
                       recipe_steps=data.get("recipe_steps"),  # absent from certificates before it was kept
                       selection=data.get("selection"), report_dir=where, files=_report_files(where, p))
            cert.to_json(), cert.provenance_counts(), cert.execution_counts()  # what a caller asks of it: here
            return cert
        except _NotACheck as exc:
            raise LockstepError(f"{p} is not a certification report: {exc}") from None
        except (OSError, ValueError, LookupError, TypeError, AttributeError, ArithmeticError, RecursionError) as exc:
            raise LockstepError(f"{p}: not a certification report ({type(exc).__name__}: {exc})") from None


def _report_files(folder: Path, json_path: Path) -> dict[str, Path]:
    """The report files beside a report.json, as certify lists them (the json given, the others where present)."""
    from lockstep.conformance.report import REPORT_FILES

    found = {kind: folder / name for kind, name in REPORT_FILES.items() if kind != "json" and (folder / name).is_file()}
    return {"json": Path(os.path.abspath(json_path)), **found}


class _NotACheck(ValueError):
    """A report.json entry that no certify writes: said as `checks[3].outcome: ...` (a ValueError, so `read` names
    the file and says it is not a certification report)."""


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise _NotACheck(f"{where}: expected a list, got {type(v).__name__}")
    return v


def _levels(v: Any) -> list[int]:
    """report.json's `levels` (level number as text -> its name), as the sorted numbers; `"12"` read as [1, 2] and
    `{"9": ...}` passed here and raised KeyError later."""
    from lockstep.conformance.results import LEVELS
    from lockstep.spec.wording import digits

    if not isinstance(v, dict) or not all(isinstance(k, str) and digits(k) and k == str(int(k)) and int(k) in LEVELS
                                          for k in v):
        raise _NotACheck(f"levels: expected an object keyed by level numbers {', '.join(map(str, LEVELS))}, got "
                         f"{v!r}"[:300])
    return sorted(int(k) for k in v)


_CHECK_FIELDS: dict[str, tuple[type | None, ...]] = {
    "examples": (int,), "seconds": (int, float), "support": (str,), "message": (str,), "failure_dir": (str, None),
    "reproduce": (str, None), "provenance": (str, None), "execution": (str,), "blind_steps": (list,),
    "blind_quantities": (dict,), "blind_checked": (int,)}
"""The type of each optional field of a check as certify writes it (None: null)."""


def _check(d: Any, i: int = 0) -> CheckResult:
    """One entry of report.json's `checks`, refused (ValueError naming `checks[i].field`) unless it is an object with
    the fields certify writes, of their types and vocabularies: a bad entry must fail here, not later in `counts()`
    or `.name`."""
    from lockstep.conformance.results import LEVELS

    where = f"checks[{i}]"
    if not isinstance(d, dict):
        raise _NotACheck(f"{where}: expected an object, got {type(d).__name__}")
    for key, kinds in (("construct", str), ("dtype", str), ("device", str), ("outcome", str)):
        if not isinstance(d.get(key), kinds):
            raise _NotACheck(f"{where}.{key}: expected text, got {d.get(key)!r}"[:300])
    if d["outcome"] not in ("pass", "fail", "unsupported", "error"):
        raise _NotACheck(f"{where}.outcome: expected pass, fail, unsupported or error, got {d['outcome']!r}"[:300])
    level = d.get("level")
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise _NotACheck(f"{where}.level: expected one of {', '.join(map(str, LEVELS))}, got {level!r}"[:300])
    for key, kinds in _CHECK_FIELDS.items():
        v = d.get(key, ...)
        if v is ... or (v is None and None in kinds):
            continue
        if isinstance(v, bool) or not isinstance(v, tuple(k for k in kinds if k is not None)):
            wanted = " or ".join("null" if k is None else k.__name__ for k in kinds)
            raise _NotACheck(f"{where}.{key}: expected {wanted}, got {v!r}"[:300])
    names = {f.name for f in fields(CheckResult)}
    c = CheckResult(**{k: v for k, v in d.items() if k in names and k != "worst"})
    w = d.get("worst")
    if w:
        if not isinstance(w, dict):
            raise _NotACheck(f"{where}.worst: expected an object, got {type(w).__name__}")
        # as Worst.to_json wrote it: a null error (none measured) reads back as inf, a null tolerance (none applied)
        # as 0, conformance/checks.py's placeholders
        c.worst = Worst.from_json(w)
    return c
