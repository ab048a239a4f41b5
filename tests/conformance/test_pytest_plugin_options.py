"""`pytest --lockstep-adapter=A`: what the plugin refuses before any work (as `lockstep certify` refuses it), and
what a session that runs no check leaves of an earlier certificate. Run by pytester against the reference adapter
(and broken ones) on one or two constructs, in float64, with 2 examples per check."""

from __future__ import annotations

import json

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import pytest
from test_pytest_plugin import BROKEN, FAST  # the adapter whose Adam step is wrong

import lockstep.adapters.reference
import lockstep.api
import lockstep.conformance.report
import lockstep.conformance.suite
from lockstep.errors import LockstepError

pytest_plugins = ["pytester"]

REFERENCE = ("--lockstep-adapter=reference", "--lockstep-construct=dense", "--lockstep-level=1", *FAST)

BROKEN_ADAPTER = ("--lockstep-adapter=lockstep_broken_adapter:BrokenAdapter", "--lockstep-construct=adam", *FAST)

# An adapter whose every session fails to build: each check is an `error`, whose text says how to run it alone.
ERRING = '''
from lockstep.adapters.reference import ReferenceAdapter


class ErringAdapter(ReferenceAdapter):
    name = "erring"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        raise RuntimeError("no session today")
'''


def usage_error(result: pytest.RunResult, line: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([line])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert "collected" not in result.stdout.str()  # refused before any check was collected, let alone run


# ------------------------------------------------------------------------------------ a session without a check
@pytest.mark.parametrize(("args", "status"), [
    (["--collect-only"], pytest.ExitCode.OK),
    (["-k", "nothingmatches"], pytest.ExitCode.NO_TESTS_COLLECTED),
    (["--lockstep-expect=skip.toml"], pytest.ExitCode.OK),  # every check skipped by the expectations
    (["lockstep::"], pytest.ExitCode.USAGE_ERROR),  # an id no check has
])
def test_a_session_that_runs_no_check_replaces_no_report(pytester: pytest.Pytester, args: list[str],
                                                         status: pytest.ExitCode) -> None:
    """`--collect-only` (or a `-k` that selects none of the checks) rewrote the earlier certificate as an empty one,
    "NOT CERTIFIED", and removed its failing cases, without a word; `lockstep certify` refuses to run no check."""
    pytester.makepyfile(lockstep_broken_adapter=BROKEN)
    pytester.syspathinsert()
    pytester.makefile(".toml", skip='[skip]\n"*" = "not today"\n')
    first = pytester.runpytest(*BROKEN_ADAPTER, "--lockstep-report=R")
    first.assert_outcomes(failed=1)
    folder = pytester.path / "R"
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert (folder / "failures" / "adam.updates.float64.cpu" / "recipe.yaml") in {folder / p for p in before}

    result = pytester.runpytest(*BROKEN_ADAPTER, "--lockstep-report=R", *args)
    assert result.ret == status, result.stdout.str()
    if status != pytest.ExitCode.USAGE_ERROR:
        result.stdout.fnmatch_lines(["lockstep: no check ran; R/ left as it was"])
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_collect_only_makes_no_report_folder(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*REFERENCE, "--lockstep-report=new/R", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["lockstep::reference::dense[[]predictions-float64-cpu[]]",
                                 "lockstep: no check ran; no report written to new/R/"])
    assert not (pytester.path / "new").exists()


# ------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize(("option", "message"), [
    ("--lockstep-examples=0", "--lockstep-examples must be at least 1, got 0"),
    ("--lockstep-recipe-steps=-3", "--lockstep-recipe-steps must be at least 1, got -3"),
    (f"--lockstep-examples={2**63}", f"--lockstep-examples must be at most {2**63 - 1} (2**63 - 1), got {2**63}"),
    ("--lockstep-recipe-steps=99999999999999999999999",
     f"--lockstep-recipe-steps must be at most {2**63 - 1} (2**63 - 1), got 99999999999999999999999"),
])
def test_a_count_certify_refuses_is_named_with_its_value(pytester: pytest.Pytester, option: str, message: str) -> None:
    """A count past 2**63 - 1 was accepted (certify's --examples refuses it), and 0 was said as "--lockstep-examples
    and --lockstep-recipe-steps must be at least 1", naming neither the option given nor its value."""
    usage_error(pytester.runpytest("--lockstep-adapter=reference", "--lockstep-construct=dense", option,
                                   "--collect-only"), f"ERROR: {message}")  # accepted, it collected and ran none


@pytest.mark.parametrize("args", [["--lockstep-construct=dense"], ["--lockstep-level=1,2"]])
def test_recipe_steps_that_cap_no_recipe_are_a_usage_error(pytester: pytest.Pytester, args: list[str]) -> None:
    """Sweep O (2026-12-07): accepted and ignored, where `lockstep certify` refuses it (it plans no example recipe
    at level 4 or 5)."""
    usage_error(pytester.runpytest("--lockstep-adapter=reference", *args, "--lockstep-recipe-steps=3",
                                   "--collect-only"),
                "ERROR: --lockstep-recipe-steps 3: the options plan no example recipe at level 4 or 5*")


# ------------------------------------------------------------------------------------ options that plan no check
@pytest.mark.parametrize(("level", "construct", "said"), [
    ("1", "sgd", "`sgd` has level 3"),  # a construct of another level
    ("4", "dense", "`dense` has levels 1, 2"),
    ("5", "dense", "`dense` has levels 1, 2"),  # a level with no check of that construct
    ("1", "csv-binary", "`csv-binary` is an example recipe (levels 4, 5)"),
    ("4", "data_parallel", "`data_parallel` has level 5"),
])
def test_options_that_plan_no_check_are_a_usage_error(pytester: pytest.Pytester, level: str, construct: str,
                                                      said: str) -> None:
    """The session ran none of the suite and said only "no tests ran" (exit 5; exit 0 beside the vendor's own
    tests), where `lockstep certify` refuses these options (exit 2) in these words; the report folder is left alone."""
    with pytest.raises(LockstepError, match=f"^no check to run: levels {level} with constructs {construct} "):
        lockstep.api.certify("reference", levels=level, constructs=construct, report=False)
    pytester.makepyfile(test_own="def test_vendor_own_test():\n    pass\n")
    result = pytester.runpytest("--lockstep-adapter=reference", f"--lockstep-level={level}",
                                f"--lockstep-construct={construct}", "--lockstep-report=R")
    usage_error(result, f"ERROR: no check to run: --lockstep-level {level} with --lockstep-construct {construct} "
                        f"({said})")
    assert not (pytester.path / "R").exists()


# ------------------------------------------------------------------------------------ the seed
@pytest.mark.parametrize("seed", [-1, 2**62 + 1, 2**64])
def test_a_seed_certify_refuses_is_a_usage_error(pytester: pytest.Pytester, seed: int) -> None:
    """-1 ran and reported the reference NOT certified (a recipe's seed error), exit 1; a seed above certify's
    largest ran and was recorded in a report that `lockstep certify --seed` cannot reproduce."""
    with pytest.raises(LockstepError, match="expected 0 to 2"):  # what the plugin must agree with
        lockstep.api.certify("reference", seed=seed, report=False)
    result = pytester.runpytest(*REFERENCE, f"--lockstep-seed={seed}", "--lockstep-report=R")
    usage_error(result, f"ERROR: --lockstep-seed {seed}: expected 0 to 2**62 (*")
    assert not (pytester.path / "R").exists()


def test_the_largest_seed_runs(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*REFERENCE, f"--lockstep-seed={2**62}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"lockstep: levels 1, float64, devices cpu, 2 examples per check, seed {2**62}"])


def test_run_it_alone_names_every_option_that_changes_the_cases(pytester: pytest.Pytester) -> None:
    """The hint left out --seed, --examples and --recipe-steps (so it drew other cases), and named one level of a
    hypothesis run that had two (an error is both levels')."""
    pytester.makepyfile(lockstep_erring_adapter=ERRING)
    pytester.syspathinsert()
    result = pytester.runpytest("--lockstep-adapter=lockstep_erring_adapter:ErringAdapter",
                                "--lockstep-construct=dense,digits-mlp", "--lockstep-dtype=float64",
                                "--lockstep-examples=3", "--lockstep-seed=7", "--lockstep-recipe-steps=2")
    result.assert_outcomes(failed=3)
    adapter = "--adapter lockstep_erring_adapter:ErringAdapter"
    result.stdout.fnmatch_lines([
        "dense.predictions.float64.cpu: ERROR: the check could not complete on erring *",
        f"  (run it alone: lockstep certify {adapter} --construct dense --level 1,2 --dtype float64 --device cpu "
        "--examples 3 --seed 7)",
        "digits-mlp.recipes.float64.cpu: ERROR: the check could not complete on erring *",
        f"  (run it alone: lockstep certify {adapter} --construct digits-mlp --level 4 --dtype float64 --device cpu "
        "--recipe-steps 2 --seed 7)",
    ])


# ------------------------------------------------------------------------------------ empty values, the folder
@pytest.mark.parametrize("option", ["adapter", "level", "dtype", "device", "construct", "report", "expect"])
@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_value_is_a_usage_error(pytester: pytest.Pytester, option: str, value: str) -> None:
    """`--lockstep-report=$UNSET` wrote no report and exited 0; `--lockstep-device=` ran on every device and
    `--lockstep-expect=` was ignored: an unset CI variable changed what was certified, without a word."""
    args = [a for a in REFERENCE if not a.startswith(f"--lockstep-{option}=")]
    result = pytester.runpytest(*args, f"--lockstep-{option}={value}")
    usage_error(result, f"ERROR: --lockstep-{option} is empty; give *, or leave --lockstep-{option} out*")


def test_a_device_list_of_no_device_is_a_usage_error(pytester: pytest.Pytester) -> None:
    usage_error(pytester.runpytest(*REFERENCE, "--lockstep-device=,"),
                "ERROR: --lockstep-device ',' names no device")


def test_a_report_folder_under_a_file_is_refused_before_any_check(pytester: pytest.Pytester) -> None:
    """It was found only at the end, after every check had run: exit 1, "cannot write the report"."""
    (pytester.path / "afile").write_text("mine\n")
    result = pytester.runpytest(*REFERENCE, "--lockstep-report=afile/sub")
    usage_error(result, "ERROR: --lockstep-report afile/sub: cannot write there (Not a directory)")
    assert (pytester.path / "afile").read_text() == "mine\n"


@pytest.mark.parametrize(("files", "message"), [
    ({"report.json": '{"run": "mine"}', "metrics.jsonl": "{}\n"}, "holds a run's outputs (metrics.jsonl)"),
    ({"report.json": '{"run": "mine"}'}, "holds a report.json that is not a certificate"),
])
def test_a_report_folder_of_another_command_is_refused(pytester: pytest.Pytester, files: dict[str, str],
                                                       message: str) -> None:
    """The four reports were written over a run's report.json (which deploy reads): certify refuses that folder."""
    folder = pytester.path / "out"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    result = pytester.runpytest(*REFERENCE, "--lockstep-report=out")
    usage_error(result, f"ERROR: --lockstep-report out {message}; choose another --lockstep-report folder")
    assert {p.name: p.read_text() for p in folder.iterdir()} == files


@pytest.mark.parametrize(("make", "message"), [
    ("failures/adam.updates.float64.cpu", "holds failures but no certificate report.json: not a certification's "
                                          "folder;"),
    ("report.html", "holds report.html, which is a folder, not a regular file: the reports cannot replace it; "
                    "remove it or"),
])
def test_a_folder_certify_refuses_is_refused_alike(pytester: pytest.Pytester, make: str, message: str) -> None:
    """failures/ without a report.json was taken, and the session's reports removed it (the user's own cases), where
    `lockstep certify --report` refuses it; a report.html that is a folder (beside a certificate) was found only
    after every check had run. Both are refused by certify's own check (runfolder.check_report_folder), its words."""
    if make == "report.html":
        pytester.runpytest(*REFERENCE, "--lockstep-report=R").assert_outcomes(passed=1)
        (pytester.path / "R" / make).unlink()
    (pytester.path / "R" / make).mkdir(parents=True)
    before = sorted(str(p.relative_to(pytester.path)) for p in (pytester.path / "R").rglob("*"))
    result = pytester.runpytest(*REFERENCE, "--lockstep-report=R")
    usage_error(result, f"ERROR: --lockstep-report R {message} choose another --lockstep-report folder")
    assert sorted(str(p.relative_to(pytester.path)) for p in (pytester.path / "R").rglob("*")) == before
    with pytest.raises(LockstepError, match=message.split(":")[0]):  # certify's refusal, the same words
        lockstep.api.certify("reference", constructs="dense", levels=1, dtypes="float64", examples=1,
                             report=pytester.path / "R")


def test_a_bad_memory_limit_is_one_usage_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """LOCKSTEP_MEMORY_LIMIT=lots made every check an error (as certify did), not one usage error as the commands."""
    monkeypatch.setenv("LOCKSTEP_MEMORY_LIMIT", "lots")
    usage_error(pytester.runpytest("--lockstep-adapter=reference", "--lockstep-construct=dense", "--collect-only"),
                "ERROR: LOCKSTEP_MEMORY_LIMIT: `lots` is not a size*")


def test_a_dtype_or_device_named_twice_is_planned_once(pytester: pytest.Pytester) -> None:
    """`--lockstep-dtype=float32,float32` planned every check twice under one test id (the progress ended at 50%),
    and report.json listed the dtype twice and counted both; certify asks a value named twice once."""
    report = pytester.path / "r"
    result = pytester.runpytest("--lockstep-adapter=reference", "--lockstep-construct=dense", "--lockstep-level=1",
                                "--lockstep-dtype=float32,float32", "--lockstep-device=cpu,cpu",
                                "--lockstep-examples=1", "-p", "no:cacheprovider", f"--lockstep-report={report}")
    result.assert_outcomes(passed=1)
    record = json.loads((report / "report.json").read_text())
    assert record["dtypes"] == ["float32"] and len(record["checks"]) == 1, record


RAISES_IN_FORWARD = '''
from lockstep.adapters.reference import ReferenceAdapter


class RaisesInForward(ReferenceAdapter):
    name = "raisesinforward"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        session = super().build(model, dtype=dtype, device=device, recipe=recipe)

        def forward(x, *, training=False, masks=None):
            raise RuntimeError("boom")

        session.forward = forward
        return session
'''


def test_an_erroring_check_shows_its_case_as_a_spec_file(pytester: pytest.Pytester) -> None:
    """A check whose adapter raised kept its case (failures/<check>/recipe.yaml and README) as a failing one does,
    but the item's text said only the error and the certify command: a failing example is shown as a spec file."""
    pytester.makepyfile(lockstep_raises_in_forward=RAISES_IN_FORWARD)
    pytester.syspathinsert()
    result = pytester.runpytest("--lockstep-adapter=lockstep_raises_in_forward:RaisesInForward",
                                "--lockstep-construct=dense", "--lockstep-level=1", *FAST, "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "ERROR: the check could not complete" in out and "RuntimeError: boom" in out, out
    assert "failure folder:" in out and "dense.predictions.float64.cpu/" in out, out
    assert "reproduce:                lockstep compare " in out and "recipe.yaml --backends reference," in out, out


# ------------------------------------------------------------------------------------------- repeated options
def test_repeated_list_options_add_up_as_certify_s_do(pytester: pytest.Pytester) -> None:
    """`--lockstep-construct=dense --lockstep-construct=tanh` collected tanh alone, and `--lockstep-level=1
    --lockstep-level=2` level 2 alone (argparse's last-wins), where `lockstep certify --construct dense --construct
    tanh` runs both: a smaller certificate than asked for, without a word."""
    result = pytester.runpytest("--lockstep-adapter=reference", "--lockstep-construct=dense",
                                "--lockstep-construct=tanh", "--lockstep-level=1", "--lockstep-level=2",
                                "--lockstep-dtype=float64", "--lockstep-dtype=float32", "--lockstep-examples=2",
                                "--collect-only", "-q")
    ids = {line.split("::")[-1] for line in result.stdout.lines if line.startswith("lockstep::")}
    assert ids == {f"{c}[{lv}-{d}-cpu]" for c in ("dense", "tanh") for lv in ("predictions", "gradients")
                   for d in ("float32", "float64")}, result.stdout.str()
