"""benchmarks/certify_time.py's `--own` split, which docs/conformance.md's "Why 2× is out of reach" quotes."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "certify_time.py"


def _script():
    spec = importlib.util.spec_from_file_location("certify_time_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_own_splits_the_adapters_calls_from_the_rest(capsys) -> None:
    """The adapter's own time (build and its sessions' calls, each exclusive) plus the rest is the run's time, and
    every call the suite made is counted once."""
    rc = _script().main(["--adapter", "reference", "--levels", "1,2", "--dtype", "float64", "--examples", "2",
                         "--own"])
    out = capsys.readouterr().out
    assert rc == 0, out
    total = float(re.search(r"total: .*?, ([\d.]+) s,", out).group(1))
    own, whole, rest = (float(x) for x in re.search(
        r"adapter's own calls: ([\d.]+) s of ([\d.]+) s; everything else .*?: ([\d.]+) s", out).groups())
    assert whole == pytest.approx(total, abs=0.05) and own + rest == pytest.approx(whole, abs=0.15), out
    calls = dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^  (\w+)\s+[\d.]+ s\s+(\d+) calls$", out, re.M))
    assert calls.get("build", 0) > 0 and calls.get("forward", 0) > 0 and calls.get("loss_and_gradients", 0) > 0, out
    from lockstep.adapters.reference import ReferenceSession

    script = _script()
    wrapped = [name for name in script._OwnTimer.METHODS
               if hasattr(getattr(ReferenceSession, name, None), "__wrapped__")]
    assert wrapped == [], f"the timing wrappers stayed on {wrapped}"


def test_own_needs_one_process() -> None:
    with pytest.raises(SystemExit) as err:
        _script().main(["--adapter", "reference", "--jobs", "2", "--own"])
    assert err.value.code == 2


@pytest.mark.parametrize(("text", "seeds"), [("0", [0]), ("0-3", [0, 1, 2, 3]), ("0,3,7", [0, 3, 7]),
                                             ("0-1, 9", [0, 1, 9]), ("5-5", [5])])
def test_seed_lists_parse(text: str, seeds: list[int]) -> None:
    assert _seed_list()(text) == seeds


@pytest.mark.parametrize("text", ["", "x", "3-1", "-2", "1-", "1.5", "0,,1"])
def test_bad_seed_lists_name_the_part(text: str) -> None:
    with pytest.raises(ValueError, match="--seeds"):
        _seed_list()(text)


def _seed_list():
    """benchmarks/__init__.py's seed_list (the benchmarks are scripts, not an installed package)."""
    spec = importlib.util.spec_from_file_location("benchmarks_under_test", SCRIPT.parent / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.seed_list


def test_against_alternates_two_adapters_and_prints_the_ratio(capsys) -> None:
    """Each pair's run of A and of B in fresh processes, their ratio, and the ratio of the medians."""
    rc = _script().main(["--adapter=reference", "--against", "reference", "--pairs", "2", "--levels", "1",
                         "--dtype", "float64", "--examples", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    pairs = re.findall(r"^pair (\d): reference ([\d.]+) s, reference ([\d.]+) s, ratio ([\d.]+)$", out, re.M)
    assert [p[0] for p in pairs] == ["1", "2"], out
    assert all(float(a) > 0 and float(r) == pytest.approx(float(a) / float(b), abs=0.01) for _, a, b, r in pairs), out
    assert re.search(r"^medians: reference [\d.]+ s, reference [\d.]+ s; ratio of the medians [\d.]+ \(pairs "
                     r"[\d.]+-[\d.]+\)$", out, re.M) and out.rstrip().endswith("false alarms: 0"), out


def test_against_says_when_a_run_does_not_finish(capsys) -> None:
    rc = _script().main(["--adapter", "reference", "--against", "no-such-adapter", "--pairs", "1", "--levels", "1",
                         "--examples", "1"])
    assert rc == 2
    assert "no-such-adapter: the run did not finish" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--pairs", "0"], ["--own"], ["--cases"]])
def test_against_refuses_what_it_cannot_do(extra: list[str]) -> None:
    with pytest.raises(SystemExit) as err:
        _script().main(["--adapter", "reference", "--against", "torch", *extra])
    assert err.value.code == 2
