"""`lockstep deploy`: the examples deploy, every check is reported, and every bad input is a clear exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from lockstep import deploy as deploy_module
from lockstep.cli import main
from lockstep.runner import prepare_run

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
ENVS = {name: EXAMPLES / f"{name}.environment.yaml" for name in ("onnx-cpu", "onnx-cpu-float16", "onnx-cpu-int8")}


@pytest.fixture(autouse=True)
def _short_latency(monkeypatch) -> None:
    """Latency is measured over MIN_TIMED_RUNS runs as always, without the extra second of timing per deploy."""
    monkeypatch.setattr(deploy_module, "MIN_TIMED_SECONDS", 0.0)


def _train(tmp: Path, example: str, backend: str = "reference") -> Path:
    out = tmp / example
    assert main(["run", str(EXAMPLES / example / "recipe.yaml"), "--backend", backend, "--out", str(out),
                 "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("runs"), "digits-mlp")


def _deploy(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["deploy", *args, "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def _report(out: Path) -> dict:
    return json.loads((out / "deploy.json").read_text())


def _all_but_latency_hold(report: dict) -> None:
    """Every check but latency holds (latency depends on the machine's load: measured, never asserted)."""
    bad = [c for c in report["checks"] if not c["ok"] and c["kind"] != "latency"]
    assert not bad, json.dumps(bad, indent=1)


def _env(tmp: Path, name: str, text: str) -> Path:
    path = tmp / f"{name}.environment.yaml"
    path.write_text("apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: " + name + "}\n" + text)
    return path


# ------------------------------------------------------------------------------------------ examples
@pytest.mark.parametrize("env", list(ENVS))
def test_digits_mlp_run_folder_deploys_to_every_example_environment(digits_run: Path, env: str, tmp_path: Path,
                                                                   capsys) -> None:
    out = tmp_path / "out"
    code, stdout, err = _deploy([str(digits_run), "--environment", str(ENVS[env]), "--out", str(out)], capsys)
    report = _report(out)
    _all_but_latency_hold(report)
    assert code == (0 if report["verdict"] == "pass" else 1), err
    assert "Traceback" not in err and f"deploy digits-mlp to {env}" in stdout
    for name in deploy_module.OUTPUTS:
        assert (out / name).is_file(), name
    onnx.checker.check_model(onnx.load(str(out / "model.onnx")), full_check=True)
    lock = json.loads((out / "environment.lock.json").read_text())
    assert lock["providers_used"][0] == "CPUExecutionProvider" and lock["versions"]["onnxruntime"]
    assert lock["requirements"].keys() == {"onnxruntime", "onnx"} and lock["fingerprint"]["machine"]
    kinds = [c["kind"] for c in report["checks"]]
    assert kinds.count("predictions") == 2 and "latency" in kinds and kinds.count("requirement") == 2
    assert report["weights"]["kind"] == "checkpoint" and report["weights"]["step"] == 300
    if env == "onnx-cpu-int8":
        metrics = {c["metric"]: c for c in report["checks"] if c["kind"] == "metric"}
        assert set(metrics) == {"accuracy", "loss"} and all(c["deployed"] is not None for c in metrics.values())
        assert all(not c.get("judged", True) for c in report["checks"] if c["kind"] == "predictions")
    else:
        preds = [c for c in report["checks"] if c["kind"] == "predictions"]
        assert all(c["observed"] <= c["limit"] and c["margin"] >= 1 for c in preds), preds
    assert report["latency"]["runs"] >= deploy_module.MIN_TIMED_RUNS
    assert report["latency"]["p50_ms"] <= report["latency"]["p99_ms"]


@pytest.mark.slow
@pytest.mark.parametrize(("example", "envs"), [
    ("small-cnn", tuple(ENVS)),
    ("tiny-attention", ("onnx-cpu",)),
    ("lstm-sequences", ("onnx-cpu",)),
    ("tiny-gpt", ("onnx-cpu",)),  # rms_norm through the torch exporter at opset 17
])
def test_the_other_examples_deploy(example: str, envs: tuple[str, ...], tmp_path: Path, capsys) -> None:
    run = _train(tmp_path, example, backend="torch")
    for env in envs:
        for exporter in ("spec", "torch") if env != "onnx-cpu-float16" else ("spec",):
            out = tmp_path / f"out-{env}-{exporter}"
            code, _, err = _deploy([str(run), "--environment", str(ENVS[env]), "--out", str(out),
                                    "--exporter", exporter], capsys)
            assert code in (0, 1) and "Traceback" not in err, err
            _all_but_latency_hold(_report(out))


def test_recipe_with_weights_file_and_a_float64_target(tmp_path: Path, capsys) -> None:
    """A recipe plus an .npz of canonical weights; a float64 target meets a float64-sized tolerance."""
    recipe = EXAMPLES / "lstm-sequences" / "recipe.yaml"
    weights = tmp_path / "w.npz"
    np.savez(weights, **prepare_run(recipe).initial)
    env = _env(tmp_path, "f64", "runtime: onnxruntime\ndtype: float64\nbatch_sizes: [1, 7]\n"
                                "tolerance: {rtol: 1.0e-10, atol: 1.0e-12}\n")
    code, out, err = _deploy([str(recipe), "--weights", str(weights), "--environment", str(env), "--out",
                              str(tmp_path / "o"), "--format", "json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["verdict"] == "pass" and report["dtype"] == "float64" and report["weights"]["kind"] == "npz"
    assert [c["batch_size"] for c in report["checks"] if c["kind"] == "predictions"] == [1, 7]


def _layers_recipe(tmp: Path, x_shape: list[int], y_shape: list[int], *layers: str) -> None:
    """tmp/recipe.yaml of a sequential model of `layers` (flow-style YAML) on 8 random samples (mse, one step), and
    tmp/w.npz, its initial weights."""
    (tmp / "model.yaml").write_text(
        f"apiVersion: lockstep/v1\nkind: Model\nmetadata: {{name: m}}\ninputs: [{{name: x, shape: {x_shape}}}]\n"
        "layers:\n" + "".join(f"  - {layer}\n" for layer in layers))
    (tmp / "recipe.yaml").write_text(
        "apiVersion: lockstep/v1\nkind: Recipe\nmetadata: {name: m}\nmodel: model.yaml\nseed: 0\n"
        "dtype: float32\ndata: {source: {type: npz, path: data.npz}, split: {validation: 0.5}, batch_size: 4}\n"
        "loss: {type: mse}\noptimizer: {type: sgd, learning_rate: 0.01}\ntraining: {steps: 1}\n")
    rng = np.random.default_rng(0)
    np.savez(tmp / "data.npz", x=rng.normal(size=(8, *x_shape)), y=rng.normal(size=(8, *y_shape)))
    np.savez(tmp / "w.npz", **prepare_run(tmp / "recipe.yaml").initial)


@pytest.mark.parametrize("layer", ["lstm", "gru"])
def test_a_float16_sequence_into_dense_deploys(layer: str, tmp_path: Path) -> None:
    """A recurrent layer's sequence into a dense layer exports a Transpose into a MatMul, and onnxruntime's NCHWc
    layout transformer ended the process (SIGSEGV, exit 139, no message) while it opened that graph in float16
    (docs/reproducers/onnxruntime-float16-nchwc). Its own process: a crash must fail this test, not end the worker."""
    import subprocess
    import sys

    _layers_recipe(tmp_path, [3, 2], [3, 3], f"{{type: {layer}, name: r, units: 4, return_sequences: true}}",
                   "{type: dense, name: d, units: 3}")
    proc = subprocess.run([sys.executable, "-m", "lockstep", "deploy", str(tmp_path / "recipe.yaml"), "--weights",
                           str(tmp_path / "w.npz"), "--environment", str(ENVS["onnx-cpu-float16"]), "--out",
                           str(tmp_path / "o"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    _all_but_latency_hold(_report(tmp_path / "o"))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_with_biases_exports_through_torch(causal: bool, tmp_path: Path, capsys) -> None:
    """The spec's default attention (`use_bias: true`) failed `--exporter torch` at every opset: under no_grad in
    eval mode nn.MultiheadAttention took its fast path, `aten::_native_multi_head_attention`, which the TorchScript
    exporter cannot export ("... to ONNX opset version 17 is not supported")."""
    pytest.importorskip("torch")
    _layers_recipe(tmp_path, [4, 4], [4, 4],
                   f"{{type: multi_head_attention, name: a, num_heads: 2, causal: {str(causal).lower()}}}")
    code, _, err = _deploy([str(tmp_path / "recipe.yaml"), "--weights", str(tmp_path / "w.npz"), "--environment",
                            str(ENVS["onnx-cpu"]), "--out", str(tmp_path / "o"), "--exporter", "torch"], capsys)
    assert code in (0, 1), err
    _all_but_latency_hold(_report(tmp_path / "o"))
    import torch

    assert torch.backends.mha.get_fastpath_enabled(), "the caller's fast-path setting was not restored"


# ------------------------------------------------------------------------------------------ failures
def test_a_perturbed_onnx_graph_fails_deploy(digits_run: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """One bias nudged by 1e-2 in the exported graph: the predictions checks fail, exit 1."""
    real = deploy_module.export_onnx

    def perturbed(*args, **kwargs) -> bytes:
        proto = onnx.load_from_string(real(*args, **kwargs))
        init = next(i for i in proto.graph.initializer if i.name == "logits.bias")
        w = onnx.numpy_helper.to_array(init).copy()
        w[3] += 1e-2
        init.CopyFrom(onnx.numpy_helper.from_array(w, init.name))
        return proto.SerializeToString()

    monkeypatch.setattr(deploy_module, "export_onnx", perturbed)
    out = tmp_path / "o"
    code, stdout, _ = _deploy([str(digits_run), "--environment", str(ENVS["onnx-cpu"]), "--out", str(out)], capsys)
    assert code == 1 and "verdict: FAIL" in stdout
    failed = {c["name"] for c in _report(out)["checks"] if not c["ok"]}
    assert {"predictions at batch 1", "predictions at batch 32"} <= failed, failed


def test_an_unmet_requirement_fails_and_names_the_package(digits_run: Path, tmp_path: Path, capsys) -> None:
    env = _env(tmp_path, "old", "runtime: onnxruntime\ntolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n"
                                "requirements: {onnxruntime: '<1.0', numpy: '', not-a-package-lockstep: '>=1'}\n")
    code, stdout, _ = _deploy([str(digits_run), "--environment", str(env), "--out", str(tmp_path / "o")], capsys)
    assert code == 1
    assert "onnxruntime" in stdout and "does not satisfy <1.0" in stdout
    assert "not-a-package-lockstep is not installed" in stdout
    checks = {c["name"]: c for c in _report(tmp_path / "o")["checks"]}
    assert checks["requirement numpy"]["ok"] and not checks["requirement onnxruntime<1.0"]["ok"]


def test_an_int8_target_over_its_metric_budget_fails(digits_run: Path, tmp_path: Path, capsys) -> None:
    env = _env(tmp_path, "int8", "runtime: onnxruntime\ndtype: int8\nquantization: {mode: dynamic}\n"
                                 "max_metric_drop: {loss: 0.0}\n")
    code, _, _ = _deploy([str(digits_run), "--environment", str(env), "--out", str(tmp_path / "o")], capsys)
    metric = next(c for c in _report(tmp_path / "o")["checks"] if c["kind"] == "metric")
    assert (code == 1) == (metric["observed"] > 0) and metric["name"] == "loss rise"


def _usage(args: list[str], capsys, *needles: str) -> None:
    code, stdout, err = _deploy(args, capsys)
    assert code == 2, (code, stdout, err)
    assert "Traceback" not in err and "lockstep deploy:" in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_a_recipe_without_weights_is_a_usage_error(tmp_path: Path, capsys) -> None:
    _usage([str(EXAMPLES / "digits-mlp" / "recipe.yaml"), "--environment", str(ENVS["onnx-cpu"]), "--out",
            str(tmp_path / "o")], capsys, "needs --weights")
    assert not (tmp_path / "o" / "model.onnx").exists()


@pytest.mark.parametrize(("text", "needle"), [
    ("runtime: torch\ntolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n", "runtime `torch`"),
    ("runtime: onnxruntime\ndevice: cuda\ntolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n", "CUDAExecutionProvider"),
    ("runtime: onnxruntime\ndtype: int8\n", "max_metric_drop"),
    ("runtime: onnxruntime\n", "needs `tolerance`"),
    ("runtime: onnxruntime\nquantization: {mode: static}\ntolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n", "int8"),
    ("runtime: onnxruntime\nthreads: 100000\ntolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n",
     "bad.environment.yaml:5:10: threads: 100000"),  # deploy's own checks name the field's line, as validate
    ("runtime: onnxruntime\nbatch_sizes: [1, 100000000]\ntolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n",
     "bad.environment.yaml:5:18: batch_sizes[1]: batch size 100000000 needs"),
])
def test_an_unusable_environment_is_refused_before_any_work(digits_run: Path, tmp_path: Path, capsys, text: str,
                                                            needle: str) -> None:
    if "cuda" in text:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            pytest.skip("CUDA is present here")
    out = tmp_path / "o"
    _usage([str(digits_run), "--environment", str(_env(tmp_path, "bad", text)), "--out", str(out)], capsys, needle)
    assert not (out / "model.onnx").exists()


def test_a_missing_runtime_is_refused(digits_run: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    _usage([str(digits_run), "--environment", str(ENVS["onnx-cpu"]), "--out", str(tmp_path / "o")], capsys,
           "install lockstep-standard[onnx]")


def test_bad_weights_and_folders_are_usage_errors(digits_run: Path, tmp_path: Path, capsys) -> None:
    env = str(ENVS["onnx-cpu"])
    recipe = str(EXAMPLES / "digits-mlp" / "recipe.yaml")
    _usage([recipe, "--weights", str(tmp_path / "nope.npz"), "--environment", env], capsys, "no such file")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    _usage([recipe, "--weights", str(garbage), "--environment", env, "--out", str(tmp_path / "o")], capsys,
           "cannot read it")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{"hidden.weight": np.zeros((3, 3))})
    _usage([recipe, "--weights", str(wrong), "--environment", env, "--out", str(tmp_path / "o")], capsys, "missing")
    bad = tmp_path / "nan.npz"
    params = prepare_run(recipe).initial
    np.savez(bad, **{**params, "hidden.bias": np.full(32, np.nan)})
    _usage([recipe, "--weights", str(bad), "--environment", env, "--out", str(tmp_path / "o")], capsys, "non-finite")
    other = str(EXAMPLES / "lstm-sequences" / "recipe.yaml")
    ckpt = sorted((digits_run / "checkpoints").glob("step-*.npz"))[-1]
    _usage([other, "--weights", str(ckpt), "--environment", env, "--out", str(tmp_path / "o")], capsys,
           "different recipe")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    _usage([str(digits_run), "--environment", env, "--out", str(a_file)], capsys, "not a folder")
    _usage([str(digits_run), "--environment", env, "--out", str(a_file / "sub")], capsys, "cannot create the folder")
    _usage([str(tmp_path / "no-run"), "--environment", env], capsys, "no such recipe or run folder")
    _usage([str(digits_run), "--environment", str(tmp_path / "none.yaml")], capsys, "no such file")


def test_an_output_never_overwrites_an_input(digits_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    out.mkdir()
    env = out / "deploy.json"  # an Environment written as JSON, where deploy.json would go
    env.write_text(json.dumps({"apiVersion": "lockstep/v1", "kind": "Environment", "metadata": {"name": "j"},
                               "runtime": "onnxruntime", "tolerance": {"rtol": 1e-4, "atol": 1e-5}}))
    before = env.read_text()
    _usage([str(digits_run), "--environment", str(env), "--out", str(out)], capsys, "would overwrite the input")
    assert env.read_text() == before


def test_run_folders_without_a_recipe_or_a_final_checkpoint_are_refused(digits_run: Path, tmp_path: Path,
                                                                       capsys) -> None:
    env = str(ENVS["onnx-cpu"])
    old = tmp_path / "old-run"
    shutil.copytree(digits_run, old)
    report = json.loads((old / "report.json").read_text())
    report.pop("recipe_path")
    (old / "report.json").write_text(json.dumps(report))
    (old / "recipe.resolved.yaml").unlink()  # with it, deploy deploys the recipe the run trained
    _usage([str(old), "--environment", env, "--out", str(tmp_path / "o")], capsys, "does not name its recipe")
    partial = tmp_path / "partial"
    assert main(["run", str(EXAMPLES / "digits-mlp" / "recipe.yaml"), "--out", str(partial), "--steps", "100",
                 "--quiet"]) == 0
    _usage([str(partial), "--environment", env, "--out", str(tmp_path / "o")], capsys, "stopped at step 100 of 300")
    empty = tmp_path / "no-ckpt"
    shutil.copytree(digits_run, empty)
    shutil.rmtree(empty / "checkpoints")
    _usage([str(empty), "--environment", env, "--out", str(tmp_path / "o")], capsys, "no checkpoint")


def test_a_run_trained_with_overrides_deploys_its_own_recipe(tmp_path: Path, capsys) -> None:
    """`lockstep run R --set ... --seed ...` trains the effective recipe; deploying its folder rebuilds that recipe
    (report.json `overrides`), not the file's: the checkpoint's recipe hash matches and the overrides are recorded.
    A recorded override that is not one is refused by name."""
    run = tmp_path / "run"
    assert main(["run", str(EXAMPLES / "csv-binary" / "recipe.yaml"), "--out", str(run), "--quiet",
                 "--set", "optimizer.learning_rate=0.02", "--set", "data.preprocessing=[]", "--seed", "3"]) == 0
    out = tmp_path / "deployed"
    code, _, err = _deploy([str(run), "--environment", str(ENVS["onnx-cpu"]), "--out", str(out)], capsys)
    report = _report(out)
    assert code in (0, 1), err
    _all_but_latency_hold(report)
    assert report["recipe_hash"] == json.loads((run / "report.json").read_text())["recipe_hash"]
    assert report["overrides"] == ["--set optimizer.learning_rate=0.02", "--set data.preprocessing=[]", "--seed 3"]
    bad = tmp_path / "bad-run"
    shutil.copytree(run, bad)
    meta = json.loads((bad / "report.json").read_text())
    meta["overrides"] = ["--frobnicate 1"]
    (bad / "report.json").write_text(json.dumps(meta))
    _usage([str(bad), "--environment", str(ENVS["onnx-cpu"]), "--out", str(tmp_path / "o")], capsys,
           "--frobnicate 1", "neither")
