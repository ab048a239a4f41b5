"""The one exception a caller of Lockstep's Python API needs to catch.

Every problem that the command line reports as a sentence and an exit code (an invalid recipe, an unknown
backend, a busy run folder, a failed run) is raised by the API as a `LockstepError`, so that a notebook or
another tool can catch one type and read the same sentence, located diagnostics and exit code the CLI would
have printed. Kept free of NumPy and of every framework: `import lockstep` imports nothing heavier.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any


class LockstepError(Exception):
    """A problem stated in one sentence (`str(exc)`); `exit_code` is what `lockstep` exits with (2: bad input
    or I/O, 1: an invalid document or a failed run), `diagnostics` the located problems (file, line, column,
    field path, message, suggestion) when there are any, and `result` what was computed before it, if anything
    (a run that stopped at a non-finite loss still has its steps)."""

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None, diagnostics: list[Any] | None = None) -> None:
        if exit_code is not None:
            self.exit_code = exit_code
        self.diagnostics: list[Any] = list(diagnostics or [])
        self.result: Any = None
        super().__init__(message)
        for line in _noted(self.diagnostics):  # a traceback (a notebook, a script) shows why, not only "not valid"
            self.add_note(line)


_NOTED = 20


def _noted(diagnostics: list[Any]) -> list[str]:
    """The located problems as a traceback's notes (PEP 678) under the one sentence: a Python caller saw "the
    recipe is not valid (1 problem)" and had to know to print `error.diagnostics`. `str(error)` is unchanged: it is
    the sentence the command prints, and the command prints the diagnostics itself."""
    lines = [d.format() if callable(getattr(d, "format", None)) else str(d) for d in diagnostics[:_NOTED]]
    if len(diagnostics) > _NOTED:
        lines.append(f"... and {len(diagnostics) - _NOTED} more (error.diagnostics holds them all)")
    return lines


class RunError(LockstepError):
    """A problem that stops a run before or during training; `exit_code` 1 (failed run) or 2 (bad input).
    (Here rather than in the runner, which imports NumPy: reading a recipe raises it too.)"""

    def __init__(self, message: str, exit_code: int = 2, diagnostics: list[Any] | None = None) -> None:
        super().__init__(message, exit_code, diagnostics)


_COMMAND_LINE: contextvars.ContextVar[bool] = contextvars.ContextVar("lockstep_command_line", default=False)


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Within this block (the `lockstep` command), arguments are named as the command spells them (`--steps`)."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def spelled(name: str, flag: str | None) -> str:
    """An argument as a message names it: `--steps` to the command's user, `steps` to a Python caller, who never
    typed `--steps` (`lockstep.compare(recipe, steps=0)` said "--steps must be at least 1")."""
    return flag if flag and _COMMAND_LINE.get() else name


def argument(flag: str) -> str:
    """A flag a message names as its subject: `--out` on the command line, `out` to a Python caller."""
    return spelled(flag.removeprefix("--"), flag)


def switch(flag: str) -> str:
    """A yes/no flag a message asks for: `--overwrite` on the command line, `overwrite=True` to a Python caller."""
    return spelled(f"{flag.removeprefix('--')}=True", flag)


INTERNAL_ERROR = 3
"""Every command's exit status for a bug in Lockstep or an adapter: apart from each command's verdicts (1: invalid,
diverges, not certified, failed) and from usage and I/O errors (2), so that a CI gate cannot read a crash as a
verdict (pytest's 3 too)."""


def internal_error(prog: str, exc: BaseException) -> str:
    """What a command says about an exception that is a bug in Lockstep (or an adapter), not bad input: one line,
    the traceback only on request, as a user was promised no traceback."""
    return (f"{prog}: internal error ({type(exc).__name__}: {exc}); set LOCKSTEP_DEBUG=1 for the traceback and "
            "please report it")
