"""One module per `lockstep` sub-command; each has `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """While open, whatever is printed on standard output goes to stderr: an adapter's `print`, a framework's
    native log line (file descriptor 1). A command whose standard output is one JSON document computes it inside
    and prints it after: nothing else may land in the document. `enabled=False`: changes nothing (text output)."""
    if not enabled:
        yield
        return
    out = sys.stdout
    with contextlib.suppress(Exception):
        out.flush()
    try:
        saved: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptor 1 or 2 (a closed stream): the Python-level swap still holds
        saved = None
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        sys.stdout = out
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
