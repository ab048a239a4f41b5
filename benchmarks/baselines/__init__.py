"""Hand-written training loops: what `benchmarks/runner_overhead.py` times `lockstep run` against.

One module per backend name, `benchmarks/baselines/<backend>_loop.py` (`torch_loop.py`,
`tensorflow_loop.py`), written the way a practitioner writes a loop in that framework, with:

    def supports(prep: Prepared) -> bool
        Whether the module has a hand-written model for this prepared recipe (by recipe name, checked
        against the canonical parameter shapes): a changed or new example is skipped, never mis-timed.

    def train(prep: Prepared, device: str, workdir: Path) -> float
        Build the model by hand, load `prep.initial`, then run `prep.total_steps` steps on
        `prep.data.batch(step)` with the recipe's optimizer, schedule, clipping and L2; evaluate the
        recipe's metrics at its cadence, append one loss line per step to a log file and save a checkpoint
        at the recipe's cadence, in `workdir`. Return the seconds from model construction to the end of
        training (device work finished).

    def configure(threads: int | None) -> None          (optional)
        Framework thread settings for the benchmark process, applied once before any timing.

`load(backend)` finds the module; runner_overhead.py never needs editing when one is added.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lockstep.runner import Prepared


class Baseline(Protocol):
    def supports(self, prep: Prepared) -> bool: ...

    def train(self, prep: Prepared, device: str, workdir: Path) -> float: ...


def available() -> list[str]:
    """Backends with a hand-written loop here."""
    return sorted(p.stem.removesuffix("_loop") for p in Path(__file__).parent.glob("*_loop.py"))


def load(backend: str) -> ModuleType:
    """The baseline module of `backend` (ModuleNotFoundError when there is none, or its framework is missing)."""
    module = importlib.import_module(f"benchmarks.baselines.{backend}_loop")
    missing = [f for f in ("supports", "train") if not callable(getattr(module, f, None))]
    if missing:
        raise TypeError(f"benchmarks/baselines/{backend}_loop.py lacks {', '.join(missing)} "
                        "(the interface is in benchmarks/baselines/__init__.py)")
    return module
