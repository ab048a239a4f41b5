"""Write files atomically: a crash or a kill never leaves a partial output behind.

It lives in `spec/` (the bottom layer) and imports nothing of Lockstep, so that every part (spec/ itself for the
committed schemas, the runner, checkpoints, the conformance reports, deploy) writes through one implementation.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`. Only a regular file (or
    nothing) is replaced: renaming over /dev/null, a FIFO or a symbolic link would replace the device, the pipe or
    the link itself (OSError, nothing written)."""
    path = Path(path)
    _refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, _mode_for(path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:  # said of the file being written, not of its temporary (or of no file: a full disk)
            if exc.errno is None:
                raise
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _refuse_special(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):  # a folder: the rename says "Is a directory"
        return
    kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket")
    raise OSError(errno.EEXIST, f"it is {kind}, not a regular file: not replaced", str(path))


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; new files get the usual 0o666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Strict JSON: a non-finite float is written as the string "inf", "-inf" or "nan" (Python's `float()` reads
    them back), never as the bare `Infinity`/`NaN` tokens that jq, JavaScript and most JSON parsers reject."""
    write_text(path, json.dumps(strict_json(obj), indent=2, sort_keys=False, allow_nan=False) + "\n")


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
