"""`pytest --lockstep-adapter=A`: the conformance suite as pytest items, run by pytester against the built-in
reference adapter (and a deliberately broken one) on a few constructs, in float64, with 2 examples per check."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import pytest

import lockstep.adapters.reference
import lockstep.conformance.report
import lockstep.conformance.suite  # noqa: F401
from lockstep.conformance.pytest_plugin import Expectations, ExpectationsError

pytest_plugins = ["pytester"]

FAST = ("--lockstep-dtype=float64", "--lockstep-examples=2")

# A ReferenceAdapter whose Adam step is wrong (every parameter nudged by 1e-6 after it) and which declares conv2d
# unsupported: the failing and the unsupported cases of the accounting.
BROKEN = '''
from lockstep.adapters.base import Support
from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession


class BrokenSession(ReferenceSession):
    def train_step(self, x, y, *, masks=None):
        result = super().train_step(x, y, masks=masks)
        if self.recipe.optimizer.type == "adam":
            self.params = {k: v + 1e-6 for k, v in self.params.items()}
        return result


class BrokenAdapter(ReferenceAdapter):
    name = "broken"

    def support(self, construct, *, dtype="float32", device="cpu"):
        if construct == "conv2d":
            return Support("unsupported", "no convolutions here")
        return super().support(construct, dtype=dtype, device=device)

    def build(self, model, *, dtype, device="cpu", recipe=None):
        return BrokenSession(model, recipe)
'''
BROKEN_ADAPTER = "--lockstep-adapter=lockstep_broken_adapter:BrokenAdapter"


@pytest.fixture
def broken(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(lockstep_broken_adapter=BROKEN)
    pytester.syspathinsert()
    return pytester


def test_inactive_without_the_option(pytester: pytest.Pytester) -> None:
    """Installed for every pytest run, the plugin must not import the suite or a framework, nor collect anything."""
    pytester.makepyfile(test_plain="""
        import sys

        def test_nothing_heavy_is_imported():
            heavy = {"lockstep.conformance.suite", "lockstep.adapters.registry", "torch", "tensorflow"}
            assert not heavy & set(sys.modules), heavy & set(sys.modules)
            assert "lockstep.conformance.pytest_plugin" in sys.modules  # loaded through the pytest11 entry point
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "lockstep:" not in result.stdout.str()


def test_items_are_named_after_the_checks(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--lockstep-adapter=reference", "--lockstep-construct=dense,mse,sgd,digits-mlp",
                                *FAST, "--collect-only", "-q")
    ids = [line for line in result.outlines if line.startswith("lockstep::")]
    assert ids == ["lockstep::reference::dense[predictions-float64-cpu]",
                   "lockstep::reference::dense[gradients-float64-cpu]",
                   "lockstep::reference::mse[gradients-float64-cpu]",
                   "lockstep::reference::sgd[updates-float64-cpu]",
                   "lockstep::reference::digits-mlp[recipes-float64-cpu]"]
    assert "5 tests collected" in result.stdout.str()


def test_reference_passes_and_writes_the_reports(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_vendor_own_test():\n    pass\n")
    result = pytester.runpytest("--lockstep-adapter=reference", "--lockstep-construct=dense,mse,sgd,digits-mlp",
                                *FAST, "--lockstep-report=R", "--junitxml=junit-pytest.xml")
    result.assert_outcomes(passed=6)  # the vendor's own test runs beside the suite
    result.stdout.fnmatch_lines(["lockstep: adapter reference (*", "*lockstep certification: reference*",
                                 # the whole plan ran: CERTIFIED, as the reports say ("certified for these
                                 # checks" is a part of the plan's, test_pytest_plugin_report_folder.py)
                                 "5 checks: 5 pass, 0 fail, 0 error, 0 unsupported · CERTIFIED",
                                 "report: R/report.html*"])
    report = json.loads((pytester.path / "R" / "report.json").read_text())
    assert report["certified"] and report["adapter"] == "reference"
    assert [c["construct"] for c in report["checks"]] == ["dense", "dense", "mse", "sgd", "digits-mlp"]
    assert {p.name for p in (pytester.path / "R").iterdir()} >= {"report.html", "junit.xml", "report.md"}
    cases = ET.parse(pytester.path / "junit-pytest.xml").getroot().iter("testcase")
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("lockstep.reference", "dense[gradients-float64-cpu]") in names


def test_k_and_node_ids_select_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_must_not_run():\n    raise AssertionError('collected')\n")
    args = ("--lockstep-adapter=reference", "--lockstep-construct=dense,mse,sgd", *FAST)
    pytester.runpytest(*args, "-k", "gradients and not test_other").assert_outcomes(passed=2, deselected=3)
    # a `lockstep::` argument selects checks and keeps pytest from collecting the folder's own tests
    result = pytester.runpytest(*args, "lockstep::reference::dense", "lockstep::reference::sgd[updates-float64-cpu]")
    result.assert_outcomes(passed=3)
    pytester.runpytest(*args, "lockstep::reference").assert_outcomes(passed=4)
    result = pytester.runpytest(*args, "lockstep::reference::adam")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: not found: lockstep::reference::adam*"])


def test_unsupported_is_skipped_with_the_adapters_reason(broken: pytest.Pytester) -> None:
    result = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=conv2d,dense", *FAST, "-rs", "--lockstep-report=R")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]2[]] lockstep_broken_adapter.py:*: broken does not support conv2d: no convolutions here"])
    report = json.loads((broken.path / "R" / "report.json").read_text())
    assert report["counts"] == {"pass": 2, "fail": 0, "unsupported": 2, "error": 0} and report["certified"]


def test_a_failure_says_what_diverged_and_how_to_reproduce(broken: pytest.Pytester) -> None:
    result = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=dense,adam,adamw", *FAST, "--lockstep-report=R")
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    assert "Traceback" not in out and "pytest_plugin.py" not in out
    name = "adam.updates.float64.cpu"
    result.stdout.fnmatch_lines([
        f"{name}: broken diverges from the reference (first failure after *",
        "  first diverging quantity: step 1 parameter *: error * > tolerance *",
        f"  failure folder: * R/failures/{name}/ (README.md lists every comparison)",
        f"  reproduce: * lockstep compare R/failures/{name}/recipe.yaml --backends "
        "reference,lockstep_broken_adapter:BrokenAdapter --conformance",
        "4 checks: 3 pass, 1 fail, 0 error, 0 unsupported · NOT certified",
        "FAILED lockstep::broken::adam[[]updates-float64-cpu[]] - adam.updates.float64.cpu*",
    ])
    report = json.loads((broken.path / "R" / "report.json").read_text())
    assert not report["certified"] and report["counts"]["fail"] == 1
    assert (broken.path / "R" / "failures" / name / "recipe.yaml").is_file()


def test_x_stops_and_the_report_holds_what_ran(broken: pytest.Pytester) -> None:
    result = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=adam,adamw", *FAST, "-x", "--lockstep-report=R")
    result.assert_outcomes(failed=1)
    report = json.loads((broken.path / "R" / "report.json").read_text())
    assert [c["construct"] for c in report["checks"]] == ["adam"]


def test_lf_and_ff_select_the_checks_that_failed_last(broken: pytest.Pytester) -> None:
    """pytest 9 matches --lf's stored ids parsed (`adam` with parameters `updates-float64-cpu`): the items' ids were
    one name with brackets in it, so `--lf` said "1 known failures not in selected tests" and ran every check."""
    args = (BROKEN_ADAPTER, "--lockstep-construct=dense,adam", *FAST)
    broken.runpytest(*args).assert_outcomes(failed=1, passed=2)
    last = broken.runpytest(*args, "--lf")
    last.assert_outcomes(failed=1, deselected=2)
    last.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure"])
    first = broken.runpytest(*args, "--ff", "-v")
    first.assert_outcomes(failed=1, passed=2)
    ran = [line.split()[0] for line in first.outlines if line.startswith("lockstep::") and line.split()[1:2]]
    assert ran[0] == "lockstep::broken::adam[updates-float64-cpu]", ran


def test_an_interrupted_session_replaces_no_report(broken: pytest.Pytester) -> None:
    """Ctrl-C wrote a "0 checks" report over the earlier one, with no word that the session had stopped."""
    first = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=adam", *FAST, "--lockstep-report=R")
    first.assert_outcomes(failed=1)
    before = (broken.path / "R" / "report.json").read_bytes()
    broken.makepyfile(lockstep_stopping_adapter=(
        "from lockstep_broken_adapter import BrokenAdapter\n\n\nclass StoppingAdapter(BrokenAdapter):\n"
        "    def build(self, *args, **kwargs):\n        raise KeyboardInterrupt\n"))
    result = broken.runpytest_subprocess("--lockstep-adapter=lockstep_stopping_adapter:StoppingAdapter",
                                         "--lockstep-construct=adam", *FAST, "--lockstep-report=R")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(["*the session was interrupted: no report written to R*"])
    assert (broken.path / "R" / "report.json").read_bytes() == before


def test_failures_go_to_the_cache_without_a_report_folder(broken: pytest.Pytester) -> None:
    result = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=adam", *FAST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  failure folder: * .pytest_cache/d/lockstep-lockstep_broken_adapter-BrokenAdapter"
                                 "/failures/adam.updates.float64.cpu/*"])


def test_without_the_cache_failures_go_to_one_folder_per_project(broken: pytest.Pytester) -> None:
    """With `-p no:cacheprovider`, each session (and each xdist worker) wrote a new `lockstep-<adapter>-<pid>` folder
    in the temporary folder, and none was ever removed. Now one folder per user and project holds them, and a new
    session replaces the last one's failures, as with the cache."""
    def folder_of(result: pytest.RunResult) -> Path:
        line = next(x for x in result.outlines if "failure folder:" in x)
        return Path(line.split("failure folder:")[1].split()[0])

    first = broken.runpytest_subprocess("-p", "no:cacheprovider", BROKEN_ADAPTER, "--lockstep-construct=adam", *FAST)
    first.assert_outcomes(failed=1)
    folder = folder_of(first)
    try:
        assert folder.is_absolute() and folder.is_dir(), folder
        (folder.parent / "stale.case").mkdir()
        again = broken.runpytest_subprocess("-p", "no:cacheprovider", BROKEN_ADAPTER, "--lockstep-construct=adam",
                                            *FAST)
        again.assert_outcomes(failed=1)
        assert folder_of(again) == folder and folder.is_dir() and not (folder.parent / "stale.case").exists()
    finally:
        shutil.rmtree(folder.parents[1], ignore_errors=True)


def test_expectations_skip_and_xfail(broken: pytest.Pytester) -> None:
    broken.makefile(".toml", conformance="""
        [skip]
        "conv2d.*" = "convolutions come in 0.2"
        "dense.predictions.*" = "not today"

        [xfail]
        "adam.updates.*" = "known: the Adam step is nudged"
        "dense.*" = "shadowed by the skip above for predictions"
    """)
    args = (BROKEN_ADAPTER, "--lockstep-construct=conv2d,dense,adam", *FAST, "--lockstep-expect=conformance.toml",
            "--lockstep-report=R", "-rsxX")
    result = broken.runpytest(*args)
    result.assert_outcomes(skipped=3, xfailed=1, xpassed=1)
    result.stdout.fnmatch_lines([
        "4 checks: 1 pass, 1 fail, 0 error, 2 unsupported, 1 skipped by expectations (not reported) · NOT certified",
        "*convolutions come in 0.2 (expected skip, conformance.toml)",
        "XFAIL lockstep::broken::adam[[]updates-float64-cpu[]] - known: the Adam step*"])
    report = json.loads((broken.path / "R" / "report.json").read_text())
    # the report stays honest: conv2d is what the adapter declares (unsupported), adam failed, and the skipped
    # dense predictions check did not run, so it is not reported at all
    assert [(c["construct"], c["level"], c["outcome"]) for c in report["checks"]] == [
        ("conv2d", 1, "unsupported"), ("conv2d", 2, "unsupported"), ("dense", 2, "pass"), ("adam", 3, "fail")]
    strict = broken.runpytest(*args, "-o", "xfail_strict=true")
    strict.assert_outcomes(skipped=3, xfailed=1, failed=1)  # a fixed bug must leave the list


@pytest.mark.parametrize(("args", "message"), [
    (["--lockstep-adapter=nope"], "ERROR: --lockstep-adapter nope: unknown adapter `nope`; known: *"),
    (["--lockstep-adapter=no_such_module:Adapter"], "ERROR: --lockstep-adapter no_such_module:Adapter: no module *"),
    (["--lockstep-adapter=reference", "--lockstep-level=7"], "ERROR: --lockstep-level '7': expected 1-5*"),
    (["--lockstep-adapter=reference", "--lockstep-dtype=float16"], "ERROR: --lockstep-dtype: expected float32*"),
    (["--lockstep-adapter=reference", "--lockstep-construct=dens"], "ERROR: *unknown `dens`; did you mean `dense`?"),
    (["--lockstep-adapter=reference", "--lockstep-construct=,"], "ERROR: --lockstep-construct ',' names no construct"),
    (["--lockstep-adapter=reference", "--lockstep-device=cuda:0"], "ERROR: *offers cpu; not cuda:0"),
    (["--lockstep-adapter=reference", "--lockstep-examples=0"], "ERROR: --lockstep-examples must be at least 1, got 0"),
    (["--lockstep-adapter=reference", "--lockstep-expect=missing.toml"], "ERROR: --lockstep-expect missing.toml: "
                                                                         "cannot read*"),
    (["--lockstep-report=R"], "ERROR: --lockstep-report needs --lockstep-adapter"),
])
def test_usage_errors_are_one_sentence(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


# ------------------------------------------------------------------------------------ the expectations file
def test_expectations_match_check_names(tmp_path) -> None:
    path = tmp_path / "e.toml"
    path.write_text('[skip]\n"*.recipes.*" = "none fit"\n[xfail]\n"sgd.updates.float32.*" = "acme#12"\n'
                    '"sgd.*" = "shadowed"\n')
    e = Expectations.load(path)
    assert e.match("small-cnn.recipes.float32.cpu") == ("skip", "none fit")
    assert e.match("sgd.updates.float32.cuda:0") == ("xfail", "acme#12")
    assert e.match("sgd.updates.float64.cpu") == ("xfail", "shadowed")
    assert e.match("dense.predictions.float32.cpu") is None


@pytest.mark.parametrize(("text", "message"), [
    ('[skip\n"a" = "b"', "not valid TOML"),
    ('[expect]\n"a" = "b"', "unknown key `expect`"),
    ('skip = "everything"', "`skip` must be a table"),
    ('[xfail]\n"a.*" = ""', 'the value must be the reason'),
    ('[xfail]\n"a.*" = true', 'the value must be the reason'),
])
def test_bad_expectations_are_named(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ExpectationsError, match=message) as err:
        Expectations.load(path)
    assert str(path) in str(err.value)
