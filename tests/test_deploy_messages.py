"""`lockstep deploy` says what happened in its own words: int8 quantization without NumPy's warnings (a non-finite
scale named once), a moved run folder trained with `--set` deployed from its recipe.resolved.yaml, a latency budget
that limits nothing refused by validation, a broken `--out` link and an exporter/dtype combination torch cannot
export named as such, and a killed deploy's temporaries removed by the next one."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from test_deploy_hardening import _deploy, _refused
from tests_support import run_reproducer, tiny_recipe

from lockstep import deploy as deploy_module
from lockstep.cli import main
from lockstep.spec.loader import load_text
from lockstep.spec.schema_export import SCHEMA_DIR
from lockstep.spec.validate import validate_document

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ENV_HEAD = "apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: %s}\nruntime: onnxruntime\n"


@pytest.fixture(autouse=True)
def _short_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    """Latency over MIN_TIMED_RUNS runs as always, without the extra second per deploy."""
    monkeypatch.setattr(deploy_module, "MIN_TIMED_SECONDS", 0.0)


def _environment(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.environment.yaml"
    path.write_text(ENV_HEAD % name + body)
    return path




@pytest.fixture(scope="module")
def attention(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-attention (a causal mask of -inf) trained for 40 steps, with a final checkpoint."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    run = tmp_path_factory.mktemp("deploy-messages") / "attention"
    assert main(["run", str(EXAMPLES / "tiny-attention" / "recipe.yaml"), "--out", str(run), "--quiet",
                 "--set", "training.steps=40", "--set", "checkpoint.every=40",
                 "--set", "evaluation.every=40"]) == 0
    return run


# ----------------------------------------------------------------------- 1. int8: no NumPy warnings, one note
@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_int8_quantization_prints_no_numpy_warnings_and_names_a_non_finite_scale(
        attention: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str) -> None:
    """Static calibration through the causal mask gives the mask's tensors an infinite scale: onnxruntime's
    quantizer printed `RuntimeWarning: invalid value encountered in divide/cast` (even with --quiet). Now the
    summary says it in one line, deploy.json lists the scales, and the metric budget decides."""
    env = _environment(tmp_path, f"q-{mode}", f"dtype: int8\nquantization: {{mode: {mode}}}\nbatch_sizes: [1, 8]\n"
                       "max_metric_drop: {accuracy: 0.02, loss: 0.1}\n")
    out = tmp_path / "d"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, text, err = _deploy([str(attention), "-e", str(env), "--out", str(out)], capsys)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert "RuntimeWarning" not in err and "Traceback" not in err, err
    report = json.loads((out / "deploy.json").read_text())
    metric_ok = all(c["ok"] for c in report["checks"] if c["kind"] == "metric")
    assert code == (0 if metric_ok else 1), (code, text)  # the deploy's own checks decide, nothing else
    scales = report["quantization"]["non_finite_scales"]
    if mode == "static":
        assert scales == {"attention_causal_mask_scale": "inf", "attention_masked_scale": "inf"}, scales
        note = [line for line in text.splitlines() if line.startswith("note: int8:")]
        assert len(note) == 1 and "2 quantization scales came out non-finite: attention_causal_mask_scale (inf)" \
            in note[0] and "the metric budget judges the result" in note[0], text
        assert report["notes"] == [note[0].removeprefix("note: ")]
    else:
        assert scales == {} and "note:" not in text, text


def test_non_finite_scales_reads_only_quantization_scales() -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(v, dtype=np.float32), n) for n, v in
             (("mask", [-np.inf, 0.0]), ("s", np.inf), ("fine", 0.5))]
    inits.append(numpy_helper.from_array(np.array(0, dtype=np.int8), "z"))
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "fine", "z"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], inits)
    model = helper.make_model(graph).SerializeToString()
    assert deploy_module.non_finite_scales(model) == {"s": float("inf")}  # the -inf mask itself is no scale
    assert "1 quantization scale came out non-finite: s (inf)" in deploy_module.scale_note({"s": float("inf")})


# ------------------------------------------------------- 2. a moved run folder trained with --set deploys
@pytest.fixture(scope="module")
def overridden(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """examples/inline-model run with `--set` into a run folder beside it, then the whole folder moved."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("moved")
    before = root / "before"
    shutil.copytree(EXAMPLES / "inline-model", before / "inline-model")
    assert main(["run", str(before / "inline-model" / "recipe.yaml"), "--out", str(before / "run"), "--quiet",
                 "--set", "model.layers[0].filters=4", "--set", "checkpoint.every=90", "--seed", "3"]) == 0
    after = root / "after"
    before.rename(after)
    env = _environment(root, "cpu", "batch_sizes: [1, 4]\ntolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")
    return {"run": after / "run", "recipe": after / "inline-model" / "recipe.yaml", "env": env,
            "ckpt": after / "run" / "checkpoints" / "step-00000090.npz", "gone": before}


def test_a_moved_run_with_overrides_deploys_the_recipe_it_trained(overridden: dict[str, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """It said "the run's recipe ... no longer exists; give the recipe and --weights", and that advice failed:
    the recipe without the run's --set is another recipe. Now the run's recipe.resolved.yaml is deployed."""
    run = overridden["run"]
    out = tmp_path / "d"
    code, text, err = _deploy([str(run), "-e", str(overridden["env"]), "--out", str(out)], capsys)
    assert code == 0, (text, err)
    said = overridden["gone"] / "inline-model" / "recipe.yaml"
    assert f"note: the run's recipe {said} no longer exists: deploying the recipe the run trained, " \
           f"{run / 'recipe.resolved.yaml'} (relative paths from {said.parent})" in text, text
    report = json.loads((out / "deploy.json").read_text())
    assert report["recipe_path"] == str(run / "recipe.resolved.yaml") and report["weights"]["step"] == 90
    assert report["overrides"] == ["--set model.layers[0].filters=4", "--set checkpoint.every=90", "--seed 3"]


def test_the_recipe_without_the_runs_overrides_points_to_the_run_folder(
        overridden: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, ckpt = overridden["run"], overridden["ckpt"]
    _refused([str(overridden["recipe"]), "-e", str(overridden["env"]), "-w", str(ckpt), "--out", str(tmp_path / "d")],
             capsys, "the checkpoint is from a different recipe", str(run / "recipe.resolved.yaml"),
             f"deploy the run folder instead (lockstep deploy {run} --weights {ckpt})")
    code, text, err = _deploy([str(run), "-e", str(overridden["env"]), "-w", str(ckpt), "--out", str(tmp_path / "d")],
                              capsys)  # and that advice works
    assert code == 0, (text, err)


def test_a_run_without_its_recipe_or_recipe_resolved_says_both(overridden: dict[str, Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(overridden["run"], run)
    (run / "recipe.resolved.yaml").unlink()
    _refused([str(run), "-e", str(overridden["env"]), "--out", str(tmp_path / "d")], capsys,
             "no longer exists, and the run folder has no recipe.resolved.yaml (the recipe it trained)",
             "(the recipe as the run trained it: deploy applies the run's --set model.layers[0].filters=4, "
             "--set checkpoint.every=90, --seed 3 only to a run folder)")


@pytest.fixture()
def with_data(tmp_path: Path) -> dict[str, Path]:
    """A recipe reading a relative .npz, run with --set into a run folder elsewhere."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    folder = tmp_path / "project"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.savez(folder / "d.npz", x=rng.normal(size=(60, 3)), y=(rng.random(60) > 0.5).astype(np.float64))
    (folder / "recipe.yaml").write_text(
        "apiVersion: lockstep/v1\nkind: Recipe\nmetadata: {name: npz}\nseed: 1\n"
        "model:\n  apiVersion: lockstep/v1\n  kind: Model\n  metadata: {name: m}\n  inputs: [{name: x, shape: [3]}]\n"
        "  layers:\n  - {type: dense, units: 4}\n  - {type: tanh}\n  - {type: dense, units: 1}\n"
        "data:\n  source: {type: npz, path: d.npz}\n  split: {validation: 0.25}\n  batch_size: 9\n"
        "loss: {type: binary_crossentropy, from_logits: true}\noptimizer: {type: sgd, learning_rate: 0.1}\n"
        "training: {steps: 5}\ncheckpoint: {every: 5}\n")
    run = tmp_path / "elsewhere" / "run"
    assert main(["run", str(folder / "recipe.yaml"), "--out", str(run), "--quiet",
                 "--set", "model.layers[0].units=6"]) == 0
    env = _environment(tmp_path, "cpu", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")
    return {"folder": folder, "run": run, "env": env}


def test_recipe_resolved_reads_its_data_from_the_folder_its_header_names(
        with_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """recipe.resolved.yaml says its relative paths are relative to the trained recipe's folder: d.npz is read
    there, not beside the run; where that folder is gone too, the message says so."""
    run, folder = with_data["run"], with_data["folder"]
    (folder / "recipe.yaml").unlink()
    code, text, err = _deploy([str(run), "-e", str(with_data["env"]), "--out", str(tmp_path / "d")], capsys)
    assert code == 0 and f"(relative paths from {folder})" in text, (text, err)
    folder.rename(tmp_path / "moved-project")
    _refused([str(run), "-e", str(with_data["env"]), "--out", str(tmp_path / "d2")], capsys,
             f"reads its relative paths from {folder}, the folder of the recipe the run was started with, which no "
             "longer exists")


def test_a_recipe_changed_since_the_run_deploys_the_recipe_it_trained(
        with_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run folder deploys the recipe the run trained: its recorded file, edited since, is not that recipe (the
    checkpoint's hash says so), its recipe.resolved.yaml is."""
    recipe = with_data["folder"] / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("learning_rate: 0.1", "learning_rate: 0.2"))
    code, text, err = _deploy([str(with_data["run"]), "-e", str(with_data["env"]), "--out", str(tmp_path / "d")],
                              capsys)
    assert code == 0 and f"note: the run's recipe {recipe} changed since the run: deploying the recipe the run " \
        "trained" in text, (text, err)
    (with_data["run"] / "recipe.resolved.yaml").unlink()  # without it: the mismatch, said of the recorded recipe
    _refused([str(with_data["run"]), "-e", str(with_data["env"]), "--out", str(tmp_path / "d2")], capsys,
             "the checkpoint is from a different recipe")


# ------------------------------------------------------------------- 3. a latency budget that limits nothing
@pytest.mark.parametrize("budget", ["{}", "{batch_size: 1}", "{p50_ms: null}", "{p50_ms: null, p99_ms: null}"])
def test_a_latency_budget_that_limits_nothing_is_invalid(budget: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """It validated, and deploy measured the latency, checked nothing and said PASS."""
    text = ENV_HEAD % "e" + f"tolerance: {{rtol: 1.0e-4, atol: 1.0e-5}}\nlatency_budget: {budget}\n"
    (doc,) = load_text(text, "e.yaml")
    _, diags = validate_document(doc)
    assert len(diags) == 1 and diags[0].path == "latency_budget" and "limits nothing" in diags[0].message, diags
    schema = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "environment.schema.json").read_text()))
    assert list(schema.iter_errors(doc.data)), "the JSON Schema must refuse it too"
    path = tmp_path / "e.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 1
    assert "latency_budget: a latency budget without `p50_ms` or `p99_ms` limits nothing" in capsys.readouterr().out


@pytest.mark.parametrize("budget", ["{p99_ms: 2.0}", "{batch_size: 1, p50_ms: 1.0}", "{p50_ms: 1, p99_ms: null}"])
def test_a_latency_budget_with_a_limit_is_valid(budget: str) -> None:
    (doc,) = load_text(ENV_HEAD % "e" + f"tolerance: {{rtol: 1.0e-4, atol: 1.0e-5}}\nlatency_budget: {budget}\n",
                       "e.yaml")
    assert validate_document(doc)[1] == []
    schema = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "environment.schema.json").read_text()))
    assert not list(schema.iter_errors(doc.data))


def test_deploy_refuses_a_budget_that_limits_nothing(attention: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    env = _environment(tmp_path, "e", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\nlatency_budget: {batch_size: 1}\n")
    _refused([str(attention), "-e", str(env), "--out", str(tmp_path / "d")], capsys, "the environment is not valid")
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------------- 4. messages that say what is wrong
@pytest.mark.parametrize("shape", ["dangling", "under a dangling link", "loop"])
def test_out_on_a_broken_symbolic_link_is_said_so(attention: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], shape: str) -> None:
    """It said "cannot create the folder o/danglingdir (File exists)" of a path `ls` shows as a link."""
    env = _environment(tmp_path, "e", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")
    link = tmp_path / "o" / "link"
    link.parent.mkdir()
    if shape == "loop":
        (tmp_path / "o" / "other").symlink_to("link")
        link.symlink_to("other")
    else:
        link.symlink_to("nowhere")
    out = link / "sub" if shape == "under a dangling link" else link
    needle = "a loop of links" if shape == "loop" else "to 'nowhere', which does not exist"
    _refused([str(attention), "-e", str(env), "--out", str(out)], capsys, f"--out {out}: ",
             "is a broken symbolic link", needle)
    assert os.path.islink(link) and not os.path.exists(link)  # untouched


@pytest.mark.parametrize(("dtype", "opset", "needles"), [
    ("float64", 17, ("layer `attention` (multi_head_attention, causal: true) in float64", "--exporter spec")),
    ("float32", 13, ("layer `attention` (multi_head_attention) at opset 13", "`opset: 14` or later")),
])
def test_torch_exporter_combinations_it_cannot_export_are_refused_before_any_work(
        attention: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        dtype: str, opset: int, needles: tuple[str, ...]) -> None:
    """It failed part-way, exit 1: "cannot export to ONNX: ValueError: Unsupported type for attn_mask: 7"."""
    pytest.importorskip("torch")
    env = _environment(tmp_path, "e", f"dtype: {dtype}\nopset: {opset}\n"
                       "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")

    def no_work(*_a: object, **_k: object) -> None:
        raise AssertionError("exported before refusing")

    monkeypatch.setattr(deploy_module, "export_onnx", no_work)
    monkeypatch.setattr(deploy_module, "load_weights", no_work)
    _refused([str(attention), "-e", str(env), "--exporter", "torch", "--out", str(tmp_path / "d")], capsys,
             "--exporter torch cannot export", *needles)
    assert not (tmp_path / "d").exists()


AVG_POOL = tiny_recipe(layers="[{type: avg_pool2d, name: pool, kernel_size: 2, stride: 1, padding: PADDING}, "
                                "{type: flatten}, {type: dense, name: out, units: 3}]", shape="[1, 4, 4]",
                       samples=120, dtype="float32", data="  split: {validation: 0.25}\n",
                       optimizer="{type: sgd, learning_rate: 0.1}", steps=2, tail="checkpoint: {every: 2}\n")


@pytest.mark.parametrize("padding", ["same", "[0, 1, 1, 1]"])
def test_the_torch_exporter_deploys_an_average_pool_whose_padding_torch_pools_by_hand(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], padding: str) -> None:
    """Sweep K (2026-12-06): 'same' with an even window (padding at the end only) pools with the window sum
    (`divisor_override=1`) divided by the in-bounds count; TorchScript's export drops divisor_override, so the
    deployed model divided twice (4× too small): FAIL ×0.000134 where the spec exporter passes."""
    pytest.importorskip("torch")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(AVG_POOL.replace("PADDING", padding))
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    env = _environment(tmp_path, "e", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")
    code, _, err = _deploy([str(tmp_path / "run"), "-e", str(env), "--exporter", "torch", "--out",
                            str(tmp_path / "d")], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "d" / "deploy.json").read_text())
    assert all(c["ok"] for c in report["checks"]), report["checks"]


def test_the_torch_avgpool_export_reproducer_still_shows_torch_s_behaviour() -> None:
    """docs/reproducers/torch-onnx-avgpool-divisor (docs/conformance.md, "Found in real frameworks"): if a torch
    release fixes its export, the adapter's export form can go and the entry should say so."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    out = run_reproducer("torch-onnx-avgpool-divisor/torch_only.py")
    assert "eager window sums [10.0, 14.0, 18.0], exported [2.5, 3.5, 4.5] (ratio 4)" in out, out


def test_a_torch_exporter_failure_names_the_exporter_and_the_way_around(
        attention: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    env = _environment(tmp_path, "e", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")

    def fails(*_a: object, **_k: object) -> bytes:
        raise ValueError("Unsupported something: 7\n  graph(%x : Float(...)) a dump")

    monkeypatch.setattr(deploy_module, "export_onnx", fails)
    code, _, err = _deploy([str(attention), "-e", str(env), "--exporter", "torch", "--out", str(tmp_path / "d")],
                           capsys)
    assert code == 1 and err.strip() == (
        "lockstep deploy: cannot export to ONNX: torch.onnx.export (--exporter torch) failed on this model in float32 "
        "at opset 17: ValueError: Unsupported something: 7; the spec exporter (--exporter spec, the default) exports "
        "from the standard itself"), err


# ------------------------------------------------------------------- 5. a killed deploy's temporaries go
def test_the_next_deploy_removes_a_killed_deploys_temporaries(attention: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A SIGKILL between staging and renaming left `.model.onnx.XXXXXXXX.tmp` (and kept links `.old.tmp`) in the
    folder for good; run --overwrite clears its own, deploy never did. Only deploy's own names go."""
    env = _environment(tmp_path, "e", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")
    out = tmp_path / "d"
    assert _deploy([str(attention), "-e", str(env), "--out", str(out)], capsys)[0] == 0
    stale = [".model.onnx.k3j9_x2a.tmp", ".deploy.json.4242-0a1b2c3d.old.tmp", ".summary.txt.abcdefgh.tmp"]
    kept = [".notes.txt.abcdefgh.tmp", ".model.onnx.ABCDEFGH.tmp", ".model.onnx.abc.tmp", "model.onnx.abcdefgh.tmp",
            ".environment.lock.json.abcdefgh.tmp.keep"]
    for name in stale + kept:
        (out / name).write_bytes(b"partial")
    (out / ".deploy.json.zzzzzzzz.tmp").mkdir()  # not a regular file: not ours to remove
    code, text, err = _deploy([str(attention), "-e", str(env), "--out", str(out)], capsys)
    assert code == 0, (text, err)
    assert not [n for n in stale if (out / n).exists()]
    assert all((out / n).is_file() for n in kept) and (out / ".deploy.json.zzzzzzzz.tmp").is_dir()
    assert f"note: removed 3 temporary files that an interrupted deploy left in {out}" in text, text
    code, text, _ = _deploy([str(attention), "-e", str(env), "--out", str(out)], capsys)
    assert code == 0 and "temporary" not in text


def test_an_export_refusal_names_the_layer_not_only_its_type(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Sweep K (2026-12-06): "cannot export to ONNX: layer type `gelu`: approximate `none` has no float64 form"
    in a model with two gelu layers left the user to find which; the refusal names the layer."""
    pytest.importorskip("onnxruntime")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(tiny_recipe(layers="[{type: dense, name: a, units: 5}, {type: gelu, name: smooth, "
                                         "approximate: tanh}, {type: dense, name: b, units: 5}, {type: gelu, "
                                         "name: exact, approximate: none}, {type: dense, name: out, units: 3}]",
                                  steps=2, tail="checkpoint: {every: 2}\n"))
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    env = _environment(tmp_path, "e", "dtype: float64\ntolerance: {rtol: 1.0e-9, atol: 1.0e-12}\n")
    code, out, err = _deploy([str(tmp_path / "run"), "-e", str(env), "--out", str(tmp_path / "d")], capsys)
    assert code == 1 and "Traceback" not in err, (code, out, err)
    assert "cannot export to ONNX: layer `exact` (gelu): approximate `none` has no float64 form" in err, err


def test_a_python_requirement_is_the_interpreter_s_version() -> None:
    """Sweep S (2026-12-07): `requirements: {python: ">=3.11"}` failed on Python 3.11.7 with "python is not
    installed": no package is named python; the name stands for the interpreter, as Requires-Python does."""
    import platform

    from lockstep.deploy import requirement_checks

    ok, too_new = requirement_checks({"python": ">=3.8", "Python": ">=99"})
    assert ok.ok and ok.observed == platform.python_version(), ok
    assert not too_new.ok and "does not satisfy >=99" in too_new.details["message"], too_new


def test_weights_beyond_the_deployed_dtype_s_range_are_noted() -> None:
    """Sweep S (2026-12-07): weights finite in float64 but beyond float16's (or float32's) range were exported as
    inf, and the failing verdict said only "non-finite"."""
    from lockstep.deploy import _beyond_range

    params = {"w": np.array([1.0, 7e4, -8e4]), "b": np.array([1e39]), "ok": np.array([np.inf, 1.0])}
    assert _beyond_range(params, "float16") == [
        "w holds 2 value(s) up to 8e+04, beyond float16's largest (65504): exported as ±inf",
        "b holds 1 value(s) up to 1e+39, beyond float16's largest (65504): exported as ±inf"]
    assert _beyond_range(params, "int8") == _beyond_range(params, "float32") == [
        "b holds 1 value(s) up to 1e+39, beyond float32's largest (3.40282e+38): exported as ±inf"]
    assert _beyond_range(params, "float64") == []


def test_an_os_error_outside_the_writing_is_not_called_a_write_failure(
        attention: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Reading a checkpoint on a failing disk is not "cannot write the outputs": the file is named, nothing written."""
    def failing(*_args: object, **_kwargs: object) -> None:
        raise OSError(5, "Input/output error", str(attention / "checkpoints" / "bad.npz"))

    monkeypatch.setattr(deploy_module, "load_weights", failing)
    out = tmp_path / "out"
    last = _refused([str(attention), "--environment", str(EXAMPLES / "onnx-cpu.environment.yaml"), "--out", str(out)],
                    capsys, "deploy stopped: Input/output error", "bad.npz", "holds what it held before")
    assert "write" not in last and not (out / "deploy.json").exists(), last


def test_an_exporter_that_prints_does_not_spoil_deploy_json_output(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`lockstep deploy --format json` prints deploy.json on standard output; what the exporter, the runtime or an
    adapter printed meanwhile (from Python, or natively on descriptor 1) landed in front of it: json.loads failed.
    It goes to stderr now, as under `compare --format json` and `adapters --format json`."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from lockstep.adapters.onnxruntime import export

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(tiny_recipe(dtype="float32", steps=2, tail="checkpoint: {every: 2}\n"))
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    real = export.export_model

    def chatty(*args: object, **kwargs: object) -> object:
        print("CHATTY export")
        os.write(1, b"NATIVE export\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "export_model", chatty)
    env = _environment(tmp_path, "e", "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")
    capfd.readouterr()
    code = main(["deploy", str(tmp_path / "run"), "-e", str(env), "--out", str(tmp_path / "d"), "--format", "json",
                 "--quiet"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert json.loads(out) == json.loads((tmp_path / "d" / "deploy.json").read_text())  # the whole of stdout
    assert "CHATTY export" in err and "NATIVE export" in err, err


@pytest.mark.parametrize("how", ["moved", "removed"])
def test_an_out_folder_that_goes_mid_deploy_is_not_made_again(
        how: str, attention: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`mv out elsewhere` while deploy checked: it made `out` again, a second, unlocked folder of that name, and
    wrote its four files there (the moved folder kept only the lock). Now it says so, as run, compare and certify
    do, prints its verdict without an `outputs:` line, writes nothing and exits 2."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    real = deploy_module._run_checks

    def checks(*args: object, **kw: object) -> object:
        result = real(*args, **kw)
        out.rename(elsewhere) if how == "moved" else shutil.rmtree(out)
        return result

    monkeypatch.setattr(deploy_module, "_run_checks", checks)
    where = f"moved to {elsewhere}" if how == "moved" else "removed"
    _refused([str(attention), "--environment", str(EXAMPLES / "onnx-cpu.environment.yaml"), "--out", str(out)],
             capsys, f"{out} was {where} while the deployment held it; its four files were not written, rather than "
             "into a second, unlocked folder of that name; the result is on standard output")
    assert not out.exists() and not (how == "moved" and (elsewhere / "deploy.json").exists())
    monkeypatch.undo()
    code, printed, _ = _deploy([str(attention), "--environment", str(EXAMPLES / "onnx-cpu.environment.yaml"),
                                "--out", str(tmp_path / "again")], capsys)
    assert code == 0 and "outputs:" in printed  # the same deploy, its folder left alone, writes them


def test_a_deploy_whose_files_cannot_be_written_still_says_its_verdict(
        attention: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A full disk at the end: the checks had run, and only 'cannot write the deployment' was said."""
    from lockstep.spec import atomic

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "model.onnx"))

    monkeypatch.setattr(atomic, "write_set", full)
    code, printed, err = _deploy([str(attention), "--environment", str(EXAMPLES / "onnx-cpu.environment.yaml"),
                                  "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "No space left on device" in err.strip().splitlines()[-1], err
    assert "verdict: PASS" in printed and "outputs:" not in printed, printed
