"""The standard's randomness: named, seeded streams whose output every backend is handed.

    stream(seed, *names) = Generator(PCG64(SeedSequence([seed, w0, w1, w2, w3])))

with w0..w3 the first four little-endian uint32 words of sha256("/".join(names)) (UTF-8). Naming a
stream by what it is for ("init", "dense_0.weight") instead of drawing from one global generator means
adding a layer or a metric never changes anyone else's bits.

Reproducibility, precisely: SeedSequence and PCG64 are frozen by NumPy's policy (NEP 19), so the raw
64-bit stream is identical on every platform and NumPy release. `random()` (uniform doubles, from the
top 53 bits of each word), `uniform`, `integers`, `permutation`, `standard_normal` and `normal` have
produced identical values since NumPy 1.17 on every platform, but NEP 19 allows a feature release to
change a Generator *method*; the tests pin golden values of each method the standard uses, so such a
change is caught rather than silently changing initial weights. Backends never draw: they receive the
reference's arrays, so two backends in one process always start from the same bits.
"""

from __future__ import annotations

import hashlib

import numpy as np


def name_words(*names: str) -> list[int]:
    """The four uint32 words a stream's names contribute to its SeedSequence."""
    digest = hashlib.sha256("/".join(names).encode("utf-8")).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


def stream(seed: int, *names: str) -> np.random.Generator:
    """The generator of the stream `names` under `seed` (a non-negative integer)."""
    if int(seed) < 0:
        raise ValueError(f"seeds are non-negative integers, got {seed}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), *name_words(*names)])))


def dropout_mask(seed: int, layer: str, step: int, shape: tuple[int, ...], rate: float) -> np.ndarray:
    """Keep-mask of dropout layer `layer` at optimizer step `step` (0-based): uniform ≥ rate."""
    return stream(seed, "dropout", layer, str(step)).random(shape) >= rate
