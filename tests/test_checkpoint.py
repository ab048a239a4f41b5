"""Checkpoints are verified before use, and a damaged one is never a silent wrong resume.

Issue 9: one-bit flips in a checkpoint's `.npy` headers resumed with exit 0 and wrong weights, a damaged
optimizer-state name silently reset that state, a damaged `history` name rewrote metrics.jsonl with part
of its lines, other flips crashed with tracebacks instead of falling back. Here every byte of a small
checkpoint is flipped (and the file truncated at every length), the resume path runs in-process, and each
outcome must be the uninterrupted run's state, a fallback to the intact older checkpoint that names the
damaged one, or (with nothing intact) exit 2: never a traceback, never a different result.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tracemalloc
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockstep import checkpoint as ckpt
from lockstep.checkpoint import CheckpointError, Layout, read_checkpoint, resume_point
from lockstep.cli import main
from lockstep.runner import Prepared, RunError, build_session, prepare_run, train

# Small on purpose (about 2.6 KB): one weight, Adam's two states, six steps; every byte gets flipped.
RECIPE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: flips}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [2]}]
  layers: [{type: dense, units: 1, use_bias: false}]
seed: 3
dtype: float64
data:
  source: {type: synthetic_regression, num_samples: 8, shape: [2]}
  batch_size: 4
loss: {type: mse}
optimizer: {type: adam, learning_rate: 0.1}
training: {steps: 6}
checkpoint: {every: 2, keep: 3}
"""
NEWEST, OLDER = "step-00000004.npz", "step-00000002.npz"


@dataclass
class World:
    """The uninterrupted run and the pieces of a run killed after step 5 (checkpoints at 2 and 4)."""

    root: Path
    recipe: Path
    prep: Prepared
    final: dict[str, np.ndarray]
    metrics: bytes
    files: dict[str, bytes]  # checkpoint name -> bytes, as the uninterrupted run wrote them
    layout: Layout

    def killed(self, folder: Path, newest: bytes | None = None, *, older: bool = True) -> Path:
        """A run folder as a kill after step 5 leaves it, the newest checkpoint replaced by `newest`."""
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "checkpoints").mkdir(parents=True)
        if older:
            (folder / "checkpoints" / OLDER).write_bytes(self.files[OLDER])
        (folder / "checkpoints" / NEWEST).write_bytes(self.files[NEWEST] if newest is None else newest)
        lines = self.metrics.splitlines(keepends=True)
        (folder / "metrics.jsonl").write_bytes(b"".join(lines[:5]) + b'{"step": 6, "ep')  # a torn last line
        return folder

    def resume(self, folder: Path) -> tuple[int, dict[str, np.ndarray] | str]:
        """Resume in-process on a fresh session: (0, final parameters) or (exit code, message)."""
        _, session = build_session(self.prep, "reference")
        try:
            train(self.prep, session, out=folder, resume=True)
        except RunError as exc:
            return exc.exit_code, str(exc)
        return 0, session.get_parameters()

    def assert_uninterrupted(self, folder: Path, got: dict[str, np.ndarray], what: str) -> None:
        for k, v in self.final.items():
            assert np.array_equal(got[k], v), f"{what}: `{k}` is {got[k].ravel()}, uninterrupted {v.ravel()}"
        assert (folder / "metrics.jsonl").read_bytes() == self.metrics, f"{what}: metrics.jsonl differs"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("ckpt")
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    prep = prepare_run(recipe)
    _, session = build_session(prep, "reference")
    full = root / "full"
    train(prep, session, out=full)
    files = {p.name: p.read_bytes() for p in (full / "checkpoints").iterdir()}
    assert sorted(files) == [OLDER, NEWEST, "step-00000006.npz"]
    return World(root, recipe, prep, session.get_parameters(), (full / "metrics.jsonl").read_bytes(), files,
                 Layout.of(session))


@pytest.fixture
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of resumes: durability is not what these tests are about (atomic.py's tests are)."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def _same_checkpoint(got: ckpt.Checkpoint, want: ckpt.Checkpoint, what: str) -> None:
    assert got.step == want.step and got.optimizer_step == want.optimizer_step, what
    assert got.history_text == want.history_text, f"{what}: history differs"
    assert got.params.keys() == want.params.keys() and got.state.keys() == want.state.keys(), what
    for k in want.params:
        assert np.array_equal(got.params[k], want.params[k]), f"{what}: `{k}` differs"
    for p, s in want.state.items():
        assert s.keys() == got.state[p].keys(), f"{what}: states of {p}: {sorted(got.state[p])} vs {sorted(s)}"
        for n in s:
            assert np.array_equal(got.state[p][n], s[n]), f"{what}: state {p}/{n} differs"


def _point(world: World, folder: Path, newest: bytes) -> tuple[ckpt.Checkpoint, list[str]]:
    """The resume path's choice for a folder whose newest checkpoint holds `newest` (checkpoints only)."""
    cdir = folder / "checkpoints"
    for extra in cdir.iterdir():
        if extra.name != OLDER:
            extra.unlink()  # a new file, not a truncated one: ext4 flushes on close after a truncation (4 ms)
    if not (cdir / OLDER).exists():
        (cdir / OLDER).write_bytes(world.files[OLDER])
    (cdir / NEWEST).write_bytes(newest)
    warnings: list[str] = []
    got = resume_point(cdir, recipe_hash=world.prep.recipe_hash, total_steps=world.prep.total_steps,
                       layout=world.layout, warn=warnings.append)
    assert got is not None
    return got, warnings


def _check_choice(world: World, got: ckpt.Checkpoint, warnings: list[str], originals: dict[int, ckpt.Checkpoint],
                  what: str) -> bool:
    """The resume used the damaged checkpoint only if it verified as the original; else it fell back and said
    so in one line naming the file. True when it fell back."""
    _same_checkpoint(got, originals[got.step], what)
    if got.step == 4:
        assert warnings == [], f"{what}: verified, yet warned {warnings}"
        return False
    assert len(warnings) == 1 and NEWEST in warnings[0] and "unreadable" in warnings[0], f"{what}: {warnings}"
    assert "\n" not in warnings[0] and "Traceback" not in warnings[0], f"{what}: {warnings[0]!r}"
    return True


@pytest.fixture(scope="module")
def originals(world: World) -> dict[int, ckpt.Checkpoint]:
    out = {}
    for name in (OLDER, NEWEST):
        path = world.root / name
        path.write_bytes(world.files[name])
        out[ckpt.step_of(path)] = read_checkpoint(path, world.layout, world.prep.recipe_hash)  # type: ignore[index]
    return out


# ------------------------------------------------------------------------------------------- exhaustive
@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_every_byte_flip_verifies_as_the_original_or_falls_back(world: World, originals, mask: int,
                                                               tmp_path: Path) -> None:
    folder = world.killed(tmp_path / "run")
    data = world.files[NEWEST]
    fell_back = 0
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= mask
        got, warnings = _point(world, folder, bytes(damaged))
        fell_back += _check_choice(world, got, warnings, originals, f"byte {i} ^ {mask:#04x}")
    # Only bytes no check covers may verify (zip timestamps, attributes, extra fields: about 12% of this
    # file): every array, name and header byte is hashed or compared. A flip that verified loaded the
    # original bits (asserted above).
    assert fell_back > 0.8 * len(data), f"only {fell_back} of {len(data)} flips were caught"


def test_truncation_at_every_length_falls_back(world: World, originals, tmp_path: Path) -> None:
    folder = world.killed(tmp_path / "run")
    data = world.files[NEWEST]
    for n in range(len(data)):
        got, warnings = _point(world, folder, data[:n])
        assert _check_choice(world, got, warnings, originals, f"truncated to {n} bytes"), f"{n} bytes verified"


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1, max_size=8))
def test_random_multi_byte_damage_never_loads_different_bits(world: World, originals, tmp_path_factory,
                                                             damage: list[tuple[int, int]]) -> None:
    folder = world.killed(tmp_path_factory.mktemp("multi") / "run")
    data = bytearray(world.files[NEWEST])
    for pos, mask in damage:
        data[pos % len(data)] ^= mask
    got, warnings = _point(world, folder, bytes(data))
    _check_choice(world, got, warnings, originals, f"damage {damage}")


def _flip_positions(n: int, stride: int) -> list[int]:
    return list(range(0, n, stride))


@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_flipped_checkpoints_resume_to_the_uninterrupted_bits(world: World, mask: int, tmp_path: Path,
                                                              no_fsync, capsys) -> None:
    """The whole resume (train(..., resume=True)) on a spread of flips: final parameters and metrics.jsonl
    are the uninterrupted run's, byte for byte. Every byte: test_every_flip_resumes_... (slow)."""
    _resume_flips(world, tmp_path, mask, _flip_positions(len(world.files[NEWEST]), 17), capsys)


@pytest.mark.slow  # ~15 ms a resume: a minute under load; the resume path's choice is checked for every byte above
@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_every_flip_resumes_to_the_uninterrupted_bits(world: World, mask: int, tmp_path: Path, no_fsync,
                                                      capsys) -> None:
    _resume_flips(world, tmp_path, mask, list(range(len(world.files[NEWEST]))), capsys)


def _resume_flips(world: World, tmp_path: Path, mask: int, positions: list[int], capsys) -> None:
    data = world.files[NEWEST]
    for i in positions:
        damaged = bytearray(data)
        damaged[i] ^= mask
        folder = world.killed(tmp_path / "run", bytes(damaged))
        code, got = world.resume(folder)
        assert code == 0, f"byte {i} ^ {mask:#04x}: exit {code} ({got}) although step 2 is intact"
        assert isinstance(got, dict)
        world.assert_uninterrupted(folder, got, f"byte {i} ^ {mask:#04x}")
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.splitlines()) <= 1, f"byte {i}: {err}"


# ------------------------------------------------------------------------------- what is named like one
def test_a_lone_damaged_checkpoint_is_exit_2_naming_it(world: World, tmp_path: Path, no_fsync, capsys) -> None:
    data = world.files[NEWEST]
    for i in _flip_positions(len(data), 97):
        damaged = bytearray(data)
        damaged[i] ^= 0x01
        folder = world.killed(tmp_path / "run", bytes(damaged), older=False)
        code, got = world.resume(folder)
        err = capsys.readouterr().err
        if code == 0:  # a byte no check covers (a zip timestamp): the original bits
            assert isinstance(got, dict)
            world.assert_uninterrupted(folder, got, f"lone checkpoint, byte {i}")
            continue
        assert code == 2 and "no intact checkpoint" in str(got), f"byte {i}: exit {code}: {got}"
        assert f"{NEWEST}: unreadable checkpoint skipped" in err, err
        assert (folder / "checkpoints" / NEWEST).is_file(), "a failed resume must leave the checkpoint in place"


def _prepare_newest(folder: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = folder / "checkpoints" / NEWEST
    original = path.read_bytes()
    path.unlink()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "dangling link":
        path.symlink_to(folder / "nowhere")
    elif kind == "link to an intact copy":  # the run's own newest, moved out and linked to: followed before
        (folder.parent / "elsewhere.npz").write_bytes(original)
        path.symlink_to(folder.parent / "elsewhere.npz")
    elif kind == "unreadable":
        path.write_bytes(b"PK")
        path.chmod(0)
        if os.geteuid() == 0:  # root reads anything: make the open fail as it would for a user
            real = os.open

            def denied(p, *args, **kwargs):
                if Path(p) == path:
                    raise PermissionError(13, "Permission denied")
                return real(p, *args, **kwargs)

            monkeypatch.setattr(os, "open", denied)
    elif kind == "huge":
        with open(path, "wb") as fh:  # sparse: a size no checkpoint of this session can have
            fh.truncate(1 << 40)
    else:
        raise AssertionError(kind)


KINDS = ["empty", "folder", "fifo", "device", "dangling link", "link to an intact copy", "unreadable", "huge"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_newest_that_is_not_a_checkpoint_falls_back(world: World, kind: str, tmp_path: Path, no_fsync, no_hang,
                                                      monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    folder = world.killed(tmp_path / "run")
    _prepare_newest(folder, kind, monkeypatch)
    code, got = world.resume(folder)
    err = capsys.readouterr().err
    assert code == 0 and isinstance(got, dict), f"{kind}: exit {code}: {got}"
    world.assert_uninterrupted(folder, got, kind)
    assert f"{NEWEST}: unreadable checkpoint skipped" in err and len(err.splitlines()) == 1, f"{kind}: {err}"
    aside = folder / "checkpoints" / (NEWEST + ".unreadable")
    assert aside.exists() or aside.is_symlink(), f"{kind}: the damaged one is not kept aside"
    if kind == "link to an intact copy":  # safe by default: not followed, said why; the file it names is untouched
        assert "is a symbolic link, not followed" in err, err
        assert (tmp_path / "elsewhere.npz").is_file()


@pytest.mark.parametrize("kind", KINDS)
def test_a_lone_non_checkpoint_is_exit_2(world: World, kind: str, tmp_path: Path, no_hang,
                                         monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    folder = world.killed(tmp_path / "run", older=False)
    _prepare_newest(folder, kind, monkeypatch)
    code, got = world.resume(folder)
    err = capsys.readouterr().err
    assert code == 2 and "no intact checkpoint" in str(got) and NEWEST in err, f"{kind}: exit {code}: {got} {err}"


def test_the_cli_says_which_checkpoint_and_why(world: World, tmp_path: Path, capsys) -> None:
    damaged = bytearray(world.files[NEWEST])
    damaged[len(damaged) // 3] ^= 0x01
    folder = world.killed(tmp_path / "run", bytes(damaged))
    assert main(["run", str(world.recipe), "--out", str(folder), "--resume", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert f"lockstep run: {folder / 'checkpoints' / NEWEST}: unreadable checkpoint skipped: it " in captured.err
    assert "resumed at step 2" in captured.out and (folder / "metrics.jsonl").read_bytes() == world.metrics
    folder = world.killed(tmp_path / "lone", bytes(damaged), older=False)
    assert main(["run", str(world.recipe), "--out", str(folder), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no intact checkpoint to resume from" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- crafted, consistent zips
def _rezip(data: bytes, change) -> bytes:
    """The checkpoint rewritten as a well-formed zip (CRCs right) after `change(entries)`: what a damaged
    name or a forged header looks like when the zip layer cannot notice."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        entries = {i.filename: z.read(i) for i in z.infolist()}
    change(entries)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, raw in entries.items():
            z.writestr(name, raw)
    return buf.getvalue()


def _renamed(old: str, new: str):
    def change(entries: dict[str, bytes]) -> None:
        entries[new] = entries.pop(old)
    return change


@pytest.mark.parametrize(("old", "new"), [
    ("opt/dense_0.weight/exp_avg.npy", "opt/dense_0.weight/exp_avh.npy"),  # was: that state silently reset
    ("history.npy", "historz.npy"),  # was: metrics.jsonl rewritten with part of its lines
    ("param/dense_0.weight.npy", "param/dense_0.weigh.npy"),
    ("meta.npy", "meta.npz"),
])
def test_a_damaged_entry_name_is_unreadable(world: World, originals, old: str, new: str, tmp_path: Path) -> None:
    damaged = _rezip(world.files[NEWEST], _renamed(old, new))
    got, warnings = _point(world, world.killed(tmp_path / "run"), damaged)
    assert _check_choice(world, got, warnings, originals, f"{old} renamed {new}")
    assert "entries" in warnings[0] or "meta" in warnings[0], warnings[0]


def _npy(shape: tuple[int, ...], payload: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def _forged_meta(world: World, name: str, entry: dict) -> bytes:
    """The newest checkpoint's `meta.npy` with `name`'s metadata entry replaced and the digest recomputed."""
    meta_raw = np.lib.format.read_array(io.BytesIO(zipfile.ZipFile(io.BytesIO(world.files[NEWEST])).read("meta.npy")))
    doc = json.loads(meta_raw.tobytes())
    doc["checkpoint"]["params"][name] = entry
    doc["sha256"] = ckpt._meta_digest(doc["checkpoint"])
    out = io.BytesIO()
    np.lib.format.write_array(out, np.frombuffer(ckpt._canonical(doc), dtype=np.uint8))
    return out.getvalue()


@pytest.mark.parametrize("meta_too", [False, True], ids=["header only", "header and rehashed metadata"])
def test_a_header_claiming_a_trillion_elements_allocates_nothing(world: World, tmp_path: Path, meta_too: bool) -> None:
    trillion = {"dtype": "<f8", "shape": [10**6, 10**6], "sha256": "0" * 64}

    def forged(entries: dict[str, bytes]) -> None:
        entries["param/dense_0.weight.npy"] = _npy((10**6, 10**6), b"\0" * 16)
        if meta_too:
            entries["meta.npy"] = _forged_meta(world, "dense_0.weight", trillion)
    path = tmp_path / NEWEST
    path.write_bytes(_rezip(world.files[NEWEST], forged))
    tracemalloc.start()
    try:
        for layout in (world.layout, None):  # against the session, and alone (load_checkpoint)
            with pytest.raises(CheckpointError, match="weight"):
                read_checkpoint(path, layout)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20, f"reading the forged checkpoint allocated {peak} bytes"


def test_consistent_metadata_for_the_wrong_shapes_is_refused(world: World, tmp_path: Path) -> None:
    """A checkpoint whose hashes all agree (rewritten by hand, or another model) but whose entries are not the
    session's: refused by the comparison with the live session, not just by the hashes."""
    big = np.zeros((3, 1))

    def change(entries: dict[str, bytes]) -> None:
        out = io.BytesIO()
        np.lib.format.write_array(out, big)
        entries["param/dense_0.weight.npy"] = out.getvalue()
        entries["meta.npy"] = _forged_meta(world, "dense_0.weight", ckpt._entry(big))
    path = tmp_path / NEWEST
    path.write_bytes(_rezip(world.files[NEWEST], change))
    assert read_checkpoint(path).params["dense_0.weight"].shape == (3, 1)  # intact as a file
    with pytest.raises(CheckpointError, match=r"dense_0.weight.*\[3, 1\].*\[2, 1\]"):
        read_checkpoint(path, world.layout)


def test_format_1_checkpoints_are_refused_by_name(world: World, tmp_path: Path, capsys) -> None:
    """The format before hashes: refused (not verified as well as possible), with a message that says why."""
    ck = read_checkpoint(_write(tmp_path / NEWEST, world.files[NEWEST]))
    arrays = {f"param/{k}": v for k, v in ck.params.items()}
    arrays.update({f"opt/{p}/{n}": a for p, s in ck.state.items() for n, a in s.items()})
    meta = {"format": 1, "step": 4, "optimizer_step": 4, "recipe_hash": world.prep.recipe_hash,
            "backend": "reference", "dtype": "float64"}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays["history"] = np.frombuffer(ck.history_text.encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    folder = world.killed(tmp_path / "run", buf.getvalue(), older=False)
    code, got = world.resume(folder)
    err = capsys.readouterr().err
    assert code == 2 and "format 1" in err and "cannot be verified" in err, (code, got, err)


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# ------------------------------------------------------------------------------------------ the rest
def test_another_recipes_intact_checkpoint_is_refused_but_a_damaged_one_is_just_unreadable(
        world: World, tmp_path: Path, capsys) -> None:
    other = prepare_run(_write(tmp_path / "other.yaml", RECIPE.replace("learning_rate: 0.1", "learning_rate: 0.2")))
    _, session = build_session(other, "reference")
    folder = world.killed(tmp_path / "run")
    with pytest.raises(RunError, match="from a different recipe") as info:
        train(other, session, out=folder, resume=True)
    assert info.value.exit_code == 2
    meta_at = world.files[NEWEST].rindex(world.prep.recipe_hash[:16].encode())
    damaged = bytearray(world.files[NEWEST])
    damaged[meta_at] ^= 0x01  # the recipe hash itself damaged: not "another recipe", an unreadable checkpoint
    folder = world.killed(tmp_path / "run2", bytes(damaged))
    code, got = world.resume(folder)
    assert code == 0 and isinstance(got, dict)
    world.assert_uninterrupted(folder, got, "damaged recipe hash")
    err = capsys.readouterr().err
    assert "unreadable checkpoint skipped" in err and "different recipe" not in err, err


def test_a_checkpoint_renamed_to_another_step_is_unreadable(world: World, originals, tmp_path: Path) -> None:
    folder = world.killed(tmp_path / "run")
    (folder / "checkpoints" / NEWEST).unlink()
    (folder / "checkpoints" / "step-00000005.npz").write_bytes(world.files[NEWEST])
    warnings: list[str] = []
    got = resume_point(folder / "checkpoints", recipe_hash=world.prep.recipe_hash, total_steps=6,
                       layout=world.layout, warn=warnings.append)
    assert got is not None and got.step == 2 and "says step 4, its name step 5" in warnings[0], warnings


def test_names_that_are_not_canonical_are_not_checkpoints(tmp_path: Path) -> None:
    for name in ("step-4.npz", "step-000000004.npz", "step-0000000x.npz", "step-00000004.npz.unreadable",
                 "step-00000004.npy"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "step-00000010.npz").write_bytes(b"")
    (tmp_path / "step-00000009.npz").write_bytes(b"")
    assert [p.name for p in ckpt.checkpoints(tmp_path)] == ["step-00000009.npz", "step-00000010.npz"]


def test_a_resume_names_the_checkpoint_look_alikes_it_does_not_read(world: World, tmp_path: Path) -> None:
    """A copy renamed `step-000000004.npz` (or `step-4.npz`) was passed over without a word: the run resumed from
    an older step and the user never learned why."""
    folder = world.killed(tmp_path / "run")
    cdir = folder / "checkpoints"
    (cdir / NEWEST).rename(cdir / "step-000000004.npz")
    (cdir / "step-2.npz").write_bytes(world.files[OLDER])
    warnings: list[str] = []
    got = resume_point(cdir, recipe_hash=world.prep.recipe_hash, total_steps=6, layout=world.layout,
                       warn=warnings.append)
    assert got is not None and got.step == 2, got
    said = "\n".join(warnings)
    assert "step-000000004.npz: not read" in said and "rename it step-00000004.npz" in said, said
    assert "step-2.npz: not read" in said and f"{OLDER} is there too" in said, said


def test_rotation_keeps_the_newest_and_leaves_what_it_did_not_write(world: World, tmp_path: Path) -> None:
    cdir = tmp_path / "checkpoints"
    cdir.mkdir()
    (cdir / "step-00000001.npz").mkdir()  # named like one, not ours to delete
    _, session = build_session(world.prep, "reference")
    session.set_parameters(world.prep.initial)
    for step in (2, 4, 6, 8):
        ckpt.save_checkpoint(cdir, step, session, world.prep, 2, history="".join(
            json.dumps({"step": s, "epoch": 0, "loss": 1.0, "lr": 0.1}) + "\n" for s in range(1, step + 1)))
    assert sorted(p.name for p in cdir.iterdir()) == ["step-00000001.npz", "step-00000006.npz", "step-00000008.npz"]
    assert read_checkpoint(cdir / "step-00000008.npz", Layout.of(session)).step == 8


def test_a_checkpoint_past_the_run_is_refused(world: World, tmp_path: Path) -> None:
    folder = world.killed(tmp_path / "run")
    short = prepare_run(world.recipe, steps=3)
    _, session = build_session(short, "reference")
    with pytest.raises(RunError, match="past this run's 3 steps"):
        train(short, session, out=folder, resume=True)


def test_an_unlistable_checkpoint_folder_is_exit_2(world: World, tmp_path: Path, monkeypatch) -> None:
    folder = world.killed(tmp_path / "run")
    cdir = folder / "checkpoints"
    real = Path.iterdir

    def denied(self):
        if self == cdir:
            raise PermissionError(13, "Permission denied")
        return real(self)
    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(RunError, match="cannot list the checkpoints") as info:
        _, session = build_session(world.prep, "reference")
        train(world.prep, session, out=folder, resume=True)
    assert info.value.exit_code == 2


def test_load_checkpoint_keeps_its_shape_for_tools(world: World, tmp_path: Path) -> None:
    meta, params, state = ckpt.load_checkpoint(_write(tmp_path / NEWEST, world.files[NEWEST]))
    assert meta["step"] == 4 and meta["format"] == ckpt.FORMAT and [h["step"] for h in meta["history"]] == [1, 2, 3, 4]
    assert set(params) == {"dense_0.weight"} and set(state["dense_0.weight"]) >= {"exp_avg", "exp_avg_sq"}


def _forged_history(world: World, records: list[str]) -> bytes:
    """The newest checkpoint with its history replaced by `records` and every hash recomputed: what only a
    deliberate rewrite makes."""
    text = np.frombuffer("".join(records).encode(), dtype=np.uint8)

    def change(entries: dict[str, bytes]) -> None:
        out = io.BytesIO()
        np.lib.format.write_array(out, text)
        entries["history.npy"] = out.getvalue()
        meta_raw = np.lib.format.read_array(io.BytesIO(entries["meta.npy"]))
        doc = json.loads(meta_raw.tobytes())
        doc["checkpoint"]["history"] = ckpt._entry(text)
        doc["sha256"] = ckpt._meta_digest(doc["checkpoint"])
        meta = io.BytesIO()
        np.lib.format.write_array(meta, np.frombuffer(ckpt._canonical(doc), dtype=np.uint8))
        entries["meta.npy"] = meta.getvalue()
    return _rezip(world.files[NEWEST], change)


@pytest.mark.parametrize(("last", "problem"), [
    ({"step": 4}, "has no numeric `loss`"),  # was: KeyError 'loss' in the runner
    ({"step": 4, "epoch": 1, "loss": "abc", "lr": 0.1}, "has no numeric `loss`"),  # was: TypeError in the plot
    ({"step": 4, "epoch": 1, "loss": 1.0, "lr": True}, "has no numeric `lr`"),
    ({"step": 4, "epoch": "1", "loss": 1.0, "lr": 0.1}, "has no integer `epoch`"),
    ({"step": 4, "epoch": 1, "loss": 1.0, "lr": 0.1, "eval": {"loss": None}}, "has an `eval` that is not"),
])
def test_a_rehashed_history_with_malformed_records_is_unreadable(world: World, originals, tmp_path: Path,
                                                                 last: dict, problem: str) -> None:
    lines = [*world.metrics.decode().splitlines(keepends=True)[:3], json.dumps(last) + "\n"]
    forged = _forged_history(world, lines)
    with pytest.raises(CheckpointError, match=f"history record 4 {problem}"):
        read_checkpoint(_write(tmp_path / NEWEST, forged))
    got, warnings = _point(world, world.killed(tmp_path / "run"), forged)
    assert _check_choice(world, got, warnings, originals, f"history {last}")


def test_a_resume_after_a_steps_cap_is_bitwise_the_uninterrupted_run(world: World, tmp_path: Path) -> None:
    """`--steps 3` evaluates where it stops; that evaluation went into step 3's checkpoint, so a resumed run's
    metrics.jsonl held an evaluation the uninterrupted run's does not (evaluation every 2 steps here)."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.replace("training: {steps: 6}", "training: {steps: 6}\nevaluation: {every: 2}")
                      .replace("checkpoint: {every: 2, keep: 3}", "checkpoint: {every: 1, keep: 10}"))
    runs = {}
    for name, args in (("whole", []), ("capped", ["--steps", "3"])):
        runs[name] = tmp_path / name
        assert main(["run", str(recipe), "--out", str(runs[name]), "--quiet", *args]) == 0
    capped = [json.loads(line) for line in (runs["capped"] / "metrics.jsonl").read_text().splitlines()]
    assert "eval" in capped[-1] and capped[-1]["step"] == 3  # the capped run still shows where it stopped
    assert main(["run", str(recipe), "--out", str(runs["capped"]), "--quiet", "--resume"]) == 0
    assert (runs["capped"] / "metrics.jsonl").read_bytes() == (runs["whole"] / "metrics.jsonl").read_bytes()
    for name in ("step-00000006.npz", "step-00000004.npz"):
        assert (runs["capped"] / "checkpoints" / name).read_bytes() == \
            (runs["whole"] / "checkpoints" / name).read_bytes(), name


def test_a_resume_with_the_same_cap_at_its_last_checkpoint_is_the_capped_run(world: World, tmp_path: Path) -> None:
    """A `--steps 3` run killed after its step-3 checkpoint, before its report: resumed with the same `--steps 3`,
    the stop's evaluation was removed as a cap's, and the step-2 evaluation was reported as the final one (report.json
    `final_metrics`, the summary line, metrics.jsonl and loss.svg all differed from the uninterrupted run's)."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.replace("training: {steps: 6}", "training: {steps: 6}\nevaluation: {every: 2}")
                      .replace("checkpoint: {every: 2, keep: 3}", "checkpoint: {every: 1, keep: 10}"))
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(["run", str(recipe), "--out", str(whole), "--quiet", "--steps", "3"]) == 0
    shutil.copytree(whole, killed)
    (killed / "report.json").unlink()
    (killed / "loss.svg").unlink()
    assert main(["run", str(recipe), "--out", str(killed), "--quiet", "--steps", "3", "--resume"]) == 0
    for name in ("metrics.jsonl", "loss.svg"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name
    final = [json.loads((folder / "report.json").read_text())["final_metrics"] for folder in (whole, killed)]
    assert final[0] == final[1], final


def test_a_resume_after_a_steps_cap_keeps_the_uninterrupted_runs_checkpoints(tmp_path: Path) -> None:
    """`--steps 3` writes a checkpoint where it stops, off the recipe's every-2 schedule; the run resumed from it
    kept step-3 beside steps 2, 4 and 6 (and, under `keep`, in place of an older scheduled one)."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.replace("checkpoint: {every: 2, keep: 3}", "checkpoint: {every: 2, keep: 10}"))
    whole, capped = tmp_path / "whole", tmp_path / "capped"
    assert main(["run", str(recipe), "--out", str(whole), "--quiet"]) == 0
    assert main(["run", str(recipe), "--out", str(capped), "--quiet", "--steps", "3"]) == 0
    assert sorted(p.name for p in (capped / "checkpoints").iterdir()) == ["step-00000002.npz", "step-00000003.npz"]
    assert main(["run", str(recipe), "--out", str(capped), "--quiet", "--steps", "5", "--resume"]) == 0
    assert sorted(p.name for p in (capped / "checkpoints").iterdir()) == \
        ["step-00000002.npz", "step-00000004.npz", "step-00000005.npz"], "a cap's own stop stays until the next"
    assert main(["run", str(recipe), "--out", str(capped), "--quiet", "--resume"]) == 0
    names = sorted(p.name for p in (whole / "checkpoints").iterdir())
    assert sorted(p.name for p in (capped / "checkpoints").iterdir()) == names == \
        ["step-00000002.npz", "step-00000004.npz", "step-00000006.npz"]
    for name in names:
        assert (capped / "checkpoints" / name).read_bytes() == (whole / "checkpoints" / name).read_bytes(), name


def test_a_resume_refuses_a_data_file_changed_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A changed data file resumed silently: one run, two datasets (the recipe hash covers recipe and model)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(8, 2)), y=rng.normal(size=(8, 1)))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.replace("source: {type: synthetic_regression, num_samples: 8, shape: [2]}",
                                     "source: {type: npz, path: d.npz}"))
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--steps", "4"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert len(report["data_sha256"]) == 64
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(8, 2)), y=rng.normal(size=(8, 1)))
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "step-00000004.npz: the run's data file d.npz changed since step 4 was trained" in err, err
    assert "mix two datasets" in err and "Traceback" not in err, err


def test_a_refused_resume_keeps_the_runs_recipe_resolved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Fix helper (2026-12-07): a --resume refused for its checkpoint (here: another recipe's, a `--set` away) had
    already replaced recipe.resolved.yaml with the refused recipe, which `lockstep deploy RUN` then reads when the
    run's own recipe has changed: the folder must keep the recipe its checkpoints were trained with."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--steps", "4"]) == 0
    before = (out / "recipe.resolved.yaml").read_bytes()
    assert main(["run", str(recipe), "--out", str(out), "--quiet", "--resume",
                 "--set", "optimizer.learning_rate=0.5"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert (out / "recipe.resolved.yaml").read_bytes() == before


def _rewritten_meta(world: World, change) -> bytes:
    """The newest checkpoint with `change(body)` applied to its metadata and the digest recomputed."""
    def entries_change(entries: dict[str, bytes]) -> None:
        doc = json.loads(np.lib.format.read_array(io.BytesIO(entries["meta.npy"])).tobytes())
        change(doc["checkpoint"])
        doc["sha256"] = ckpt._meta_digest(doc["checkpoint"])
        meta = io.BytesIO()
        np.lib.format.write_array(meta, np.frombuffer(ckpt._canonical(doc), dtype=np.uint8))
        entries["meta.npy"] = meta.getvalue()
    return _rezip(world.files[NEWEST], entries_change)


def test_trained_by_is_carried_and_a_checkpoint_written_before_it_still_reads(world: World, tmp_path: Path) -> None:
    """Every checkpoint lists the backends (and replica counts) that trained the run, so that a second resume on
    one backend still says another trained the first steps (sweep R, F5); one written before the list was kept
    reads as trained by the backend that wrote it, and a forged list is refused as unreadable."""
    assert read_checkpoint(_write(tmp_path / NEWEST, world.files[NEWEST])).trained_by == [
        {"backend": "", "replicas": 1}]
    old = _rewritten_meta(world, lambda body: (body.pop("trained_by"), body.update(backend="torch")))
    (tmp_path / "old").mkdir()
    (tmp_path / "bad").mkdir()
    point = read_checkpoint(_write(tmp_path / "old" / NEWEST, old))
    assert point.trained_by == [{"backend": "torch", "replicas": 1}]
    assert ckpt.trained_by(point, "reference", {"replicas": 2}) == [{"backend": "torch", "replicas": 1},
                                                                     {"backend": "reference", "replicas": 2}]
    assert ckpt.trained_by(point, "torch", None) == [{"backend": "torch", "replicas": 1}]
    for bad in ([], [{"backend": "torch"}], [{"backend": "torch", "replicas": 0}], "torch"):
        forged = _rewritten_meta(world, lambda body, bad=bad: body.update(trained_by=bad))
        with pytest.raises(CheckpointError, match="invalid `trained_by`"):
            read_checkpoint(_write(tmp_path / "bad" / NEWEST, forged))
