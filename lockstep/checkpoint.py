"""Checkpoints: written atomically, verified before use, never a silent wrong resume.

A checkpoint is `checkpoints/step-XXXXXXXX.npz`, a NumPy `.npz` (a stored, uncompressed zip of `.npy`
arrays) holding every parameter and buffer (`param/<name>`), every optimizer state of every parameter
(`opt/<param>/<state>`), the metrics so far (`history`: metrics.jsonl up to the step, UTF-8) and `meta`,
a JSON document that lists every entry with its dtype, shape and SHA-256, and carries its own SHA-256
(format 2, docs/internals.md "Checkpoints").

Reading trusts nothing in the file: the file must be a regular file of bounded size (a FIFO must not hang
the run), the zip's members are read whole (the zip's CRC-32 is checked), every `.npy` header is parsed
and checked against the verified metadata and the member's length before an array is allocated (a
header claiming 10¹² elements allocates nothing), arrays are read without pickle, every hash is checked,
and the entries, shapes and dtypes must be exactly those the live session reports. Any failure makes the
checkpoint unreadable: resuming names it on stderr and falls back to the newest intact one.

Format 1 (no hashes; Lockstep before this module) is refused rather than verified as well as possible:
its one-bit flips in `.npy` headers loaded silently wrong weights, and the zip CRC-32, its only check,
is not read by NumPy for partial reads. A run resumed from one restarts instead (exit 2 says how).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lockstep.errors import spelled, switch
from lockstep.runfolder import said
from lockstep.spec import atomic
from lockstep.spec.files import NotRegularFileError, open_regular

if TYPE_CHECKING:
    from lockstep.adapters.base import Session
    from lockstep.runner import Prepared

FORMAT = 2
NAME = re.compile(r"step-(\d{8,})\.npz")
ARRAY_DTYPE = np.dtype("<f8")  # parameters, buffers and optimizer state: canonical float64, little-endian
TEXT_DTYPE = np.dtype("|u1")  # meta and history: UTF-8 bytes
HISTORY_BYTES_PER_STEP = 4096  # a metrics record is ~100-300 bytes; the cap only bounds what is read
SLACK_BYTES = 1 << 20  # zip and .npy headers, meta
MAX_NPY_HEADER = 10_000  # NumPy's own default cap for a header's length


class CheckpointError(Exception):
    """The checkpoint cannot be read or does not verify; the message says why, in one line, as the end of a
    sentence about the file: a verb ("is not an intact zip") or "its ..." (`reason` makes it a sentence)."""

    @property
    def reason(self) -> str:
        """'it is ...' or 'its metadata ...': callers write "<file>: ...: {reason}", never "it its"."""
        text = str(self)
        return text if text.startswith("its ") else f"it {text}"


class ForeignCheckpoint(Exception):
    """An intact checkpoint of another recipe: resuming refuses (it is not corruption)."""


class ResumeRefused(Exception):
    """No usable checkpoint: the run must not start (exit 2); the message says why and what to do."""


@dataclass(frozen=True)
class Layout:
    """What the live session holds: parameter/buffer shapes and each parameter's optimizer-state shapes."""

    params: dict[str, tuple[int, ...]]
    state: dict[str, dict[str, tuple[int, ...]]]

    @classmethod
    def of(cls, session: Session) -> Layout:
        _, state = session.get_optimizer_state()
        return cls({k: tuple(np.shape(v)) for k, v in session.get_parameters().items()},
                   {p: {n: tuple(np.shape(a)) for n, a in s.items()} for p, s in state.items()})

    def nbytes(self) -> int:
        sizes = [*self.params.values(), *(sh for s in self.state.values() for sh in s.values())]
        return sum(math.prod(s) for s in sizes) * ARRAY_DTYPE.itemsize


@dataclass
class Checkpoint:
    """A verified checkpoint."""

    path: Path
    step: int
    optimizer_step: int
    recipe_hash: str
    backend: str
    dtype: str
    params: dict[str, np.ndarray]
    state: dict[str, dict[str, np.ndarray]]
    history_text: str  # metrics.jsonl up to `step`, byte for byte
    distribution: dict[str, Any] | None = None  # the replicas that wrote it (a data-parallel run), else None
    data_hash: str | None = None  # SHA-256 of the recipe's data file when it was written (None: generated data)
    trained_by: list[dict[str, Any]] = field(default_factory=list)  # every {backend, replicas} up to `step`

    @property
    def history_lines(self) -> list[str]:
        """The metrics.jsonl lines up to `step`, each with its newline."""
        return _lines(self.history_text)

    @property
    def history(self) -> list[dict[str, Any]]:
        return [atomic.read_json_line(line) for line in self.history_lines]


def trained_by(point: Checkpoint | None, backend: str, distribution: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every backend (and replica count) that trained a run, in the order they first did: the resumed
    checkpoint's, then this session's. Each checkpoint carries it, so a second resume on one backend still says
    that another trained the steps before (report.json's `trained_by`); it was lost after one resume."""
    lineage = list(point.trained_by) if point is not None else []
    now = _trainer(backend, distribution)
    return lineage + ([now] if now not in lineage else [])


def _trainer(backend: str, distribution: dict[str, Any] | None) -> dict[str, Any]:
    replicas = distribution.get("replicas") if isinstance(distribution, dict) else None
    return {"backend": backend, "replicas": replicas if type(replicas) is int and replicas >= 1 else 1}


def _trained_by(body: dict[str, Any], distribution: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The metadata's `trained_by`, checked; a checkpoint written before it was recorded: the one that wrote it."""
    found = body.get("trained_by")
    if found is None:
        return [_trainer(body["backend"], distribution)]
    if not isinstance(found, list) or not found or not all(
            isinstance(e, dict) and set(e) == {"backend", "replicas"} and isinstance(e["backend"], str)
            and type(e["replicas"]) is int and e["replicas"] >= 1 for e in found):
        raise CheckpointError("its metadata has an invalid `trained_by`")
    return [dict(e) for e in found]


def _lines(text: str) -> list[str]:
    """Split on "\n" only (str.splitlines would also split inside a record at \r, \x1c or \u2028)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


# ----------------------------------------------------------------------------------------------- names
def step_of(path: Path) -> int | None:
    """The step a checkpoint's file name says, or None for a name that is not a checkpoint's."""
    m = NAME.fullmatch(path.name)
    return int(m.group(1)) if m and path.name == f"step-{int(m.group(1)):08d}.npz" else None


def checkpoints(folder: Path) -> list[Path]:
    """Everything in `folder` named like a checkpoint (files or not: reading decides), oldest step first."""
    if not folder.is_dir():
        return []
    found = [(s, p) for p in folder.iterdir() if (s := step_of(p)) is not None]
    return [p for _, p in sorted(found)]


def misnamed(folder: Path) -> list[Path]:
    """Files in `folder` that look like checkpoints but are not named as lockstep names them
    (`step-000000200.npz`, `step-200.npz`): a resume does not read them, so it says so."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.name.startswith("step-") and p.name.endswith(".npz") and step_of(p) is None)


def canonical_name(path: Path) -> str | None:
    """The name lockstep would give the checkpoint `path`'s digits say (None: no digits to go by)."""
    m = re.fullmatch(r"step-(\d+)\.npz", path.name)
    return f"step-{int(m.group(1)):08d}.npz" if m else None


# ----------------------------------------------------------------------------------------------- hashes
def array_digest(a: np.ndarray) -> str:
    """SHA-256 of the dtype, the shape and the C-order bytes: equal digests mean equal arrays, bit for bit."""
    h = hashlib.sha256(f"{a.dtype.str} {json.dumps(list(a.shape))}\n".encode("ascii"))
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _meta_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({"format": FORMAT, "checkpoint": body})).hexdigest()


def _entry(a: np.ndarray) -> dict[str, Any]:
    return {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": array_digest(a)}


# ------------------------------------------------------------------------------------------------ write
def save_checkpoint(folder: Path, step: int, session: Session, prep: Prepared, keep: int, *,
                    history: str = "", backend: str = "", distribution: dict[str, Any] | None = None,
                    scheduled: Callable[[int], bool] | None = None, params: dict[str, np.ndarray] | None = None,
                    lineage: list[dict[str, Any]] | None = None,
                    optimizer: tuple[int, Mapping[str, Mapping[str, Any]]] | None = None) -> Path:
    """Write `step-XXXXXXXX.npz` atomically (parameters, buffers, optimizer state, metrics so far, hashes);
    then keep the newest `keep` checkpoints up to this step. `distribution` (strategy, replicas, batch_norm)
    records what a data-parallel run was: nothing in the arrays is per replica. `scheduled(step)`: whether the
    recipe writes a checkpoint at that step; an earlier one it does not (where a `--steps` cap stopped, then
    resumed) goes, so that the folder holds the checkpoints an uninterrupted run would. `params`: the session's
    parameters, where the caller has them already. `lineage`: every backend that trained the run (trained_by;
    default: this one). `optimizer`: the session's get_optimizer_state(), where the caller has it already (the
    runner checks the adapter's answer first)."""
    given = session.get_parameters() if params is None else params
    params = {k: np.ascontiguousarray(v, dtype=ARRAY_DTYPE) for k, v in given.items()}
    opt_step, raw_state = session.get_optimizer_state() if optimizer is None else optimizer
    state = {p: {n: np.ascontiguousarray(a, dtype=ARRAY_DTYPE) for n, a in s.items()} for p, s in raw_state.items()}
    text = np.frombuffer(history.encode("utf-8"), dtype=TEXT_DTYPE)
    body = {"step": int(step), "optimizer_step": int(opt_step), "recipe_hash": prep.recipe_hash,
            "backend": backend, "dtype": prep.recipe.dtype, "history": _entry(text),
            "params": {k: _entry(v) for k, v in params.items()},
            "state": {p: {n: _entry(a) for n, a in s.items()} for p, s in state.items()}}
    if distribution is not None:
        body["distribution"] = {k: distribution.get(k) for k in ("strategy", "replicas", "batch_norm")}
    if getattr(prep, "data_hash", None):
        body["data_hash"] = prep.data_hash
    body["trained_by"] = lineage if lineage is not None else trained_by(None, backend, distribution)
    meta = _canonical({"format": FORMAT, "sha256": _meta_digest(body), "checkpoint": body})
    arrays: dict[str, np.ndarray] = {f"param/{k}": v for k, v in params.items()}
    arrays.update({f"opt/{p}/{n}": a for p, s in state.items() for n, a in s.items()})
    arrays["history"] = text
    arrays["meta"] = np.frombuffer(meta, dtype=TEXT_DTYPE)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = folder / f"step-{step:08d}.npz"
    atomic.write_bytes(path, buf.getvalue())
    older = [p for p in checkpoints(folder) if (step_of(p) or 0) <= step]
    if scheduled is not None:
        strays = [p for p in older if p != path and not scheduled(step_of(p) or 0)]
        older = [p for p in older if p not in strays]
    else:
        strays = []
    for old in strays + older[:-max(keep, 1)]:
        if old.is_file() and not old.is_symlink():  # what we wrote; anything else named so is left alone
            old.unlink(missing_ok=True)
    return path


# ------------------------------------------------------------------------------------------------- read
def _read_file(path: Path, cap: int | None, own: bool = False) -> bytes:
    """The bytes of a regular file (spec.files.open_regular: a FIFO or a device is refused, never read). `own`: a
    run folder's checkpoint, which the run wrote itself: a symbolic link in its place is refused, not followed."""
    try:
        fh = open_regular(path, follow_symlinks=not own)
    except NotRegularFileError as exc:
        if exc.kind == "a symbolic link":
            raise CheckpointError("is a symbolic link, not followed: a run resumes only from the checkpoint files it "
                                  "wrote (copy the file in its place to resume from it)") from None
        raise CheckpointError(f"is {exc.kind}, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"cannot be opened ({exc.strerror or exc})") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise CheckpointError("is empty (0 bytes)")
        if cap is not None and size > cap:
            raise CheckpointError(f"is {size} bytes, more than a checkpoint of this session can be ({cap})")
        data = fh.read(size + 1)
    if len(data) != size:
        raise CheckpointError(f"changed size while being read ({size} -> {len(data)} bytes)")
    return data


def _member(zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], name: str, limit: int) -> bytes:
    info = infos[name]
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        raise CheckpointError(f"its entry `{name}` is compressed or encrypted (checkpoints store entries as they are)")
    if info.file_size > limit or info.compress_size != info.file_size:
        raise CheckpointError(f"its entry `{name}` claims {info.file_size} bytes, more than the file can hold")
    with zf.open(info) as fh:  # reads to the end: zipfile checks the CRC-32
        raw = fh.read(info.file_size + 1)
    if len(raw) != info.file_size:
        raise CheckpointError(f"its entry `{name}` is {len(raw)} bytes, its zip header says {info.file_size}")
    return raw


def _array(name: str, raw: bytes, dtype: np.dtype, shape: tuple[int, ...] | None) -> np.ndarray:
    """The `.npy` in `raw`, after its header is checked against the expected dtype and shape (None: one axis,
    any length) and against `raw`'s length: nothing is allocated from a header that disagrees."""
    fp = io.BytesIO(raw)
    major, _ = np.lib.format.read_magic(fp)
    if major == 1:
        header = np.lib.format.read_array_header_1_0(fp, max_header_size=MAX_NPY_HEADER)
    elif major in (2, 3):
        header = np.lib.format.read_array_header_2_0(fp, max_header_size=MAX_NPY_HEADER)
    else:
        raise CheckpointError(f"its entry `{name}` has an unknown .npy version {major}")
    got_shape, fortran, got_dtype = header
    got_shape = tuple(got_shape)
    if got_dtype != dtype or fortran or (got_shape != shape if shape is not None else len(got_shape) != 1):
        want = list(shape) if shape is not None else "[n]"
        raise CheckpointError(f"its entry `{name}` is {got_dtype.str} {list(got_shape)}"
                              f"{' (Fortran order)' if fortran else ''}; expected {dtype.str} {want}")
    data_bytes = len(raw) - fp.tell()
    if data_bytes != math.prod(got_shape) * dtype.itemsize:
        raise CheckpointError(f"its entry `{name}` holds {data_bytes} data bytes; its header claims {dtype.str} "
                              f"{list(got_shape)}")
    # The bytes as the checked dtype (a number or a byte, never an object): what np.load(allow_pickle=False)
    # would return, without parsing the header a second time.
    return np.frombuffer(raw, dtype=dtype, offset=fp.tell()).reshape(got_shape).copy()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _meta(raw_meta: bytes) -> dict[str, Any]:
    """The verified metadata body; CheckpointError for anything else (format 1 included, by name)."""
    try:
        doc = json.loads(raw_meta.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"its metadata is not valid JSON ({exc})") from None
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if fmt == 1:
        raise CheckpointError("is format 1 (written before checkpoints carried hashes) and cannot be verified; "
                              "it is not used")
    if fmt != FORMAT or not isinstance(doc.get("checkpoint"), dict) or set(doc) != {"format", "sha256",
                                                                                    "checkpoint"}:
        raise CheckpointError(f"its metadata is not checkpoint format {FORMAT} (format {fmt!r})")
    body = doc["checkpoint"]
    if doc["sha256"] != _meta_digest(body):
        raise CheckpointError("its metadata does not match its SHA-256")
    if _canonical(doc) != raw_meta:
        raise CheckpointError("its metadata is not in canonical form")
    return body


def _int(body: dict[str, Any], key: str, low: int) -> int:
    v = body.get(key)
    if type(v) is not int or v < low:
        raise CheckpointError(f"its metadata has `{key}` = {v!r}, not an integer >= {low}")
    return v


def _shape_of(entry: Any, where: str) -> tuple[np.dtype, tuple[int, ...], str]:
    """(dtype, shape, sha256) of a metadata entry; only the two dtypes checkpoints use are accepted."""
    if not (isinstance(entry, dict) and set(entry) == {"dtype", "shape", "sha256"}
            and entry["dtype"] in (ARRAY_DTYPE.str, TEXT_DTYPE.str) and isinstance(entry["shape"], list)
            and all(type(d) is int and d >= 0 for d in entry["shape"]) and isinstance(entry["sha256"], str)):
        raise CheckpointError(f"its metadata entry for `{where}` is malformed")
    return np.dtype(entry["dtype"]), tuple(entry["shape"]), entry["sha256"]


def _check_layout(body: dict[str, Any], layout: Layout) -> None:
    """The entries, shapes and dtypes must be exactly what the live session holds."""
    params, state = body.get("params"), body.get("state")
    if not isinstance(params, dict) or not isinstance(state, dict):
        raise CheckpointError("its metadata lists no parameters or no optimizer state")
    if set(params) != set(layout.params):
        raise CheckpointError(_difference("parameters and buffers", set(params), set(layout.params)))
    for k, want in layout.params.items():
        dtype, shape, _ = _shape_of(params[k], f"param/{k}")
        if dtype != ARRAY_DTYPE or shape != want:
            raise CheckpointError(f"its `param/{k}` is {dtype.str} {list(shape)}; the session holds "
                                  f"{ARRAY_DTYPE.str} {list(want)}")
    if set(state) != set(layout.state):
        raise CheckpointError(_difference("parameters with optimizer state", set(state), set(layout.state)))
    for p, names in layout.state.items():
        if not isinstance(state[p], dict) or set(state[p]) != set(names):
            got = set(state[p]) if isinstance(state[p], dict) else set()
            raise CheckpointError(_difference(f"optimizer states of `{p}`", got, set(names)))
        for n, want in names.items():
            dtype, shape, _ = _shape_of(state[p][n], f"opt/{p}/{n}")
            if dtype != ARRAY_DTYPE or shape != want:
                raise CheckpointError(f"its `opt/{p}/{n}` is {dtype.str} {list(shape)}; the session holds "
                                      f"{ARRAY_DTYPE.str} {list(want)}")


def _difference(what: str, got: set[str], want: set[str]) -> str:
    missing, extra = sorted(want - got), sorted(got - want)
    return (f"its {what} differ from the session's (missing: {', '.join(missing[:5]) or 'none'}; "
            f"unexpected: {', '.join(extra[:5]) or 'none'})")


def _history(text_bytes: bytes, step: int) -> str:
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"its history is not UTF-8 ({exc})") from None
    lines = _lines(text)
    if len(lines) != step or not text.endswith("\n"):
        raise CheckpointError(f"its history has {len(lines)} records for step {step}")
    for i, line in enumerate(lines, 1):
        try:
            rec = atomic.read_json_line(line)
        except ValueError:
            rec = None
        if not isinstance(rec, dict) or rec.get("step") != i:
            raise CheckpointError(f"its history record {i} is not the record of step {i}")
        if problem := _record_problem(rec):  # a forged record with matching hashes crashed the run or its plot
            raise CheckpointError(f"its history record {i} {problem}")
    return text


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _record_problem(rec: dict[str, Any]) -> str | None:
    """What is wrong with one metrics record's fields (the ones a resumed run, its report and plot read)."""
    for key in ("loss", "lr"):
        if not _number(rec.get(key)):
            return f"has no numeric `{key}`"
    if not isinstance(rec.get("epoch"), int) or isinstance(rec.get("epoch"), bool):
        return "has no integer `epoch`"
    if "grad_norm" in rec and not _number(rec["grad_norm"]):
        return "has a `grad_norm` that is not a number"
    ev = rec.get("eval")
    if ev is not None and not (isinstance(ev, dict) and all(isinstance(k, str) and _number(v) for k, v in ev.items())):
        return "has an `eval` that is not a mapping of metric names to numbers"
    return None


def read_checkpoint(path: Path, layout: Layout | None = None, recipe_hash: str | None = None, *,
                    own: bool = False) -> Checkpoint:
    """The verified checkpoint at `path`. With `layout`, its entries must be exactly the session's; with
    `recipe_hash`, an intact checkpoint of another recipe raises ForeignCheckpoint. Anything unreadable or
    unverified raises CheckpointError (never another exception: the file's bytes are untrusted). Only a name
    `step-N.npz` says a step (it must be the metadata's); a user's renamed copy is verified by its contents.
    `own`: a checkpoint in a run folder (a resume's), which is a file the run wrote: a symbolic link there is a
    CheckpointError (safe by default: it is not followed to a file elsewhere), as a FIFO is."""
    try:
        return _read(path, layout, recipe_hash, own)
    except (CheckpointError, ForeignCheckpoint):
        raise
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"is not an intact zip ({' '.join(str(exc).split())[:200]})") from None
    except Exception as exc:  # any failure to parse untrusted bytes means "unreadable", whatever raised it
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckpointError(f"cannot be read ({type(exc).__name__}: {text[:200]})") from None


def _read(path: Path, layout: Layout | None, recipe_hash: str | None, own: bool = False) -> Checkpoint:
    named = step_of(path)
    cap = None
    if layout is not None:
        cap = layout.nbytes() + HISTORY_BYTES_PER_STEP * ((named or 0) + 1) + SLACK_BYTES * (1 + len(layout.params))
    data = _read_file(path, cap, own)
    zf = zipfile.ZipFile(io.BytesIO(data))
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        if info.filename in infos:
            raise CheckpointError(f"holds entry `{info.filename}` twice")
        infos[info.filename] = info
    if "meta.npy" not in infos:
        raise CheckpointError("has no `meta` entry")
    body = _meta(_array("meta", _member(zf, infos, "meta.npy", len(data)), TEXT_DTYPE, None).tobytes())
    step, opt_step = _int(body, "step", 1), _int(body, "optimizer_step", 0)
    if named is not None and named != step:  # only a `step-N.npz` name says a step; a renamed copy may keep it
        raise CheckpointError(f"its metadata says step {step}, its name step {named}")
    theirs = body.get("recipe_hash")
    if not isinstance(theirs, str) or not re.fullmatch(r"[0-9a-f]{64}", theirs):
        raise CheckpointError("its metadata has no valid recipe hash")
    if recipe_hash is not None and theirs != recipe_hash:
        raise ForeignCheckpoint(theirs)
    if not isinstance(body.get("backend"), str) or body.get("dtype") not in ("float32", "float64"):
        raise CheckpointError("its metadata has no valid backend or dtype")
    if layout is not None:
        _check_layout(body, layout)
    params_meta, state_meta = body.get("params"), body.get("state")
    if not isinstance(params_meta, dict) or not isinstance(state_meta, dict) \
            or not all(isinstance(s, dict) for s in state_meta.values()):
        raise CheckpointError("its metadata lists no parameters or no optimizer state")
    expected = {"meta.npy": None, "history.npy": ("history", body.get("history"))}
    expected.update({f"param/{k}.npy": (f"param/{k}", e) for k, e in params_meta.items()})
    expected.update({f"opt/{p}/{n}.npy": (f"opt/{p}/{n}", e) for p, s in state_meta.items() for n, e in s.items()})
    if set(infos) != set(expected):
        raise CheckpointError(_difference("entries", set(infos), set(expected)))
    arrays: dict[str, np.ndarray] = {}
    for member, spec in expected.items():
        if spec is None:
            continue
        key, entry = spec
        dtype, shape, digest = _shape_of(entry, key)
        if (key == "history") != (dtype == TEXT_DTYPE) or (key == "history" and len(shape) != 1):
            raise CheckpointError(f"its entry `{key}` is {dtype.str} {list(shape)} in its metadata")
        if math.prod(shape) * dtype.itemsize > len(data):
            raise CheckpointError(f"its entry `{key}` claims {list(shape)}, more than the file holds")
        a = _array(key, _member(zf, infos, member, len(data)), dtype, shape)
        if array_digest(a) != digest:
            raise CheckpointError(f"its entry `{key}` does not match its SHA-256")
        arrays[key] = a
    history = _history(arrays.pop("history").tobytes(), step)
    params = {k: arrays[f"param/{k}"] for k in params_meta}
    state = {p: {n: arrays[f"opt/{p}/{n}"] for n in s} for p, s in state_meta.items()}
    dist = body.get("distribution")
    data_hash = body.get("data_hash")
    if data_hash is not None and (not isinstance(data_hash, str) or not re.fullmatch(r"[0-9a-f]{64}", data_hash)):
        raise CheckpointError("its metadata has an invalid data hash")
    dist = dist if isinstance(dist, dict) else None
    return Checkpoint(path, step, opt_step, theirs, body["backend"], body["dtype"], params, state, history,
                      dist, data_hash, _trained_by(body, dist))


def load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """(meta with `history`: the metric records up to its step, parameters and buffers, optimizer state),
    verified (hashes, names, history) but not against a session: for tools and tests."""
    ck = read_checkpoint(Path(path))
    meta = {"format": FORMAT, "step": ck.step, "optimizer_step": ck.optimizer_step, "recipe_hash": ck.recipe_hash,
            "backend": ck.backend, "dtype": ck.dtype, "history": ck.history}
    return meta, ck.params, ck.state


# ----------------------------------------------------------------------------------------------- resume
def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def resume_point(folder: Path, *, recipe_hash: str, total_steps: int, layout: Layout,
                 warn: Callable[[str], None] = _stderr, data_hash: str | None = None,
                 data_file: str | None = None) -> Checkpoint | None:
    """The newest intact checkpoint of this recipe in `folder`, or None when there is none at all.

    Each unreadable one is named with the reason (one `warn` line) and skipped for the one before; after a
    fallback the skipped ones are set aside as `<name>.unreadable` (kept for inspection, out of the way of
    the steps the run writes again). ResumeRefused: only unreadable ones, another recipe's, or one past
    `total_steps`."""
    skipped: list[Path] = []
    try:
        found = checkpoints(folder)
    except OSError as exc:
        raise ResumeRefused(f"{said(folder)}: cannot list the checkpoints ({exc.strerror or exc})") from None
    for odd in misnamed(folder):
        right = canonical_name(odd)
        hint = "" if right is None else f"; {right} is there too" if (folder / right).exists() else \
            f"; rename it {right} to resume from it"
        warn(f"{said(odd)}: not read: checkpoints are named step-XXXXXXXX.npz (the step in 8 digits or more, no extra "
             f"leading zeros){hint}")
    for path in reversed(found):
        try:
            ck = read_checkpoint(path, layout, recipe_hash, own=True)
        except ForeignCheckpoint as exc:
            raise ResumeRefused(f"{said(path)}: the checkpoint is from a different recipe (hash {str(exc)[:12]}, this "
                                f"recipe {recipe_hash[:12]}); use another {spelled('out', '--out')}, or "
                                f"{switch('--overwrite')} to start afresh") from None
        except CheckpointError as exc:
            warn(f"{said(path)}: unreadable checkpoint skipped: {exc.reason}")
            skipped.append(path)
            continue
        if ck.step > total_steps:
            raise ResumeRefused(f"{said(path)}: the checkpoint is at step {ck.step}, past this run's {total_steps} "
                                "steps")
        if ck.data_hash is not None and data_hash is not None and ck.data_hash != data_hash:
            raise ResumeRefused(f"{said(path)}: the run's data file {data_file or ''} changed since step {ck.step} was "
                                f"trained (SHA-256 {ck.data_hash[:12]} then, {data_hash[:12]} now): resuming would "
                                f"mix two datasets in one run; restore the file, or {switch('--overwrite')} to start "
                                "afresh")
        for bad in skipped:
            _set_aside(bad, warn)
        return ck
    if skipped:
        raise ResumeRefused(f"{said(folder)}: no intact checkpoint to resume from ({len(skipped)} unreadable, named "
                            f"above); run with --overwrite instead of --resume to start afresh")
    return None


def _set_aside(path: Path, warn: Callable[[str], None]) -> None:
    target = path.with_name(path.name + ".unreadable")
    n = 1
    while target.exists() or target.is_symlink():
        n += 1
        target = path.with_name(f"{path.name}.unreadable-{n}")
    try:
        path.rename(target)
    except OSError as exc:
        warn(f"{said(path)}: could not be set aside as {target.name} ({exc.strerror or exc})")
