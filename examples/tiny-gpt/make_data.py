"""Rebuild tiny-gpt's data from the project's own docs: corpus.txt (the text) and corpus.npz (the training windows).

    python examples/tiny-gpt/make_data.py

The text is docs/index.md and docs/running.md, lowercased, with every character outside ALPHABET dropped and
runs of whitespace folded into one space, cut at LIMIT characters. Token ids are positions in ALPHABET. Each
sample is a window of LENGTH + 1 characters, taken every STRIDE characters: `x` its first LENGTH ids, `y` its
last LENGTH (the next character at every position), both int64 [samples, LENGTH]. Nothing is downloaded; the
files are committed, so a recipe never runs this.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

ALPHABET = " abcdefghijklmnopqrstuvwxyz.,:;'()-"
LENGTH, STRIDE, LIMIT = 16, 12, 9000
HERE = Path(__file__).resolve().parent
SOURCES = ("docs/index.md", "docs/running.md")


def corpus(root: Path) -> str:
    text = " ".join((root / s).read_text(encoding="utf-8") for s in SOURCES).lower()
    text = "".join(c if c in ALPHABET else (" " if c.isspace() else "") for c in text)
    return re.sub(r" +", " ", text).strip()[:LIMIT]


def windows(text: str) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([ALPHABET.index(c) for c in text], dtype=np.int64)
    starts = range(0, len(ids) - LENGTH, STRIDE)
    x = np.stack([ids[s:s + LENGTH] for s in starts])
    y = np.stack([ids[s + 1:s + LENGTH + 1] for s in starts])
    return x, y


def main() -> None:
    text = corpus(HERE.parents[1])
    (HERE / "corpus.txt").write_text(text + "\n", encoding="utf-8")
    x, y = windows(text)
    np.savez_compressed(HERE / "corpus.npz", x=x, y=y)
    print(f"{len(text)} characters, {len(ALPHABET)} symbols, {len(x)} windows of {LENGTH}")


if __name__ == "__main__":
    main()
