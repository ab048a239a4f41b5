"""The standard's randomness: named, seeded streams that every backend is handed the output of.

stream(seed, *names) = Generator(PCG64(SeedSequence([seed, w0, w1, w2, w3]))) where w0..w3 are the
first four little-endian uint32 words of sha256("/".join(names)). PCG64 and SeedSequence are
specified by NumPy and stable across platforms and releases, so the bits are reproducible anywhere.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, *names: str) -> np.random.Generator:
    digest = hashlib.sha256("/".join(names).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), *words])))


def dropout_mask(seed: int, layer: str, step: int, shape: tuple[int, ...], rate: float) -> np.ndarray:
    """Keep-mask of dropout layer `layer` at optimizer step `step` (0-based): uniform >= rate."""
    return stream(seed, "dropout", layer, str(step)).random(shape) >= rate
