"""Data parallelism without a framework: the standard's rules (spec/distribution.py), the reference's semantics
for any replica count (adapters/reference_parallel.py), `lockstep run --backend reference --replicas N`,
checkpoints across replica counts, and the command's refusals."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from dp_support import write
from hypothesis import given
from hypothesis import strategies as st

from lockstep.adapters.reference import ReferenceSession
from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.checkpoint import load_checkpoint
from lockstep.cli import main
from lockstep.distributed import World, resume_note
from lockstep.runner import masks_for, prepare_run
from lockstep.spec.distribution import shard_bounds


# ----------------------------------------------------------------------------------------- the rules
@given(st.integers(0, 200), st.integers(1, 17))
def test_shards_are_contiguous_in_rank_order_and_as_even_as_can_be(batch: int, replicas: int) -> None:
    bounds = shard_bounds(batch, replicas)
    sizes = [hi - lo for lo, hi in bounds]
    assert len(bounds) == replicas and bounds[0][0] == 0 and bounds[-1][1] == batch, bounds
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds)), bounds
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True), sizes
    assert sizes == [len(a) for a in np.array_split(np.arange(batch), replicas)], (sizes, batch, replicas)


@pytest.mark.parametrize(("batch", "replicas"), [(-1, 2), (4, 0)])
def test_shards_refuse_what_cannot_be_split(batch: int, replicas: int) -> None:
    with pytest.raises(ValueError, match="cannot be split"):
        shard_bounds(batch, replicas)


@pytest.mark.parametrize(("kwargs", "where", "words"), [
    ({"replicas": 5}, "distribution.replicas", "5 replicas do not divide batch_size 12"),
    ({"replicas": 6}, "distribution.replicas", "the last batch of every epoch holds 5"),
    ({"norm": None, "replicas": 2, "extra": ""}, None, None),
    ({"norm": "local", "replicas": 12, "samples": 48}, "distribution.batch_norm", "one value per channel"),
    ({"norm": "local", "replicas": 4}, "distribution.batch_norm", "smallest shard of the last batch (1 sample)"),
    ({"norm": "sync", "replicas": 4}, None, None),
    ({"replicas": 6, "steps": 3}, None, None),  # the short last batch is never reached in 3 steps
    ({"replicas": 6, "extra": ""}, "distribution.replicas", "at most 5 replicas"),
], ids=["divide", "last-batch", "fine", "local-shard", "local-last-shard", "sync-one-value", "unreached", "expected"])
def test_validate_checks_the_replicas_at_the_right_line(tmp_path: Path, capsys, kwargs: dict, where: str | None,
                                                        words: str | None) -> None:
    path = write(tmp_path, **kwargs)
    code = main(["validate", str(path)])
    out = capsys.readouterr().out
    if where is None:
        assert code == 0, out
        return
    assert code == 1, out
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("distribution:"))
    assert f"{path}:{line}:" in out and f"{where}: " in out and words in out, out


def test_a_model_with_batch_norm_must_say_local_or_sync(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, extra="")
    path.write_text(path.read_text().replace("    - {type: tanh}", "    - {type: batch_norm}\n    - {type: tanh}"))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "distribution: the model has batch_norm (`batch_norm_1`)" in out and "`batch_norm: local`" in out, out


def test_workers_is_deprecated_with_the_replacement_named(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, replicas=None, extra="workers: 3\n")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "workers: `workers: 3` is no longer read: write `distribution: {strategy: data_parallel, replicas: 3}`" \
        in out, out
    path.write_text(path.read_text().replace("workers: 3", "workers: 1"))
    assert main(["validate", str(path)]) == 0


@pytest.mark.parametrize("bad", ["{strategy: model_parallel}", "{strategy: data_parallel, replicas: 0}",
                                 "{strategy: data_parallel, replicas: '2'}", "{strategy: data_parallel, batch_norm: "
                                 "global}", "{replicas: 2}", "{strategy: data_parallel, replicas: 2.0}"])
def test_the_section_is_strict(tmp_path: Path, capsys, bad: str) -> None:
    path = write(tmp_path, replicas=None)
    path.write_text(path.read_text() + f"distribution: {bad}\n")
    assert main(["validate", str(path)]) == 1, capsys.readouterr().out


# ------------------------------------------------------------------------------------ the semantics
class _ShardWise(DataParallelReferenceSession):
    """The oracle forced onto its shard-by-shard path (an overridden seam that changes nothing)."""

    def shard_weights(self, sizes: list[int], total: int, reduction: str) -> list[float]:
        return super().shard_weights(sizes, total, reduction)


def _trajectory(session: ReferenceSession, prep, steps: int) -> tuple[list[float], dict]:
    session.set_parameters(prep.initial)
    losses = []
    for step in range(steps):
        _, x, y = prep.data.batch(step)
        losses.append(session.train_step(x, y, masks=masks_for(prep, step, len(x))).loss)
    return losses, session.get_parameters()


@pytest.fixture(scope="module")
def preps(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("dp")
    return {(norm, red): prepare_run(write(tmp, name=f"{norm}-{red}", norm=norm, replicas=2, reduction=red, samples=43))
            for norm in (None, "sync", "local") for red in ("mean", "sum")}


@given(st.sampled_from([None, "sync"]), st.sampled_from(["mean", "sum"]), st.integers(1, 5))
def test_without_local_statistics_any_replica_count_is_one_process(preps, norm, reduction, replicas) -> None:
    """Bit for bit in the oracle (it computes the one-process step), and to round-off on the shard-wise path."""
    prep = preps[(norm, reduction)]
    one_loss, one = _trajectory(ReferenceSession(prep.model, prep.recipe, "float64"), prep, 5)
    dp_loss, dp = _trajectory(DataParallelReferenceSession(prep.model, prep.recipe, "float64", replicas=replicas,
                                                           batch_norm=norm), prep, 5)
    assert dp_loss == one_loss and all(np.array_equal(dp[k], one[k]) for k in one), (replicas, norm, reduction)
    sw_loss, sw = _trajectory(_ShardWise(prep.model, prep.recipe, "float64", replicas=replicas, batch_norm=norm),
                              prep, 5)
    assert np.allclose(sw_loss, one_loss, rtol=1e-12, atol=0), (sw_loss, one_loss)
    worst = max(float(np.max(np.abs(sw[k] - one[k]))) for k in one)
    # 1e-9: with batch norm the bias before it has a gradient of 0 ± 1e-17, which Adam turns into steps of ~1e-10
    assert worst < 1e-9, f"{replicas} replicas, {norm}, {reduction}: parameters differ by {worst:.3g}"


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("replicas", [2, 3])
def test_local_statistics_are_each_shards_and_the_gradient_weighs_shards_by_size(preps, reduction, replicas) -> None:
    """An independent derivation: one one-process session per shard, weighted n_r/n (mean) or 1 (sum), and the
    running statistics averaged; on the last, uneven batch of the epoch (7 samples over 2 or 3 replicas)."""
    prep = preps[("local", reduction)]
    step = prep.data.steps_per_epoch - 1
    _, x, y = prep.data.batch(step)
    masks = masks_for(prep, step, len(x))
    oracle = DataParallelReferenceSession(prep.model, prep.recipe, "float64", replicas=replicas, batch_norm="local")
    oracle.set_parameters(prep.initial)
    loss, grads = oracle.loss_and_gradients(x, y, masks=masks)
    bounds = shard_bounds(len(y), replicas)
    assert oracle.last_shards() == bounds and len(y) == 7, (oracle.last_shards(), len(y))
    want_loss, want = 0.0, {k: np.zeros_like(v) for k, v in grads.items()}
    running = []
    for lo, hi in bounds:
        one = ReferenceSession(prep.model, prep.recipe, "float64")
        one.set_parameters(prep.initial)
        v, g = one.loss_and_gradients(x[lo:hi], y[lo:hi], masks={k: m[lo:hi] for k, m in masks.items()})
        w = (hi - lo) / len(y) if reduction == "mean" else 1.0
        want_loss += w * v
        for k in want:
            want[k] += w * g[k]
        running.append(one.get_parameters())
    assert loss == pytest.approx(want_loss, rel=1e-14), (loss, want_loss)
    for k in want:
        assert np.allclose(grads[k], want[k], rtol=1e-13, atol=1e-16), k
    after = oracle.get_parameters()
    for k in ("batch_norm_1.running_mean", "batch_norm_1.running_var"):
        mean = sum(r[k] for r in running) / replicas
        assert np.allclose(after[k], mean, rtol=1e-14), (k, after[k], mean)


def test_dropout_masks_belong_to_samples_not_replicas(preps) -> None:
    """Each replica's keep-mask is its rows of the global batch's mask: concatenated, they are the global mask."""
    prep = preps[(None, "mean")]
    seen: list = []

    class Spy(DataParallelReferenceSession):
        def shard_masks(self, masks, rank, lo, hi):
            part = super().shard_masks(masks, rank, lo, hi)
            seen.append(part)
            return part

    _, x, y = prep.data.batch(0)
    masks = masks_for(prep, 0, len(x))
    for replicas in (2, 3, 4):
        seen.clear()
        s = Spy(prep.model, prep.recipe, "float64", replicas=replicas)
        s.set_parameters(prep.initial)
        s.loss_and_gradients(x, y, masks=masks)
        for name, mask in masks.items():
            assert np.array_equal(np.concatenate([p[name] for p in seen]), mask), (replicas, name)


# ---------------------------------------------------------------------------------------- the command
def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_reference_replicas_write_what_they_were_and_resume_on_other_counts_bit_for_bit(tmp_path: Path,
                                                                                        capsys) -> None:
    path = write(tmp_path, norm="sync", replicas=2, steps=12)
    one, split = tmp_path / "one", tmp_path / "split"
    assert main(["run", str(path), "--backend", "reference", "--replicas", "1", "--out", str(one), "-q"]) == 0
    assert main(["run", str(path), "--backend", "reference", "--steps", "8", "--out", str(split), "-q"]) == 0
    report = _report(split)
    assert report["distribution"] == {"strategy": "data_parallel", "replicas": 2, "batch_norm": "sync",
                                      "world_size": 1, "engine": "in-process"}, report["distribution"]
    meta, _, _ = load_checkpoint(split / "checkpoints" / "step-00000008.npz")
    assert meta["step"] == 8
    capsys.readouterr()
    assert main(["run", str(path), "--backend", "reference", "--replicas", "3", "--resume", "--out", str(split),
                 "-q"]) == 0
    err = capsys.readouterr().err
    assert "written by 2 replicas, this run has 3: the semantics do not depend on the replica count" in err, err
    a = load_checkpoint(one / "checkpoints" / "step-00000012.npz")
    b = load_checkpoint(split / "checkpoints" / "step-00000012.npz")
    assert all(np.array_equal(a[1][k], b[1][k]) for k in a[1]), "resumed on 3 replicas, not the one-process bits"
    losses = [[json.loads(line)["loss"] for line in (d / "metrics.jsonl").read_text().splitlines()]
              for d in (one, split)]
    assert losses[0] == losses[1], losses  # (the run stopped at --steps 8 also evaluated there: that line differs)


def test_a_refused_resume_leaves_the_resolved_recipe_as_it_was(tmp_path: Path, capsys) -> None:
    """recipe.resolved.yaml was written before the checkpoint was checked: a --resume refused as another recipe
    left the run folder naming a recipe that never trained (report.json's sha256 no longer matched it). It is
    written when the run starts, as one process writes it."""
    path = write(tmp_path, replicas=2, steps=8)
    out = tmp_path / "out"
    assert main(["run", str(path), "--backend", "reference", "--steps", "4", "--out", str(out), "-q"]) == 0
    before = (out / "recipe.resolved.yaml").read_bytes()
    capsys.readouterr()
    code = main(["run", str(path), "--backend", "reference", "--replicas", "2", "--resume", "--set", "seed=9",
                 "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "a different recipe" in err, (code, err)
    assert (out / "recipe.resolved.yaml").read_bytes() == before
    assert main(["run", str(path), "--backend", "reference", "--resume", "--out", str(out), "-q"]) == 0
    sha = _report(out)["recipe_resolved"]["sha256"]
    assert sha == hashlib.sha256((out / "recipe.resolved.yaml").read_bytes()).hexdigest()


def test_a_resume_that_changes_local_statistics_says_so(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, norm="local", replicas=2, steps=8)
    out = tmp_path / "out"
    assert main(["run", str(path), "--backend", "reference", "--steps", "4", "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["run", str(path), "--backend", "reference", "--replicas", "1", "--resume", "--out", str(out),
                 "-q"]) == 0
    err = capsys.readouterr().err
    assert "were over the shards of 2 replicas (`batch_norm: local`) and are now over the global batch" in err, err


def test_checkpoints_record_their_replicas_inside_the_verified_metadata(tmp_path: Path) -> None:
    path = write(tmp_path, norm="local", replicas=2, steps=4)
    out = tmp_path / "out"
    assert main(["run", str(path), "--backend", "reference", "--out", str(out), "-q"]) == 0
    from lockstep.checkpoint import read_checkpoint

    ck = read_checkpoint(out / "checkpoints" / "step-00000004.npz")
    assert ck.distribution == {"strategy": "data_parallel", "replicas": 2, "batch_norm": "local"}, ck.distribution
    raw = (out / "checkpoints" / "step-00000004.npz").read_bytes()
    forged = raw.replace(b'"replicas":2', b'"replicas":3')
    assert forged != raw
    (out / "checkpoints" / "step-00000004.npz").write_bytes(forged)
    from lockstep.checkpoint import CheckpointError

    with pytest.raises(CheckpointError):
        read_checkpoint(out / "checkpoints" / "step-00000004.npz")


@pytest.mark.parametrize(("args", "env", "words"), [
    (["--replicas", "0"], {}, "--replicas must be at least 1"),
    (["--replicas", "5"], {}, "5 replicas (--replicas): distribution.replicas: 5 replicas do not divide batch_size 12"),
    (["--backend", "onnxruntime"], {}, "has no data-parallel engine"),
    ([], {"RANK": "0", "WORLD_SIZE": "2"}, "runs all its replicas in one process: start it without torchrun"),
    ([], {"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not a non-negative integer"),
    ([], {"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 is not a rank of WORLD_SIZE=2"),
    (["--replicas", "3", "--backend", "torch"], {"RANK": "0", "WORLD_SIZE": "2"},
     "--replicas 3, but torchrun started 2 processes"),
    (["--replicas", "64", "--backend", "torch"], {"LOCKSTEP_MAX_REPLICAS": "8"}, "64 replicas would run 64 copies of "
     "the model on this machine"),
    (["--replicas", "2", "--out", ""], {}, "--out is empty"),
    (["--replicas", "2", "--threads", "2"], {}, "--threads is not available with data-parallel replicas"),
    (["--replicas", "2", "--backend", "torch", "--out", ""], {"RANK": "0", "WORLD_SIZE": "2"}, "--out is empty"),
    # `--steps -3` with replicas wrote an empty "ok" run of -3 steps, exit 0
    (["--replicas", "2", "--steps", "-3"], {}, "--steps must be at least 1"),
    (["--replicas", "2", "--steps", "0"], {}, "--steps must be at least 1"),
    # a misspelt backend was "has no data-parallel engine"
    (["--replicas", "2", "--backend", "tourch"], {}, "unknown adapter `tourch`; known: "),
    # a bad timeout was "cannot join the replicas' process group", exit 1; `-1` timed out at once
    (["--replicas", "2"], {"LOCKSTEP_DIST_TIMEOUT": "abc"}, "LOCKSTEP_DIST_TIMEOUT='abc': expected a whole number of "
     "seconds from 1 to 604800"),
    (["--replicas", "2"], {"LOCKSTEP_DIST_TIMEOUT": "-1"}, "LOCKSTEP_DIST_TIMEOUT='-1': expected a whole number"),
    # torch's AssertionError ("Unknown backend type bogus") was an internal error, exit 3
    (["--replicas", "2", "--backend", "torch"], {"LOCKSTEP_DIST_BACKEND": "bogus"},
     "LOCKSTEP_DIST_BACKEND='bogus': expected one of gloo, nccl, mpi, ucc"),
    # `abc`, 0 and -5 were dropped without a word for the default cap
    (["--replicas", "2"], {"LOCKSTEP_MAX_REPLICAS": "abc"}, "LOCKSTEP_MAX_REPLICAS='abc': expected a whole number of "
     "replicas, at least 1"),
    (["--replicas", "2"], {"LOCKSTEP_MAX_REPLICAS": "0"}, "LOCKSTEP_MAX_REPLICAS='0': expected"),
    # str.isdigit takes `²`, which int() refuses: each was an internal error (ValueError)
    ([], {"RANK": "\u00b2", "WORLD_SIZE": "2"}, "RANK='\u00b2' is not a non-negative integer"),
    (["--replicas", "2"], {"LOCKSTEP_MAX_REPLICAS": "\u00b2"}, "LOCKSTEP_MAX_REPLICAS='\u00b2': expected"),
    (["--replicas", "2"], {"LOCKSTEP_DIST_TIMEOUT": "\u00b2"}, "LOCKSTEP_DIST_TIMEOUT='\u00b2': expected"),
    # torch's "invalid literal for int()" came after the start-up, exit 1
    (["--backend", "torch"], {"RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "abc"},
     "MASTER_PORT='abc' is not a TCP port (1 to 65535)"),
    (["--backend", "torch"], {"RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "99999"}, "MASTER_PORT='99999' is not"),
    # the recipe's replicas: 2 was replaced by the world's size without a word (with local batch norm, another run)
    (["--backend", "torch"], {"RANK": "0", "WORLD_SIZE": "3"}, "the recipe's distribution.replicas is 2, but torchrun "
     "started 3 processes (WORLD_SIZE=3); start 2, or give --replicas 3 to override the recipe"),
    (["--backend", "tensorflow"], {"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", '
                                                '"index": 0}}'}, "the recipe's distribution.replicas is 2, but "
     "TF_CONFIG names 1 worker (one replica each)"),
    # float('abc') was "cannot join the replicas' process group", exit 1
    (["--backend", "tensorflow"], {"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": '
                                                '{"type": "worker", "index": 0}}',
                                   "LOCKSTEP_TF_COLLECTIVE_TIMEOUT": "abc"},
     "LOCKSTEP_TF_COLLECTIVE_TIMEOUT='abc': expected a whole number of seconds"),
], ids=["zero", "divide", "no-engine", "in-process-under-torchrun", "bad-rank", "rank-outside", "mismatch", "too-many",
        "empty-out", "threads", "empty-out-under-torchrun", "negative-steps", "zero-steps", "misspelt-backend",
        "bad-timeout", "negative-timeout", "bad-collective-backend", "bad-max-replicas", "zero-max-replicas",
        "superscript-rank", "superscript-max-replicas", "superscript-timeout", "bad-master-port", "large-master-port",
        "recipe-replicas-under-torchrun", "recipe-replicas-under-tf-config", "bad-tf-worker-timeout"])
def test_refusals_exit_2_with_one_line(tmp_path: Path, capsys, monkeypatch, args: list[str], env: dict,
                                       words: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)  # an empty --out took the default runs/ folder here (data parallel only)
    path = write(tmp_path)
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "-q", *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err, (code, err)
    assert not (tmp_path / "out" / "metrics.jsonl").exists() and not (tmp_path / "runs").exists()


def test_a_count_the_recipe_cannot_run_is_refused_before_the_rendezvous(tmp_path: Path, capsys, monkeypatch) -> None:
    """Under torchrun's variables a replica count the recipe cannot split was refused only after
    init_process_group: one process started by hand with WORLD_SIZE=5 waited at the rendezvous for ranks that never
    came (until the collective timeout); every rank refuses it alone now, as it refuses a bad --out."""
    pytest.importorskip("torch")
    from lockstep.distributed import free_port

    for k, v in {"RANK": "0", "WORLD_SIZE": "5", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(free_port()), "LOCKSTEP_DIST_TIMEOUT": "20"}.items():
        monkeypatch.setenv(k, v)
    path = write(tmp_path, replicas=None)
    t0 = time.monotonic()
    code = main(["run", str(path), "--backend", "torch", "--out", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "5 replicas (torchrun's WORLD_SIZE): data.batch_size: 5 replicas do not divide batch_size " \
        "12" in err, (code, err)
    assert time.monotonic() - t0 < 15, f"refused after {time.monotonic() - t0:.1f} s: {err}"
    assert not (tmp_path / "out").exists()


def test_a_master_port_that_never_answers_ends_the_join(tmp_path: Path) -> None:
    """A MASTER_PORT held by another program (a server that accepts and never answers): torch's store client waited
    for its handshake for good, past LOCKSTEP_DIST_TIMEOUT (killed after 410 s); the join ends, said in one line."""
    import socket
    import subprocess
    import sys

    pytest.importorskip("torch")
    path = write(tmp_path)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        env = {**os.environ, "RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(server.getsockname()[1]), "LOCKSTEP_DIST_TIMEOUT": "2"}
        proc = subprocess.run([sys.executable, "-m", "lockstep", "run", str(path), "--backend", "torch", "--out",
                               str(tmp_path / "out"), "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert proc.stderr.strip().splitlines()[-1].startswith("lockstep run: cannot join the replicas' process group: "
                                                           "no answer from 127.0.0.1:"), proc.stderr
    assert "Traceback" not in proc.stderr and "frame #" not in proc.stderr, proc.stderr


def test_a_model_with_batch_norm_and_replicas_asked_on_the_command_line_must_state_the_mode(tmp_path: Path,
                                                                                             capsys) -> None:
    path = write(tmp_path, replicas=None)
    path.write_text(path.read_text().replace("    - {type: tanh}", "    - {type: batch_norm}\n    - {type: tanh}"))
    assert main(["run", str(path), "--backend", "reference", "--replicas", "2", "--out", str(tmp_path / "o"),
                 "-q"]) == 2
    assert "model: the model has batch_norm" in capsys.readouterr().err


@pytest.mark.parametrize(("env", "want"), [
    ({}, None),
    ({"RANK": "1", "WORLD_SIZE": "3", "LOCAL_RANK": "1"}, World(1, 3, 1, "torchrun")),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCKSTEP_LAUNCHER": "123"}, World(0, 2, 0, "lockstep")),
])
def test_the_world_comes_from_torchruns_variables(env: dict, want: World | None) -> None:
    assert World.from_env(env) == want


def test_resume_notes() -> None:
    two_sync = {"replicas": 2, "batch_norm": "sync"}
    assert resume_note(two_sync, two_sync, True) is None
    assert resume_note(None, {"replicas": 1, "batch_norm": None}, True) is None
    assert "equal up to the order of additions" in resume_note(two_sync, {"replicas": 3, "batch_norm": "sync"}, True)
    assert "equal up to the order of additions" in resume_note({"replicas": 2, "batch_norm": "local"},
                                                               {"replicas": 3, "batch_norm": "local"}, False)
    assert "not the one an uninterrupted run" in resume_note({"replicas": 2, "batch_norm": "local"},
                                                             {"replicas": 3, "batch_norm": "local"}, True)
    # a model without batch norm was told about "batch-norm statistics over the global batch"
    assert "batch-norm" not in resume_note({"replicas": 2}, {"replicas": 3}, False)


def test_a_distribution_given_only_by_set_is_the_run_the_folder_records(tmp_path: Path, capsys) -> None:
    """`--set 'distribution={...}'` on a recipe whose file never says `distribution` trained one process, while
    recipe.resolved.yaml and report.json's overrides recorded the 2 replicas as applied."""
    path = write(tmp_path, replicas=None)
    out = tmp_path / "o"
    assert main(["run", str(path), "--backend", "reference", "--out", str(out), "-q", "--steps", "2",
                 "--set", "distribution={strategy: data_parallel, replicas: 2}"]) == 0, capsys.readouterr().err
    assert "2 replicas" in capsys.readouterr().out
    assert _report(out)["distribution"]["replicas"] == 2, _report(out)["distribution"]


class _Proc:
    def __init__(self, pid: int, code: int | None) -> None:
        self.pid, self.returncode = pid, code

    def poll(self) -> int | None:
        return self.returncode


@pytest.mark.parametrize("stopped", [-9, 143, 130, 129])
def test_the_replica_a_signal_ended_is_named_not_the_one_that_lost_contact(tmp_path: Path, capsys,
                                                                           stopped: int) -> None:
    """Rank 1 was terminated, and rank 0 (which then lost contact, exit 1) was blamed when both ended within one
    poll; a replica's handled SIGTERM (143) read as "exited with code 130/143"."""
    from lockstep import distributed

    workers = [distributed.Worker(0, _Proc(100, 1), None), distributed.Worker(1, _Proc(101, stopped), None)]
    assert distributed._wait(workers, tmp_path) == 1
    err = capsys.readouterr().err
    name = {-9: "killed by SIGKILL", 143: "stopped by SIGTERM", 130: "stopped by SIGINT", 129: "stopped by SIGHUP"}
    assert f"replica 1 of 2 (pid 101) was {name[stopped]}" in err, err


def test_a_replica_that_could_not_write_ends_the_run_with_exit_2(tmp_path: Path, capsys) -> None:
    """Rank 0 said "cannot write ... No space left on device" and exited 2; rank 1, having lost contact, ended
    otherwise, and the run exited 1, the code of a failed run, where one process exits 2 on a full disk."""
    from lockstep import distributed

    workers = [distributed.Worker(0, _Proc(100, 2), None), distributed.Worker(1, _Proc(101, 1), None)]
    assert distributed._wait(workers, tmp_path) == 2
    assert "replica 0 of 2 (pid 100) exited with code 2" in capsys.readouterr().err
    workers = [distributed.Worker(0, _Proc(100, 1), None), distributed.Worker(1, _Proc(101, -15), None)]
    assert distributed._wait(workers, tmp_path) == 1  # a failed run (or a peer killed) is still 1


def test_a_failed_replica_is_named_with_the_last_line_of_its_stderr(capsys) -> None:
    """The replicas' stderr goes to files with no name (a SIGKILLed launcher left `lockstep-replicas-*` folders in
    the temporary folder); the last line is read from the end, however much a replica printed before it."""
    import tempfile

    from lockstep import distributed

    log = tempfile.TemporaryFile()
    log.write(b"warning: noise\n" * 20_000 + b"RuntimeError: the real reason\n\n")
    worker = distributed.Worker(1, _Proc(101, 1), log)
    assert distributed._cause(worker) == "(pid 101) exited with code 1: RuntimeError: the real reason"
    assert log.tell() == len(b"warning: noise\n") * 20_000 + len(b"RuntimeError: the real reason\n\n"), \
        "reading the tail must not move the offset the replica writes at"
    log.close()


def test_certify_level_5_by_name_on_the_reference(tmp_path: Path, capsys) -> None:
    """The oracle against itself: certified, every comparison exact, and the level named in the report."""
    report = tmp_path / "cert"
    code = main(["certify", "--adapter", "reference", "--level", "data_parallel", "--examples", "3", "--construct",
                 "data_parallel,data_parallel_local,data_parallel_sync,inline-model", "--report", str(report), "-q"])
    assert code == 0, capsys.readouterr()
    cert = json.loads((report / "report.json").read_text())
    checks = cert["checks"]
    assert {c["level"] for c in checks} == {5} and {c["outcome"] for c in checks} == {"pass"}, checks
    assert {c["construct"] for c in checks} == {"data_parallel", "data_parallel_local", "data_parallel_sync",
                                                "inline-model"}, checks


def test_a_stopped_replica_is_named_not_the_one_that_timed_out_waiting(tmp_path: Path, capsys, monkeypatch) -> None:
    """A replica stopped by SIGSTOP stays alive while the others' collective times out: rank 0 (exit 1) was
    blamed. The stopped one is named, and continued so that it ends on the SIGTERM it was sent."""
    import signal
    import subprocess
    import sys

    from lockstep import distributed

    monkeypatch.setattr(distributed, "GRACE_S", 0.5)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc.send_signal(signal.SIGSTOP)
        for _ in range(100):
            if distributed._halted(proc.pid):
                break
            time.sleep(0.02)
        workers = [distributed.Worker(0, _Proc(100, 1), None), distributed.Worker(1, proc, None)]
        assert distributed._wait(workers, tmp_path) == 1
        err = capsys.readouterr().err
        assert f"replica 1 of 2 (pid {proc.pid}) was stopped by a signal (SIGSTOP or SIGTSTP)" in err, err
        assert proc.wait(timeout=10) == -signal.SIGTERM, "continued, it ends on the SIGTERM, not a SIGKILL"
    finally:
        proc.kill()
        proc.wait()
    assert not distributed._halted(proc.pid)


@pytest.mark.parametrize(("replicas", "env", "said"), [
    (None, {}, "the recipe's distribution"),
    (3, {"RANK": "0", "WORLD_SIZE": "3"}, "--replicas"),
    (None, {"RANK": "0", "WORLD_SIZE": "3"}, "torchrun's WORLD_SIZE"),
    (None, {"RANK": "0", "WORLD_SIZE": "3", "LOCKSTEP_LAUNCHER": "1"}, "the recipe's distribution"),
    (None, {"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}'},
     "TF_CONFIG's workers"),
])
def test_a_refused_replica_count_names_where_it_came_from(monkeypatch, replicas, env, said) -> None:
    """Under torchrun (WORLD_SIZE=3, no `distribution` in the recipe) a count the recipe cannot run was said to be
    "3 replicas (the recipe's distribution)"."""
    import argparse

    from lockstep import distributed

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "TF_CONFIG", distributed.ENV_LAUNCHER):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(distributed.ENV_LAUNCHER if name == "LOCKSTEP_LAUNCHER" else name, value)
    assert distributed._count_source(argparse.Namespace(replicas=replicas)) == said
