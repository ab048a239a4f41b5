"""Speed measurements (each script's docstring says what it compares); shared argument parsing."""

from __future__ import annotations

from lockstep.spec.wording import digits


def seed_list(text: str) -> list[int]:
    """`--seeds` as the scripts take it: ranges and single seeds, comma-separated ("0-9", "0,3,7", "0-4,9").
    ValueError, naming the part, for anything else (argparse turns it into a usage error)."""
    out: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not digits(lo) or (dash and not digits(hi)) or (dash and int(hi) < int(lo)):
            raise ValueError(f"--seeds: {part.strip()!r} is not a seed (N) or a range (N-M with N <= M)")
        out += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
    return out
