"""The `lockstep` command line: one sub-command per module in `lockstep.commands`.

Each command module defines `add_arguments(parser)` and `run(args) -> int`. Only the module of the command
that runs is imported: `lockstep validate` never pays for (or needs) hypothesis, NumPy or a framework, and
`lockstep --help` lists every command from the one-line help below without importing any of them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lockstep import __version__
from lockstep.errors import command_line

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("lockstep.commands.validate", "validate Model, Recipe and Environment documents"),
    "schema": ("lockstep.commands.schema", "print the JSON Schema of a document kind"),
    "migrate": ("lockstep.commands.migrate", "rewrite documents to the current spec version"),
    "run": ("lockstep.commands.run", "train a recipe on a backend"),
    "compare": ("lockstep.commands.compare", "run one recipe on several backends and show where they diverge"),
    "adapters": ("lockstep.commands.adapters", "list the installed adapters"),
    "certify": ("lockstep.commands.certify", "certify an adapter against the reference"),
    "deploy": ("lockstep.commands.deploy", "export a trained model to ONNX, run it on its target, check it"),
}


def _available() -> dict[str, tuple[str, str]]:
    """The commands whose module is present (finding a module does not import it)."""
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_text)
    return found


def command_of(argv: list[str]) -> str | None:
    """The sub-command named in `argv`: the first word that is not an option (the top level has only
    options without values: --help, --version), or None."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None, *, every: bool = False) -> argparse.ArgumentParser:
    """The parser with every command listed; only `command`'s module is imported and given its options
    (`every=True` imports and fills them all: documentation tools and tests that need the whole tree)."""
    parser = argparse.ArgumentParser(
        prog="lockstep",
        description="Lockstep: portable, verifiable deep-learning training.",
        epilog="Exit codes: 0 success; 1 the command's negative verdict (invalid, diverges, not certified, a failed "
               "run or deployment check); 2 usage or I/O error; 3 internal error (a bug: please report it); 130 and "
               "143 interrupted (Ctrl-C, SIGTERM).",
    )
    parser.add_argument("--version", action="version", version=f"lockstep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _available().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module, _parser=p)  # its usage, for an argument it does not take
        if every or name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job, `kill`) or SIGHUP (a closed terminal, a dropped ssh session), raised in the main
    thread as Ctrl-C's KeyboardInterrupt is, so that every clean-up runs before the command ends (certify's worker
    processes and their temporary folder, a run folder's lock): ended outright by the default action, the command
    left them to chance. `signum`: which."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = int(signum)


ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
"""The signals a command handles as Terminated (where the platform has them)."""


TERM_GRACE_SECONDS = 10.0
"""After SIGTERM or SIGHUP, how long the clean-up may take before the process ends at once (exit 143 or 129).
Python runs a signal's handler only between bytecodes of the main thread: one waiting in native code (a collective
whose peer died, a hung kernel) would never see it, and SIGTERM would no longer end the command."""

_WATCH: dict[str, Any] = {}  # the process's one watch: its pipe's write end and whether a command is running


_RAISED: list[KeyboardInterrupt] = []
"""The stop this command's handlers raised (Terminated, or Ctrl-C's KeyboardInterrupt), if any: a library that
caught it and raised an error of its own without it as cause (pydantic-core's SchemaError, whose text alone says
"Terminated: 15") still ended the command by that signal (`_stopped_by`)."""


def _terminate(signum: int, _frame: Any) -> None:
    _RAISED[:] = [Terminated(signum)]
    raise _RAISED[0]


def _interrupt(_signum: int, _frame: Any) -> None:
    _RAISED[:] = [KeyboardInterrupt()]
    raise _RAISED[0]


def _watch_for_term() -> int:
    """The write end of the pipe a thread watches for SIGTERM and SIGHUP (Python's signal wakeup fd writes the
    signal's number there as soon as it arrives, whatever the main thread is doing); the thread ends the process
    TERM_GRACE_SECONDS later if it still runs a command. One thread and pipe per process, made on first use."""
    if "write" not in _WATCH:
        import threading

        read, write = os.pipe()
        os.set_blocking(write, False)

        def watch() -> None:
            import time

            while True:
                try:
                    got = os.read(read, 64)
                except OSError:
                    return
                if not got:
                    return
                ending = [int(n) for n in ENDING if int(n) in got]
                if ending and _WATCH.get("running"):
                    time.sleep(TERM_GRACE_SECONDS)
                    if _WATCH.get("running"):
                        os._exit(128 + ending[0])

        threading.Thread(target=watch, name="lockstep-sigterm-watch", daemon=True).start()
        _WATCH["write"] = write
    return _WATCH["write"]


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated while a command runs, and end the process TERM_GRACE_SECONDS later if the
    command is still running (`_watch_for_term`); each unless ignored by whoever started us (`nohup`), and none where
    main() runs in a thread other than the main one (no handler can be set there) or the process already uses
    Python's wakeup fd (an event loop): the process's own handling then stands."""
    _RAISED.clear()
    try:
        previous = {n: signal.getsignal(n) for n in ENDING}
        wakeup = signal.set_wakeup_fd(_watch_for_term())  # raises ValueError off the main thread
        if wakeup != -1:  # someone else's: theirs, not ours
            signal.set_wakeup_fd(wakeup)
            yield
            return
        for n, handler in previous.items():
            if handler != signal.SIG_IGN:
                signal.signal(n, _terminate)
        interrupt = signal.getsignal(signal.SIGINT)
        if interrupt is signal.default_int_handler:  # Ctrl-C as Python raises it, and remembered
            signal.signal(signal.SIGINT, _interrupt)
    except (ValueError, OSError, AttributeError):
        yield
        return
    _WATCH["running"] = True
    try:
        yield
    finally:
        _WATCH["running"] = False
        for n, handler in previous.items():  # None: set outside Python, the default
            signal.signal(n, handler if handler is not None else signal.SIG_DFL)
        if interrupt is signal.default_int_handler and signal.getsignal(signal.SIGINT) is _interrupt:
            signal.signal(signal.SIGINT, interrupt)
        signal.set_wakeup_fd(-1)


def _closed_streams_to_devnull() -> bool:
    """`lockstep ... >&-` starts with standard output closed: Python's sys.stdout is None (a traceback at the first
    print), and the first file a command opens would get descriptor 1 (and a child's output). Each closed one of
    0, 1, 2 is opened on /dev/null instead, as if redirected there; whether standard output was closed (what the
    command prints there is then lost, and `main` says so, as for a full disk)."""
    closed = False
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            closed = closed or fd == 1
            try:
                got = os.open(os.devnull, os.O_RDONLY if mode == "r" else os.O_WRONLY)
            except OSError:
                continue
            if got != fd:  # the lowest free descriptor is the closed one; another was already taken
                os.dup2(got, fd)
                os.close(got)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))
    return closed


def entry() -> int:
    """The `lockstep` script and `python -m lockstep`: main() for this process's own command line, which then exits
    (so Ctrl-C after the command has finished no longer ends the process by signal: _finished)."""
    return main(exiting=True)


def _finished(code: int) -> None:
    """The command has finished and said so; the process exits next. Python stops handling signals part-way
    through its exit (the teardown after it takes a second or more with a framework or worker pool loaded, on a busy
    machine), and a Ctrl-C there ended the process by SIGINT without a word, its exit status lost, its outputs
    already written (sweep: `lockstep certify` after CERTIFIED). From here a Ctrl-C says so in one line and the exit
    goes on with the command's status; the interpreter's teardown ignores it."""
    handled = (signal.SIGINT, *ENDING)

    def late(signum: int, _frame: Any) -> None:
        for n in handled:  # said once
            with contextlib.suppress(ValueError, OSError):
                signal.signal(n, signal.SIG_IGN)
        with contextlib.suppress(OSError, ValueError):
            print(f"lockstep: {_word(signum)} while exiting; the command had finished (exit {code})", file=sys.stderr)
        import threading

        # an exit that hangs (a library's thread the interpreter waits for) ends TERM_GRACE_SECONDS later, with the
        # command's status, as a command that does not stop does: ignoring the signal left it to SIGKILL
        threading.Thread(target=_exit_later, args=(code,), name="lockstep-exit-grace", daemon=True).start()

    import atexit

    for n in handled:  # SIGTERM and SIGHUP too ("handled as Ctrl-C is"): they ended the process by signal, status lost
        with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread, where none can be set
            if n != signal.SIGINT and signal.getsignal(n) == signal.SIG_IGN:  # ignored by whoever started us (nohup)
                continue
            signal.signal(n, late)
            # once the exit starts (this callback, registered last, runs first), ignored outright: the one
            # disposition that survives into the teardown, where a handler written in Python is replaced by the
            # default (death)
            atexit.register(signal.signal, n, signal.SIG_IGN)


def _exit_later(code: int) -> None:
    import time

    time.sleep(TERM_GRACE_SECONDS)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _stopped(word: str) -> None:
    """Say that a signal stopped the command, unless this process is a replica of `lockstep run --replicas`, whose
    launcher passed the signal on and says it once (replica 0 shares its stderr: "terminated" came twice)."""
    if os.environ.get("LOCKSTEP_LAUNCHER") != str(os.getppid()):  # distributed.ENV_LAUNCHER, not imported here
        print(word, file=sys.stderr)


def main(argv: list[str] | None = None, *, exiting: bool = False) -> int:
    """The `lockstep` command line (`argv`, default sys.argv[1:]); its exit status. `exiting`: the process ends
    when it returns (entry), so a Ctrl-C after the command has finished is said, not obeyed (_finished)."""
    closed = _closed_streams_to_devnull()
    watched = sys.stdout = _WatchedOutput(sys.stdout)
    errors = sys.stderr
    sys.stderr = _QuietErrors(errors)
    try:
        with _sigterm_raises(), command_line():  # messages name --steps, not the API's steps
            code = _main(argv)
        if exiting:  # before anything else: a Ctrl-C until here is caught below ("interrupted", 130)
            _finished(code)
        sys.stdout.flush()  # here, where a failure is reported, not at exit, where Python prints it raw
        if closed and watched.written:  # the verdict went nowhere: said, as `ls >&-` says it (exit 0 hid it)
            print("lockstep: cannot write to standard output: it is closed", file=sys.stderr)
            return _output_lost(code)
        if watched.closed_inside:  # an adapter closed it while the command ran: what came after went nowhere
            print("lockstep: standard output was closed while the command ran (by code it ran: an adapter?); what "
                  "it printed after that is lost", file=sys.stderr)
            return _output_lost(code)
        return code
    except KeyboardInterrupt as ended:  # Ctrl-C or SIGTERM at any point, the start-up's imports included
        return _said_stopped(ended)
    except OSError as exc:  # standard output on a full disk (`> /dev/full`), a vanished terminal...
        if (stopped := _stopped_by(exc)) is not None:
            return _said_stopped(stopped)
        if exc is not watched.failed or isinstance(exc, BrokenPipeError):
            raise
        print(f"lockstep: cannot write to standard output: {exc.strerror or exc}", file=sys.stderr)
        watched.silence()
        return _output_lost(0)
    except Exception as exc:  # a signal during the start-up's imports, wrapped by Python ("Error calling
        if (stopped := _stopped_by(exc)) is None:  # __set_name__" of a class being made) or by a library
            raise
        return _said_stopped(stopped)
    finally:
        sys.stdout = watched.inner
        sys.stderr = errors


def _output_lost(code: int) -> int:
    """The exit status when standard output could not be written: 2, an I/O error, as every command's table has
    it (and `ls` exits). It was 1, which `validate`, `compare` and `certify` use for a verdict: a gate read a full
    disk as "invalid", "diverged" or "not certified". An internal error (3) or a signal's status stands."""
    return code if code > 2 else 2


def _said_stopped(ended: KeyboardInterrupt) -> int:
    """One word for the signal that stopped the command (the clean-ups have run on the way out); its exit status."""
    if isinstance(ended, Terminated):  # SIGTERM or SIGHUP
        try:  # after SIGHUP the terminal may be gone
            _stopped(_word(ended.signum))
        except OSError:
            pass
        return 128 + ended.signum
    _stopped(_word(signal.SIGINT))  # Ctrl-C: one word, no traceback
    return 130


def _word(signum: int) -> str:
    """The one word a signal that stops the command is said with."""
    if signum == signal.SIGINT:
        return "interrupted"
    return "hung up" if signum == getattr(signal, "SIGHUP", None) else "terminated"


class _WatchedOutput:
    """Standard output as it is, remembering the error a write or flush raised: an OSError from anywhere else
    (a file a command writes) is that command's to report, and is not taken for a full terminal."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner.inner if isinstance(inner, _WatchedOutput) else inner
        self.failed: OSError | None = None
        self.written = False  # whether anything was printed
        self.closed_inside = False  # code the command ran (an adapter) closed it: what followed went to /dev/null

    def _closed(self) -> bool:
        """Whether the stream was closed under us (`sys.stdout.close()` in an adapter): said at the end, not raised
        as Python's "I/O operation on closed file" from the command's last print (a traceback, exit 1)."""
        if not getattr(self.inner, "closed", False):
            return False
        self.closed_inside = True
        self.inner = open(os.devnull, "w")  # lives as long as the process
        return True

    def write(self, text: str) -> int:
        self.written = self.written or bool(text)
        try:
            return self.inner.write(text)
        except UnicodeEncodeError:  # a path's byte that is not UTF-8 (a lone surrogate): its escape, as files write it
            from lockstep.spec.atomic import writable_text

            return self.inner.write(writable_text(text))
        except ValueError:  # after UnicodeEncodeError, one of its kind
            if self._closed():
                return len(text)
            raise
        except BrokenPipeError:  # `| head` has read enough: the rest goes nowhere and the command ends with its
            self.silence()  # own exit code (a 0 here passed invalid specs through a `set -o pipefail` gate)
            return len(text)
        except OSError as exc:
            self.failed = exc
            raise

    def flush(self) -> None:
        try:
            self.inner.flush()
        except ValueError:
            if not self._closed():
                raise
        except BrokenPipeError:
            self.silence()
            with contextlib.suppress(OSError):
                self.inner.flush()  # what the pipe refused now goes to /dev/null, not to Python's exit
        except OSError as exc:
            self.failed = exc
            raise

    def silence(self) -> None:
        """Point the file descriptor at /dev/null: Python's own flush at exit would print a second, raw error."""
        _to_devnull(self.inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _to_devnull(stream: Any) -> None:
    """Point `stream`'s file descriptor at /dev/null (where it has one)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(null, stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    finally:
        os.close(null)


class _QuietErrors:
    """Standard error as it is, except that what it refuses (`2>/dev/full`, `2>&1 | head -1`, a closed stream) is
    dropped, as coreutils drop a diagnostic that cannot be written: messages and progress are a view of the command,
    and a failing one stopped a run at its first progress line, exit 1 (taken for the run folder's error, "no
    space left" in a folder that had room). The command goes on and exits with its own status."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner.inner if isinstance(inner, _QuietErrors) else inner

    def write(self, text: str) -> int:
        try:
            return self.inner.write(text)
        except (OSError, ValueError):  # ValueError: closed under us
            self._drop()
            return len(text)

    def flush(self) -> None:
        try:
            self.inner.flush()
        except (OSError, ValueError):
            self._drop()

    def _drop(self) -> None:
        """From now on to /dev/null, the descriptor too (the frameworks' native logging, and Python's own flush at
        exit, which would print a raw error)."""
        _to_devnull(self.inner)
        with contextlib.suppress(OSError, ValueError):
            self.inner.flush()  # what it refused now goes to /dev/null
        self.inner = open(os.devnull, "w")  # lives as long as the process

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _stopped_by(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM (a KeyboardInterrupt) that caused `exc`, where a library caught it and raised its own
    error from it; None when none did."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return _RAISED[0] if _RAISED else None  # raised here, then lost by a library that said it in its own words


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(argv))
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # named with the command's own usage (`lockstep schema recipe`), not the top-level one
            getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    args._argv = argv  # a data-parallel `lockstep run` starts its replicas with the same arguments
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args))
    except Exception as exc:  # a bug (in Lockstep or an adapter), not bad input: one line, the traceback on request
        stopped = _stopped_by(exc)
        if stopped is not None:  # Ctrl-C or SIGTERM inside a library that wrapped it ("ImportError: initialization
            raise stopped from None  # failed" of onnxruntime's import): the signal, said as such (130, 143)
        if exc is getattr(sys.stdout, "failed", None) or os.environ.get("LOCKSTEP_DEBUG"):
            raise  # standard output's own error (full, closed) is main's to say
        from lockstep.errors import INTERNAL_ERROR, internal_error

        print(internal_error(f"lockstep {args.command}", exc), file=sys.stderr)
        return INTERNAL_ERROR
