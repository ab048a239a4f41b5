"""The certification engine: generated cases are valid specs, prepare like `lockstep compare` does, and the
suite's verdicts (pass, fail with a shrunk reproducer, unsupported, error) come out of real runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.adapters.base import Support, UnsupportedConstruct
from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession
from lockstep.cli import main
from lockstep.conformance import suite
from lockstep.conformance.cases import Case
from lockstep.reference.optimizers import adam
from lockstep.spec.validate import load_and_validate

TWIN = "reference_twin:ReferenceTwin"  # the reference's math under another class: compare refuses one adapter twice

SPEC_BY_NAME = {s.construct: s for s in suite.SPECS}


# ----------------------------------------------------------------------------------- broken adapters
class _EpsilonInsideSession(ReferenceSession):
    """Adam with ε added inside the root (a planted bug, local to this test)."""

    def train_step(self, x, y, *, masks=None):
        original = adam.step

        def step(opt, param, grad, state, lr, t):
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m[...] = opt.beta1 * m + (1 - opt.beta1) * grad
            v[...] = opt.beta2 * v + (1 - opt.beta2) * grad * grad
            return param - lr * (m / (1 - opt.beta1**t)) / np.sqrt(v / (1 - opt.beta2**t) + opt.epsilon)

        adam.step = step
        try:
            return super().train_step(x, y, masks=masks)
        finally:
            adam.step = original


class EpsilonInside(ReferenceAdapter):
    name = "epsilon-inside"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        super().build(model, dtype=dtype, device=device, recipe=recipe)
        return _EpsilonInsideSession(model, recipe)


class NoLSTM(ReferenceAdapter):
    name = "no-lstm"

    def support(self, construct, *, dtype="float32", device="cpu"):
        if construct == "lstm":
            return Support("unsupported", "no recurrent kernels on this chip")
        return super().support(construct, dtype=dtype, device=device)

    def build(self, model, *, dtype, device="cpu", recipe=None):
        if any(getattr(layer, "type", "") == "lstm" for layer in model.layers or []):
            raise UnsupportedConstruct("lstm", "no recurrent kernels on this chip")
        return super().build(model, dtype=dtype, device=device, recipe=recipe)


class _CrashingSession(ReferenceSession):
    def forward(self, x, *, training=False, masks=None):
        raise RuntimeError("kernel launch failed")


class Crashing(ReferenceAdapter):
    name = "crashing"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        return _CrashingSession(model, recipe)


def _target(adapter, dtype: str = "float64") -> suite.Target:
    return suite.Target(adapter, adapter.name, dtype, "cpu")


# ----------------------------------------------------------------------------------------- cases
@pytest.mark.parametrize("spec", suite.SPECS, ids=lambda s: s.construct)
@settings(max_examples=4)
@given(data=st.data())
def test_generated_cases_are_valid_specs(spec: suite.Spec, data, tmp_path_factory) -> None:
    """Every strategy draws cases whose written files pass `lockstep validate` and prepare for a run."""
    case = data.draw(spec.strategy(spec.construct))
    folder = tmp_path_factory.mktemp("case")
    recipe = case.write(folder, "float32")
    for path in (recipe, folder / "model.yaml"):
        _, diags = load_and_validate(path)
        assert not diags, "\n".join(d.format() for d in diags)
    prep = case.prepare(folder, "float64")
    weights, x, y = case.arrays()
    bx, by = prep.data.x_train, prep.data.y_train  # every sample (a level-5 case has several batches)
    assert bx.shape == x.shape and by.shape[0] == len(y)
    np.testing.assert_array_equal(np.sort(bx.reshape(len(bx), -1), axis=0),
                                  np.sort(x.astype(bx.dtype).reshape(len(x), -1), axis=0))
    for k, v in weights.items():
        np.testing.assert_array_equal(prep.initial[k], v)


def test_case_is_a_pure_function_of_its_seed(tmp_path: Path) -> None:
    case = Case("dense", {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
                          "inputs": [{"name": "x", "shape": [3]}], "layers": [{"type": "dense", "units": 2}]},
                seed=7, batch=3)
    (w1, x1, y1), (w2, x2, y2) = case.arrays(), case.arrays()
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert case.prepare(tmp_path / "a", "float32").recipe_hash == case.prepare(tmp_path / "b", "float32").recipe_hash


# ----------------------------------------------------------------------------------------- checks
def test_reference_passes_its_own_checks_in_float64() -> None:
    for name in ("conv2d", "batch_norm", "sparse_categorical_crossentropy", "rmsprop", "warmup", "value", "l2"):
        for r in suite.run_check(_target(ReferenceAdapter()), SPEC_BY_NAME[name], examples=3):
            assert r.outcome == "pass", r
            assert r.worst is not None and r.worst.ratio == 0.0, r  # the same code: bit for bit


def test_an_example_recipe_s_reproducer_names_an_adapter_object_as_a_command_finds_it(tmp_path: Path, capsys) -> None:
    """Level 4's command named an adapter object handed to `lockstep.certify` by its `name` ("epsilon-inside"),
    which no command can find ("unknown adapter"); levels 1-3 named it `module:Class`, as it now does too."""
    import shlex

    recipe = Path(__file__).resolve().parents[2] / "examples" / "digits-mlp" / "recipe.yaml"
    result = suite.run_recipe(_target(EpsilonInside()), recipe, 2, tmp_path)
    assert result.outcome == "fail" and result.reproduce is not None, result
    args = shlex.split(result.reproduce)
    assert args[:2] == ["lockstep", "compare"] and f"reference,{__name__}:EpsilonInside" in args, args
    assert main([*args[1:], "-q"]) == 1, capsys.readouterr()


def test_a_planted_bug_fails_with_a_shrunk_reproducer(tmp_path: Path, capsys) -> None:
    (result,) = suite.run_check(_target(EpsilonInside()), SPEC_BY_NAME["adam"], report_dir=tmp_path)
    assert result.outcome == "fail" and result.examples >= 1, result
    assert "parameter" in result.message or "loss" in result.message, result.message
    folder = tmp_path / result.failure_dir
    assert {p.name for p in folder.iterdir()} >= {"model.yaml", "recipe.yaml", "weights.npz", "data.npz",
                                                  "README.md", "case.json"}
    assert f"reference,{__name__}:EpsilonInside --conformance" in result.reproduce  # a command finds it
    # the written case reproduces the divergence through `lockstep compare`
    code = main(["compare", str(folder / "recipe.yaml"), "--backends",
                 f"reference,{__name__}:EpsilonInside", "--conformance", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not report["agree"]
    assert any(not c["ok"] for c in report["checks"][f"{__name__}:EpsilonInside"])
    # ... and the correct adapter agrees on it
    code = main(["compare", str(folder / "recipe.yaml"), "--backends", "reference,reference", "--conformance"])
    assert code == 2  # two different backends are required
    code = main(["compare", str(folder / "recipe.yaml"), "--backends", f"reference,{TWIN}",
                 "--conformance"])
    shown = capsys.readouterr().out
    assert code == 0, shown
    # three or more: each judged from a fresh reference (a shared one had trained already, and every backend
    # after the first "diverged": optimizer step count 3, reference 6)
    for order in ((f"{__name__}:EpsilonInside", f"{TWIN}"),
                  (f"{TWIN}", f"{__name__}:EpsilonInside")):
        code = main(["compare", str(folder / "recipe.yaml"), "--backends", ",".join(("reference", *order)),
                     "--conformance", "--format", "json"])
        checks = json.loads(capsys.readouterr().out)["checks"]
        assert code == 1 and all(c["ok"] for c in checks[f"{TWIN}"]), order
        assert not all(c["ok"] for c in checks[f"{__name__}:EpsilonInside"]), order
    for extra in (["--out", str(tmp_path / "o")], ["--every", "2"]):  # accepted and ignored before
        assert main(["compare", str(folder / "recipe.yaml"), "--backends", f"reference,{__name__}:EpsilonInside",
                     "--conformance", *extra]) == 2
        assert f"--conformance judges every step and writes nothing; leave out {extra[0]}" in capsys.readouterr().err
        assert not (tmp_path / "o").exists()


def test_the_same_seed_draws_the_same_cases() -> None:
    a = suite.run_check(_target(EpsilonInside()), SPEC_BY_NAME["sgd"], examples=4, seed=11)
    b = suite.run_check(_target(EpsilonInside()), SPEC_BY_NAME["sgd"], examples=4, seed=11)
    assert [r.worst for r in a] == [r.worst for r in b]


def test_unsupported_is_reported_not_failed() -> None:
    results = suite.run_check(_target(NoLSTM()), SPEC_BY_NAME["lstm"])
    assert [r.outcome for r in results] == ["unsupported", "unsupported"]
    assert "recurrent" in results[0].message
    cert = suite.certify(NoLSTM(), "no-lstm", suite.Options(dtypes=("float64",), constructs=("lstm", "dense"),
                                                            levels=(1, 2)))
    assert cert.certified and cert.counts()["unsupported"] == 2 and cert.counts()["pass"] == 2


def test_an_adapter_that_raises_is_an_error_and_not_certified() -> None:
    cert = suite.certify(Crashing(), "crashing", suite.Options(dtypes=("float64",), constructs=("relu",),
                                                               levels=(1,), examples=2))
    (r,) = cert.checks
    assert r.outcome == "error" and "kernel launch failed" in r.message
    assert not cert.certified


def test_level_4_runs_the_example_recipes() -> None:
    recipes = {p.parent.name for p in suite.example_recipes()}
    assert {"digits-mlp", "small-cnn", "lstm-sequences", "residual-graph"} <= recipes
    r = suite.run_recipe(_target(ReferenceAdapter()), next(p for p in suite.example_recipes()
                                                           if p.parent.name == "residual-graph"), 3, None)
    assert r.outcome == "pass" and r.level == 4, r


# ------------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("args, message", [
    (["--level", "6"], "--level"),
    (["--dtype", "float16"], "--dtype"),
    (["--examples", "0"], "at least 1"),
    (["--construct", "adamw2"], "did you mean `adamw`"),
    (["--device", "cuda:3"], "offers cpu"),
])
def test_certify_usage_errors_exit_2(args: list[str], message: str, tmp_path: Path, capsys) -> None:
    assert main(["certify", "--adapter", "reference", "--report", str(tmp_path / "r"), *args]) == 2
    assert message in capsys.readouterr().err


def test_certify_unknown_adapter_exits_2(capsys) -> None:
    assert main(["certify", "--adapter", "no_such_framework"]) == 2
    assert "unknown adapter" in capsys.readouterr().err


def test_a_certification_that_stops_leaves_no_empty_report_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys) -> None:
    """The report folder is made early (proven writable before the adapter loads); a run that then stops on an
    unknown or unloadable adapter removes the folders it made, and only those, and only while empty."""
    (tmp_path / "badad.py").write_text("raise ImportError('licence server down')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["certify", "--adapter", "no_such_framework", "--report", str(tmp_path / "a" / "b")]) == 2
    assert main(["certify", "--adapter", "badad:X", "--report", "r"]) == 2
    assert main(["certify", "--adapter", "badad:X"]) == 2  # the default folder is made after the load: none either
    assert "licence server down" in capsys.readouterr().err
    kept = tmp_path / "kept"
    (kept / "mine").mkdir(parents=True)
    assert main(["certify", "--adapter", "no_such_framework", "--report", str(kept)]) == 2
    assert {p.name for p in tmp_path.iterdir()} - {"__pycache__"} == {"badad.py", "kept"}
    assert (kept / "mine").is_dir()


def test_certify_command_end_to_end(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    code = main(["certify", "--adapter", f"{__name__}:EpsilonInside", "--dtype", "float64", "--construct",
                 "adam,dense", "--report", str(out), "--quiet"])
    text = capsys.readouterr().out
    assert code == 1 and "NOT CERTIFIED" in text and "adam.updates.float64.cpu" in text
    report = json.loads((out / "report.json").read_text())
    assert not report["certified"] and report["counts"]["fail"] == 1 and report["counts"]["pass"] == 2
    assert {"junit.xml", "report.html", "report.md", "failures"} <= {p.name for p in out.iterdir()}
    code = main(["certify", "--adapter", "reference", "--dtype", "float64", "--construct", "adam",
                 "--report", str(out), "--quiet"])
    assert code == 0 and not (out / "failures").exists()  # a new run replaces the old failures


def test_certify_keeps_a_folder_s_failures_until_its_reports_replace_them(tmp_path: Path, capsys,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """failures/ was removed before the suite ran: a rerun stopped part-way left the old report.json naming
    failure folders that were gone; a folder whose failures/ (or report.md) was the user's own lost it."""
    from lockstep.conformance import suite as suite_module
    from lockstep.runfolder import claim

    mine = tmp_path / "mine"
    (mine / "failures" / "sub").mkdir(parents=True)
    (mine / "failures" / "precious.txt").write_text("mine\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "report.md").write_text("# my notes\n")
    for folder, found in ((mine, "failures"), (tmp_path / "notes", "report.md")):
        assert main(["certify", "--adapter", "reference", "--dtype", "float64", "--construct", "adam", "--quiet",
                     "--report", str(folder)]) == 2
        err = capsys.readouterr().err
        assert f"holds {found} but no certificate report.json: not a certification's folder" in err, err
    assert (mine / "failures" / "precious.txt").read_text() == "mine\n"
    assert (tmp_path / "notes" / "report.md").read_text() == "# my notes\n"

    out = tmp_path / "report"
    assert main(["certify", "--adapter", f"{__name__}:EpsilonInside", "--dtype", "float64", "--construct", "adam",
                 "--report", str(out), "--quiet"]) == 1
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    failed = json.loads((out / "report.json").read_text())["checks"]
    cases = [c["failure_dir"] for c in failed if c.get("failure_dir")]
    assert cases and all((out / c / "recipe.yaml").is_file() for c in cases)

    def stopped(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_module, "certify", stopped)  # Ctrl-C while the checks run
    assert main(["certify", "--adapter", "reference", "--dtype", "float64", "--construct", "adam", "--report",
                 str(out), "--quiet"]) == 130
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # reports and cases agree
    assert all((out / c / "recipe.yaml").is_file() for c in cases)
    assert not [p for p in out.iterdir() if p.name.startswith(".lockstep-old-")]  # the staged cases went

    held = claim(out, outputs=("report.json",), mode="resume", prog="lockstep run")  # held here
    try:
        assert main(["certify", "--adapter", "reference", "--dtype", "float64", "--construct", "adam", "--quiet",
                     "--report", str(out)]) == 2
        assert "is in use by a command still running in this process" in capsys.readouterr().err
    finally:
        held.release()
    # options that plan no check: exit 2, nothing replaced (an empty "NOT CERTIFIED" report replaced this one)
    assert main(["certify", "--adapter", "reference", "--dtype", "float64", "--construct", "dense", "--level", "3",
                 "--quiet", "--report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no check to run: --level 3 with --construct dense (`dense` has levels 1, 2)" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_certify_unwritable_report_folder_exits_2(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["certify", "--adapter", "reference", "--construct", "dense", "--report", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["certify", "--adapter", "reference", "--construct", "dense", "--report", str(blocker / "r")]) == 2
    assert "cannot write there" in capsys.readouterr().err


@pytest.mark.parametrize("given, levels", [("all", (1, 2, 3, 4)), ("all,5", (1, 2, 3, 4, 5)), ("1,all", (1, 2, 3, 4)),
                                           (["all", "data_parallel"], (1, 2, 3, 4, 5)), ("2", (2,))])
def test_all_adds_the_default_levels_in_a_list(given: object, levels: tuple[int, ...]) -> None:
    """`--level all --level 5` (repeated options add up to `all,5`) was refused: `all` counted only alone."""
    from lockstep.conformance.results import parse_levels

    assert parse_levels(given) == levels


@pytest.mark.parametrize("given", ["", "all,x", ",all", ["all", "x"]])
def test_a_level_list_with_a_bad_part_is_refused_even_beside_all(given: object) -> None:
    from lockstep.conformance.results import parse_levels

    with pytest.raises(ValueError, match="expected 1-5"):
        parse_levels(given)
