"""`lockstep deploy`: export a trained model from the standard itself, run it on the Environment's target, and
check it against the float64 reference, the latency budget and the required versions.

A deployment is where frameworks silently change numbers (exporter rewrites, fused kernels, quantization),
so the check is the same as everywhere else in Lockstep: the float64 reference's predictions for the same
weights and inputs, elementwise, under the Environment's tolerance, at every batch size the target must
accept (an int8 target is judged by its metric budget instead). Everything that can be found wrong with
the input is found before any work: a missing or unreadable weights file, a runtime that is not installed,
CUDA asked for where there is none, an output folder that cannot be written (`DeployError`, exit 2).

Outputs (`DIR/`): `model.onnx`, `environment.lock.json` (resolved versions, provider, machine
fingerprint), `deploy.json` (every check with error, tolerance and margin; latency; the verdict) and
`summary.txt` (the text summary), written only once every check has run (a stopped or failed deploy leaves the
folder as it was), into a folder locked for the deployment. Exit 0 when every check holds, 1 when one fails, 2
for bad input.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import platform
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from lockstep import __version__
from lockstep.errors import LockstepError, argument, spelled
from lockstep.spec import atomic
from lockstep.spec.beside import Beside
from lockstep.spec.diagnostics import escape_text
from lockstep.spec.documents import Environment
from lockstep.spec.files import NotRegularFileError, open_regular, read_json_file
from lockstep.spec.formats import plural

EXPORTERS = ("spec", "torch")
WARMUP_RUNS = 20
MIN_TIMED_RUNS = 300  # p99 is then the 3rd-slowest run or better; never fewer
MIN_TIMED_SECONDS = 1.0  # and at least this long (up to MAX_TIMED_RUNS), for a stable p50/p99
MAX_TIMED_RUNS = 20_000
MAX_BATCH_BYTES = 2**30  # one batch of float64 inputs; a larger batch size is refused before any work
OUTPUTS = ("model.onnx", "environment.lock.json", "deploy.json", "summary.txt")
MAX_RECORD_BYTES = 64 << 20  # a run's report.json is kilobytes (its history is in metrics.jsonl); read no more


class DeployError(LockstepError):
    """Bad input or an unusable target, found before any work; exit 2 unless stated."""


class RecipeMismatch(DeployError):
    """A checkpoint whose recipe hash is not the recipe's: the recipe changed since the run, or another run's."""


@dataclass
class Check:
    """One deploy check: what was observed, the limit, and whether it holds."""

    kind: str  # predictions | metric | latency | requirement
    name: str
    ok: bool
    observed: float | str | None = None
    limit: float | str | None = None
    ratio: float | None = None  # observed / allowed (predictions, latency): <= 1 holds, 1/ratio is the margin
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def margin(self) -> float | None:
        if self.ratio is None:
            return None
        return math.inf if self.ratio == 0 else 1.0 / self.ratio

    def to_json(self) -> dict[str, Any]:
        margin = self.margin
        return {"kind": self.kind, "name": self.name, "ok": self.ok, "observed": _finite(self.observed),
                "limit": _finite(self.limit), "ratio": _finite(self.ratio),
                "margin": None if margin is None or not math.isfinite(margin) else margin, **self.details}


def _finite(v: Any) -> Any:
    """JSON has no inf or nan: they become null (the ratio of an exact match is 0, its margin null: infinite)."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


@dataclass
class Plan:
    """Everything deploy needs, resolved and checked before any work."""

    source: Path  # the recipe or the run folder as given
    recipe_path: Path
    weights_path: Path
    environment_path: Path
    environment: Environment
    out: Path
    exporter: str = "spec"
    run_folder: Path | None = None
    overrides: list[str] = field(default_factory=list)  # the run's `--set KEY=VALUE`s (KEY=VALUE), in order
    seed: int | None = None  # the run's `--seed`
    weights_given: bool = False  # --weights was given: a run folder's unfinished checkpoint is then deployed
    # a run's recipe.resolved.yaml (its recorded recipe gone or changed): the folder its relative paths are read from,
    # the trained recipe's, which its header names; its overrides are in it already (`overrides` only reports them)
    recipe_base: Path | None = None
    notes: list[str] = field(default_factory=list)  # what the summary says besides the checks (the recipe used)
    claimed: Any = None  # the --out folder's claim (runfolder.RunFolder), set by claim_out


@dataclass
class Result:
    plan: Plan
    checks: list[Check]
    latency: dict[str, Any]
    lock: dict[str, Any]
    report: dict[str, Any]
    summary: str
    notes: list[str] = field(default_factory=list)  # the plan's notes, and what quantization did to the model

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


# ------------------------------------------------------------------------------------------ planning
def _give(name: str, value: str) -> str:
    """An argument a message asks for: `--weights PATH` on the command line, `weights='PATH'` in Python."""
    return spelled(f"{name}={value!r}", f"--{name} {value}")


def _exporter(name: str) -> str:
    return _give("exporter", name)


def _give_checkpoint(run: Path) -> str:
    """A run folder's checkpoint, as the fix for a run folder deploy cannot read."""
    return _give("weights", f"{run}/checkpoints/step-XXXXXXXX.npz")


_LOADED: Beside[Any] = Beside()
"""The loaded document (where each field was written) of an Environment `load_environment` read: deploy's own checks
of a field (threads, batch sizes) name its file, line and column as validate does."""


def at_field(env: Environment, field: tuple[str | int, ...], message: str) -> str:
    """`message` opened by the environment file, the field's line and column and its name, where they are known."""
    from lockstep.spec.diagnostics import format_path

    loaded = _LOADED.get(env)
    if loaded is None:  # an Environment made in Python: no file to name
        return message
    line, col = loaded.locate(field)
    return f"{loaded.file}:{line}:{col}: {format_path(field)}: {message}"


def load_environment(path: str | Path) -> Environment:
    """The validated Environment document at `path` (DeployError with the diagnostics otherwise)."""
    from lockstep.spec.resolve import resolve_file

    path = Path(path)
    try:  # a name too long for the OS: an OSError from is_file
        found, exists = path.is_file(), path.exists()
    except OSError as exc:
        raise DeployError(f"{argument('--environment')} {path}: cannot read it ({exc.strerror or exc})") from None
    if not found:
        raise DeployError(f"{argument('--environment')} {path}: " + ("no such file" if not exists else "not a file"))
    resolved, diags = resolve_file(path)
    if diags:
        raise DeployError(f"{path}: the environment is not valid ({len(diags)} problem{'s' * (len(diags) > 1)})",
                          2, diags)
    envs = [r for r in resolved if isinstance(r.document, Environment)]
    if len(envs) != 1:
        raise DeployError(f"{path}: expected exactly one Environment document, found {len(envs)}")
    _LOADED.put(envs[0].document, envs[0].loaded)
    return envs[0].document  # type: ignore[return-value]


def _run_record(run: Path) -> dict[str, Any]:
    """A run folder's report.json, or {} where there is none (the callers say what is missing). The file is the
    run's, but a damaged one must be named, not hang deploy (a FIFO), exhaust memory or crash the parser."""
    path = run / "report.json"
    if not path.exists() and not path.is_symlink():
        return {}

    def damaged(what: str) -> DeployError:
        return DeployError(f"{path}: {what}; give the recipe and {_give_checkpoint(run)}")

    try:
        with open_regular(path) as fh:  # a FIFO is refused before it could block
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_RECORD_BYTES:
                raise damaged(f"is {size} bytes, more than a run's report ({MAX_RECORD_BYTES} at most)")
            raw = fh.read(MAX_RECORD_BYTES + 1)
    except NotRegularFileError as exc:
        raise damaged(f"is {exc.kind}, not a regular file" if exc.kind.startswith("a ") else "is not a regular file") \
            from None
    except OSError as exc:
        raise damaged(f"cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_RECORD_BYTES:
        raise damaged(f"is more than {MAX_RECORD_BYTES} bytes, more than a run's report")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise damaged("is not a run's report: its JSON is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise damaged(f"is not valid JSON ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(data, dict):
        raise damaged(f"is not a run's report (a JSON {type(data).__name__}, not an object)")
    return data


def _run_overrides(run: Path, record: dict[str, Any]) -> tuple[list[str], int | None]:
    """The `--set`s and `--seed` a run folder was trained with (report.json `overrides`, as the run said them), so
    that deploy rebuilds the recipe the run trained, not the file's: a checkpoint of `lockstep run R --set ...`
    belongs to the effective recipe (its hash says so)."""
    said = record.get("overrides") or []
    sets: list[str] = []
    seed: int | None = None
    for text in said if isinstance(said, list) else [said]:
        flag, _, value = text.partition(" ") if isinstance(text, str) else ("", "", "")
        if flag == "--set" and value:
            sets.append(value)
        elif flag == "--seed" and _is_int(value):
            seed = int(value)
        else:
            shown = repr(text) if len(repr(text)) <= 120 else repr(text)[:117] + "..."
            raise DeployError(f"{run / 'report.json'}: `overrides` holds {shown}, which is neither `--set KEY=VALUE` "
                              f"nor `--seed N`; give the recipe and {_give_checkpoint(run)}")
    return sets, seed


def _is_int(text: str) -> bool:
    """An integer int() reads without surprise (ASCII digits, not 5000 of them, no '²', no '--5')."""
    digits = text.strip().removeprefix("-")
    return digits.isascii() and digits.isdigit() and len(digits) <= 40


def _run_recipe(run: Path, record: dict[str, Any]) -> tuple[Path, Path | None, str | None]:
    """The recipe a run folder was trained from: report.json's `recipe_path` (a relative one from the run folder, as
    any path written in a file is read from that file's folder), or a recipe.yaml beside it; where that is gone (the
    run folder moved, the recipe deleted), the run's own recipe.resolved.yaml, the recipe it trained with its `--set`s
    and `--seed` applied. (path, the folder a recipe.resolved.yaml's relative paths are read from, a note saying so)."""
    from lockstep.effective import RESOLVED

    recorded = record.get("recipe_path")
    if recorded is not None and (not isinstance(recorded, str) or not recorded.strip() or "\0" in recorded):
        raise DeployError(f"{run / 'report.json'}: `recipe_path` is {recorded!r}, not a path; give the recipe and "
                          f"{_give_checkpoint(run)}")
    where = run / recorded if recorded else None  # `run` records it absolute; a relative one is from the folder
    if where is not None:
        _searchable(f"{run / 'report.json'}: `recipe_path` {recorded}", where)
    if where is not None and where.is_file() and _holds_a_recipe(where):
        return where, None, None
    if where is None:
        for name in ("recipe.yaml", "recipe.yml", "recipe.json"):
            if (run / name).is_file():
                return run / name, None, None
    resolved = run / RESOLVED
    if resolved.is_file():
        base = _resolved_base(resolved)
        if where is None:
            said = "report.json names no recipe"
        else:
            said = f"the run's recipe {where} {_not_the_recipe(where)}"
        return resolved, base, f"{said}: deploying the recipe the run trained, {resolved} (relative paths from {base})"
    fix = (f"give the recipe and {_give_checkpoint(run)}"
           + (" (the recipe as the run trained it: deploy applies the run's "
              f"{', '.join(map(str, record['overrides']))} only to a run folder)"
              if isinstance(record.get("overrides"), list) and record["overrides"] else ""))
    if where is not None:
        raise DeployError(f"{run}: the run's recipe {where} {_not_the_recipe(where)}, and the run folder has no "
                          f"{RESOLVED} (the recipe it trained); {fix}")
    raise DeployError(f"{run}: a run folder that does not name its recipe (report.json has no `recipe_path`, and "
                      f"there is no {RESOLVED}); {fix}")


def _holds_a_recipe(path: Path) -> bool:
    """Whether the file a run's report.json names as its recipe reads as a Recipe document. report.json is data in
    a folder (a CI artifact, a download): a `recipe_path` edited to name /etc/passwd had its first line printed in
    deploy's refusal, where a recipe that is gone falls back to the run's own recipe.resolved.yaml."""
    from lockstep.spec.diagnostics import SpecError
    from lockstep.spec.loader import load_file

    try:
        docs = load_file(path)
    except (SpecError, OSError, ValueError):
        return False
    return any(isinstance(d.data, dict) and d.data.get("kind") == "Recipe" for d in docs)


def _not_the_recipe(path: Path) -> str:
    """Why a run's recorded recipe is not used, in words."""
    if not path.exists():
        return "no longer exists"
    return "is not a regular file" if not path.is_file() else "is not a Lockstep recipe (any more)"


RESOLVED_BASE = "# Relative paths in it (data, weights) are relative to "
"""The line of a recipe.resolved.yaml's header (`lockstep.effective.resolved_yaml`) naming its paths' folder."""


def _refuse_another_recipe(p: Plan, name: str) -> None:
    """A folder that holds another recipe's deployment is not this one's to replace: `deploy/<environment>`, the
    default, took a second model's deployment without a word, as `lockstep run` never takes another run's folder.
    A redeployment of the same recipe replaces its own; an unreadable deploy.json is no deployment to keep."""
    record = read_json_file(p.out / "deploy.json", MAX_RECORD_BYTES)
    earlier = record.get("recipe") if isinstance(record, dict) else None
    if isinstance(earlier, str) and earlier != name:
        raise DeployError(f"{argument('--out')} {p.out} holds the deployment of the recipe `{escape_text(earlier)}` "
                          f"(deploy.json), and this is `{escape_text(name)}`; give another {argument('--out')}, or "
                          "remove that folder first")


def _resolved_base(path: Path) -> Path:
    """The folder a run's recipe.resolved.yaml reads its relative paths from (data, weights): the folder of the
    recipe the run was started with, which its header names; the file's own folder for a file without that line."""
    try:
        with open_regular(path) as fh:
            head = fh.read(1 << 16).decode("utf-8", "replace")
    except (OSError, NotRegularFileError):
        return path.parent
    for line in head.splitlines():
        if not line.startswith("#"):
            break
        named = line[len(RESOLVED_BASE):].strip() if line.startswith(RESOLVED_BASE) else ""
        if named and os.path.isabs(named) and "\\" not in named:  # an escaped name is not the folder's own
            return Path(named)
    return path.parent


def _resolved_plan(p: Plan) -> bool:
    """Switch a run folder's plan to the run's recipe.resolved.yaml (its recorded recipe changed since the run);
    False where there is none, or it is in use already."""
    from lockstep.effective import RESOLVED

    resolved = p.run_folder / RESOLVED if p.run_folder is not None else None
    if resolved is None or p.recipe_base is not None or not resolved.is_file():
        return False
    said = p.recipe_path
    p.recipe_path, p.recipe_base = resolved, _resolved_base(resolved)
    p.notes.append(f"the run's recipe {said} changed since the run: deploying the recipe the run trained, "
                   f"{resolved} (relative paths from {p.recipe_base})")
    return True


def _effective(recipe_path: Path, base: Path | None, overrides: list[str] | None = None,
               seed: int | None = None) -> Any:
    """The recipe to deploy, validated: the file with the run's `--set`s and `--seed` applied, or (`base` given) a
    run's recipe.resolved.yaml as it stands (they are in it), its relative paths read from `base`."""
    from lockstep import effective

    if base is None:
        return effective.read(recipe_path, overrides, seed)
    from lockstep.errors import RunError
    from lockstep.spec.diagnostics import SpecError
    from lockstep.spec.loader import load_file

    try:
        docs = load_file(recipe_path)
    except SpecError as exc:
        n = len(exc.diagnostics)
        raise RunError(f"{recipe_path}: the recipe is not valid ({n} problem{'s' * (n > 1)})", 2,
                       exc.diagnostics) from None
    return effective.from_documents(docs, base=base, label=str(recipe_path), path=recipe_path)


def _recipe_inputs(recipe_path: Path, base: Path | None) -> list[Path]:
    """What the recipe reads (`runfolder.recipe_inputs`), a recipe.resolved.yaml's from the folder it names."""
    from lockstep.runfolder import recipe_inputs

    if base is None:
        return recipe_inputs(recipe_path)
    try:
        eff = _effective(recipe_path, base)
    except (LockstepError, OSError, ValueError):
        return [recipe_path]  # said when the deploy prepares it
    return recipe_inputs(recipe_path, (eff.recipe, eff.model, eff.base))


def _searchable(said: str, path: str | os.PathLike[str]) -> None:
    """A path the system cannot even look up (a name too long, a folder on the way that cannot be searched) is
    said with the reason, as every refusal of deploy's (exit 2), not as a traceback from a later `is_dir()`."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        pass  # said by the check that needs it ("no such recipe or run folder")
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise DeployError(f"{said}: cannot use it ({exc.strerror or exc})") from None


def plan(source: str | Path, environment: str | Path, *, weights: str | Path | None = None,
         out: str | Path | None = None, exporter: str = "spec") -> Plan:
    """Resolve the inputs and check the target before any work (DeployError, exit 2, on any problem)."""
    from lockstep.checkpoint import checkpoints

    if exporter not in EXPORTERS:
        raise DeployError(f"{argument('--exporter')} {exporter!r}: expected one of {', '.join(EXPORTERS)}")
    if out is not None and not os.fsdecode(out).strip():  # an unset shell variable, never "the default" (as `run`)
        raise DeployError(f"{argument('--out')} is empty; give a folder, or "
                          + spelled("pass out=None for the default", "leave --out out for the default"))
    for flag, value in ((spelled("source", "RECIPE_OR_RUN"), source), (argument("--environment"), environment),
                        (argument("--weights"), weights), (argument("--out"), out)):
        if value is not None and not os.fsdecode(value).strip():  # Path('') is '.', the current folder
            raise DeployError(f"{flag} is empty; give a path")
        if value is not None and "\0" in os.fsdecode(value):
            raise DeployError(f"{flag} contains a NUL character")
        if value is not None:
            _searchable(f"{flag} {os.fsdecode(value)}" if value is not source else os.fsdecode(value), value)
    weights_given = weights is not None
    env_path = Path(environment)
    env = load_environment(env_path)
    check_target(env, exporter)
    src = Path(source)
    run_folder = None
    picked = False  # the weights are the run folder's newest checkpoint, which deploy chose itself
    recipe_base, note = None, None
    record: dict[str, Any] = {}
    if src.is_dir():
        run_folder = src
        record = _run_record(src)
        recipe_path, recipe_base, note = _run_recipe(src, record)
        if weights is None:
            found = checkpoints(src / "checkpoints")  # the newest: a damaged one is named, not passed over
            if not found:
                raise DeployError(f"{src}: no checkpoint in {src / 'checkpoints'} (a recipe without `checkpoint:` "
                                  f"writes none); give {argument('--weights')}")
            weights, picked = found[-1], True
            if weights.is_symlink():  # as a resume: a run's checkpoints are files it wrote (safe by default)
                raise DeployError(f"{weights}: is a symbolic link, not followed: a run folder's checkpoints are the "
                                  f"files the run wrote; give {argument('--weights')} to deploy the file it names")
    elif src.is_file():
        recipe_path = src
        if weights is None:
            raise DeployError(f"{src}: a recipe needs {argument('--weights')} (a checkpoint `step-XXXXXXXX.npz` or an "
                              ".npz of canonical parameters); or give the run folder it was trained into")
    elif src.exists():
        raise DeployError(f"{src}: not a regular file (a FIFO, device or socket); give a recipe file or a run folder")
    else:
        raise DeployError(f"{src}: no such recipe or run folder")
    weights_path = Path(weights)
    if not weights_path.is_file():
        what = "no such file" if not weights_path.exists() else "not a file"
        if picked:  # the user gave no --weights: the message must not say they did
            raise DeployError(f"the run's newest checkpoint {weights_path}: {what}; give {argument('--weights')} to "
                              "deploy another checkpoint of the run")
        raise DeployError(f"{argument('--weights')} {weights_path}: {what}")
    name = env.metadata.name
    out_dir = Path(out) if out is not None else Path("deploy") / name
    _check_out(out_dir, [*_recipe_inputs(recipe_path, recipe_base), weights_path, env_path])
    sets, seed = _run_overrides(run_folder, record) if run_folder is not None else ([], None)
    return Plan(src, recipe_path, weights_path, env_path, env, out_dir, exporter, run_folder, sets, seed,
                weights_given, recipe_base, [note] if note else [])


def check_target(env: Environment, exporter: str = "spec") -> None:
    """The runtime, provider, exporter and quantization this Environment needs are here (else exit 2)."""
    if env.runtime != "onnxruntime":
        raise DeployError(f"runtime `{env.runtime}`: lockstep deploy runs onnxruntime Environments (validate "
                          f"checks the others)")
    for module in ("onnx", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            raise DeployError(f"runtime onnxruntime needs `{module}`, which is not installed; "
                              "install lockstep-standard[onnx] (pip install 'lockstep-standard[onnx]')")
    import onnxruntime as ort

    if env.device.startswith(("cuda", "gpu")) and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise DeployError(f"device `{env.device}`: this onnxruntime {ort.__version__} has no CUDAExecutionProvider "
                          f"(providers: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu "
                          "on a machine with CUDA, or deploy to `device: cpu`")
    if exporter == "torch":
        if importlib.util.find_spec("torch") is None:
            raise DeployError(f"{_exporter('torch')} needs torch, which is not installed; install "
                              "lockstep-standard[torch]")
        if env.dtype == "float16":
            raise DeployError(f"{_exporter('torch')} exports float32 and float64 (and int8 through float32); "
                              f"a float16 target takes the spec exporter ({_exporter('spec')})")
    from lockstep.effective import max_threads

    if env.threads > max_threads():
        raise DeployError(at_field(env, ("threads",), f"{env.threads}: this machine has {os.cpu_count() or 1} CPU "
                                   f"cores; onnxruntime would start {env.threads} threads (at most {max_threads()} "
                                   "here)"))
    if env.dtype == "int8" and importlib.util.find_spec("onnxruntime.quantization") is None:
        raise DeployError("an int8 target needs onnxruntime.quantization, which this onnxruntime lacks")


def _check_out(out: Path, inputs: list[Path]) -> None:
    """No output would overwrite an input: the recipe, environment and weights, and what the recipe reads (its
    model document, the model's weights, its data file: a model named `environment.lock.json` was replaced by
    the lock). The run folder's own check, said as deploy's refusals are; the folder itself is claimed (made,
    locked, proven writable) when the work starts: `claim_out`."""
    from lockstep.runfolder import FolderError, check_out_arg, check_outputs

    try:
        check_out_arg(str(out), "--out", prog="deploy")  # a name too long, a parent that cannot be searched
        _no_broken_link(out)
        if out.exists() and not out.is_dir():
            raise DeployError(f"{argument('--out')} {out}: exists and is not a folder")
        check_outputs(out, OUTPUTS, inputs, prog="deploy")
        for name in OUTPUTS:  # a pipe, a link or a folder where an output goes: said before any work, not after it
            kind = _not_a_file(out / name)
            if kind:
                raise DeployError(f"{argument('--out')} {out}: {name} is {kind}, not a regular file: deploy replaces "
                                  "it; remove it or choose another folder")
    except FolderError as exc:
        raise DeployError(str(exc).removeprefix("deploy: ") if str(exc).startswith(f"deploy: {argument('--out')} ") else
                          f"{argument('--out')} {out}: {str(exc).removeprefix('deploy: ')}") from None


def _no_broken_link(out: Path) -> None:
    """--out, or a folder on its way, that is a symbolic link leading nowhere: said as such (runfolder.broken_link)."""
    from lockstep.runfolder import broken_link

    said = broken_link(out)
    if said is not None:
        raise DeployError(f"{argument('--out')} {out}: {said}, or choose another {argument('--out')}")


def _not_a_file(path: Path) -> str | None:
    """What `path` is when it is there and not a regular file (None otherwise)."""
    import stat

    from lockstep.spec.files import file_kind

    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else file_kind(mode)


def claim_out(p: Plan) -> Any:
    """The output folder, made if missing, locked for this deployment (a second `lockstep deploy` into it is
    refused while this one runs) and proven writable; `release()` it at the end (a folder it made goes again if
    nothing was written into it). FolderError (exit 2) otherwise."""
    from lockstep.runfolder import FolderError, claim

    try:
        folder = claim(p.out, outputs=OUTPUTS, mode="resume", prog="deploy", tidy=False)  # its own, below
    except FolderError as exc:  # said as every other refusal of deploy's: `lockstep deploy: --out DIR: ...`
        raise DeployError(f"{argument('--out')} {p.out}: {str(exc).removeprefix('deploy: ')}") from None
    p.notes.extend(folder.notes)  # a deployment a killed deploy left half written, made whole again
    p.claimed = folder
    try:
        _refuse_foreign(p.out)  # once made whole: a set's first files without its deploy.json are a deploy's
    except DeployError:
        folder.release()
        raise
    removed = remove_stale_temporaries(folder.path)
    if removed:
        p.notes.append(f"removed {len(removed)} temporary file{'s' * (len(removed) > 1)} that an interrupted deploy "
                       f"left in {p.out} ({', '.join(removed[:3])}{' ...' if len(removed) > 3 else ''})")
    return folder


def _refuse_foreign(out: Path) -> None:
    """DeployError (exit 2) for an --out that holds a deploy.json that is not a deployment's record, or deploy's
    other outputs without one: someone else's files, which deploy replaced without a word, as certify refuses a
    report.json that is not a certificate (runfolder.foreign_report_folder)."""
    record = out / "deploy.json"
    if os.path.lexists(record):
        if not _is_deployment(read_json_file(record, MAX_RECORD_BYTES)):
            raise DeployError(f"{argument('--out')} {out} holds a deploy.json that is not a Lockstep deployment's; "
                              f"choose another {argument('--out')} folder")
    elif found := [n for n in OUTPUTS if os.path.lexists(out / n)]:
        raise DeployError(f"{argument('--out')} {out} holds {', '.join(found)} but no deploy.json: not a "
                          f"deployment's folder; choose another {argument('--out')} folder")


def _is_deployment(record: object) -> bool:
    """Whether a deploy.json is a deployment's record (every deploy has written these), so deploy may replace it."""
    return (isinstance(record, dict) and record.get("verdict") in ("pass", "fail")
            and isinstance(record.get("recipe"), str) and isinstance(record.get("checks"), list))


def remove_stale_temporaries(folder: Path) -> list[str]:
    """Remove what a deploy killed part-way (SIGKILL: no handler runs) left of its own temporaries in `folder`,
    which this deploy holds locked (no other deploy is writing there): regular files that `atomic.write_set` names
    for one of its outputs (the new file before its rename, or the link to the old one kept for an undo), nothing
    else. The names removed."""
    import stat

    removed = []
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if atomic.temporary_of(e.name) in OUTPUTS]
    except OSError:
        return removed
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            if stat.S_ISREG(os.lstat(entry.path).st_mode):
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue  # said, if it matters, when the outputs are written
    return removed


# ------------------------------------------------------------------------------------------- weights
def load_weights(path: Path, prep: Any, said: str | None = None, *,
                 run_hint: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Canonical parameters and buffers from a run checkpoint or a plain .npz; (arrays, provenance). `said`: how
    messages name the file (`--weights PATH` unless deploy picked it from a run folder itself)."""
    from lockstep.checkpoint import CheckpointError, load_checkpoint
    from lockstep.reference.data import load_npz

    said = said or f"{argument('--weights')} {path}"

    expected = {**prep.graph.parameters(), **prep.graph.buffers()}
    info: dict[str, Any] = {"path": str(path)}
    try:
        raw = path.read_bytes()
        if raw[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip (or an empty one); np.load would try pickle
            raise DeployError(f"{said}: cannot read it: not an .npz checkpoint or weights file (not a zip "
                              "archive); give a checkpoint `step-XXXXXXXX.npz` or an .npz of canonical parameters")
        info["sha256"] = hashlib.sha256(raw).hexdigest()
        names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
        if twice := sorted({n for n in names if names.count(n) > 1}):  # np.load would take one of them unsaid
            raise DeployError(f"{said}: `{twice[0].removesuffix('.npy')}` is stored twice in the archive")
        with load_npz(io.BytesIO(raw)) as z:
            files = list(z.files)
            is_checkpoint = "meta" in files and any(k.startswith("param/") for k in files)
            arrays = {} if is_checkpoint else {k: _npz_array(z, k, said) for k in files}
        if is_checkpoint:
            meta, arrays, _ = load_checkpoint(path)
            theirs = str(meta.get("recipe_hash", ""))
            if theirs and theirs != prep.recipe_hash:
                raise RecipeMismatch(f"{path}: the checkpoint is from a different recipe (hash {theirs[:12]}, the "
                                     f"recipe {prep.recipe_hash[:12]}): the recipe changed since the run, or this is "
                                     f"another run's checkpoint{_run_hint(path) if run_hint else ''}")
            info.update(kind="checkpoint", step=meta.get("step"), total_steps=prep.total_steps,
                        backend=meta.get("backend"))
        else:
            info["kind"] = "npz"
    except DeployError:
        raise
    except CheckpointError as exc:
        raise DeployError(f"{said}: the checkpoint does not verify: {exc.reason}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DeployError(f"{said}: cannot read it ({exc})") from None
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise DeployError(f"{path}: missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                          f"(the model has {len(expected)} parameters and buffers)")
    extra = sorted(set(arrays) - set(expected))
    if extra:  # a misnamed parameter would be dropped unseen (torch's load_state_dict is strict alike)
        raise DeployError(f"{path}: holds {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}, which this model "
                          f"does not have (its {len(expected)} parameters and buffers: "
                          f"{', '.join(sorted(expected)[:5])}{' ...' if len(expected) > 5 else ''})")
    out = {}
    for k, spec in expected.items():
        a = np.asarray(arrays[k])
        if a.dtype.kind not in "fiu" or a.shape != tuple(spec.shape):  # complex too: its imaginary part would go
            raise DeployError(f"{path}: `{k}` is {a.dtype} {list(a.shape)}; the model needs float {list(spec.shape)}")
        if not np.all(np.isfinite(a)):
            raise DeployError(f"{path}: `{k}` holds non-finite values")
        out[k] = a.astype(np.float64)
    return out, info


def _run_hint(weights: Path) -> str:
    """Where a checkpoint given with a recipe lies in a run folder: deploy that folder instead, which deploys the
    recipe the run trained (its `--set`s and `--seed` applied again, or its recipe.resolved.yaml)."""
    from lockstep.effective import RESOLVED

    run = weights.parent.parent if weights.parent.name == "checkpoints" else None
    if run is None or not ((run / "report.json").is_file() or (run / RESOLVED).is_file()):
        return ""
    held = f", which {run / RESOLVED} holds" if (run / RESOLVED).is_file() else ""
    deploy_it = spelled(f"source={str(run)!r}, weights={str(weights)!r}", f"lockstep deploy {run} --weights {weights}")
    return (f"; a run given --set or --seed trained the recipe with them{held}: deploy the run folder instead "
            f"({deploy_it}), which deploys the recipe it trained")


def _npz_array(z: Any, key: str, said: str) -> np.ndarray:
    """One array of a plain .npz; an object (pickled) array is refused by name, not with NumPy's advice to unpickle."""
    try:
        return z[key]
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DeployError(f"{said}: `{key}` is an object (pickled) array, not numbers; weights are "
                              "numeric arrays") from None
        raise


# -------------------------------------------------------------------------------------------- export
def export_onnx(prep: Any, params: dict[str, np.ndarray], env: Environment, exporter: str) -> bytes:
    """The serialized ONNX model: from the spec (default) or torch.onnx.export of the torch adapter's module;
    int8 targets are the float32 export quantized (`quantize`)."""
    dtype = "float32" if env.dtype == "int8" else env.dtype
    if exporter == "torch":
        import tempfile

        from lockstep.adapters.torch.session import TorchSession

        session = TorchSession(prep.model, dtype=dtype, device="cpu")
        session.set_parameters(params)
        with tempfile.TemporaryDirectory(prefix="lockstep-export-") as tmp:
            model = session.export(Path(tmp) / "model.onnx", opset=env.opset).read_bytes()
        import onnx

        from lockstep.adapters.onnxruntime.export import check

        check(onnx.load_from_string(model))
    else:
        from lockstep.adapters.onnxruntime.export import export_model

        model = export_model(prep.model, params, dtype=dtype, opset=env.opset).SerializeToString()
    if env.dtype == "int8":
        model = quantize(model, prep, env)
    return model


def quantize(model: bytes, prep: Any, env: Environment) -> bytes:
    """onnxruntime.quantization on the float32 export: dynamic (weights int8, activations at run time) or
    static (QDQ, activation ranges calibrated on the first samples of the recipe's training data)."""
    q = env.quantization
    mode = q.mode if q is not None else "dynamic"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice ("consider pre-processing") on the root
    try:  # a range of ±inf (a causal mask of -inf) gives an infinite scale, and NumPy's warnings from inside the
        # quantizer ("invalid value encountered in divide"): said once, by name, in the summary (`scale_note`)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return _quantize(model, prep, q, mode)
    finally:
        root.setLevel(level)


def non_finite_scales(model: bytes) -> dict[str, float]:
    """The quantization scales of an int8 model that are not finite (name -> value): the scale of a tensor whose
    calibrated range reaches ±inf, which int8 cannot hold (every value of it dequantizes to nonsense)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(model).graph
    scales = {n.input[1] for n in graph.node
              if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 1}
    out = {}
    for t in graph.initializer:
        if t.name in scales:
            a = numpy_helper.to_array(t)
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                out[t.name] = float(a.ravel()[~np.isfinite(a.ravel())][0])
    return out


def scale_note(bad: dict[str, float]) -> str:
    """One line for the summary about non-finite quantization scales (`non_finite_scales`)."""
    shown = ", ".join(f"{name} ({value})" for name, value in list(bad.items())[:4]) + (" ..." if len(bad) > 4 else "")
    one = len(bad) == 1
    return (f"int8: {len(bad)} quantization scale{'s' * (not one)} came out non-finite: {shown}; the calibrated "
            f"range of {'that tensor' if one else 'those tensors'} reaches ±inf (a causal mask of -inf does), which "
            f"int8 cannot hold, so {'its' if one else 'their'} values are lost; the metric budget judges the result")


def _quantize(model: bytes, prep: Any, q: Any, mode: str) -> bytes:
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="lockstep-quantize-") as tmp:
        src, dst = Path(tmp) / "float32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model)
        if mode == "dynamic":
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        else:
            name = next(iter(prep.graph.input_shapes))
            samples = prep.data.x_train[: (q.calibration_samples if q else 256)]
            float_input = prep.graph.input_dtypes[name] != "int64"

            class Reader(CalibrationDataReader):
                def __init__(self) -> None:
                    self.rows = iter(range(len(samples)))

                def get_next(self) -> dict[str, np.ndarray] | None:
                    i = next(self.rows, None)
                    if i is None:
                        return None
                    x = samples[i:i + 1]
                    return {name: x.astype(np.float32) if float_input else x.astype(np.int64)}

            quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        return dst.read_bytes()


# ------------------------------------------------------------------------------------------- running
def _batches(n: int, b: int) -> list[slice]:
    """Batches of `b` over every one of `n` samples; the last may hold fewer (`_take` fills it up to `b`, and only
    its own samples' outputs are kept). Whole batches alone left the last n mod b samples unchecked."""
    return [slice(i, min(i + b, n)) for i in range(0, max(n, 1), b)]


def _take(x: np.ndarray, s: slice, b: int) -> np.ndarray:
    part = x[s]
    if len(part) < b:  # fewer samples than one batch: repeat them (the check is per sample anyway)
        part = np.resize(part, (b, *x.shape[1:]))
    return part


def _metric(name: str, recipe: Any, out: np.ndarray, y: np.ndarray) -> float:
    from lockstep.reference import losses, metrics

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if name == "loss":
            return float(losses.compute(recipe.loss, out, y)[0])
        if name == "accuracy":
            return metrics.accuracy(out, y, recipe.loss.type, getattr(recipe.loss, "from_logits", True))
        if name == "mse":
            return metrics.mse(out, y)
        return metrics.mae(out, y)


def latency(run: Any, feeds: dict[str, np.ndarray], *, warmup: int | None = None, min_runs: int | None = None,
            min_seconds: float | None = None, max_runs: int | None = None) -> dict[str, Any]:
    """Warm up, then time single forwards until both `min_runs` and `min_seconds` are reached: p50, p99, mean.
    Defaults: the module's WARMUP_RUNS, MIN_TIMED_RUNS, MIN_TIMED_SECONDS, MAX_TIMED_RUNS, read at call time."""
    warmup = WARMUP_RUNS if warmup is None else warmup
    min_runs = MIN_TIMED_RUNS if min_runs is None else min_runs
    min_seconds = MIN_TIMED_SECONDS if min_seconds is None else min_seconds
    max_runs = MAX_TIMED_RUNS if max_runs is None else max_runs
    for _ in range(warmup):
        run(feeds)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < min_seconds):
        t0 = time.perf_counter()
        run(feeds)
        times.append(time.perf_counter() - t0)
    ms = np.asarray(times) * 1e3
    return {"warmup_runs": warmup, "runs": len(times), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()), "min_ms": float(ms.min())}


def requirement_checks(requirements: dict[str, str]) -> list[Check]:
    """Each required package's installed version against its PEP 440 specifier (`packaging`)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    out = []
    for pkg, spec in requirements.items():
        try:  # `python` is the interpreter, as in pip's Requires-Python: no package of that name is installed
            installed = platform.python_version() if pkg.lower() == "python" else metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out.append(Check("requirement", f"requirement {pkg}{spec}", False, None, spec or "any",
                             details={"package": pkg, "message": f"{pkg} is not installed"}))
            continue
        try:
            ok = not spec.strip() or SpecifierSet(spec).contains(Version(installed), prereleases=True)
            message = "" if ok else f"{pkg} {installed} does not satisfy {spec}"
        except (InvalidSpecifier, InvalidVersion) as exc:
            ok, message = False, f"{pkg}: {exc}"
        out.append(Check("requirement", f"requirement {pkg}{spec}", ok, installed, spec or "any",
                         details={"package": pkg, **({"message": message} if message else {})}))
    return out


def deploy(p: Plan, *, progress: Any = None) -> Result:
    """Export, run on the target and check; raises DeployError (exit 2) for input found bad while loading."""
    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    env = p.environment
    prep = _prepare(p)
    _check_exporter(p, prep.model)
    picked = p.run_folder is not None and not p.weights_given  # the run's newest checkpoint, not the user's --weights
    said = (f"{p.weights_path} (the run's newest checkpoint; {argument('--weights')} deploys another)" if picked
            else None)
    hint = p.run_folder is None  # a recipe with a run's checkpoint: deploy the run folder (not said of one)
    try:
        params, weights_info = load_weights(p.weights_path, prep, said, run_hint=hint)
    except RecipeMismatch as mismatch:  # a run folder deploys the recipe the run trained: where the file its report
        recorded = (p.recipe_path, p.recipe_base, len(p.notes))  # names changed since, its recipe.resolved.yaml
        if not _resolved_plan(p):
            raise
        try:
            _check_out(p.out, [*_recipe_inputs(p.recipe_path, p.recipe_base), p.weights_path, p.environment_path])
            prep = _prepare(p)
            params, weights_info = load_weights(p.weights_path, prep, said, run_hint=hint)
        except RecipeMismatch:  # not that either: said of the recipe the run names
            p.recipe_path, p.recipe_base = recorded[0], recorded[1]
            del p.notes[recorded[2]:]
            raise mismatch from None
        _check_exporter(p, prep.model)
    except DeployError:
        if picked and not p.weights_path.exists() and (live := _live_run(p)) is not None:  # the newest checkpoint
            # went while it was read (a damaged one keeps its own reason): a run
            # still training rotates them ("No such file or directory" said nothing of the run)
            raise DeployError(f"{p.run_folder}: the run is still training ({live}); its newest checkpoint was "
                              f"replaced while it was read: deploy it when it has finished") from None
        raise
    if p.run_folder is not None and not p.weights_given and weights_info.get("kind") == "checkpoint" and \
            weights_info.get("step") != prep.total_steps:
        if (live := _live_run(p)) is not None:  # not stopped: still training (checkpoints rotate)
            raise DeployError(f"{p.run_folder}: the run is still training ({live}); its newest checkpoint is step "
                              f"{weights_info.get('step')} of {prep.total_steps}: deploy it when it has finished")
        raise DeployError(f"{p.weights_path}: the run stopped at step {weights_info.get('step')} of "
                          f"{prep.total_steps} (no final checkpoint); give {argument('--weights')} to deploy it anyway")
    _check_metrics(p, prep)
    _refuse_another_recipe(p, prep.recipe.metadata.name)
    say(f"exporting ({p.exporter} exporter, {env.dtype}, opset {env.opset})")
    q = env.quantization
    if env.dtype == "int8" and q is not None and q.mode == "static" and q.calibration_samples > len(prep.data.x_train):
        p.notes.append(f"int8 calibration used all {plural(len(prep.data.x_train), 'training sample')} "
                       f"(calibration_samples asks {q.calibration_samples})")
    p.notes.extend(_beyond_range(params, env.dtype))
    try:
        model = export_onnx(prep, params, env, p.exporter)
    except Exception as exc:  # an exporter failure on a valid model: the deployment fails, with the reason
        from lockstep.adapters.base import UnsupportedConstruct

        if isinstance(exc, UnsupportedConstruct):
            what = exc.subject() if exc.layer else f"layer type `{exc.construct}`"
            raise DeployError(f"cannot export to ONNX: {what}: {exc.reason}", 1) from None
        if p.exporter == "torch":  # the framework's exporter, not the standard's: say which, and the way around it
            raise DeployError(f"cannot export to ONNX: torch.onnx.export ({_exporter('torch')}) failed on this model "
                              f"in {'float32' if env.dtype == 'int8' else env.dtype} at opset {env.opset}: "
                              f"{type(exc).__name__}: {_one_line(exc)}; the spec exporter ({_exporter('spec')}, the "
                              "default) exports from the standard itself", 1) from None
        raise DeployError(f"cannot export to ONNX: {type(exc).__name__}: {exc}", 1) from None
    per_sample = int(np.prod(prep.data.x_eval.shape[1:])) * 8
    too_big = [b for b in {*env.batch_sizes, env.latency_budget.batch_size if env.latency_budget else 1}
               if b * per_sample > MAX_BATCH_BYTES]
    if too_big:
        big = max(too_big)
        field: tuple[str | int, ...] = (("batch_sizes", env.batch_sizes.index(big)) if big in env.batch_sizes
                                        else ("latency_budget", "batch_size"))
        raise DeployError(at_field(env, field, f"batch size {big} needs {big * per_sample / 2**30:.1f} GiB of inputs "
                                   f"(at most {MAX_BATCH_BYTES / 2**30:.0f} GiB per batch here): lower it"))
    try:  # nothing is written before every check has run: a deploy that fails or is stopped leaves the folder as it was
        result = _run_checks(p, prep, params, weights_info, model, progress)
    except DeployError:
        raise
    except Exception as exc:  # onnxruntime refusing the model or a batch: the deployment failed, with the reason
        if not _raised_by_onnxruntime(exc):
            raise  # a bug of Lockstep's own: said as an internal error (lockstep.cli), not blamed on onnxruntime
        raise DeployError(f"onnxruntime failed on the exported model: {type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", 1) from None
    _write_deployment(result, model)
    return result


def _raised_by_onnxruntime(exc: BaseException) -> bool:
    """Whether onnxruntime raised `exc`: one of its own errors (Fail, InvalidArgument, ...: they derive from
    Exception, not from one base of their own), or one raised in its Python code (its session wrapper's
    ValueError). Anything else inside the checks is a bug of Lockstep's, which "onnxruntime failed" misreported."""
    if type(exc).__module__.split(".")[0] == "onnxruntime":
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return isinstance(module, str) and module.split(".")[0] == "onnxruntime"


def _beyond_range(params: dict[str, np.ndarray], dtype: str) -> list[str]:
    """A note per array whose finite values exceed the deployed dtype's largest: they are exported as ±inf, and
    the predictions' non-finite verdict would otherwise not say why (int8 keeps float32 weights)."""
    kind = "float32" if dtype == "int8" else dtype
    if kind not in ("float16", "float32"):
        return []
    top = float(np.finfo(kind).max)
    out = []
    for name, w in params.items():
        a = np.abs(np.asarray(w, dtype=np.float64))
        big = a[np.isfinite(a) & (a > top)]
        if big.size:
            out.append(f"{name} holds {big.size} value(s) up to {float(big.max()):.3g}, beyond {kind}'s largest "
                       f"({top:.6g}): exported as ±inf")
    return out


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (torch's carry a graph dump or advice on the lines after the first)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _check_exporter(p: Plan, model: Any) -> None:
    """A layer that torch's TorchScript exporter (`--exporter torch`) is known not to export at this target's dtype
    and opset, refused before any work by name with what to do instead (it failed part-way, in torch's words:
    "cannot export to ONNX: ValueError: Unsupported type for attn_mask: 7")."""
    from lockstep.spec.layers import MultiHeadAttention

    if p.exporter != "torch":
        return
    env = p.environment
    dtype = "float32" if env.dtype == "int8" else env.dtype
    for i, layer in enumerate(model.layers if model.layers is not None else model.nodes or []):
        if not isinstance(layer, MultiHeadAttention):
            continue
        named = f"layer `{layer.name}`" if getattr(layer, "name", None) else f"layer {i}"
        if env.opset < 14:
            raise DeployError(f"{_exporter('torch')} cannot export {named} (multi_head_attention) at opset "
                              f"{env.opset}: torch.onnx.export writes attention as scaled_dot_product_attention, "
                              "which it exports from opset 14 on; give the Environment `opset: 14` or later, or deploy "
                              f"with the spec exporter ({_exporter('spec')}, the default)")
        if dtype == "float64" and layer.causal and layer.rotary is None:
            raise DeployError(f"{_exporter('torch')} cannot export {named} (multi_head_attention, causal: true) in "
                              "float64: torch.onnx.export turns nn.MultiheadAttention's causal mask into a float64 "
                              "attn_mask, which its scaled_dot_product_attention export refuses (float32 and float16 "
                              f"only); deploy it with the spec exporter ({_exporter('spec')}, the default), which "
                              "writes float64 attention, or to a float32 target")


def _prepare(p: Plan) -> Any:
    """The recipe prepared as the run prepared it (`runner.prepare_loaded`): its data, its hash. DeployError."""
    from lockstep.runner import prepare_loaded

    try:
        eff = _effective(p.recipe_path, p.recipe_base, p.overrides, p.seed)  # the run's own `--set`s and `--seed`
        return prepare_loaded(eff.recipe, eff.model, eff.base, path=p.recipe_path)
    except LockstepError as exc:  # RunError, or an override the run recorded that no longer parses
        said = str(exc)  # most already name the recipe: name it once
        said = said if said.startswith(str(p.recipe_path)) else f"{p.recipe_path}: {said}"
        if p.recipe_base is not None and not p.recipe_base.is_dir():
            said += (f" (the run's {p.recipe_path.name} reads its relative paths from {p.recipe_base}, the folder of "
                     "the recipe the run was started with, which no longer exists)")
        raise DeployError(said, exc.exit_code, exc.diagnostics) from None


def _check_metrics(p: Plan, prep: Any) -> None:
    """Each `max_metric_drop` metric means something for this recipe, said before any work: `mse`/`mae` compare
    outputs and targets of one shape, and `accuracy` needs class targets (run and validate refuse it on a
    regression recipe; here it was computed from real-valued targets and passed)."""
    from lockstep.reference.data import PROBABILITY_LOSSES
    from lockstep.spec.losses import CLASS_INDEX_LOSSES

    out_shape = tuple(prep.graph.output_shapes()[0])
    y = prep.data.y_eval
    for metric in p.environment.max_metric_drop or {}:
        if metric in ("mse", "mae") and out_shape != tuple(y.shape[1:]):
            raise DeployError(f"{p.environment_path}: max_metric_drop: `{metric}` compares outputs and targets of one "
                              f"shape, but this recipe's outputs are {list(out_shape)} per sample and its targets "
                              f"{list(y.shape[1:])}; use `accuracy` or `loss`")
        loss = prep.recipe.loss.type
        if metric == "accuracy" and loss not in (*PROBABILITY_LOSSES, *CLASS_INDEX_LOSSES):
            real = np.flatnonzero(np.asarray(y, dtype=np.float64).ravel() % 1)
            if real.size:
                raise DeployError(f"{p.environment_path}: max_metric_drop: `accuracy` needs class targets; "
                                  f"{prep.recipe.metadata.name} trains `{loss}` on real-valued targets "
                                  f"({float(y.ravel()[real[0]]):g} among them); use `loss`, `mse` or `mae`")


def _live_run(p: Plan) -> str | None:
    """Who holds the run folder being deployed, where a run still trains in it (None where it stopped, or where the
    lock is this deployment's own: --out is the run's folder)."""
    from lockstep.runfolder import in_use

    if p.run_folder is None or (p.claimed is not None and _same_place(p.claimed.path, p.run_folder)):
        return None
    return in_use(p.run_folder)


def _run_checks(p: Plan, prep: Any, params: dict[str, np.ndarray], weights_info: dict[str, Any], model: bytes,
                progress: Any) -> Result:
    from lockstep.adapters.onnxruntime.session import NUMPY, open_session, providers
    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.conformance.checks import check
    from lockstep.reference.tolerances import Tolerance

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    env = p.environment
    session = open_session(model, env.device, env.threads, env.dtype)
    input_names = list(prep.graph.input_shapes)
    name = input_names[0]
    float_np = np.float32 if env.dtype == "int8" else NUMPY[env.dtype]
    cast = (lambda a: a.astype(np.int64)) if prep.graph.input_dtypes[name] == "int64" else \
        (lambda a: np.ascontiguousarray(a, dtype=float_np))
    x, y = prep.data.x_eval, prep.data.y_eval
    ref_session = ReferenceAdapter().build(prep.model, dtype="float64")
    ref_session.set_parameters(params)
    with np.errstate(all="ignore"):  # said below, by sample, not as NumPy's RuntimeWarning
        reference = np.concatenate([ref_session.forward(x[i:i + 4096]) for i in range(0, len(x), 4096)])
    _refuse_non_finite_reference(p.weights_path, reference)
    checks: list[Check] = []
    tol = env.tolerance
    rule = Tolerance(tol.rtol, tol.atol) if tol is not None else None
    if tol is not None:
        _check_meaningful(p.environment_path, tol.rtol, tol.atol, reference)
    outputs_at: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for b in env.batch_sizes:
        say(f"predictions at batch size {b}")
        got, idx = [], []
        for s in _batches(len(x), b):
            batch = _take(x, s, b)
            kept = len(range(*s.indices(len(x))))
            got.append(np.asarray(session.run(None, {name: cast(batch)})[0], dtype=np.float64)[:kept])
            idx.append(np.arange(len(x))[s])
        out = np.concatenate(got)
        rows = np.concatenate(idx)
        outputs_at[b] = (rows, out)
        expected = reference[rows]
        if rule is not None:
            c = check(f"predictions at batch {b}", out, expected, rule)
            details = {"batch_size": b, "samples": len(rows), "rtol": tol.rtol, "atol": tol.atol}
            if out.size and np.isfinite(out).all():  # `observed` is the error where the ratio peaks; this, anywhere
                details["max_abs_error"] = float(np.max(np.abs(out - expected)))
            if c.why:  # no error to measure (a NaN or inf where the reference is finite): the value, its limit, why
                checks.append(_unmeasured(c.quantity, c.why, out, expected, tol.rtol, tol.atol, details))
            else:
                checks.append(Check("predictions", c.quantity, c.ok, c.error, c.tolerance, c.ratio, details=details))
        else:  # int8 without a tolerance: the elementwise error is reported, the metric budget judges
            err = float(np.max(np.abs(out - expected))) if out.size else 0.0
            checks.append(Check("predictions", f"predictions at batch {b} (reported)", True, err, None, None,
                                details={"batch_size": b, "samples": len(rows), "judged": False}))
    if env.max_metric_drop:
        b = max(outputs_at, key=lambda k: len(outputs_at[k][0]))
        rows, out = outputs_at[b]
        for metric, max_drop in env.max_metric_drop.items():
            ref_v = _metric(metric, prep.recipe, reference[rows], y[rows])
            got_v = _metric(metric, prep.recipe, out, y[rows])
            drop = ref_v - got_v if metric == "accuracy" else got_v - ref_v
            ok = bool(math.isfinite(drop) and drop <= max_drop)
            checks.append(Check("metric", f"{metric} {'drop' if metric == 'accuracy' else 'rise'}", ok, drop, max_drop,
                                drop / max_drop if max_drop > 0 and math.isfinite(drop) and drop > 0 else
                                (0.0 if drop <= 0 else math.inf),
                                details={"metric": metric, "reference": ref_v, "deployed": got_v,
                                         "batch_size": b, "samples": len(rows)}))
    budget = env.latency_budget
    lb = budget.batch_size if budget is not None else env.batch_sizes[0]
    say(f"latency at batch size {lb}")
    feeds = {name: cast(_take(x, slice(0, lb), lb))}
    lat = {"batch_size": lb, **latency(lambda f: session.run(None, f), feeds)}
    if budget is not None:
        for stat in ("p50_ms", "p99_ms"):
            limit = getattr(budget, stat)
            if limit is not None:
                checks.append(Check("latency", f"latency {stat[:3]} at batch {lb}", lat[stat] <= limit, lat[stat],
                                    limit, lat[stat] / limit, details={"unit": "ms", "batch_size": lb}))
    checks += requirement_checks(env.requirements)
    lock = environment_lock(p, model, providers(env.device), session)
    notes = list(p.notes)
    bad_scales = non_finite_scales(model) if env.dtype == "int8" else {}
    if bad_scales:
        notes.append(scale_note(bad_scales))
    report = {
        "verdict": "pass" if all(c.ok for c in checks) else "fail",
        "recipe": prep.recipe.metadata.name, "recipe_path": str(p.recipe_path), "recipe_hash": prep.recipe_hash,
        "overrides": [f"--set {o}" for o in p.overrides] + ([f"--seed {p.seed}"] if p.seed is not None else []),
        "weights": weights_info, "environment": env.metadata.name, "environment_path": str(p.environment_path),
        "exporter": p.exporter, "dtype": env.dtype, "opset": env.opset, "device": env.device,
        "threads": env.threads, "evaluated_on": "validation" if prep.data.held_out else "training",
        "evaluation_samples": len(x), "checks": [c.to_json() for c in checks], "latency": lat,
        "outputs": {k: str(p.out / k) for k in OUTPUTS}, "notes": notes,
    }
    if env.dtype == "int8":
        report["quantization"] = {"mode": env.quantization.mode if env.quantization else "dynamic",
                                  "non_finite_scales": {k: str(v) for k, v in bad_scales.items()}}
    result = Result(p, checks, lat, lock, report, "", notes)
    result.summary = summary(result)
    return result


def _write_deployment(result: Result, model: bytes) -> None:
    """The four files, as one set: a failure or a signal part-way leaves the earlier deployment's as they were.
    Outside `_run_checks`, whose failures are onnxruntime's: a failure here is the writing's, said as such."""
    out = result.plan.out
    if result.plan.claimed is not None:  # moved or removed meanwhile: no second, unlocked folder of that name
        from lockstep.runfolder import FolderError

        try:
            result.plan.claimed.check_in_place(unwritten="its four files were")
        except FolderError as exc:
            gone = DeployError(str(exc).removeprefix("deploy: "))
            gone.result = result  # checked: its verdict is said, though not written
            raise gone from None
    try:
        atomic.write_set({out / "model.onnx": model,
                          out / "environment.lock.json": atomic.utf8(atomic.json_text(result.lock)),
                          out / "deploy.json": atomic.utf8(atomic.json_text(result.report)),
                          out / "summary.txt": atomic.utf8(result.summary + "\n")})
    except OSError as exc:
        from lockstep.runfolder import cannot_write

        unwritten = DeployError(f"{cannot_write(out, exc, report=True).replace('the report', 'the deployment')}; "
                                f"{atomic.left_behind(exc)}")
        unwritten.result = result
        raise unwritten from None


def _unmeasured(name: str, why: str, out: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                details: dict[str, Any]) -> Check:
    """A failed prediction check with no error to measure: shown as the first non-finite output ("nan", "inf")
    against the limit at that element, with the reason (it was "inf" against a limit of 0, without a word)."""
    bad = np.argwhere(~np.isfinite(out))
    if not len(bad):
        return Check("predictions", name, False, None, None, None, details={**details, "message": f"{name}: {why}"})
    at = tuple(int(i) for i in bad[0])
    return Check("predictions", name, False, str(float(out[at])), atol + rtol * abs(float(expected[at])), None,
                 details={**details, "message": f"{name}: {why}"})


def _refuse_non_finite_reference(weights: Path, reference: np.ndarray) -> None:
    """Where the float64 reference predicts NaN or ±inf with these weights (a negative batch-norm running_var, a
    weight near float64's limit), any deployed value passed there (the check's "beyond the dtype" rule): a model
    predicting NaN everywhere deployed with margin ×∞. There is nothing to check a deployment against."""
    bad = np.argwhere(~np.isfinite(reference))
    if bad.size:
        at = tuple(int(i) for i in bad[0])
        raise DeployError(f"{weights}: the float64 reference predicts {float(reference[at])} with these weights "
                          f"(sample {at[0]} of the validation split, output {list(at[1:])}; {len(bad)} of "
                          f"{reference.size} values are not finite), so there is nothing to check the deployment "
                          "against; the weights are not a working model (a negative batch-norm running_var, or "
                          "values near float64's limits?)")


def _check_meaningful(env_path: Path, rtol: float, atol: float, reference: np.ndarray) -> None:
    """A tolerance that passes a model predicting 0 everywhere checks nothing on this data (`atol: 1e308`); said
    before anything is written, as validate says `rtol >= 1`. Only the reference's outputs show it."""
    magnitudes = np.abs(reference)
    if not magnitudes.size or not np.any(magnitudes):
        return
    if np.all(magnitudes <= atol + rtol * magnitudes):
        largest = float(magnitudes.max())
        raise DeployError(f"{env_path}: tolerance.atol {atol:g} (with rtol {rtol:g}) is at least every reference "
                          f"prediction on this recipe's data (the largest is {largest:.3g}): predictions of 0 would "
                          f"pass, so it checks nothing; give an atol well below {largest:.3g}")


def environment_lock(p: Plan, model: bytes, provider: list[Any], session: Any) -> dict[str, Any]:
    """What ran where: resolved versions, the provider ONNX Runtime used, the machine."""
    import onnx
    import onnxruntime as ort

    from lockstep.conformance.suite import fingerprint

    env = p.environment
    versions = {"lockstep": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "onnx": onnx.__version__, "onnxruntime": ort.__version__}
    if p.exporter == "torch":
        import torch

        versions["torch"] = torch.__version__
    resolved = {}
    for pkg in env.requirements:
        try:
            resolved[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            resolved[pkg] = None
    return {"environment": env.metadata.name, "runtime": env.runtime, "device": env.device,
            "providers_requested": [x if isinstance(x, str) else x[0] for x in provider],
            "providers_used": list(session.get_providers()), "threads": env.threads, "dtype": env.dtype,
            "quantization": env.quantization.model_dump() if env.quantization else None, "opset": env.opset,
            "exporter": p.exporter, "versions": versions, "requirements": resolved,
            "model_sha256": hashlib.sha256(model).hexdigest(), "fingerprint": fingerprint()}


# ------------------------------------------------------------------------------------------- summary
def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.3g}{unit}"


def _margin(c: Check) -> str:
    m = c.margin
    if m is None:
        return ""
    return "×∞" if not math.isfinite(m) else f"×{m:.3g}"


def summary(r: Result) -> str:
    """The short text report (also summary.txt)."""
    p, env = r.plan, r.plan.environment
    rep = r.report
    w = rep["weights"]
    weights = f"{w['path']}" + (f" (step {w['step']})" if w.get("kind") == "checkpoint" else "")
    lines = [f"deploy {rep['recipe']} to {env.metadata.name}: onnxruntime {r.lock['versions']['onnxruntime']}, "
             f"{', '.join(r.lock['providers_used'][:1])}, {env.dtype}, opset {env.opset}, "
             f"{env.threads} thread{'s' * (env.threads != 1)}",
             f"model: {p.exporter} exporter, weights {weights} -> {p.out / 'model.onnx'}",
             f"checked on {rep['evaluation_samples']} {rep['evaluated_on']} samples against the float64 reference",
             *(f"note: {n}" for n in r.notes), ""]
    rows = [("check", "observed", "limit", "margin", "")]
    for c in r.checks:
        unit = " ms" if c.kind == "latency" else ""
        rows.append((c.name, _fmt(c.observed, unit), _fmt(c.limit, unit), _margin(c),
                     "ok" if c.ok and c.details.get("judged", True) else ("reported" if c.ok else "FAIL")))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    lat = r.latency
    lines += ["", f"latency at batch {lat['batch_size']}: p50 {lat['p50_ms']:.3g} ms, p99 {lat['p99_ms']:.3g} ms "
                  f"over {lat['runs']} runs after {lat['warmup_runs']} warm-up runs"]
    failed = [c for c in r.checks if not c.ok]
    lines.append(f"verdict: {'PASS' if not failed else 'FAIL'} ({len(r.checks)} checks"
                 + (f", {len(failed)} failed: {', '.join(c.name for c in failed)}" if failed else "") + ")")
    for c in failed:
        if c.details.get("message"):
            lines.append(f"  {c.details['message']}")
    lines.append(f"outputs: {p.out}/ ({', '.join(OUTPUTS)})")
    return "\n".join(lines)


def main_error(prog: str, exc: DeployError) -> int:
    """Print a DeployError (and its diagnostics) the way every command does; its exit code."""
    for d in exc.diagnostics:
        print(d.format(), file=sys.stderr)
    print(f"{prog}: {exc}", file=sys.stderr)
    return exc.exit_code


def _same_place(a: Path, b: Path) -> bool:
    """Whether two paths name one folder (a relative and an absolute spelling, a link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
