"""Write files atomically: a crash or a kill never leaves a partial output behind.

It lives in `spec/` (the bottom layer) and imports nothing of Lockstep, so that every part (spec/ itself for the
committed schemas, the runner, checkpoints, the conformance reports, deploy) writes through one implementation.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lockstep.spec.files import NotRegularFileError, file_kind, open_regular


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`. Only a regular file (or
    nothing) is replaced: renaming over /dev/null, a FIFO or a symbolic link would replace the device, the pipe or
    the link itself (OSError, nothing written)."""
    write_set({Path(path): data})


def write_set(files: Mapping[Path, bytes], before: Callable[[], None] | None = None,
              undo: Callable[[], None] | None = None) -> None:
    """Write several files as one set: each to an fsynced temporary beside it first, then all renamed in a row,
    with Ctrl-C, SIGTERM and SIGHUP held back until the last rename (a certificate's four reports were replaced
    one by one, and a kill between two left a mix of two runs). `before()` runs first inside that window (a
    folder swapped in with the files).

    SIGKILL between two renames cannot be held back: a set of files in one folder is therefore recorded in a
    journal (JOURNAL) before its first rename and the record removed after its last, and whoever writes into the
    folder next finishes the set first (`recover`; write_set itself does, for the files it is given).

    A rename that fails part-way (an immutable or read-only-mounted file, a folder in the way) undoes the ones
    before it: each file it replaces is first kept as a hard link, which is put back. A file that cannot be
    linked (a file system without hard links, an immutable file) is renamed first, so that its failure finds
    nothing changed yet. `undo()` then reverses what `before()` did."""
    staged: list[tuple[str, Path]] = []
    kept: dict[Path, str | None] = {}  # path -> a hard link to what it held (None: it held nothing)
    journal: Path | None = None
    whole = True  # False: a failed rename's undo failed too, and the journal and kept links stay for `recover`
    for folder in {Path(path).parent for path in files}:
        if os.path.lexists(folder / JOURNAL):  # a set a killed writer left half renamed: made whole first
            with naming(folder / JOURNAL):
                recover(folder, [Path(path).name for path in files if Path(path).parent == folder])
    try:
        for path, data in files.items():
            _staged(Path(path), data, staged)
        with held_signals():
            try:
                if before is not None:
                    before()
                if len(staged) > 1:
                    for _, path in staged:
                        kept[path] = _keep(path)
                    staged.sort(key=lambda item: kept[item[1]] != "")  # the ones that cannot be undone first
                done: list[Path] = []
                try:
                    if len(staged) > 1:
                        journal = _journal(staged, kept)  # a full disk here undoes before(), as a failed rename
                    for tmp, path in staged:
                        try:
                            os.replace(tmp, path)
                        except OSError as exc:
                            raise _named(exc, path) from None
                        done.append(path)
                except BaseException:
                    for path in reversed(done):
                        whole = _put_back(path, kept.get(path, "")) and whole
                    if undo is not None:
                        with contextlib.suppress(OSError):
                            undo()
                    raise
            finally:  # inside the window: a signal acted on at its end finds no kept link
                if journal is not None and not whole:  # a mix of two sets: the record and the kept links stay,
                    kept.clear()  # and the folder's next writer rolls it back (`recover`), said there
                if journal is not None and whole:  # the set is whole (new, or old again): its record goes first
                    fsync_dir(journal.parent)
                    with contextlib.suppress(OSError):
                        os.unlink(journal)
                for link in kept.values():
                    if link:
                        with contextlib.suppress(OSError):
                            os.unlink(link)
    except BaseException as exc:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and journal is not None and not whole:
            raise SplitSet(exc.errno, exc.strerror, exc.filename) from exc
        raise


class SplitSet(OSError):
    """`write_set` failed part-way and could not undo it: its folder holds a mix of the two sets, recorded in its
    journal, until the next writer there rolls it back (`recover`)."""


def left_behind(exc: OSError) -> str:
    """What a failed `write_set` left in the folder, in words, for the caller's message."""
    if isinstance(exc, SplitSet):
        return "the folder holds a mix of the earlier files and the new ones until the next write there rolls it back"
    return "the folder holds what it held before"


JOURNAL = ".lockstep-writing"
"""The record of a set of files being renamed into place, in their folder (`write_set`): there from before the first
rename to after the last, so one found where no writer is alive means a kill may have split the set (`recover`)."""


def _journal(staged: list[tuple[str, Path]], kept: dict[Path, str | None]) -> Path | None:
    """Record the set in its folder's JOURNAL, fsynced, before its first rename: each file's name, its staged
    temporary and that temporary's inode (how `recover` tells a rename done), and its kept link ("" where the old
    file could not be linked; None where there was none). None for a set spread over several folders: no record."""
    folder = staged[0][1].parent
    if any(path.parent != folder for _, path in staged):
        return None
    record = {"files": [{"name": path.name, "new": os.path.basename(tmp), "inode": os.stat(tmp).st_ino,
                         "old": os.path.basename(kept[path]) if kept[path] else kept[path]} for tmp, path in staged]}
    journal = folder / JOURNAL
    with naming(journal):
        fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(journal)
            raise
        finally:
            os.close(fd)
    fsync_dir(folder)
    return journal


def recover(folder: Path, names: Iterable[str]) -> str | None:
    """Make the set a killed `write_set` left in `folder` whole again, from its JOURNAL: finished (every staged file
    renamed into place: each was complete and fsynced before the journal was written) or, where a staged file is
    gone, rolled back to the kept old files (a file that had none removed). Call it holding the folder's lock,
    before anything else touches the set. The journal is a file in the folder, not an authority: only `names` (the
    caller's own outputs) and their temporaries are touched, a file counts as renamed only when its inode is the
    one recorded, and a journal that names other files is another command's, left alone. What was done, in words;
    None when nothing was; OSError where the folder cannot be changed (the journal stays, for the next try)."""
    journal, allowed = folder / JOURNAL, set(names)
    try:
        with open_regular(journal, follow_symlinks=False) as fh:
            record = json.loads(fh.read(1 << 20))
    except (FileNotFoundError, NotADirectoryError, NotRegularFileError):
        return None  # a folder or a link of that name is no journal: writing the next one fails on it, named
    except (ValueError, RecursionError):
        record = None
    files = record.get("files") if isinstance(record, dict) else None
    entries = [f for f in files if _recorded(f)] if isinstance(files, list) else []
    if any(f["name"] not in allowed for f in entries):
        return None
    if not entries:  # empty or torn (killed while writing it: before any rename), or not Lockstep's
        os.unlink(journal)
        return f"removed an unreadable {JOURNAL} (a write killed before it replaced any file)"

    def inode(name: str) -> int | None:
        try:
            st = os.lstat(folder / name)
        except OSError:
            return None
        return st.st_ino if stat.S_ISREG(st.st_mode) else None

    todo = [f for f in entries if inode(f["name"]) != f["inode"]]
    forward, lost = all(inode(f["new"]) == f["inode"] for f in todo), []
    for f in entries:
        if forward and f in todo:
            os.replace(folder / f["new"], folder / f["name"])
        elif not forward and f not in todo:
            if f["old"] and inode(f["old"]) is not None:
                os.replace(folder / f["old"], folder / f["name"])
            elif f["old"] is None:
                os.unlink(folder / f["name"])
            else:
                lost.append(f["name"])
    for f in entries:
        for tmp in (f["new"], f["old"]):
            if tmp and inode(tmp) is not None:
                os.unlink(folder / tmp)
    fsync_dir(folder)
    os.unlink(journal)
    fsync_dir(folder)
    listed = ", ".join(f["name"] for f in entries)
    if lost:
        return (f"a write of {listed} was killed part-way and cannot be rolled back ({', '.join(lost)} replaced a "
                "file that could not be kept): they may be a mix of two writes; write them again")
    return (f"finished a write of {listed} that was killed part-way: all are the new files" if forward else
            f"rolled back a write of {listed} that was killed part-way: all are the earlier files again")


def _recorded(f: object) -> bool:
    """Whether a journal's entry is one `recover` may act on: a name, with temporaries named as that file's own."""
    return (isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("new"), str)
            and temporary_of(f["new"]) == f["name"] and type(f.get("inode")) is int and "old" in f
            and (f["old"] in (None, "") or (isinstance(f["old"], str) and temporary_of(f["old"]) == f["name"])))


def fsync_dir(folder: Path) -> None:
    """The folder's entries (renames, a new or removed file) on disk, where the file system allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _keep(path: Path) -> str | None:
    """A hard link beside `path` to the file it holds (None: nothing there; "": there, but it cannot be linked)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return ""
    except (FileNotFoundError, NotADirectoryError):
        return None
    for _ in range(100):
        link = str(path.parent / f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.old.tmp")
        try:
            os.link(path, link)
            return link
        except FileExistsError:
            continue
        except OSError:
            return ""
    return ""


def _put_back(path: Path, link: str | None) -> bool:
    """Undo one rename of a set that failed later: the kept file back, or the new one removed; False where that
    failed too, or where the file it replaced could not be kept ("")."""
    try:
        if link == "":
            return False
        if link:
            os.replace(link, path)
        elif link is None:
            os.unlink(path)
    except OSError:
        return False
    return True


def _named(exc: OSError, path: Path) -> OSError:
    """The error said of the file being written, not of its temporary (or of no file: a full disk)."""
    return exc if exc.errno is None else type(exc)(exc.errno, exc.strerror, str(path))


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError inside is said of `path`: a full disk fails an open file's write() with no file name."""
    try:
        yield
    except OSError as exc:
        raise _named(exc, path) from None


_TEMPORARY = re.compile(r"\.(.+)\.(?:[a-z0-9_]{8}|[0-9]+-[0-9a-f]{8}\.old)\.tmp", re.S)
"""The names this module gives its temporaries: `_staged`'s (tempfile's 8 characters) and `_keep`'s links."""


def temporary_of(name: str) -> str | None:
    """The file whose atomic temporary `name` is (`.report.json.k3j_x9a2.tmp`: report.json), None for any other
    name: a write killed before its rename leaves one, which the folder's next locked owner removes."""
    m = _TEMPORARY.fullmatch(name)
    return m.group(1) if m else None


class LineLog:
    """A log appended a whole line at a time (metrics.jsonl): each line goes in os.write calls of its own, and one
    that fails part-way (a full disk, a file-size limit, an interrupt) is cut back to the end of the line before,
    so the file never ends in half a record, as a buffered file's flush left it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)

    def write(self, line: str) -> None:
        """Append `line` whole, or raise with the file as it was (OSError names the file)."""
        assert self._fd is not None, "written after close()"
        data = line.encode("utf-8")
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, end)
            if isinstance(exc, OSError):
                raise _named(exc, self.path) from None
            raise

    def flush(self) -> None:
        """Nothing to do: every line is with the kernel once write() returns (kept for a file's interface)."""

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def _staged(path: Path, data: bytes, staged: list[tuple[str, Path]]) -> None:
    """`data` in an fsynced temporary beside `path`, with `path`'s permissions, added to `staged` as (its name,
    `path`) as soon as it exists: a Ctrl-C between making it and noting it left an empty temporary behind."""
    _refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = -1, ""
    try:
        with held_signals():  # made and noted together; a signal held here is acted on below, inside the try
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
        _keep_owner(fd, path)
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as fh:
            fd = -1  # closed with fh from here
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _named(exc, path) from None
        raise


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP received inside are acted on when it ends (their handlers run then, in order).
    Python runs signal handlers in the main thread only: elsewhere (or where a handler is not Python's to
    swap) the block runs unprotected."""
    names = [n for n in ("SIGINT", "SIGTERM", "SIGHUP")
             if hasattr(signal, n) and signal.getsignal(getattr(signal, n)) is not None]  # None: not set by Python
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {}
    try:
        for n in names:
            num = getattr(signal, n)
            old[num] = signal.signal(num, lambda signum, _frame: caught.append(signum))
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        for num, handler in old.items():
            signal.signal(num, handler)
        yield
        return
    try:
        yield
    finally:
        for num, handler in old.items():
            signal.signal(num, handler)
        for signum in caught:  # now, as if received here: SIG_DFL ends the process, a handler runs
            signal.raise_signal(signum)


def _refuse_special(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):  # a folder: the rename says "Is a directory"
        return
    raise OSError(errno.EEXIST, f"it is {file_kind(mode)}, not a regular file: not replaced", str(path))


def _keep_owner(fd: int, path: Path) -> None:
    """Give the replacement an existing file's owner and group where this process may (root: both; a member of the
    file's group: the group): `lockstep migrate` of a shared, group-writable spec made it the migrating user's own,
    with their primary group, locking the team out of a file mode 660 had shared. Where it may not, the file
    becomes the writer's, as any editor's save-by-rename does."""
    try:
        st = path.stat()
    except OSError:
        return
    if hasattr(os, "fchown"):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:
            with contextlib.suppress(OSError):
                os.fchown(fd, -1, st.st_gid)


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; new files get the usual 0o666 less the umask, but always the owner's
    read and write: an adapter's `os.umask(0o777)` left a certificate's four reports mode 000, unreadable to the
    command that wrote them."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return (0o666 & ~umask) | 0o600


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def writable_text(text: str) -> str:
    """`text` with each lone surrogate written as a backslash escape: a path or a message may carry one (a file
    name through `os.fsdecode`: `caf\\xe9` for the byte 0xe9), and no UTF-8 file can hold one. The escape keeps
    the byte, and one rule for every output keeps them telling the same story."""
    return _SURROGATE.sub(_escape_surrogate, text) if isinstance(text, str) and _SURROGATE.search(text) else text


def utf8(text: str) -> bytes:
    """`text` as UTF-8, a lone surrogate as its backslash escape (`writable_text`), never UnicodeEncodeError."""
    return writable_text(text).encode("utf-8")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, utf8(text))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Strict JSON: a non-finite float is written as the string "inf", "-inf" or "nan" (Python's `float()` reads
    them back), never as the bare `Infinity`/`NaN` tokens that jq, JavaScript and most JSON parsers reject."""
    write_text(path, json_text(obj))


def json_text(obj: Any) -> str:
    """The text `write_json` writes: strict JSON, indented, one trailing newline."""
    return json.dumps(strict_json(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"


def json_line(obj: Any) -> str:
    """One JSON Lines record (metrics.jsonl): strict JSON on one line, with its newline."""
    return json.dumps(strict_json(obj), allow_nan=False) + "\n"


def read_json_line(line: str) -> Any:
    """The record `json_line` wrote, its "inf"/"-inf"/"nan" strings floats again (an older file's bare `NaN`
    reads too), so a resumed run holds the numbers an uninterrupted one did."""
    return _floats_again(json.loads(line))


def _floats_again(obj: Any) -> Any:
    if isinstance(obj, str):
        return float(obj) if obj in ("inf", "-inf", "nan") else obj
    if isinstance(obj, dict):
        return {k: _floats_again(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_floats_again(v) for v in obj]
    return obj


def strict_json(obj: Any) -> Any:
    """`obj` with every non-finite float (nested in dicts, lists and tuples) as the string "inf", "-inf" or "nan":
    the one rule of every JSON Lockstep writes or prints, so that a reader needs one `float()` for all of them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj
