"""Each check draws its own cases: checks that share a strategy (the optimizers, float32 and float64 of one
construct) do not draw the same choices under one seed, and a check's cases do not depend on which other checks
run, or in what order (docs/conformance.md, "Generation")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lockstep.adapters.reference import ReferenceAdapter
from lockstep.conformance import suite

EXAMPLES = 6


def _record(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    """check (construct.dtype) -> the cases it ran, in order, recorded around suite.run_pair."""
    seen: dict[str, list[dict[str, Any]]] = {}
    real = suite.run_pair

    def recording(target, case, levels, workdir):
        seen.setdefault(f"{case.construct}.{target.dtype}", []).append(case.to_json())
        return real(target, case, levels, workdir)

    monkeypatch.setattr(suite, "run_pair", recording)
    return seen


def _choices(case: dict[str, Any]) -> str:
    """What a strategy drew, without the construct's own name and fields: sizes, batch and the arrays' seed."""
    return json.dumps({"inputs": case["model"]["inputs"], "batch": case["batch"], "seed": case["seed"],
                       "layers": [{k: v for k, v in layer.items() if k != "name"}
                                  for layer in case["model"].get("layers", [])]}, sort_keys=True)


def test_check_seed_is_per_check_and_stable() -> None:
    seeds = {suite.check_seed(s, c, d, v) for s in (0, 1) for c in ("adam", "sgd") for d in ("float32", "float64")
             for v in ("cpu", "cuda:0")}
    assert len(seeds) == 16, "every (seed, construct, dtype, device) gets its own hypothesis seed"
    assert suite.check_seed(0, "adam", "float32", "cpu") == suite.check_seed(0, "adam", "float32", "cpu")


def test_checks_sharing_a_strategy_draw_different_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record(monkeypatch)
    options = suite.Options(dtypes=("float32", "float64"), examples=EXAMPLES, constructs=("sgd", "adam", "adagrad"))
    cert = suite.certify(ReferenceAdapter(), "reference", options)
    assert cert.certified
    draws = {check: [_choices(c) for c in cases] for check, cases in seen.items()}
    assert set(draws) == {f"{c}.{d}" for c in ("sgd", "adam", "adagrad") for d in ("float32", "float64")}
    firsts = {d[0] for d in draws.values()}
    assert len(firsts) == 1, f"hypothesis's first case is every check's simplest (kept on purpose): {firsts}"
    rest = {check: d[1:] for check, d in draws.items()}
    for a in rest:
        for b in rest:
            if a < b:
                assert rest[a] != rest[b], f"{a} and {b} drew the same cases: {rest[a]}"
    assert len({x for d in rest.values() for x in d}) > len(rest) * (EXAMPLES - 1) // 2, rest


def test_a_checks_cases_do_not_depend_on_the_other_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record(monkeypatch)
    alone = suite.certify(ReferenceAdapter(), "reference",
                          suite.Options(dtypes=("float64",), examples=EXAMPLES, constructs=("adam",)))
    first = seen.pop("adam.float64")
    seen.clear()
    together = suite.certify(ReferenceAdapter(), "reference",
                             suite.Options(dtypes=("float32", "float64"), examples=EXAMPLES,
                                           constructs=("sgd", "adam", "rmsprop")))
    assert seen["adam.float64"] == first
    adam = [c.to_json() for c in together.checks if c.name == "adam.updates.float64.cpu"]
    assert [{**c, "seconds": 0} for c in adam] == [{**c.to_json(), "seconds": 0} for c in alone.checks]
