"""Throughput of `lockstep validate` against check-jsonschema on the same 1,000 documents.

Generates 1,000 varied valid documents (sequence and graph Models, Recipes with inline models,
Environments) as YAML files, then times, in one run and alternating, `lockstep validate DIR` (loader
with line numbers, schema and semantic checks) and `check-jsonschema --schemafile <exported schema>`
(schema only) on the same files. Each timing is a whole command, start-up included, as CI runs them.
Prints a table, then `ratio: X` last (lockstep time / check-jsonschema time; goal <= 1.0).

    python benchmarks/validate_throughput.py [--documents 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "spec" / "schemas" / "v1" / "document.schema.json"


def _dense_stack(rng: random.Random) -> tuple[list[dict], list[int]]:
    layers: list[dict] = []
    for i in range(rng.randint(1, 6)):
        layers.append({"type": "dense", "name": f"fc{i}", "units": rng.choice([4, 8, 16, 32])})
        layers.append({"type": rng.choice(["relu", "gelu", "tanh", "silu", "sigmoid"])})
        if rng.random() < 0.2:
            layers.append({"type": "dropout", "rate": 0.1})
        if rng.random() < 0.2:
            layers.append({"type": "layer_norm"})
    layers.append({"type": "dense", "name": "head", "units": 3})
    return layers, [rng.choice([4, 8, 12])]


def _cnn(rng: random.Random) -> tuple[list[dict], list[int]]:
    layers = [
        {"type": "conv2d", "filters": rng.choice([4, 8]), "kernel_size": 3, "padding": "same",
         "stride": rng.choice([1, 2])},
        {"type": "batch_norm"},
        {"type": "relu"},
        {"type": "max_pool2d", "kernel_size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 3},
    ]
    return layers, [1, 8, 8]


def _rnn(rng: random.Random) -> tuple[list[dict], list[int]]:
    cell = rng.choice(["lstm", "gru"])
    return [{"type": cell, "units": rng.choice([4, 8])}, {"type": "dense", "units": 3}], [rng.randint(3, 12), 2]


def _model(rng: random.Random, name: str) -> dict:
    layers, shape = rng.choice([_dense_stack, _cnn, _rnn])(rng)
    return {
        "apiVersion": "lockstep/v1",
        "kind": "Model",
        "metadata": {"name": name, "description": "generated for the validate benchmark"},
        "inputs": [{"name": "x", "shape": shape}],
        "layers": layers,
    }


def _graph(rng: random.Random, name: str) -> dict:
    width = rng.choice([4, 8, 16])
    return {
        "apiVersion": "lockstep/v1",
        "kind": "Model",
        "metadata": {"name": name},
        "inputs": [{"name": "x", "shape": [width]}],
        "nodes": [
            {"name": "a", "type": "dense", "units": width, "inputs": ["x"]},
            {"name": "b", "type": "relu", "inputs": ["a"]},
            {"name": "res", "type": "add", "inputs": ["x", "b"]},
            {"name": "cat", "type": "concat", "inputs": ["res", "x"]},
            {"name": "out", "type": "dense", "units": 3, "inputs": ["cat"]},
        ],
        "outputs": ["out"],
    }


def _recipe(rng: random.Random, name: str) -> dict:
    model = _model(rng, name + "-model")
    shape = model["inputs"][0]["shape"]
    if len(shape) == 1:
        source = {"type": "synthetic_classification", "num_samples": 256, "shape": shape, "num_classes": 3}
    elif len(shape) == 3:
        source = {"type": "synthetic_classification", "num_samples": 256, "shape": shape, "num_classes": 3}
    else:
        source = {"type": "synthetic_sequences", "num_samples": 256, "length": shape[0], "features": shape[1],
                  "num_classes": 3}
    optimizer = rng.choice([
        {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
        {"type": "adam", "learning_rate": 0.001, "amsgrad": rng.random() < 0.5},
        {"type": "adamw", "learning_rate": 0.001, "weight_decay": 0.01},
        {"type": "rmsprop", "learning_rate": 0.001, "centered": True},
        {"type": "adagrad", "learning_rate": 0.01},
    ])
    return {
        "apiVersion": "lockstep/v1",
        "kind": "Recipe",
        "metadata": {"name": name},
        "model": model,
        "seed": rng.randint(0, 2**31),
        "dtype": rng.choice(["float32", "float64"]),
        "data": {"source": source, "preprocessing": [{"type": "standardize"}], "split": {"validation": 0.2},
                 "batch_size": rng.choice([8, 16, 32])},
        "loss": {"type": "sparse_categorical_crossentropy", "from_logits": True,
                 "label_smoothing": rng.choice([0.0, 0.1])},
        "optimizer": optimizer,
        "schedule": rng.choice([
            {"type": "constant"},
            {"type": "cosine", "decay_steps": 100, "warmup": {"steps": 10}},
            {"type": "step", "step_size": 30, "gamma": 0.5},
        ]),
        "gradient_clipping": rng.choice([None, {"type": "global_norm", "max_norm": 1.0}]),
        "training": {"steps": 120},
        "evaluation": {"every": 40, "metrics": ["loss", "accuracy"]},
    }


def _environment(rng: random.Random, name: str) -> dict:
    return {
        "apiVersion": "lockstep/v1",
        "kind": "Environment",
        "metadata": {"name": name},
        "runtime": rng.choice(["onnxruntime", "torch", "tensorflow"]),
        "device": "cpu",
        "dtype": "float32",
        "batch_sizes": [1, 32],
        "opset": 17,
        "threads": rng.choice([1, 2]),
        "requirements": {"onnxruntime": ">=1.17"},
        "tolerance": {"rtol": 1e-4, "atol": 1e-5},
        "latency_budget": {"batch_size": 1, "p99_ms": 5.0},
    }


def generate(folder: Path, count: int, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    makers = [_model, _graph, _recipe, _environment]
    paths = []
    for i in range(count):
        doc = {k: v for k, v in makers[i % len(makers)](rng, f"doc-{i}").items() if v is not None}
        if doc.get("gradient_clipping") is None:
            doc.pop("gradient_clipping", None)
        path = folder / f"doc-{i:04d}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths


def _time(cmd: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--documents", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    lockstep = shutil.which("lockstep", path=str(bindir)) or "lockstep"
    checker = shutil.which("check-jsonschema", path=str(bindir)) or shutil.which("check-jsonschema")
    if checker is None:
        sys.exit("check-jsonschema is not installed (pip install -e '.[dev]')")
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate(Path(tmp), args.documents)
        ours = [lockstep, "validate", "--quiet", tmp]
        theirs = [checker, "--schemafile", str(SCHEMA), *map(str, paths)]
        t_ours, t_theirs = [], []
        for _ in range(args.repeats):  # alternate so drift in machine load hits both alike
            t_ours.append(_time(ours)[0])
            t_theirs.append(_time(theirs)[0])
    mo, mt = statistics.median(t_ours), statistics.median(t_theirs)
    print(f"documents: {args.documents}  repeats: {args.repeats}")
    print(f"{'tool':<32}{'median s':>10}{'docs/s':>10}")
    print(f"{'lockstep validate':<32}{mo:>10.3f}{args.documents / mo:>10.0f}")
    print(f"{'check-jsonschema (schema only)':<32}{mt:>10.3f}{args.documents / mt:>10.0f}")
    print(f"ratio: {mo / mt:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
