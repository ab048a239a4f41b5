"""An adapter's own answers, checked before anything relies on them.

An adapter is third-party code: its `devices()`, `versions()` and `support()` may raise, return a string
where a list belongs, or raise a BaseException (SystemExit, a class of its own) that would end the whole
command. Every reader of those answers (`lockstep adapters`, `run`, `compare`, `certify`, the pytest plugin)
goes through this module, so one hostile adapter gets one clear sentence everywhere instead of a traceback
in some commands and a garbled list in others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from lockstep.adapters.base import PROVENANCES, Adapter, NonFiniteError, Support
from lockstep.errors import LockstepError
from lockstep.spec.wording import got


class PassThrough(BaseException):
    """A BaseException that the caller raises through adapter code on purpose (the suite's shrink budget):
    `adapter_code` lets it pass."""


class RunnerOutcome(PassThrough):
    """A test runner's own outcome raised while adapter code ran, held until the check is out of hypothesis: the
    runner re-raises `outcome` (the pytest plugin). pytest-timeout's `--timeout-method=signal` raises its Failed
    from a SIGALRM handler inside whatever runs; as the adapter's error it was reported wrongly, and hypothesis,
    which takes pytest's Failed for the test's failure, ran the example again, with no timer left: the session hung
    for good on a hanging adapter."""

    def __init__(self, outcome: BaseException) -> None:
        super().__init__(str(outcome))
        self.outcome = outcome


def runner_outcome(exc: BaseException) -> bool:
    """Whether `exc` is pytest's own (a timeout's Failed, a skip or an exit), where pytest is loaded."""
    import sys

    outcomes = sys.modules.get("_pytest.outcomes")
    return outcomes is not None and isinstance(exc, outcomes.OutcomeException)


class AdapterRaised(Exception):
    """Adapter code raised a BaseException that is not an Exception (SystemExit, GeneratorExit, a class of its
    own), held as an ordinary exception: it is the caller's error to report, never the end of the command. Only
    KeyboardInterrupt keeps its meaning (the user's Ctrl-C)."""

    def __init__(self, original: BaseException, what: str) -> None:
        self.original: BaseException | None = original
        self.what = what
        super().__init__(f"{describe(original)} (raised by the adapter's {what}: a BaseException that is not an "
                         "Exception)")

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        """Picklable (a `--jobs` worker sends it to the parent): the message and `what`; not the original."""
        return _restored, (str(self), self.what)


def _restored(message: str, what: str) -> AdapterRaised:
    exc = AdapterRaised.__new__(AdapterRaised)
    Exception.__init__(exc, message)
    exc.original, exc.what = None, what
    return exc


@contextmanager
def adapter_code(what: str) -> Iterator[None]:
    """Around a call into the adapter (`what`: "build()", "devices()", "session", ...): a BaseException other
    than KeyboardInterrupt (or a PassThrough) comes out as AdapterRaised, pytest's own outcomes as RunnerOutcome.
    Exceptions pass unchanged (UnsupportedConstruct must reach its handlers)."""
    try:
        yield
    except (Exception, PassThrough):
        raise
    except KeyboardInterrupt as exc:
        if a_stop(exc):
            raise
        raise AdapterRaised(exc, what) from None
    except BaseException as exc:
        if runner_outcome(exc):
            raise RunnerOutcome(exc) from exc
        raise AdapterRaised(exc, what) from None


def a_stop(exc: KeyboardInterrupt) -> bool:
    """Whether a KeyboardInterrupt out of an adapter's code is a signal's (Ctrl-C, SIGTERM: the command stops) or one
    the adapter raised itself (its error, as a worker process reports it: `--jobs 1` stopped the whole command
    where `--jobs 2` reported an error). Told apart only where `lockstep`'s command line has its own handlers in
    place, which remember what they raised; anywhere else every KeyboardInterrupt is taken for a stop. A command
    whose SIGINT its parent ignores (a background job of a script) hears no Ctrl-C at all: there too only what
    its handlers raised (SIGTERM's) is a stop."""
    import signal
    import sys

    cli = sys.modules.get("lockstep.cli")
    try:
        if cli is None or not cli._WATCH.get("running"):
            return True
        if signal.getsignal(signal.SIGINT) not in (cli._interrupt, signal.SIG_IGN):
            return True
    except ValueError:  # pragma: no cover - not the main interpreter
        return True
    return any(exc is raised for raised in cli._RAISED)


def safe_str(value: object, unshowable: str | None = None) -> str:
    """`str(value)`, or `unshowable` (default: "(a T that cannot be shown)") where the adapter's object's own
    `__str__` raises: a message or a report about an adapter's answer must not crash on the answer's text."""
    try:
        return str(value)
    except Exception:
        return unshowable if unshowable is not None else f"(a {type(value).__name__} that cannot be shown)"


def describe(exc: BaseException) -> str:
    """An exception as a message says it: `TypeName: text` (AdapterRaised says its own sentence), even when the
    exception's own `str()` raises."""
    text = safe_str(exc, "(its message cannot be shown: str() raised)")
    if isinstance(exc, AdapterRaised):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AdapterError(ValueError):
    """The adapter cannot be used at all: what its versions() or devices() answered (or raised) is unusable. One
    line, naming the method; commands exit 2 with it, the pytest plugin makes it a usage error."""


def adapter_devices(adapter: Adapter) -> tuple[str, ...]:
    """`adapter.devices()` checked: a list (or tuple) of non-empty, printable device names, at least one. A device
    named twice is kept once (the first place kept): the same checks twice would only repeat themselves.
    AdapterError otherwise: a string would be read as one device per character ("cpu": c, p, u)."""
    try:
        with adapter_code("devices()"):
            answer = adapter.devices()
            names = list(answer) if isinstance(answer, (list, tuple)) else None
    except Exception as exc:
        raise AdapterError(f"devices() raised {describe(exc)}") from None
    if names is None:
        raise AdapterError(f"devices() returned {got(answer)}; expected a list of device names, such as ['cpu']")
    if not names:
        raise AdapterError("the adapter offers no device: devices() returned an empty list; expected at least one "
                           "device name, such as ['cpu']")
    for device in names:
        if not isinstance(device, str) or not device.strip() or not device.isprintable():
            raise AdapterError(f"devices() returned {got(answer)}: {got(device)} is not a device name (expected "
                               "non-empty strings of printable characters)")
    return tuple(dict.fromkeys(names))


def adapter_versions(adapter: Adapter) -> dict[str, str]:
    """`adapter.versions()` checked: a mapping of package to version, both given as text (`str()` of each, so a
    number or None shows as written). AdapterError otherwise: reports and certificates record these."""
    try:
        with adapter_code("versions()"):
            answer = adapter.versions()
            if not isinstance(answer, Mapping):
                raise AdapterError(f"versions() returned {got(answer)}; expected a mapping of package to version, "
                                   "such as {'acme': '1.0'}")
            return {str(k): str(v) for k, v in answer.items()}
    except AdapterError:
        raise
    except Exception as exc:
        raise AdapterError(f"versions() raised {describe(exc)}") from None


class SupportError(Exception):
    """support() raised, or answered something that is not a Support: an error of whoever asked."""


SUPPORT_STATUSES = (*PROVENANCES, "unsupported", "subclass")


def checked_support(adapter: Adapter, construct: str, *, dtype: str, device: str) -> Support:
    """`adapter.support(construct, ...)` as a Support. An object that is not one but has a `status` of the Support
    vocabulary (and a `note`) is read as that Support; anything else, or an exception, is a SupportError naming
    the construct and what came back."""
    try:
        with adapter_code("support()"):
            answer = adapter.support(construct, dtype=dtype, device=device)
    except Exception as exc:
        raise SupportError(f"support() for `{construct}` ({dtype}, {device}) raised {describe(exc)}") from None
    if isinstance(answer, Support):  # its note is shown in every report: text, whatever the adapter put there
        return answer if isinstance(answer.note, str) else Support(answer.status, safe_str(answer.note))
    status = None if isinstance(answer, (str, bytes)) else getattr(answer, "status", None)
    if isinstance(status, str) and status in SUPPORT_STATUSES:
        note = getattr(answer, "note", "")
        try:
            return Support(status, note if isinstance(note, str) else "" if note is None else str(note))  # type: ignore[arg-type]
        except Exception:
            pass
    raise SupportError(f"support() returned {got(answer)} for `{construct}`; expected a Support "
                       "(lockstep.adapters.base.Support: native, bridged, written or unsupported, with a note)")


# ------------------------------------------------------------------------ a session's answers, checked
class AnswerError(ValueError):
    """A session call answered something that is not what the protocol says (None for an array, a tuple for a
    StepResult): the adapter's error, said as such, where a reader of the answer would fail on an attribute."""


class session_call:  # lower case: used as a function, `with session_call(...):`
    """Around a session call whose exception (or wrong answer, AnswerError) is the adapter's failure, not an
    internal error of Lockstep's: raises `failed(text)`, text being what went wrong after "the adapter's"
    ("train_step() raised RuntimeError: ..."). A non-finite result, Lockstep's own errors, Ctrl-C and a
    GeneratorExit (the run's own generator closed around the call) pass unchanged; LOCKSTEP_DEBUG=1 lets the
    original through, with its traceback. A class, not a generator: closing one mid-call raised from its close."""

    def __init__(self, what: str, failed: Callable[[str], Exception]) -> None:
        self.what, self.failed = what, failed

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, (NonFiniteError, LockstepError, PassThrough, GeneratorExit)) or \
                (isinstance(exc, KeyboardInterrupt) and a_stop(exc)) or os.environ.get("LOCKSTEP_DEBUG"):
            return False
        held = exc if isinstance(exc, Exception) else AdapterRaised(exc, self.what)
        text = str(held) if isinstance(held, AnswerError) else f"{self.what} raised {describe(held)}"
        raise self.failed(text) from exc


def step_answer(answer: Any) -> Any:
    """train_step()'s answer: a StepResult, or anything with a numeric `loss` and `learning_rate`."""
    try:
        float(answer.loss), float(answer.learning_rate)
    except Exception:
        raise AnswerError(f"train_step() returned {got(answer)}; expected a StepResult (lockstep.adapters.base: "
                          "a numeric loss and learning_rate)") from None
    return answer


def session_answer(answer: Any, call: str = "build()",
                   methods: tuple[str, ...] = ("set_parameters", "get_parameters", "forward")) -> Any:
    """build()'s answer (or data_parallel()'s: `call`, with the `methods` its users call): a session (None was
    "'NoneType' object has no attribute 'set_parameters'", an internal error, exit 3)."""
    if not all(callable(getattr(answer, m, None)) for m in methods):
        raise AnswerError(f"{call} returned {got(answer)}; expected a session (lockstep.adapters.base.Session: "
                          f"{', '.join(methods)}, ...)")
    return answer


def parameters_answer(answer: Any) -> Mapping[str, Any]:
    """get_parameters()'s answer: a mapping of canonical name to array (None was an AttributeError, exit 3)."""
    if not isinstance(answer, Mapping) or any(v is None for v in answer.values()):
        raise AnswerError(f"get_parameters() returned {got(answer)}; expected a mapping of canonical parameter name "
                          "to array")
    return answer


def optimizer_state_answer(answer: Any) -> tuple[int, Mapping[str, Mapping[str, Any]]]:
    """get_optimizer_state()'s answer: (step count, {parameter: {state name: array}})."""
    import numbers

    pair = tuple(answer) if isinstance(answer, (tuple, list)) else None
    if pair is None or len(pair) != 2 or isinstance(pair[0], bool) or not isinstance(pair[0], numbers.Integral) \
            or not isinstance(pair[1], Mapping) or not all(isinstance(v, Mapping) for v in pair[1].values()):
        raise AnswerError(f"get_optimizer_state() returned {got(answer)}; expected a pair (the step count, a mapping "
                          "of parameter name to its state's arrays by name)")
    return int(pair[0]), pair[1]


def forward_answer(answer: Any) -> Any:
    """forward()'s answer: an array of numbers (None or text would compare as an array of shape [])."""
    if answer is None or isinstance(answer, (str, bytes, Mapping)):
        raise AnswerError(f"forward() returned {got(answer)}; expected an array of the model's outputs")
    return answer


def gradients_answer(answer: Any) -> tuple[Any, Mapping[str, Any]]:
    """loss_and_gradients()'s answer: a (loss, {parameter: gradient}) pair, every gradient an array."""
    pair = tuple(answer) if isinstance(answer, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not isinstance(pair[1], Mapping):
        raise AnswerError(f"loss_and_gradients() returned {got(answer)}; expected a pair (loss, a mapping of "
                          "parameter name to gradient)")
    missing = next((k for k, v in pair[1].items() if v is None), None)
    if missing is not None:
        raise AnswerError(f"loss_and_gradients() returned None as the gradient of `{safe_str(missing)}`; expected "
                          "an array (zeros where the loss does not depend on the parameter)")
    return pair  # type: ignore[return-value]
