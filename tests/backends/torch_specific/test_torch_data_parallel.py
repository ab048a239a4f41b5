"""Data parallelism on torch: DDP replicas in 2 and 3 real processes against the reference's semantics, the
launcher of `lockstep run --replicas N`, torchrun, a killed worker, and resuming on another replica count."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.checkpoint import load_checkpoint
from lockstep.cli import main
from lockstep.runner import masks_for, prepare_run

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: dp_support
from dp_support import write

ROOT = Path(__file__).resolve().parents[3]


def _lockstep(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockstep", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, **kw)


@pytest.mark.parametrize(("norm", "reduction", "samples"), [
    (None, "mean", 43), (None, "sum", 43), ("sync", "mean", 43), ("local", "mean", 43), ("local", "sum", 43),
    ("sync", "mean", 38),  # the last batch of 2 samples: one per replica, one value per channel (`sync` only)
], ids=["plain", "sum", "sync", "local", "local-sum", "sync-one-sample-shards"])
def test_processes_equal_the_reference_semantics_step_by_step(tmp_path: Path, norm, reduction, samples) -> None:
    """2 and 3 processes (one pool of 3, reused) through a whole epoch and its uneven last batch, float64."""
    from lockstep.adapters.torch.distributed import TorchDataParallelSession

    prep = prepare_run(write(tmp_path, norm=norm, reduction=reduction, samples=samples, steps=5))
    for replicas in (3, 2):
        if replicas == 3 and (norm == "local" or samples == 38):
            continue  # a shard of one sample: validate refuses `local` there (and 2 samples cannot feed 3)
        oracle = DataParallelReferenceSession(prep.model, prep.recipe, "float64", replicas=replicas, batch_norm=norm)
        torch_dp = TorchDataParallelSession(prep.model, dtype="float64", recipe=prep.recipe, replicas=replicas,
                                            batch_norm=norm)
        oracle.set_parameters(prep.initial)
        torch_dp.set_parameters(prep.initial)
        for step in range(prep.total_steps):
            _, x, y = prep.data.batch(step)
            masks = masks_for(prep, step, len(x))
            a, b = oracle.train_step(x, y, masks=masks), torch_dp.train_step(x, y, masks=masks)
            assert b.loss == pytest.approx(a.loss, rel=1e-12), (replicas, step, a.loss, b.loss)
            assert torch_dp.last_shards() == oracle.last_shards(), (replicas, step)
        want, each = oracle.get_parameters(), torch_dp.replica_parameters()
        for k, v in want.items():
            got = each[0][k]
            assert np.allclose(got, v, rtol=1e-10, atol=1e-9), f"{replicas} replicas, {k}: {np.max(np.abs(got - v))}"
            assert all(np.array_equal(p[k], got) for p in each[1:]), f"replicas disagree on {k}"


WIDE = """\
apiVersion: lockstep/v1
kind: Recipe
metadata: {name: dp-wide}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [8]}]
  layers:
    - {type: dense, units: 16}
    - {type: silu}
    - {type: dropout, rate: 0.2}
    - {type: dense, units: 2}
seed: 4
dtype: float64
data:
  source: {type: synthetic_regression, num_samples: 60, shape: [8], targets: 2, noise: 0.1}
  batch_size: 30
loss: {type: huber, delta: 1.0}
optimizer: {type: adam, learning_rate: 0.02}
training: {steps: 6}
"""


def test_a_session_built_anew_continues_bit_for_bit_on_3_replicas(tmp_path: Path) -> None:
    """A resume builds its replicas' sessions anew, in new processes, and must continue the uninterrupted run bit for
    bit on the same count (docs/distributed.md). DDP lays its gradient buckets out again after the first iteration
    of a process, and gloo's ring sums an element of a 3-replica bucket in an order set by its offset there: the
    resumed run's first step summed in another order (~3e-17 apart). Rebuilding the session in the pool's
    processes builds a new DDP, as a new process does."""
    from lockstep.adapters.torch.distributed import TorchDataParallelSession

    path = tmp_path / "wide.yaml"  # 178 parameters (write()'s 57 happened to sum alike in either layout)
    path.write_text(WIDE)
    prep = prepare_run(path)

    def session() -> TorchDataParallelSession:
        return TorchDataParallelSession(prep.model, dtype="float64", recipe=prep.recipe, replicas=3, batch_norm=None)

    def steps(s: TorchDataParallelSession, first: int, last: int) -> list[float]:
        losses = []
        for step in range(first, last):
            _, x, y = prep.data.batch(step)
            losses.append(s.train_step(x, y, masks=masks_for(prep, step, len(x))).loss)
        return losses

    whole = session()
    whole.set_parameters(prep.initial)
    want = steps(whole, 0, 6)
    want_params = whole.get_parameters()
    first = session()
    first.set_parameters(prep.initial)
    got = steps(first, 0, 3)
    params, (at, state) = first.get_parameters(), first.get_optimizer_state()
    resumed = session()
    resumed.set_parameters(params)
    resumed.set_optimizer_state(at, state)
    got += steps(resumed, 3, 6)
    assert got == want, [(a, b) for a, b in zip(got, want, strict=True)]
    final = resumed.get_parameters()
    assert all(np.array_equal(final[k], v) for k, v in want_params.items()), \
        {k: float(np.max(np.abs(final[k] - v))) for k, v in want_params.items()}


def test_lockstep_run_launches_the_replicas_and_rank_0_writes(tmp_path: Path) -> None:
    path = write(tmp_path, norm="sync", replicas=3, samples=43, steps=6)
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert main(["run", str(path), "--backend", "reference", "--out", str(ref), "-q"]) == 0
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = _lockstep("run", str(path), "--backend", "torch", "--out", str(out), "-q", env={"TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stderr
    assert "6 steps on torch, 3 replicas" in done.stdout, done.stdout
    assert not any(p.name.startswith("lockstep-replica") for p in scratch.iterdir()), list(scratch.iterdir())
    report = json.loads((out / "report.json").read_text())
    d = report["distribution"]
    assert (d["replicas"], d["world_size"], d["backend"], d["launcher"], d["engine"]) == \
        (3, 3, "gloo", "lockstep", "processes"), d
    assert "nn.SyncBatchNorm runs on CUDA only" in d["sync_batch_norm"], d
    a = [json.loads(line) for line in (ref / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in b] == list(range(1, 7)), b
    assert np.allclose([r["loss"] for r in a], [r["loss"] for r in b], rtol=1e-12), (a, b)
    ckpt = sorted((out / "checkpoints").iterdir())[-1]
    _, params, _ = load_checkpoint(ckpt)
    _, want, _ = load_checkpoint(ref / "checkpoints" / ckpt.name)
    worst = {k: float(np.max(np.abs(params[k] - want[k]))) for k in want}
    assert max(worst.values()) < 1e-9, worst  # (a bias before batch norm: a 0 ± 1e-16 gradient Adam turns into ~1e-10)
    assert sorted(p.name for p in out.iterdir()) == [".lockstep.lock", "checkpoints", "loss.svg", "metrics.jsonl",
                                                      "recipe.resolved.yaml", "report.json"], \
        "only rank 0 writes, and only the run's files"


def _children_with_rank(parent: int, rank: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@pytest.mark.slow
def test_sigterm_to_the_launcher_is_terminated_143_not_interrupted(tmp_path: Path) -> None:
    """The launcher took SIGTERM for Ctrl-C ("interrupted", exit 130) where one process says "terminated" (143):
    a CI job cancelled would read as a user's keypress. The replicas are stopped either way."""
    path = write(tmp_path, replicas=2, samples=43, steps=4000)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "lockstep", "run", str(path), "--backend", "torch", "--out",
                             str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "metrics.jsonl").exists() or not (out / "metrics.jsonl").stat().st_size:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "terminated", (proc.returncode, err)
    assert "interrupted" not in err and "Traceback" not in err, err
    assert not _children_with_rank(proc.pid, 0) and not _children_with_rank(proc.pid, 1)


def test_sigterm_to_the_launcher_while_replicas_start_is_said_once(tmp_path: Path) -> None:
    """Sweep R (2026-12-07): a SIGTERM to the launcher while its replicas were still importing printed "terminated"
    twice: replica 0 shares the launcher's stderr and said it too. The launcher alone says it now."""
    from lockstep.distributed import ENV_LAUNCHER

    assert ENV_LAUNCHER == "LOCKSTEP_LAUNCHER", "cli._stopped reads the launcher's variable by this name"
    path = write(tmp_path, replicas=2, samples=43, steps=4000)
    proc = subprocess.Popen([sys.executable, "-m", "lockstep", "run", str(path), "--backend", "torch", "--out",
                             str(tmp_path / "out"), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _children_with_rank(proc.pid, 0) is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        time.sleep(0.3)  # replica 0 is importing: its handler is installed, training is far off
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and err.strip().splitlines() == ["terminated"], (proc.returncode, err)


def test_one_replica_on_a_missing_gpu_is_refused_as_one_process_is(tmp_path: Path, capsys) -> None:
    """It tried to join an NCCL group and said "Distributed package doesn't have NCCL built in" (exit 1)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    path = write(tmp_path, replicas=None)
    code = main(["run", str(path), "--backend", "torch", "--replicas", "1", "--device", "cuda", "--out",
                 str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "--device cuda: torch sees no CUDA device here" in err and "NCCL" not in err, (code, err)


@pytest.mark.slow
def test_a_killed_worker_ends_the_run_naming_its_rank_and_resume_continues_on_one_replica(tmp_path: Path) -> None:
    path = write(tmp_path, norm="sync", replicas=2, samples=43, steps=400)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "lockstep", "run", str(path), "--backend", "torch", "--out",
                             str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoints" / "step-00000008.npz").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        victim = _children_with_rank(proc.pid, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert f"replica 1 of 2 (pid {victim}) was killed by SIGKILL; the run stopped" in err, err
    assert "continue with --resume" in err and "Traceback" not in err, err
    assert not _children_with_rank(proc.pid, 0), "a replica outlived its launcher"
    done = _lockstep("run", str(path), "--backend", "torch", "--replicas", "1", "--out", str(out), "--resume", "-q")
    assert done.returncode == 0, done.stderr
    assert "the checkpoint was written by 2 replicas, this run has 1: the semantics do not depend" in done.stderr
    assert "(resumed at step" in done.stdout, done.stdout
    assert json.loads((out / "report.json").read_text())["steps"] == 400


DIES_IN_DDP = """\
import importlib.abc, os, signal, sys

class Finder(importlib.abc.MetaPathFinder):  # replica 1 SIGKILLs itself entering DDP's constructor
    def find_spec(self, name, path, target=None):
        if name == "lockstep.adapters.torch.distributed":
            sys.meta_path.remove(self)
            import torch.nn.parallel as par
            par.DistributedDataParallel.__init__ = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        return None

if os.environ.get("RANK") == "1":
    sys.meta_path.insert(0, Finder())
"""


def test_a_replica_killed_while_the_sessions_are_built_is_named_without_an_internal_error(tmp_path: Path) -> None:
    """Rank 0, waiting in DDP's first broadcast for a replica that died, said the build's gloo error as the backend's,
    then "internal error ... please report it": the agreement after the failed build raised it. A collective of the
    agreement that fails is a lost contact, and the launcher names the replica that died."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(DIES_IN_DDP)
    path = write(tmp_path, replicas=2, steps=4)
    done = _lockstep("run", str(path), "--backend", "torch", "--out", str(tmp_path / "out"), "-q",
                     env={"PYTHONPATH": str(hook)})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "backend `torch`" not in done.stderr, done.stderr
    assert lines[0].startswith("lockstep run: replica 0: lost contact with the other replicas ("), done.stderr
    assert "replica 1 of 2 (pid " in lines[-1] and "was killed by SIGKILL" in lines[-1], done.stderr


@pytest.mark.slow
def test_torchrun_starts_the_same_workers(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    path = write(tmp_path, norm="local", replicas=2, samples=43, steps=6)
    out, ref = tmp_path / "out", tmp_path / "ref"
    command = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "lockstep", "run", str(path), "--backend",
               "torch", "--out", str(out), "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "report.json").read_text())["distribution"]["launcher"] == "torchrun"
    assert main(["run", str(path), "--backend", "reference", "--out", str(ref), "-q"]) == 0
    a = [json.loads(line)["loss"] for line in (ref / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert np.allclose(a, b, rtol=1e-12), (a, b)
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode != 0 and "already holds another run" in again.stderr, again.stderr


@pytest.mark.slow
def test_level_5_certifies_torch_on_the_example_recipes() -> None:
    from lockstep.adapters.torch import TorchAdapter
    from lockstep.conformance import suite

    cert = suite.certify(TorchAdapter(), "torch", suite.Options(levels=(5,), constructs=("digits-mlp", "small-cnn",
                                                                                        "tiny-attention"),
                                                               recipe_steps=2))
    assert cert.certified, [(c.name, c.outcome, c.message) for c in cert.checks]
    assert len(cert.checks) == 6 and all(c.examples == 1 for c in cert.checks)


@pytest.mark.gpu
@pytest.mark.parametrize("norm", ["sync", "local"])
def test_replicas_sharing_one_gpu_equal_the_reference_semantics(tmp_path: Path, norm: str) -> None:
    """On CUDA, `sync` is the native nn.SyncBatchNorm: two replicas share GPU 0 over gloo (NCCL needs one GPU
    per replica), float64, a whole epoch and its uneven last batch."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from lockstep.adapters.torch.distributed import TorchDataParallelSession

    prep = prepare_run(write(tmp_path, norm=norm, samples=43, steps=5))
    oracle = DataParallelReferenceSession(prep.model, prep.recipe, "float64", replicas=2, batch_norm=norm)
    gpu = TorchDataParallelSession(prep.model, dtype="float64", device="cuda:0", recipe=prep.recipe, replicas=2,
                                   batch_norm=norm)
    oracle.set_parameters(prep.initial)
    gpu.set_parameters(prep.initial)
    for step in range(prep.total_steps):
        _, x, y = prep.data.batch(step)
        masks = masks_for(prep, step, len(x))
        a, b = oracle.train_step(x, y, masks=masks), gpu.train_step(x, y, masks=masks)
        assert b.loss == pytest.approx(a.loss, rel=1e-11), (step, a.loss, b.loss)
    want, got = oracle.get_parameters(), gpu.get_parameters()
    worst = {k: float(np.max(np.abs(got[k] - v))) for k, v in want.items()}
    assert max(worst.values()) < 1e-9, worst
