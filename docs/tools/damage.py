"""Damage a checkpoint the way the guarantees page shows, so that its shown outputs are produced, not typed.

    python docs/tools/damage.py flip FILE ENTRY      # one bit of ENTRY's data flipped (its CRC-32 then fails)
    python docs/tools/damage.py truncate FILE        # only the first 100 bytes kept: not a zip any more
    python docs/tools/damage.py format1 FILE         # rewritten as a format-1 checkpoint (no hashes)

Used by docs/tools/gen_outputs.py's hidden setup commands (`setup=N`); not part of the package.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np


def flip(path: Path, entry: str) -> None:
    """Flip the lowest bit of the middle byte of `entry`'s stored data (checkpoints are stored, not deflated)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo(entry)
    local = info.header_offset
    name_len = int.from_bytes(data[local + 26:local + 28], "little")
    extra_len = int.from_bytes(data[local + 28:local + 30], "little")
    start = local + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def format1(path: Path) -> None:
    """The same arrays with the metadata of format 1: what Lockstep wrote before checkpoints carried hashes."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    body = json.loads(arrays["meta"].tobytes())["checkpoint"]
    old = {"format": 1, **{k: v for k, v in body.items() if "hash" not in k}}
    arrays["meta"] = np.frombuffer(json.dumps(old).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("flip", "truncate", "format1"):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    if argv[0] == "flip":
        flip(path, argv[2])
    elif argv[0] == "truncate":
        truncate(path)
    else:
        format1(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
