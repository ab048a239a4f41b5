"""Open the files that users and documents name, without ever blocking on one that is not a file.

Opening a named pipe (FIFO) for reading waits for a writer, forever; a device can have side effects
when opened (a tape rewinds, a watchdog starts), and a socket cannot be read. So a path is checked
with `stat` first and refused, before any `open`, unless it is a regular file; it is then opened with
`O_NONBLOCK` and checked again on the open descriptor, so a file swapped for a FIFO in between is
refused too, without blocking.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from typing import IO, Any

__all__ = ["OUTPUT_LOCK", "NotRegularFileError", "check_regular", "file_kind", "open_regular"]

OUTPUT_LOCK = ".lockstep.lock"
"""The lock file that marks a folder a Lockstep command writes into (lockstep/runfolder.py holds it; a folder search
of `lockstep validate` knows that folder's JSON reports by it)."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


def file_kind(mode: int) -> str:
    """What a stat (or lstat) mode names, in words ("a named pipe (FIFO)", "a symbolic link")."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


class NotRegularFileError(OSError):
    """The path names a FIFO, a device, a socket or a folder: refused without reading it."""

    def __init__(self, path: str | os.PathLike[str], mode: int) -> None:
        self.kind = file_kind(mode)
        super().__init__(f"is {self.kind}, not a regular file: refusing to read it")
        self.path = os.fspath(path)


def check_regular(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> os.stat_result:
    """The stat of `path` (symlinks followed, unless `follow_symlinks` is False: a link is then refused as what it
    is); NotRegularFileError unless it is a regular file."""
    st = os.stat(path, follow_symlinks=follow_symlinks)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(path, st.st_mode)
    return st


def open_regular(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> IO[bytes]:
    """`path` opened for reading in binary mode, or NotRegularFileError (an OSError) if it is not a
    regular file (nor, with `follow_symlinks` False, if it is a symbolic link: a file a command wrote itself, which
    a link put in its place is not); other OSErrors (missing, permission) pass through."""
    check_regular(path, follow_symlinks=follow_symlinks)
    flags = _OPEN_FLAGS | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:  # swapped for a link after the check above
            raise NotRegularFileError(path, stat.S_IFLNK) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped after the check above
            raise NotRegularFileError(path, st.st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_json_file(path: str | os.PathLike[str], limit: int) -> Any:
    """The JSON value of a regular file of at most `limit` bytes, or None where there is none to read: missing, a
    FIFO (refused unread), too large, unreadable or not JSON. For the records another command left, which are
    looked at, never trusted (a certification's report.json, a deployment's deploy.json)."""
    try:
        with open_regular(path) as fh:
            if os.fstat(fh.fileno()).st_size > limit:
                return None
            raw = fh.read(limit + 1)
        return json.loads(raw) if len(raw) <= limit else None
    except (OSError, ValueError, RecursionError):
        return None
