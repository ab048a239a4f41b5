"""Output folders of `lockstep run` (and `lockstep compare --out`): one writer at a time, never clobbered, never
written over an input.

What a folder promises (docs/guarantees.md):
- **Locked while a run lives.** `claim` takes an exclusive `fcntl.flock` on `DIR/.lockstep.lock` and holds it until
  `release()` or the process ends; the kernel drops the lock of a process that dies (kill -9, power loss of the
  process), so a stale lock never needs cleaning up. The holder's pid, host, start time and command are written
  into the lock file, and a second claim is refused naming them.
- **Never clobbered.** A fresh claim of a folder that holds anything (another run, or files that are not a run's)
  is refused; `mode="resume"` continues what is there; `mode="overwrite"` removes the previous run's own files
  (the `outputs` named by the caller) and nothing else, when the command calls `start()` (ready to write). The
  removal is marked by `DIR/.lockstep-clearing` before the first file moves and finished by whichever claim
  comes next if the process is killed part-way, so the folder never holds a mix of the old run and the new one.
- **Never over an input.** Before anything is created or removed, every output path (and every path inside an
  output folder) is checked against the command's input files: the recipe, its model file, weights, data.

The API, for a command that writes into a folder (`lockstep compare --out DIR` calls it like `lockstep run`):

    from lockstep.runfolder import FolderError, check_out_arg, claim, recipe_inputs

    try:
        check_out_arg(args.out, "--out")                       # '' is a usage error, not "the default"
        folder = claim(out, outputs=("compare.json", "compare.svg"), inputs=recipe_inputs(args.recipe),
                       mode="overwrite" if args.overwrite else "fresh", prog="lockstep compare",
                       hint="choose another --out, or --overwrite to replace its compare.json and compare.svg")
    except FolderError as exc:
        print(exc, file=sys.stderr)                            # one line, names the folder and what to do
        return 2
    try:
        ...                                                    # load inputs, build what the command needs
        folder.start()                                         # --overwrite: the previous outputs go now
        ...                                                    # work, then write the outputs (atomically)
    finally:
        folder.release()                                       # also a context manager: `with claim(...):`

`claim` raises FolderError (a usage/IO problem, exit 2) and never a bare OSError. It does no training and
imports neither NumPy nor a framework; `recipe_inputs` loads (and validates) the recipe.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import shutil
import socket
import stat
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from lockstep.errors import LockstepError, argument, switch
from lockstep.spec.atomic import JOURNAL, fsync_dir
from lockstep.spec.files import OUTPUT_LOCK, file_kind

LOCK_NAME = OUTPUT_LOCK
CLEARING_NAME = ".lockstep-clearing"  # present while an --overwrite removes the previous run's files
TRASH_PREFIX = ".lockstep-old-"  # the previous run's files on their way out (removed at the next claim)
TENSORBOARD_PROBE = ".lockstep-tensorboard-probe"  # a writer tried before the run (lockstep/tensorboard.py `problem`)
PROBE_PREFIX = ".lockstep-probe-"  # an empty file proving the folder writable (`claim`)
BOOKKEEPING = (LOCK_NAME, CLEARING_NAME, JOURNAL)  # JOURNAL: a set of files being renamed into place (spec.atomic)
FOLDER_OUTPUTS = frozenset({"checkpoints", "tensorboard", "failures"})  # outputs that are folders; the rest are files
PATH_MAX = 4096  # Linux's; os.pathconf may say less for a file system
DEEPEST = 160  # the longest path below a claimed folder a command writes (an atomic temporary of a checkpoint, an
# event file named after the host)

RUN_OUTPUTS: tuple[str, ...] = ("metrics.jsonl", "report.json", "loss.svg", "checkpoints", "recipe.resolved.yaml",
                                 "tensorboard")
"""What `lockstep run` writes into its folder (besides the lock): the files `--overwrite` removes."""

Mode = Literal["fresh", "resume", "overwrite"]

CERTIFY_OUTPUTS = ("report.json", "junit.xml", "report.html", "report.md", "failures")  # lockstep certify's

OTHER_COMMANDS: dict[str, tuple[str, ...]] = {
    "a run's": ("metrics.jsonl", "checkpoints", "recipe.resolved.yaml"),
    "a comparison's": ("compare.json",),
    "a deployment's": ("model.onnx", "deploy.json", "environment.lock.json"),
    "a certification's": ("junit.xml", "report.html"),
}
"""Files that say which other command a folder belongs to (`certify --report` would replace its report.json)."""


def refuse_others(folder: Path, mine: str, prog: str, flag: str, beside: tuple[str, ...] = ()) -> None:
    """FolderError when `folder` holds another command's outputs (OTHER_COMMANDS, all but `mine` and those `beside`
    it): a comparison written into a run folder mixed with the run's files, a certification replaced a run's
    report.json."""
    flag = argument(flag)
    for whose, names in OTHER_COMMANDS.items():
        found = [n for n in names if whose != mine and whose not in beside and os.path.lexists(folder / n)]
        if found:
            raise FolderError(f"{prog}: {flag} {_shown(folder)} holds {whose} outputs ({', '.join(found)}); "
                              f"choose another {flag} folder")


def _is_certificate(head: object) -> bool:
    """Whether a report.json is a certificate, so certify may replace it: every certificate holds these (sweep O:
    a hand-made `{"certified": true, "checks": []}` passed for one, and the junit.xml beside it was replaced)."""
    return (isinstance(head, dict) and isinstance(head.get("certified"), bool) and isinstance(head.get("checks"), list)
            and all(isinstance(head.get(k), str) for k in ("adapter", "spec_version", "suite_version")))


def foreign_report_folder(folder: Path, prog: str = "lockstep certify", flag: str = "--report",
                          shown: str | os.PathLike[str] | None = None) -> None:
    """Refuse a report folder that holds another command's outputs: a certification rewrites its own reports in
    place run after run, but replacing a run's report.json would orphan the run (deploy reads it). FolderError."""
    if not folder.is_dir():
        return
    refuse_others(folder, "a certification's", prog, flag)
    flag, said_as = argument(flag), _shown(Path(shown if shown is not None else folder))
    report = folder / "report.json"
    if report.is_file():
        from lockstep.spec.files import read_json_file

        head = read_json_file(report, 1 << 28)  # swapped for a FIFO since is_file(): refused, not waited on
        if not _is_certificate(head):
            raise FolderError(f"{prog}: {flag} {said_as} holds a report.json that is not a certificate; "
                              f"choose another {flag} folder")
    elif found := [n for n in CERTIFY_OUTPUTS[1:] if os.path.lexists(folder / n)]:
        # no certificate beside them: the user's own report.md or failures/ (replaced and removed before)
        raise FolderError(f"{prog}: {flag} {said_as} holds {', '.join(found)} but no certificate report.json: "
                          f"not a certification's folder; choose another {flag} folder")


def check_report_folder(folder: Path, shown: str | os.PathLike[str] | None = None, prog: str = "lockstep certify",
                        flag: str = "--report") -> None:
    """FolderError for a report folder that certify's reports may not replace (foreign_report_folder) or cannot
    (conformance.report.unreplaceable: a report that is a folder or a link), said before any check runs. The one
    check of `lockstep certify --report` and the pytest plugin's --lockstep-report, so that both refuse alike."""
    from lockstep.conformance.report import unreplaceable
    from lockstep.spec.diagnostics import escape_text

    foreign_report_folder(folder, prog, flag, shown)
    if folder.is_dir() and (problem := unreplaceable(folder)):
        flag = argument(flag)
        raise FolderError(f"{prog}: {flag} {_shown(Path(shown if shown is not None else folder))} holds "
                          f"{escape_text(problem)}: the reports cannot replace it; remove it or choose another "
                          f"{flag} folder")


class FolderError(LockstepError):
    """The folder cannot be used as asked (busy, not empty, would overwrite an input, not writable): exit 2.

    The message is one line, starts with the command's name and says what to do."""


def default_out(out: str | os.PathLike[str] | None, recipe_name: str, backend: str) -> Path:
    """`--out`, or runs/<recipe name>-<backend> (`lockstep run` and `lockstep.run`, one process or data parallel;
    an empty `--out` is refused before: check_out_arg)."""
    import re

    if out is not None:
        return Path(out)
    return Path(f"runs/{recipe_name}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', backend)}")


def said(path: Path, start: Path | None = None) -> str:
    """`path` as a message shows it: relative to the current folder (or `start`, the one the command began in)
    where it lies under it (`runs/x`), else as it is. The API returns folders absolute (RunFolder.path); the
    command line says them as a user would type them."""
    try:
        return str(path.relative_to(start or Path.cwd())) if path.is_absolute() else str(path)
    except (ValueError, OSError):  # outside the current folder, or no current folder any more
        return str(path)


def cannot_write(folder: Path, exc: OSError, *, report: bool = False, started: bool = True,
                 checkpointed: bool = True) -> str:
    """What a run says when an output cannot be written (a full disk, a folder where report.json goes): the file,
    the reason, and, mid-run, what is kept. One wording for one process and for data-parallel replicas.
    `started` False: before the first step (recipe.resolved.yaml), when there is nothing to keep yet.
    `checkpointed` False: the recipe writes no checkpoints, so --resume has nothing to continue from."""
    at = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if report:
        return f"cannot write the report in {folder}{at}: {exc.strerror or exc}"
    if not started:
        return f"cannot write in {folder}{at}: {exc.strerror or exc}; nothing was trained"
    if not checkpointed:
        return (f"cannot write in {folder}{at}: {exc.strerror or exc}; the recipe writes no checkpoints, so there "
                f"is nothing to resume (remove the cause, then run it again with {switch('--overwrite')})")
    try:
        kept = any(Path(folder, "checkpoints").glob("step-*.npz"))
    except OSError:
        kept = True
    return (f"cannot write in {folder}{at}: {exc.strerror or exc}; "
            + ("the last complete checkpoint is kept" if kept else "no checkpoint was written yet")
            + " (remove the cause, then continue with --resume)")


def check_out_arg(value: str | None, flag: str = "--out", prog: str = "lockstep",
                  without: str = "for the default") -> None:
    """An explicitly empty folder argument is a mistake (an unset shell variable), never "use the default".
    `without`: what leaving the flag out does (`lockstep compare` has no default folder: it writes nothing)."""
    arg = argument(flag)
    if value is not None and not value.strip():
        leave = f"leave {flag} out" if arg == flag else f"pass {arg}=None"
        raise FolderError(f"{prog}: {arg} is empty; give a folder, or {leave} {without}")
    if value is not None and "\0" in value:
        raise FolderError(f"{prog}: {arg} contains a NUL character")
    if value is not None:  # a name too long, a parent that cannot be searched: said here, not as a traceback later
        try:
            os.stat(value)
        except (FileNotFoundError, NotADirectoryError):
            pass  # made later (or refused as under a file, with the command's own words)
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # a symlink loop: refused where the folder is made, as "not a folder"
                raise FolderError(f"{prog}: {arg} {_shown(Path(value))}: cannot use it ({exc.strerror or exc})"
                                  ) from None
        _outside_owned_folders(Path(value), flag, prog)


OWNED_FOLDERS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "checkpoints": (("metrics.jsonl", "recipe.resolved.yaml"), "run folder",
                    "`lockstep run --overwrite` removes it with everything in it"),
    "tensorboard": (("metrics.jsonl", "recipe.resolved.yaml"), "run folder",
                    "`lockstep run --overwrite` removes it with everything in it"),
    "failures": (("junit.xml", "report.html"), "certification's report folder",
                 "the next certification there removes it with everything in it"),
}
"""A folder output of another command, by name: what marks its owner folder, the owner, and what becomes of it.
A deployment written into RUN/checkpoints was deleted, without a word, by the next `lockstep run --overwrite`."""


def _outside_owned_folders(out: Path, flag: str, prog: str) -> None:
    """FolderError when `out` is, or lies in, a folder another command owns and removes (OWNED_FOLDERS)."""
    path, flag = Path(os.path.abspath(out)), argument(flag)
    for at in (path, *path.parents):
        owned = OWNED_FOLDERS.get(at.name)
        if owned is None or not any(os.path.lexists(at.parent / mark) for mark in owned[0]):
            continue
        where = "is" if at == path else f"lies in {_shown(said(at))},"
        raise FolderError(f"{prog}: {flag} {_shown(out)} {where} the {at.name} folder of the {owned[1]} "
                          f"{_shown(said(at.parent))}: {owned[2]}; choose a folder outside it")


def writable_folder(value: str | os.PathLike[str], flag: str = "--out", prog: str = "lockstep") -> Path:
    """The folder named by an output argument, created if missing and proven writable (a probe file), so that a
    command fails before its work rather than after it. FolderError (exit 2) names the flag and the reason."""
    check_out_arg(os.fspath(value), flag, prog)
    path, flag = Path(value), argument(flag)
    if path.exists() and not path.is_dir():
        raise FolderError(f"{prog}: {flag} {_shown(path)}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".lockstep-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise FolderError(f"{prog}: {flag} {_shown(path)}: cannot write there ({exc.strerror or exc})") from None
    return path


def _shown(path: Path) -> str:
    return _escaped(str(path))


def _escaped(text: str) -> str:
    """`text` as a message may print it: escaped (`\\x1b`) where it holds a character that is not printable."""
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def check_outputs(folder: Path, outputs: Iterable[str], inputs: Iterable[str | os.PathLike[str]],
                  prog: str = "lockstep") -> None:
    """FolderError when an output (a file, or a folder such as `checkpoints/`) is an input or holds one."""
    root = Path(os.path.abspath(folder))
    with contextlib.suppress(OSError, RuntimeError):
        root = root.resolve()
    from lockstep.spec.atomic import temporary_of

    outputs = list(outputs)
    for inp in inputs:
        try:
            source = Path(inp).resolve()
        except (OSError, RuntimeError):
            continue
        top = source.relative_to(root).parts[0] if source.is_relative_to(root) and source != root else None
        if top is not None and top not in outputs and (_is_own(top, outputs) or temporary_of(top) in outputs
                                                      or top.startswith(TRASH_PREFIX)):
            # a killed write's temporary, or an interrupted --overwrite's trash: the claim removes those
            raise FolderError(f"{prog}: the input {_shown(Path(inp))} is named as a file this command removes from "
                              f"{_shown(root)} (a temporary of an interrupted write); rename it, or choose another "
                              "output folder")
        for name in (*outputs, *BOOKKEEPING):
            target = root / name
            with contextlib.suppress(OSError, RuntimeError):
                target = target.resolve()
            if source == target or source.is_relative_to(target):
                out = _shown(root / name)
                raise FolderError(f"{prog}: {out} would overwrite the input {_shown(Path(inp))}; choose another "
                                  "output folder" if source == target else
                                  f"{prog}: {out}, which this command writes, holds the input {_shown(Path(inp))}; "
                                  "choose another output folder")


def recipe_inputs(recipe: str | os.PathLike[str], loaded: tuple[Any, Any, Path] | None = None) -> list[Path]:
    """The files a recipe reads: itself, its model document, the model's weights, its data file.

    `loaded` is what `runner.load_recipe(recipe)` returned, when the caller has it already. A recipe that does
    not load or validate gives just itself (the command reports why when it prepares)."""
    from lockstep.runner import RunError, load_recipe
    from lockstep.spec.paths import resolve_path

    path = Path(recipe)
    found = [path]
    try:
        doc, model, base = loaded if loaded is not None else load_recipe(path)
    except (RunError, OSError, ValueError):
        return found
    with contextlib.suppress(ValueError):
        model_dir = base
        if isinstance(doc.model, str):
            model_file = resolve_path(base, doc.model)
            found.append(model_file)
            model_dir = model_file.parent
        if model.weights is not None:
            found.append(resolve_path(model_dir, model.weights.path))
    source = doc.data.source
    if getattr(source, "path", None) is not None:
        with contextlib.suppress(ValueError):
            found.append(resolve_path(base, source.path))  # type: ignore[union-attr]
    return found


class RunFolder:
    """A claimed output folder; the lock is held until `release()` (or the process ends)."""

    def __init__(self, path: Path, fd: int, notes: list[str], created: bool = False, *, mode: Mode = "fresh",
                 outputs: Sequence[str] = (), prog: str = "lockstep", parents: Sequence[Path] = (),
                 had_lock: bool = True, found: Sequence[str] = ()) -> None:
        # `path` as the user gave it is what messages say; the command writes to it absolute, so that a later
        # change of the current folder (by an adapter, a callback) cannot split its files between two folders
        self.shown, self.path = path, path.absolute()
        self._fd: int | None = fd
        self.notes = notes  # what the claim did that the user should hear of (an interrupted --overwrite finished)
        self.created = created  # the claim made the folder: it goes again if nothing was written into it
        self.parents = [p.absolute() for p in parents]  # folders the claim made above it (`runs/`): go with it
        self.mode, self.outputs, self.prog = mode, tuple(outputs), prog
        # whether the lock file was there before the claim, and what the folder held once claimed: a command that
        # ends having written nothing (refused after the claim) takes away the lock file it made
        self.had_lock, self.found = had_lock, sorted(found)

    def start(self) -> None:
        """Call once the command is ready to write (inputs loaded, backend built). With mode "overwrite" this is
        when the previous run's files go: a command refused before it (a typo in a backend name) leaves them as
        they were. A no-op in the other modes. FolderError (exit 2) if they cannot be removed."""
        if self.mode != "overwrite" or self._fd is None:
            return
        self.mode = "fresh"  # once
        try:
            _clear(self.path, _own_files(self.path, self.outputs))
        except OSError as exc:
            raise FolderError(f"{self.prog}: cannot remove the previous run's files in {_shown(self.shown)} "
                              f"({exc.strerror or exc})") from None

    def check_in_place(self, step: int | None = None, *, unwritten: str | None = None) -> None:
        """FolderError (exit 2) when the folder was moved or removed while claimed: its lock file is no longer the
        one this claim holds. Checked before a command writes a file by path (a checkpoint, the report,
        compare.json): that write would make a new, unlocked folder of the same name, and the command's files would
        end up in two places. The message says what became of the folder (`moved_to`) and what is not written:
        `step`, a run's checkpoint at that step (the run stops there); `unwritten`, files that a command that has
        done its work leaves unwritten ("compare.json and compare.svg were")."""
        if self._fd is None:
            return
        try:
            held, there = os.fstat(self._fd), os.stat(self.path / LOCK_NAME)
            same = (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)
        except OSError:
            same = False
        if same:
            return
        what = {"lockstep run": "run", "lockstep compare": "comparison", "lockstep certify": "certification",
                "deploy": "deployment"}.get(self.prog, "command")
        gone, now = self.whereabouts()
        if step is not None:
            outcome = (f"the run stopped at step {step} rather than write that step's checkpoint into a second, "
                       "unlocked folder of that name")
        else:
            outcome = (f"{unwritten or 'its outputs were'} not written, rather than into a second, unlocked folder "
                       "of that name")
        kept = ("; the result is on standard output" if what in ("comparison", "certification", "deployment") else
                f"; what it wrote before is in {_shown(Path(said(now)))}" if now is not None and what == "run" else "")
        raise FolderError(f"{self.prog}: {_shown(self.shown)} {gone} while the {what} held it; {outcome}{kept}")

    def moved_to(self) -> Path | None:
        """Where the claimed folder is now, found from the lock file this claim holds open (Linux: /proc), when it
        was moved (renamed) while claimed; None when it is where it was claimed, was removed, or is not known."""
        return self.whereabouts()[1]

    def whereabouts(self) -> tuple[str, Path | None]:
        """What became of the claimed folder, in words ("was moved to X", "was removed", "was moved or removed":
        not known here), and its path when it was moved."""
        if self._fd is None:
            return "was released", None
        try:
            target = os.readlink(f"/proc/self/fd/{self._fd}")
        except OSError:  # no /proc (macOS): the lock file's path is not known
            return "was moved or removed", None
        if target.endswith(" (deleted)"):
            if os.path.lexists(self.path):  # a folder of that name, but not the one claimed (or its lock file gone)
                return "was removed (or its lock file was)", None
            return "was removed", None
        now = Path(target).parent
        if now == self.path:
            return "lost its lock file", None
        return f"was moved to {_shown(Path(said(now)))}", now

    def release(self) -> None:
        """Drop the lock (idempotent). The lock file stays, except where this claim made it and the command wrote
        nothing (refused after the claim: a backend that does not build, a bad --resume): the folder is left as it
        was found, without the lock file, and a folder the claim created goes with it (no empty folder behind).
        A claim waiting on the removed file finds it gone once it has the lock, and starts again."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if not self.had_lock:
            with contextlib.suppress(OSError):
                if contents(self.path) == self.found and not any(self.path.glob(f"{TRASH_PREFIX}*")):
                    os.unlink(self.path / LOCK_NAME)  # still locked: no one can have taken it meanwhile
                    if self.created:
                        os.rmdir(self.path)
                        remove_empty(self.parents)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(folder: Path) -> dict[str, object] | None:
    """Who holds (or last held) the folder's lock, from the lock file; None when unknown."""
    try:
        return json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _held(folder: Path) -> bool:
    """Whether a live command holds the folder's lock. Tried with a shared lock that is given back at once, so
    asking never blocks a run that starts meanwhile."""
    try:
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def in_use(folder: Path) -> str | None:
    """The live command that holds the folder's lock, described (pid, host, start, command); None when none does."""
    return _describe(holder(folder)) if _held(folder) else None


def refuse_busy(folder: Path, prog: str) -> None:
    """FolderError, in `claim`'s words, where a live command holds `folder`: asked before slow work (an adapter's
    import), so that a busy folder is refused at once; `claim` still decides when it comes."""
    if _held(folder):
        raise FolderError(_busy(folder, prog, holder(folder)))


def _busy(folder: Path, prog: str, info: dict[str, object] | None) -> str:
    """The refusal of a folder whose lock is held, by what its lock file says of the holder (`info`)."""
    if isinstance(info, dict) and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
        return (f"{prog}: {_shown(folder)} is in use by a command still running in this process (started "
                f"{_escaped(str(info.get('started', '?')))}: a callback of a run, or a thread, started this one); "
                "choose another folder, or wait for that one to return")
    return (f"{prog}: {_shown(folder)} is in use by another Lockstep command: {_describe(info)}; wait for it to end, "
            "or choose another folder")


def _describe(info: dict[str, object] | None) -> str:
    if not isinstance(info, dict):
        return "another process (it has not said which)"
    cmd = str(info.get("command", "")).strip()  # the lock file's text, as the folder's name is: escaped
    return _escaped(f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started {info.get('started', '?')}"
                    + (f" (`{cmd[:200]}`)" if cmd else ""))


def _open_lock(folder: Path, prog: str) -> int | None:
    path = folder / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:  # the folder went away (a claim that created it, and released it empty)
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FolderError(f"{prog}: {_shown(path)} is a symbolic link; remove it") from None
        if exc.errno == errno.EISDIR:
            raise FolderError(f"{prog}: {_shown(path)} is not a regular file; remove it") from None
        raise FolderError(f"{prog}: cannot write in {_shown(folder)} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FolderError(f"{prog}: {_shown(path)} is not a regular file; remove it")
    return fd


def broken_link(path: Path) -> str | None:
    """Where `path`, or a folder on its way, is a symbolic link leading nowhere (its target missing, or a loop of
    links), what to say of it ("it is a broken symbolic link (to 'x', which does not exist); remove the link, make
    its target"); None otherwise. Making the folder said "cannot create the folder (File exists)" of it."""
    for at in (path, *path.parents):
        if not os.path.islink(at):
            if os.path.lexists(at):
                return None  # an existing folder (or file) on the way: what is wrong with it is said elsewhere
            continue
        if os.path.exists(at):
            return None
        try:
            target = os.readlink(at)
        except OSError:
            target = "?"
        loop = os.path.lexists(at.parent / target)
        return (f"{'it' if at == path else _shown(at)} is a broken symbolic link (to {target!r}, "
                f"{'a loop of links' if loop else 'which does not exist'}); remove the link"
                f"{'' if loop else ', make its target'}")
    return None


def _lock(folder: Path, prog: str) -> int:
    """An exclusive lock on the folder's lock file; FolderError naming the holder when another has it."""
    for _ in range(10):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            said = broken_link(folder)  # "(File exists)" of a path that shows nothing
            if said is not None:
                raise FolderError(f"{prog}: {_shown(folder)}: {said}, or choose another folder") from None
            raise FolderError(f"{prog}: cannot create the folder {_shown(folder)} ({exc.strerror or exc})") from None
        fd = _open_lock(folder, prog)
        if fd is None:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = None
            with contextlib.suppress(OSError, ValueError, UnicodeDecodeError):
                info = json.loads(os.pread(fd, 65536, 0).decode("utf-8") or "null")
            os.close(fd)
            raise FolderError(_busy(folder, prog, info)) from None
        except OSError as exc:  # e.g. a file system without locks
            os.close(fd)
            raise FolderError(f"{prog}: cannot lock {_shown(folder / LOCK_NAME)} ({exc.strerror or exc})") from None
        try:  # the file we locked must still be the one at that path (not removed and recreated meanwhile)
            same = os.stat(folder / LOCK_NAME, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise FolderError(f"{prog}: {_shown(folder / LOCK_NAME)} keeps being replaced; is another program removing it?")


def _write_holder(fd: int, prog: str) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv)[:500] or prog,  # the process's own command line, as `ps` shows it
    }
    data = (json.dumps(info) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _own_files(folder: Path, outputs: Sequence[str]) -> list[str]:
    """The names in `folder` that belong to a run with these outputs: the outputs and their atomic temporaries."""
    with os.scandir(folder) as it:
        return sorted(entry.name for entry in it if _is_own(entry.name, outputs))


def _is_own(name: str, outputs: Sequence[str]) -> bool:
    """An output's name, or one of its atomic temporaries' (`.metrics.jsonl.x1y2.tmp`)."""
    return name in outputs or any(name.startswith(f".{o}.") and name.endswith(".tmp") and "/" not in name
                                  for o in outputs)


def _clear(folder: Path, names: Sequence[str]) -> None:
    """Move `names` out of the folder, marked so that a kill part-way is finished by the next claim."""
    marker = folder / CLEARING_NAME
    if not marker.exists():
        marker.write_text(json.dumps(list(names)) + "\n", encoding="utf-8")
        fsync_dir(folder)
    trash = folder / f"{TRASH_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    trash.mkdir()
    for n in names:
        with contextlib.suppress(FileNotFoundError):
            os.rename(folder / n, trash / n)
    fsync_dir(folder)
    marker.unlink()
    fsync_dir(folder)
    shutil.rmtree(trash, ignore_errors=True)


def _recovered(folder: Path, outputs: Sequence[str]) -> list[str]:
    """Make whole a set of the outputs that a killed command left half renamed (`atomic.recover`): before anything
    else reads or removes them, its kept links among them. A note saying what was done, or none."""
    from lockstep.spec.atomic import recover

    said = recover(folder, [n for n in outputs if n not in FOLDER_OUTPUTS])
    return [f"{_shown(folder)}: {said}"] if said else []


def _finish_interrupted(folder: Path, outputs: Sequence[str]) -> list[str]:
    """Finish an --overwrite that a kill interrupted, and drop the trash of earlier ones."""
    notes = []
    marker = folder / CLEARING_NAME
    if marker.is_file():
        try:
            planned = [str(n) for n in json.loads(marker.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError):
            planned = []
        # the marker is a file in the folder, not an authority: only a run's own names are removed (a hand-written
        # marker naming notes.txt, or `..`, removed notes.txt, or left the folder unusable)
        names = sorted({n for n in planned if _is_own(n, outputs)} | set(_own_files(folder, outputs)))
        _clear(folder, names)
        notes.append(f"{_shown(folder)}: finished removing a previous run's files (an --overwrite was interrupted)")
    with os.scandir(folder) as it:
        for entry in it:  # what a command killed while it held the lock left: its trash, its probes (a kill during
            # --tensorboard's writer check, seconds of TensorFlow's import, left the folder refused for good)
            if (entry.name.startswith(TRASH_PREFIX) or entry.name == TENSORBOARD_PROBE) \
                    and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            elif entry.name.startswith(PROBE_PREFIX) and entry.is_file(follow_symlinks=False) \
                    and entry.stat(follow_symlinks=False).st_size == 0:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    return notes


def _stale_temporary(folder: Path, name: str, outputs: Sequence[str]) -> bool:
    """Whether `name` in `folder` is a temporary of the atomic writer (spec/atomic.py) for one of `outputs`, or, in
    `checkpoints/`, for a checkpoint: left by a write killed before its rename (no one else writes there while
    the lock is held). Only regular files: a folder or a link so named is someone's, left alone."""
    from lockstep.spec.atomic import temporary_of

    target = temporary_of(name)
    if target is None:
        return False
    if folder.name == "checkpoints":
        from lockstep.checkpoint import step_of

        ours = step_of(Path(target)) is not None
    else:
        ours = target in outputs and target not in FOLDER_OUTPUTS
    return ours and stat.S_ISREG(os.lstat(folder / name).st_mode)


def _remove_stale_temporaries(path: Path, outputs: Sequence[str]) -> list[str]:
    """Remove the temporaries that killed atomic writes left in the folder and its checkpoints/ (they piled up,
    run after run); a note naming them, or none. Called holding the lock."""
    removed = []
    folders = [path] + ([path / "checkpoints"] if "checkpoints" in outputs else [])
    for folder in folders:
        if folder.is_symlink() or not folder.is_dir():
            continue
        for name in sorted(os.listdir(folder)):
            if _stale_temporary(folder, name, outputs):
                os.unlink(folder / name)
                removed.append(str((folder / name).relative_to(path)))
    if not removed:
        return []
    shown = ", ".join(_shown(Path(n)) for n in removed[:3]) + (f" and {len(removed) - 3} more" if len(removed) > 3
                                                              else "")
    return [f"{_shown(path)}: removed {len(removed)} temporary file{'s' * (len(removed) > 1)} of a write that was "
            f"interrupted ({shown})"]


def contents(folder: Path) -> list[str]:
    """What the folder holds besides Lockstep's own bookkeeping (the lock, an interrupted clearing's trash)."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.name not in BOOKKEEPING and not e.name.startswith(TRASH_PREFIX))


def claim(folder: str | os.PathLike[str], *, outputs: Sequence[str], inputs: Iterable[str | os.PathLike[str]] = (),
          mode: Mode = "fresh", prog: str = "lockstep", hint: str | None = None,
          checkpointed: bool | None = None, tidy: bool = True, earlier: str = "another run") -> RunFolder:
    """Create (if needed), lock and prepare `folder` for a command that writes `outputs` into it.

    mode "fresh": the folder must be new or empty; "resume": whatever is there is kept; "overwrite": the
    `outputs` already there are removed (nothing else is) when the command calls `start()`. `inputs` are
    checked first: no output may be or contain one. `hint` ends the refusal of a non-empty folder (default:
    how to get past it with the flags of `lockstep run`). `checkpointed`, for a run's --resume: whether its recipe
    writes checkpoints; with nothing to resume, the folder is refused as resume_note says, or the note is added to
    `notes`. `tidy`: remove the temporaries of killed atomic writes of `outputs` (False: the command removes its
    own, deploy's kept links too). `earlier`: what a fresh claim calls a folder holding some of `outputs` ("an earlier
comparison"). Raises FolderError (exit 2), leaving the folder as it was."""
    path = Path(folder)
    inputs = list(inputs)
    length = len(os.fsencode(path.absolute()))
    if length + DEEPEST > PATH_MAX:  # said now, not as an error at a checkpoint
        raise FolderError(f"{prog}: {_shown(path)} is too long a path ({length} bytes): "
                          f"the files written in it take up to {DEEPEST} more, and paths are limited to {PATH_MAX} "
                          "bytes here; choose a shorter --out")
    check_outputs(path, outputs, inputs, prog)
    try:  # Path.exists lets a name too long, or a parent that cannot be searched, through as OSError
        exists = path.exists()
        if exists and not path.is_dir():
            raise FolderError(f"{prog}: {_shown(path)} exists and is not a folder")
    except OSError as exc:
        raise FolderError(f"{prog}: cannot use {_shown(path)} ({exc.strerror or exc})") from None
    created = not exists
    had_lock = created is False and os.path.lexists(path / LOCK_NAME)
    parents = missing_folders(path.parent) if created else []  # `runs/` of `runs/<name>`: gone with it
    fd = _lock(path, prog)
    try:
        _write_holder(fd, prog)
        if had_lock and not contents(path):  # only the lock of a killed command: an empty folder, as it was
            had_lock = False
        notes = _recovered(path, outputs) + _finish_interrupted(path, outputs)
        if mode == "resume" and checkpointed is not None and (note := resume_note(path, checkpointed, outputs)):
            notes.append(note)
        if mode == "fresh":
            found = contents(path)
            if [n for n in found if not _stale_temporary(path, n, outputs)]:
                ours = [n for n in found if n in outputs]
                what = earlier if ours else "files that are not from a Lockstep run"
                raise FolderError(
                    f"{prog}: {_shown(path)} already holds {what} ({_listed(path, found)}); "
                    + (hint or (f"continue that run with {switch('--resume')}, replace it with "
                                f"{switch('--overwrite')}, or choose another {argument('--out')}" if ours else
                                f"choose another {argument('--out')}, or {switch('--overwrite')} to write beside "
                                "them")))
        if mode != "overwrite" and tidy:  # --overwrite removes them with the previous run's files (start)
            notes += _remove_stale_temporaries(path, outputs)
        if mode == "overwrite":  # a folder where a command writes a file is someone's: never removed with its contents
            odd = [n for n in _own_files(path, outputs) if n not in FOLDER_OUTPUTS and (path / n).is_dir()
                   and not (path / n).is_symlink()]
            if odd:
                raise FolderError(f"{prog}: {_shown(path / odd[0])} is a folder, where --overwrite would replace a "
                                  "file of an earlier run: it is not that file; remove it, or choose another --out")
        # a probe: an unwritable folder is found here, not after the first training step
        probe = path / f"{PROBE_PREFIX}{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        _journal_name_free(path, prog)
        found = contents(path)  # what a command that writes nothing leaves (RunFolder.release)
    except OSError as exc:
        _unclaim(path, fd, created, had_lock, parents)
        raise FolderError(f"{prog}: cannot write in {_shown(path)} ({exc.strerror or exc})") from None
    except BaseException:  # FolderError, KeyboardInterrupt: the lock goes with the refusal
        _unclaim(path, fd, created, had_lock, parents)
        raise
    return RunFolder(path, fd, notes, created, mode=mode, outputs=outputs, prog=prog, parents=parents,
                     had_lock=had_lock, found=found)


def claim_run(folder: str | os.PathLike[str], *, inputs: Iterable[str | os.PathLike[str]], mode: Mode,
              checkpointed: bool | None) -> RunFolder:
    """`claim` for `lockstep run`'s folder, refusing first one that holds a certification's or a comparison's
    outputs: `--overwrite` replaced a certificate's report.json and left its junit.xml and report.html beside the
    run's files (a deployment may sit in its run's folder)."""
    path = Path(folder)
    if path.is_dir():
        refuse_others(path, "a run's", "lockstep run", "--out", beside=("a deployment's",))
    return claim(path, outputs=RUN_OUTPUTS, inputs=inputs, mode=mode, prog="lockstep run", checkpointed=checkpointed)


def _journal_name_free(path: Path, prog: str) -> None:
    """Refuse a folder whose JOURNAL name is taken by something that is not a journal (a folder, a FIFO, a link):
    the command's set of outputs would fail on it only once written, after all its work."""
    try:
        mode = os.lstat(path / JOURNAL).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode):
        raise FolderError(f"{prog}: {_shown(path / JOURNAL)} is {file_kind(mode)}, where Lockstep keeps the record "
                          "of a set of files being replaced; remove it, or choose another folder")


def _listed(path: Path, found: Sequence[str]) -> str:
    listed = ", ".join(n + ("/" if (path / n).is_dir() else "") for n in found[:6])
    return listed + (f" and {len(found) - 6} more" if len(found) > 6 else "")


def restart_problem(path: Path, outputs: Sequence[str], prog: str = "lockstep run") -> str | None:
    """Why `--resume` must not start from step 0 in `path`, which holds no checkpoint: a finished run (its
    report.json: another recipe's, or one that wrote no checkpoints) or files that are not a run's, which a fresh run
    refuses to clobber and --resume replaced without a word. None for an empty folder or a run that stopped before
    its first checkpoint (a preempted job that always passes --resume starts it again)."""
    found = contents(path)
    foreign = [n for n in found if n not in outputs]
    if not foreign and "report.json" not in found:
        return None
    out, overwrite = argument("--out"), switch("--overwrite")
    what, fix = (("files that are not from a Lockstep run", f"choose another {out}, or {overwrite} to write beside "
                  "them") if foreign else ("a finished run", f"replace it with {overwrite}, or choose another {out}"))
    return f"{prog}: {argument('--resume')}: nothing to resume in {_shown(path)} (no checkpoint), and it holds " \
           f"{what} ({_listed(path, found)}); {fix}"


def _foreign_checkpoints(path: Path, newest: Path) -> str:
    """Why a recipe without a `checkpoint:` section may not --resume a folder with checkpoints: they are another
    recipe's (the section is in the recipe hash), and training from step 0 beside them mixed two runs in one folder,
    which a later --resume of the other recipe then continued over (as claim refuses another run's folder)."""
    return (f"lockstep run: {argument('--resume')}: {_shown(path)} holds checkpoints of another recipe "
            f"({_shown(newest.relative_to(path))}), and this recipe writes none (no `checkpoint:` section); "
            f"continue that run with its own recipe, replace it with {switch('--overwrite')}, or choose another "
            f"{argument('--out')}")


def resume_note(path: Path, checkpointed: bool, outputs: Sequence[str]) -> str | None:
    """What `--resume` says before it trains from step 0 (None: there is a checkpoint to resume from), or FolderError
    where it must not (restart_problem; `checkpoints` not a folder). One wording for one process and the replicas."""
    from lockstep.checkpoint import checkpoints

    ckpts = path / "checkpoints"
    if ckpts.is_symlink():  # tensorboard.problem's twin: a resume writes and prunes checkpoints, never through a link
        raise FolderError(f"lockstep run: {argument('--resume')}: {_shown(ckpts)} is a symbolic link; a resume writes "
                          "and prunes the checkpoints in it, so it must be a folder of the run's own; remove the "
                          f"link, or choose another {argument('--out')}")
    if linked := [n for n in outputs if n not in FOLDER_OUTPUTS and os.path.islink(path / n)]:
        raise FolderError(f"lockstep run: {argument('--resume')}: {_shown(path / linked[0])} is a symbolic link; "
                          "a resume replaces the run's files and never writes through a link (found now, not after "
                          f"training); remove the link, or choose another {argument('--out')}")
    if checkpointed and ckpts.exists() and not ckpts.is_dir():
        raise FolderError(f"lockstep run: {ckpts} is not a folder; remove it, or use another --out")
    if checkpointed and checkpoints(ckpts):
        return None
    if not checkpointed and (found := checkpoints(ckpts)):
        raise FolderError(_foreign_checkpoints(path, found[-1]))
    problem = restart_problem(path, outputs)
    if problem is not None:
        raise FolderError(problem)
    if not checkpointed:
        return (f"--resume: nothing to resume: the recipe writes no checkpoints (no `checkpoint:` section); training "
                f"from step 0 into {path}")
    return f"--resume: nothing to resume in {path} (no checkpoint); training from step 0"


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, the deepest first (what creating it would make)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_empty(folders: Sequence[Path]) -> None:
    """Remove those of `folders` (made by this command) that are still empty, the deepest first: a command that
    stopped leaves no empty output folder of its own behind (`runs/` of the default `runs/<name>` included), and
    never anything written into one."""
    for folder in sorted(set(folders), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only an empty one goes


def _unclaim(path: Path, fd: int, created: bool, had_lock: bool, parents: Sequence[Path] = ()) -> None:
    """A refused claim leaves the folder as it found it: a lock file it made (holding this command's pid and
    command line, in the user's folder) goes, and a folder it made (and the folders above it that it made), while
    still held."""
    if not had_lock:
        with contextlib.suppress(OSError):
            os.unlink(path / LOCK_NAME)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(path)
                remove_empty(parents)
    os.close(fd)
