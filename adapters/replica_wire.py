"""The command loop of a replica process and its answers' meaning, shared by the process-hosted data-parallel
engines (adapters/torch/distributed.py's gloo ranks, adapters/tensorflow/distributed.py's MirroredStrategy
worker), so that a non-finite step or an unsupported construct in a replica reaches the driver as the same
exception it would be in one process, whichever framework raised it. Framework-free.

The wire: the driver sends `(op, payload)`: `("build", kwargs)`, `("call", (method, args, kwargs))` or
`("close", None)`; the replica answers `(status, value)` with status `ok`, `nonfinite` (value: the quantity),
`unsupported` (value: construct, reason, layer) or `error` (value: the message and a short traceback).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from lockstep.adapters.base import NonFiniteError, UnsupportedConstruct


def failure(exc: BaseException) -> tuple[str, Any]:
    """The answer for an exception raised while serving a command."""
    if isinstance(exc, NonFiniteError):
        return "nonfinite", exc.quantity
    if isinstance(exc, UnsupportedConstruct):
        return "unsupported", (exc.construct, exc.reason, exc.layer)
    return "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"


def answer(conn: Connection, reply: tuple[str, Any]) -> bool:
    """Send `reply` to the driver; False when the driver has gone (killed mid-command: the pipe is broken or closed),
    which ends the replica quietly instead of with a BrokenPipeError traceback on the terminal the driver shared. A
    value that does not pickle is answered with why (pickled first, so that a send that fails is never retried)."""
    from multiprocessing.reduction import ForkingPickler

    try:
        data = ForkingPickler.dumps(reply)
    except Exception as exc:
        data = ForkingPickler.dumps(failure(exc))
    try:
        conn.send_bytes(data)
    except (OSError, EOFError):
        return False
    return True


def serve(conn: Connection, build: Callable[[dict[str, Any]], Any]) -> None:
    """Answer the driver's commands until it says `close` or goes away: `build` makes the session that the later
    calls are made on (the previous one dropped first, so two never hold memory at once)."""
    session: Any = None
    while True:
        try:
            op, payload = conn.recv()
        except (EOFError, OSError):
            break
        if op == "close":
            break
        try:
            if op == "build":
                session = None
                session = build(payload)
                reply: tuple[str, Any] = ("ok", None)
            else:
                method, args, kwargs = payload
                reply = ("ok", getattr(session, method)(*args, **kwargs))
        except Exception as exc:
            reply = failure(exc)
        if not answer(conn, reply):
            break


def value(answer: tuple[str, Any], where: str) -> Any:
    """The value of a replica's answer, or the exception it stands for (`where` opens an error's message)."""
    status, result = answer
    if status == "nonfinite":
        raise NonFiniteError(result)
    if status == "unsupported":
        construct, reason, layer = result
        raise UnsupportedConstruct(construct, reason, layer=layer)
    if status == "error":
        raise RuntimeError(f"{where}: {result}")
    return result
