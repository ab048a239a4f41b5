"""Paths written in a spec (a recipe's model and data file, a model's weights): where they lead, and why one
cannot be read.

Every part that follows such a path (the validator, the runner, the reference's data loading, the run folder's
list of inputs) resolves it here, so that they agree on what a path means and on what is refused.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from lockstep.spec.files import file_kind

__all__ = ["missing_file", "resolve_path"]


def resolve_path(base_dir: Path, relative: str) -> Path:
    """A path from a spec, resolved inside the spec's folder.

    Leaving the folder (absolute paths, `..`, symlinks pointing out) is refused unless
    LOCKSTEP_ALLOW_OUTSIDE_PATHS=1: validating or running a spec must not read arbitrary files.
    Raises ValueError with a message naming the path.
    """
    try:
        p = Path(relative)
        full = (p if p.is_absolute() else Path(base_dir) / p).resolve()
        root = Path(base_dir).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops
        raise ValueError(f"`{_shown(relative)}` is not a usable path ({exc})") from None
    try:
        os.lstat(full)
    except OSError as exc:  # a missing file is said where it is read; a name too long or a folder not open to us
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):  # here, since pathlib's is_file() raises them
            raise ValueError(f"`{_shown(relative)}` is not a usable path ({exc.strerror})") from None
    if os.environ.get("LOCKSTEP_ALLOW_OUTSIDE_PATHS") != "1":
        how = None
        if p.is_absolute():
            how = "is an absolute path; paths in a spec are relative to"
        elif not full.is_relative_to(root):
            how = "leaves"
        if how:
            raise ValueError(f"`{relative}` {how} the spec's folder {root} "
                             "(set LOCKSTEP_ALLOW_OUTSIDE_PATHS=1 to allow other paths)")
    return full


def _shown(relative: str, most: int = 80) -> str:
    """The path as written, escaped (NUL bytes, line breaks) and cut to `most` characters."""
    text = relative.encode("unicode_escape").decode("ascii")
    return text if len(text) <= most else f"{text[:most - 1]}…"


def missing_file(what: str, relative: str, full: Path) -> str:
    """Why `full` cannot be read as a file: a folder, a FIFO, a device or a socket (never opened), or missing."""
    try:
        mode = full.stat().st_mode
    except OSError:
        return f"{what} `{relative}` does not exist (looked for {full})"
    if stat.S_ISDIR(mode):
        return f"{what} `{relative}` is a folder, not a file ({full})"
    return f"{what} `{relative}` is {file_kind(mode)}, not a regular file: refusing to read it ({full})"
