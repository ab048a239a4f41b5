"""A report's environment records the threads of what it ran, not of everything the process ran before: the Python
API certifies or runs several adapters in one process, and the fingerprint's thread records are per process."""

from __future__ import annotations

import json
from pathlib import Path

import lockstep
from lockstep.adapters.reference import ReferenceAdapter

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "inline-model" / "recipe.yaml"


class OtherVendor(ReferenceAdapter):
    name = "other-vendor"


def test_a_second_certificate_records_its_own_adapter_s_threads_only(tmp_path: Path) -> None:
    """The second certificate's environment.threads listed `other-vendor` beside `reference` (sweep, 2026-12-08)."""
    options = {"constructs": "dense", "levels": 1, "dtypes": "float64", "examples": 2, "jobs": 1,
               "log": lambda _m: None}
    first = lockstep.certify(OtherVendor(), report=tmp_path / "a", **options)
    second = lockstep.certify("reference", report=tmp_path / "b", **options)
    assert set(json.loads(first.environment["threads"])) == {"other-vendor"}, first.environment["threads"]
    assert set(json.loads(second.environment["threads"])) == {"reference"}, second.environment["threads"]
    written = json.loads((tmp_path / "b" / "report.json").read_text(encoding="utf-8"))
    assert set(json.loads(written["environment"]["threads"])) == {"reference"}, written["environment"]


def test_a_run_s_report_records_its_own_backend_s_threads_only(tmp_path: Path) -> None:
    lockstep.certify(OtherVendor(), report=False, constructs="dense", levels=1, dtypes="float64", examples=2, jobs=1,
                     log=lambda _m: None)
    result = lockstep.run(RECIPE, backend="reference", out=tmp_path / "run", steps=2)
    assert set(result.fingerprint["threads"]) == {"reference"}, result.fingerprint["threads"]
