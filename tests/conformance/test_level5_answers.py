"""Level 5 names an engine's unusable answers (sweep, 2026-12-07): `data_parallel()` returning None was
"AttributeError: 'NoneType' object has no attribute 'set_parameters'", and `last_shards()` returning a string
"ValueError: not enough values to unpack"."""

from __future__ import annotations

from typing import Any

from lockstep.adapters.reference import ReferenceAdapter
from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.conformance import suite
from lockstep.conformance.mutants import options_for


class NoSession(ReferenceAdapter):
    name = "nosession"

    def data_parallel(self, model: Any, **_kw: Any) -> Any:
        return None


class _TextShards(DataParallelReferenceSession):
    def last_shards(self) -> Any:
        return "0:2,2:4"


class TextShards(ReferenceAdapter):
    name = "textshards"

    def data_parallel(self, model: Any, *, dtype: str, device: str, recipe: Any, replicas: int,
                      batch_norm: str | None, driver: bool = False) -> Any:
        return _TextShards(model, recipe, dtype, replicas=replicas, batch_norm=batch_norm)


def _only_check(adapter: ReferenceAdapter) -> Any:
    options = options_for(None, 2, suite.DEFAULT_SEED, constructs=("data_parallel",), dtypes=("float64",),
                          levels=(5,))
    (check,) = suite.certify(adapter, adapter.name, options).checks
    return check


def test_data_parallel_returning_no_session_is_said() -> None:
    check = _only_check(NoSession())
    assert check.outcome == "error" and "data_parallel() returned None; expected a session" in check.message, check


def test_shards_that_are_not_pairs_are_said() -> None:
    check = _only_check(TextShards())
    assert check.outcome == "error" and "last_shards() returned '0:2,2:4': expected (start, end) pairs" in \
        check.message, check
