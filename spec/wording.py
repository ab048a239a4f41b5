"""How a value and a set of choices are said in a message: `the string "64"`, `3.0`, `a list of 7 items`,
`` `adam` or `sgd` ``, and the nearest choice to a slip. Shared by every message that quotes what a user wrote
(schema errors, the document header, `--set` overrides), so they say a value the same way."""

from __future__ import annotations

import difflib
import json
import math
from typing import Any

__all__ = ["close_match", "digits", "one_of", "said"]


def said(value: Any) -> str:
    """The input, said briefly (`-3`, `3.0`, `the string "abc"`, `a list`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        if not value:
            return "an empty list"
        text = repr(list(value))
        return f"the list {text}" if len(text) <= 40 else f"a list of {len(value)} items"
    if isinstance(value, str):
        return f"the string {quoted(value)}"
    if isinstance(value, float):
        return real(value)
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    return str(value)


def real(value: float) -> str:
    """A float input as YAML writes it: `3.0` stays `3.0` (an integer field must say why it refuses it)."""
    if math.isnan(value):
        return ".nan"
    written = getattr(value, "written", None)  # loader.BeyondFloat (`1e400`, read as ±inf), BelowFloat (`1e-400`, 0)
    if math.isinf(value):
        if written is not None:
            return f"{written} (beyond float64's range, ±1.8e308)"
        return ".inf" if value > 0 else "-.inf"
    if value == 0.0 and written is not None:
        return f"{written} (below float64's smallest, 4.9e-324: read as {value!r})"
    return repr(value)


def quoted(text: str) -> str:
    """A string input in double quotes, control characters escaped, shortened past 60 characters."""
    text = text if len(text) <= 60 else text[:57] + "..."
    return json.dumps(text, ensure_ascii=False)


def one_of(choices: list[str] | tuple[str, ...]) -> str:
    """`` `a` ``, `` `a` or `b` ``, or `` one of `a`, `b`, `c` ``."""
    shown = [f"`{c}`" for c in choices]
    if len(shown) <= 1:
        return "".join(shown)
    if len(shown) == 2:
        return f"{shown[0]} or {shown[1]}"
    return "one of " + ", ".join(shown)


def close_match(word: Any, choices: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str | None:
    """The choice `word` most likely meant (a typo, or a case slip such as `Adam` for `adam`), if any."""
    found = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=cutoff)
    if not found:  # case slips: `Adam` for `adam`
        lowered = {c.lower(): c for c in choices}
        return lowered.get(str(word).lower())
    return found[0]


def got(value: Any) -> str:
    """A value an argument or an adapter's answer held, as a message shows it ("float 2.5", "str 'cpu'", "None"):
    its type and a short, escaped repr; a repr that raises (a third party's object) gives the type alone."""
    from lockstep.spec.diagnostics import escape_text

    if value is None:
        return "None"
    try:
        shown = repr(value)
    except Exception:
        return type(value).__name__
    return escape_text(f"{type(value).__name__} {shown if len(shown) <= 60 else shown[:57] + '...'}")


def digits(text: str) -> bool:
    """Whether `text` is a non-empty run of the digits 0-9, as `int()` reads a count: `str.isdigit` also takes `²` and
    other Unicode digits that `int()` refuses (OMP_NUM_THREADS=² was an internal error)."""
    return text.isascii() and text.isdigit()
