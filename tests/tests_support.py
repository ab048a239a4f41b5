"""Shared test data and helpers."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FRAMEWORKS = ("torch", "tensorflow")


def fake_entry_points(monkeypatch: Any, *pairs: tuple[str, str], **targets: str) -> None:
    """Third-party adapters as if installed: entry points of the group `lockstep.adapters`, name = module:attribute
    (the modules must be importable: write them into a folder on sys.path); `pairs` can repeat a name, as two
    distributions can."""
    from importlib import metadata

    from lockstep.adapters import registry

    eps = [metadata.EntryPoint(name=n, value=v, group=registry.GROUP) for n, v in [*pairs, *targets.items()]]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [e for e in eps if e.group == group])


REPRODUCERS = Path(__file__).resolve().parents[1] / "docs" / "reproducers"


def run_reproducer(script: str, timeout: float = 120) -> str:
    """The standard output of docs/reproducers/`script`, a standalone script run with this Python (the framework
    alone, no Lockstep), after it exited 0; the caller asserts it still shows the framework's behaviour (if a
    release fixes it, the adapter's guard can go and docs/conformance.md should say so)."""
    import sys

    done = subprocess.run([sys.executable, str(REPRODUCERS / script)], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def import_framework(name: str) -> str:
    """`name` (torch or tensorflow) imported the way its adapter needs, or the test skipped where it is not
    installed: TensorFlow's environment is set by the adapter's package before TensorFlow's own import."""
    import pytest

    if name == "tensorflow":
        import lockstep.adapters.tensorflow  # noqa: F401 - sets TensorFlow's environment before its import
    pytest.importorskip(name)
    return name

LAYERS = "[{type: dense, units: 8}, {type: relu}, {type: dense, units: 3}]"


def tiny_recipe(*, layers: str = LAYERS, samples: int = 96, dtype: str | None = "float64", data: str = "",
                optimizer: str = "{type: adam, learning_rate: 0.02}", steps: int = 20, tail: str = "",
                shape: str = "[4]") -> str:
    """A small classification recipe (4 features, 3 classes, batch 16) that trains in well under a second on the
    reference; tests vary what they are about. `layers` is YAML after `layers:` (a flow list, or a block list
    starting with a newline); `data` and `tail` are extra lines of `data:` and after `training:`; `shape` the
    per-sample input shape."""
    return (f"""apiVersion: lockstep/v1
kind: Recipe
metadata: {{name: tiny}}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {{name: m}}
  inputs: [{{name: x, shape: {shape}}}]
  layers:{'' if layers.startswith(chr(10)) else ' '}{layers}
seed: 5
""" + (f"dtype: {dtype}\n" if dtype else "") + f"""data:
  source: {{type: synthetic_classification, num_samples: {samples}, shape: {shape}, num_classes: 3}}
{data}  batch_size: 16
loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
optimizer: {optimizer}
training: {{steps: {steps}}}
{tail}""")


def file_recipe(source: str, *, units: int = 2, batch_size: int = 2, steps: int = 1, tail: str = "") -> tuple[str, str]:
    """A Model file's text (x: [2] -> one dense layer of `units`) and a float64 Recipe's naming it as
    `model: model.yaml`, whose data `source` is the YAML mapping given (a csv or npz beside them): what the tests of
    file data sources, run folders and hashes write, each with its own source. `tail` is lines after `training:`."""
    model = ("apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\ninputs: [{name: x, shape: [2]}]\n"
             f"layers: [{{type: dense, units: {units}}}]\n")
    recipe = f"""apiVersion: lockstep/v1
kind: Recipe
metadata: {{name: r}}
model: model.yaml
seed: 1
dtype: float64
data:
  source: {source}
  batch_size: {batch_size}
loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
optimizer: {{type: sgd, learning_rate: 0.1}}
training: {{steps: {steps}}}
{tail}"""
    return model, recipe


RESUMABLE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: resumable}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [10]}]
  layers:
    - {type: dense, units: 256}
    - {type: batch_norm}
    - {type: relu}
    - {type: dropout, rate: 0.2}
    - {type: dense, units: 3}
seed: 11
dtype: float32
data:
  source: {type: synthetic_classification, num_samples: 300, shape: [10], num_classes: 3}
  split: {validation: 0.2}
  batch_size: 16
loss: {type: sparse_categorical_crossentropy, from_logits: true, label_smoothing: 0.1}
optimizer: {type: adam, learning_rate: 0.01, amsgrad: true}
schedule: {type: cosine, decay_steps: 1500, warmup: {steps: 100}}
gradient_clipping: {type: global_norm, max_norm: 1.0}
training: {steps: 3000}
evaluation: {every: 250, metrics: [loss, accuracy]}
checkpoint: {every: 100, keep: 2}
"""


def process_running(pid: int) -> bool:
    """Whether process `pid` runs, from /proc (Linux): a zombie does not (an orphan reparented to a PID 1 that does
    not reap stays one)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def still_running(pids: list[int], seconds: float) -> list[int]:
    """The processes of `pids` still running after waiting up to `seconds` for all of them to end."""
    deadline = time.monotonic() + seconds
    while any(process_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if process_running(p)]


@contextlib.contextmanager
def command_with_workers(argv: list[str], workers: Callable[[int], list[int]], count: int, temporary: Path, *,
                         env: dict[str, str] | None = None, **popen: Any) -> Iterator[tuple[Any, list[int]]]:
    """Start `argv` (TMPDIR `temporary`: a command killed outright cannot remove its workers' folder) and wait until
    `workers(its pid)` lists `count` processes (90 s at most; AssertionError if not): (the Popen, those pids).
    Afterwards, whatever happened, the command and every worker found are killed. `popen`: more Popen arguments
    (stdout and stderr default to DEVNULL)."""
    env = {**(env if env is not None else os.environ), "TMPDIR": str(temporary)}
    popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen}
    proc = subprocess.Popen(argv, env=env, **popen)
    found: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while len(found) < count and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            found = workers(proc.pid)
        assert len(found) >= count, f"the workers did not start ({len(found)} of {count} found)"
        yield proc, found
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for pid in {*found, *workers(proc.pid)} - {proc.pid}:  # the command itself is reaped: its pid is free
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def survivors_of_a_killed_parent(argv: list[str], workers: Callable[[int], list[int]], count: int, temporary: Path, *,
                                 env: dict[str, str] | None = None, settle: float = 1.0) -> list[int]:
    """Start `argv`; once `workers(its pid)` lists `count` processes, wait `settle` seconds and SIGKILL it: the workers
    still running 20 s later (`command_with_workers` kills them all afterwards)."""
    with command_with_workers(argv, workers, count, temporary, env=env) as (proc, found):
        time.sleep(settle)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return still_running(found, 20)


def spawned_children(pid: int) -> list[int]:
    """The worker processes (multiprocessing's spawn children) whose parent is `pid`, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(entry.name))
    return out


def failing_rename_of(monkeypatch: Any, name: str) -> None:
    """`os.replace` of a finished temporary onto a file named `name` fails as over an immutable file (EPERM); the
    other renames, and putting a kept file back, work."""
    real = os.replace

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(dst).name == name and ".old." not in Path(src).name:
            raise PermissionError(1, "Operation not permitted", str(dst))
        real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


KILLED = 137


def killed_after_renames(renames: int, code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh Python that dies as under SIGKILL (os._exit: no handler, no `finally`) just before the
    rename of a staged file into place that would follow `renames` of them (spec.atomic.write_set's), or before
    its journal is removed after them all, so that a set of files is left half replaced, as a kill between two
    renames leaves it. Exits KILLED when it died there."""
    import sys

    prelude = (
        "import os\n"
        "_real, _done = os.replace, [0]\n"
        "def _replace(src, dst, *args, **kwargs):\n"
        "    if str(src).endswith('.tmp') and not str(src).endswith('.old.tmp'):\n"
        f"        if _done[0] == {renames}:\n"
        f"            os._exit({KILLED})\n"
        "        _done[0] += 1\n"
        "    _real(src, dst, *args, **kwargs)\n"
        "_real_unlink = os.unlink\n"
        "def _unlink(path, *args, **kwargs):\n"
        f"    if os.path.basename(path) == '.lockstep-writing' and _done[0] == {renames}:\n"
        f"        os._exit({KILLED})\n"
        "    _real_unlink(path, *args, **kwargs)\n"
        "os.replace, os.unlink = _replace, _unlink\n")
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout)


def loss_recipe(model_doc: dict, loss: dict) -> Any:
    """A one-step float32 Recipe of `model_doc` with `loss` (synthetic data, plain SGD): the recipe that the bound
    tests take a loss spec from."""
    from lockstep.spec.documents import Recipe

    return Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "case"}, "model": model_doc,
        "seed": 0, "dtype": "float32",
        "data": {"source": {"type": "synthetic_regression", "num_samples": 8, "shape": [1]}, "batch_size": 4},
        "loss": loss, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "training": {"steps": 1}})


# ------------------------------------------------------------- what float32 judging can see (conformance tests)
def first_batch_bound_ratios(recipe: Path, prefix: str) -> dict[str, float]:
    """The float32 bound of each gradient whose parameter's name starts with `prefix`, on the recipe's first batch,
    relative to the gradient: the median over its nonzero elements of allowed error / |g| (the reference's
    gradient at the initial parameters; docs/conformance.md, "What a float32 comparison can see")."""
    import numpy as np

    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.reference.error_bounds import model_bounds
    from lockstep.runner import load_recipe, masks_for, prepare_loaded

    doc, model, base = load_recipe(recipe)
    prep = prepare_loaded(doc, model, base, 1)
    _, x, y = prep.data.batch(0)
    masks = masks_for(prep, 0, len(x))
    session = ReferenceAdapter().build(prep.model, dtype="float64", recipe=prep.recipe)
    session.set_parameters(prep.initial)
    _, grads = session.loss_and_gradients(x, y, masks=masks)
    bounds = model_bounds(prep.model, prep.initial, x, training=True, masks=masks, loss=prep.recipe.loss, y=y,
                          dtype="float32")
    ratios = {}
    for k, g in grads.items():
        if k.startswith(prefix):
            nonzero = g != 0
            ratios[k] = float(np.median(bounds.gradients[k].tolerance("float32").allowed(g)[nonzero]
                                        / np.abs(g[nonzero])))
    return ratios


def plant_torch_gradient_bug(monkeypatch: Any, parameter: str, change: Callable[[Any], None]) -> None:
    """torch's sessions with `change` applied, in place, to `parameter`'s gradient (its canonical view, a torch
    tensor) after every backward and before the optimizer steps: a backward-only bug, the forward exact."""
    from lockstep.adapters.torch.session import TorchSession

    real = TorchSession._loss_backward

    def planted(self: TorchSession, *args: Any, **kwargs: Any) -> Any:
        loss = real(self, *args, **kwargs)
        slot = self.slots[parameter]
        if slot.tensor.grad is not None:
            change(slot.view(slot.tensor.grad))
        return loss

    monkeypatch.setattr(TorchSession, "_loss_backward", planted)


def compare_with_torch(recipe: Path, capsys: Any, steps: int) -> tuple[int, str]:
    """`lockstep compare RECIPE --backends reference,torch --steps STEPS` (one thread): its exit code and output."""
    from lockstep.cli import main

    code = main(["compare", str(recipe), "--backends", "reference,torch", "--steps", str(steps), "--quiet",
                 "--threads", "1"])
    return code, capsys.readouterr().out
