"""The memory a run will need, estimated from the documents alone, and the limit it is held to.

`lockstep validate` promises that a document it accepts does not crash `run` for a reason it could
have seen; a dense layer of 3e9 units, a billion synthetic samples or a batch whose activations need a
terabyte are such reasons. They are seen here, statically and without numpy: shapes come from the
spec's own shape inference (spec/graph.py), sizes from the data source, and every value is counted
at 8 bytes, as the float64 reference holds it (the reference runs in every `run` and `compare`).

The estimate counts what the reference and the runner keep alive at their peak, per construct:

- parameters in training: PARAM_COPIES arrays of each (the runner's initial copy, the session's value,
  the previous value its forward caches still hold, the gradient, the update's two temporaries, the copy
  the runner checks and checkpoints, the gradient kept for the step's result), and each optimizer state
  twice (the state and its update's temporary; SGD momentum 1, Adam 2 + 1 with amsgrad, RMSprop 1 + 1
  centered + 1 momentum, Adagrad 1); with checkpoints, one more copy of each and of each state (what a
  checkpoint copies and hashes); buffers twice. Measured (2026-12-07, tracemalloc, a 16.8M-parameter
  MLP): 6.3 copies with plain SGD, 8.2 with momentum, 9.2 with Adam, 10.2 with three states; with a
  checkpoint every step 7.3, 9.2, 11.6 and 14.6;
- activations of one training batch: every node's output three times (the value, its backward cache,
  its gradient), plus what a construct keeps besides: the windows of a convolution or pool, the
  T x T attention weights of every head, the gates of every time step of a recurrent layer;
- evaluation: one chunk of the runner's EVAL_CHUNK samples, and the outputs of the whole split; counted
  besides the training batch, not instead of it: the reference keeps the last forward's values until
  its next one, so an evaluation's stay alive into the next training step;
- data: the features four times and the targets three times (the draw, the split, the cast and the
  preprocessing), the class centres of `synthetic_classification`;
- the run's history: about 1 KiB per optimizer step (the metric records the runner keeps).

The limit is, in this order: `--memory-limit` (validate's flag, through `using_memory_limit`), the
environment variable LOCKSTEP_MEMORY_LIMIT (`16GiB`, `512M`, `8e9`, or `none` to switch the check
off), else the memory the machine has available now (/proc/meminfo's MemAvailable, else
`os.sysconf`). With none of those known, nothing is checked.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["ENV", "EVAL_CHUNK", "Limit", "Need", "format_bytes", "memory_limit", "memory_size", "parse_size",
           "using_memory_limit"]

ENV = "LOCKSTEP_MEMORY_LIMIT"
FLOAT_BYTES = 8  # the reference computes in float64
EVAL_CHUNK = 4096  # samples per evaluation forward (lockstep/runner.py's EVAL_CHUNK)
HISTORY_BYTES_PER_STEP = 1024  # a metric record, its JSON line and its step time, kept by the runner
PARAM_COPIES = 8  # see the module docstring (optimizer states come on top, twice each)
STATE_COPIES = 2  # an optimizer state and its update's temporary
CHECKPOINT_COPIES = 1  # with checkpoints, one more copy of each parameter and of each optimizer state
ACTIVATION_COPIES = 3  # output, backward cache, gradient
FEATURE_COPIES, TARGET_COPIES = 4, 3

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}
_OFF = ("none", "off", "unlimited", "no")
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*")


@dataclass(frozen=True)
class Limit:
    """A memory limit in bytes (None: no check) and where it came from, for messages."""

    bytes: int | None
    source: str


@dataclass(frozen=True)
class Need:
    """One thing a run holds in memory: what it is, where the document says it, and its bytes."""

    what: str
    path: tuple[str | int, ...]
    bytes: int


def parse_size(text: str) -> int | None:
    """`16GiB`, `16G` (binary), `16GB` (decimal), `8e9`, `512` -> bytes; `none`/`off` -> None (no limit).
    ValueError for anything else."""
    if text.strip().lower() in _OFF:
        return None
    m = _SIZE.fullmatch(text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS:
        raise ValueError(f"`{text}` is not a size (say `16GiB`, `512M`, `8e9` bytes, or `none`)")
    value = float(m.group(1)) * _UNITS[unit]
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"`{text}` is not a usable memory size")
    return int(value)


def memory_size(text: str) -> Limit:
    """argparse `type=` for `--memory-limit SIZE` (a usage error, exit 2, when it is not a size)."""
    import argparse

    try:
        return Limit(parse_size(text), f"--memory-limit {text.strip()}")
    except ValueError as exc:  # escaped: argparse prints the user's text as it is (an ANSI escape would act)
        from lockstep.spec.diagnostics import escape_text

        raise argparse.ArgumentTypeError(escape_text(str(exc))) from None


_override: contextvars.ContextVar[Limit | None] = contextvars.ContextVar("lockstep_memory_limit", default=None)


@contextlib.contextmanager
def using_memory_limit(limit: Limit | None) -> Iterator[None]:
    """Within the block, check against `limit` (from `memory_size`); None leaves the usual order."""
    token = _override.set(limit) if limit is not None else None
    try:
        yield
    finally:
        if token is not None:
            _override.reset(token)


@functools.cache
def _available() -> int | None:
    """The machine's available memory now (read once per process)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit_problem() -> str | None:
    """What is wrong with LOCKSTEP_MEMORY_LIMIT ("LOCKSTEP_MEMORY_LIMIT: `lots` is not a size ..."), or None: one
    sentence, said as a usage error by every command and by the pytest plugin."""
    try:
        memory_limit()
    except ValueError as exc:
        return f"{ENV}: {exc}"
    return None


def memory_limit() -> Limit:
    """The limit in force: --memory-limit, else LOCKSTEP_MEMORY_LIMIT, else the available memory.
    ValueError when the environment variable is not a size."""
    chosen = _override.get()
    if chosen is not None:
        return chosen
    text = os.environ.get(ENV)
    if text is not None and text.strip():
        return Limit(parse_size(text), f"{ENV}={text.strip()}")
    return Limit(_available(), "the memory available on this machine")


def format_bytes(n: float) -> str:
    """1234567890 -> `1.15 GiB`."""
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 1e4 else f"{value:.3e} {unit}"
        continue
    return f"{int(n)} bytes"


def optimizer_states(opt: object) -> int:
    """How many arrays of each parameter's size the optimizer keeps."""
    t = getattr(opt, "type", "")
    if t == "sgd":
        return 1 if getattr(opt, "momentum", 0) > 0 else 0
    if t in ("adam", "adamw"):
        return 3 if getattr(opt, "amsgrad", False) else 2
    if t == "rmsprop":
        return 1 + bool(getattr(opt, "centered", False)) + (getattr(opt, "momentum", 0) > 0)
    if t == "adagrad":
        return 1
    return 2


def node_extra_values(node: object) -> int:
    """Values per sample a construct keeps besides its output (see the module docstring)."""
    layer = node.layer  # type: ignore[attr-defined]
    t = layer.type
    ins = node.input_shapes  # type: ignore[attr-defined]
    out = node.shape  # type: ignore[attr-defined]
    if t in ("conv1d", "conv2d"):
        k = layer.kernel_size
        taps = math.prod(k) if isinstance(k, list) else k ** layer.spatial
        return math.prod(out[1:]) * (ins[0][0] // layer.groups) * taps
    if t in ("max_pool2d", "avg_pool2d"):
        k = layer.kernel_size
        return math.prod(out) * (math.prod(k) if isinstance(k, list) else k * k)
    if t == "multi_head_attention":
        steps, width = ins[0]
        return 5 * layer.num_heads * steps * steps + 6 * steps * width
    if t in ("lstm", "gru"):
        steps = ins[0][0]
        return 2 * steps * layer.gates * layer.units + 3 * steps * layer.units
    if t in ("batch_norm", "layer_norm", "dropout"):
        return math.prod(out)
    return 0


def parameter_needs(graph: object, prefix: tuple[str | int, ...], section: str, *, copies: int,
                    states: int = 0) -> list[Need]:
    """Bytes of each node's parameters (`copies` + `states` arrays each) and buffers (two copies)."""
    out = []
    for n in graph.nodes:  # type: ignore[attr-defined]
        params = sum(math.prod(p.shape) for p in n.layer.parameters(n.input_shapes).values())
        buffers = sum(math.prod(p.shape) for p in n.layer.buffers(n.input_shapes).values())
        total = (params * (copies + states) + buffers * 2) * FLOAT_BYTES
        if total:
            out.append(Need(f"the parameters of `{n.name}` ({n.type})", (*prefix, section, n.index), total))
    return out


def activation_needs(graph: object, prefix: tuple[str | int, ...], section: str, batch: int,
                     copies: int, label: str) -> list[Need]:
    """Bytes of each node's activations for `batch` samples (`label` says which: "a batch of 64 samples")."""
    out = []
    for n in graph.nodes:  # type: ignore[attr-defined]
        values = math.prod(n.shape) * copies + node_extra_values(n)
        total = values * batch * FLOAT_BYTES
        if total:
            out.append(Need(f"the activations of `{n.name}` ({n.type}) for {label}", (*prefix, section, n.index),
                            total))
    return out


def too_much(needs: list[Need], limit: Limit, scope: str) -> tuple[Need, str] | None:
    """(where to report, message) when the needs exceed the limit; None when they fit or nothing is known.
    `scope` ends the first clause: "to hold the model", "to run this recipe"."""
    if limit.bytes is None or not needs:
        return None
    total = sum(n.bytes for n in needs)
    if total <= limit.bytes:
        return None
    worst = max(needs, key=lambda n: n.bytes)
    said = f"more than the memory limit of {format_bytes(limit.bytes)} ({limit.source}"
    flag = limit.source.startswith("--memory-limit")
    said += ")" if flag else f"; set {ENV} or --memory-limit to change it)"
    if worst.bytes > limit.bytes:
        return worst, (f"{worst.what} need {format_bytes(worst.bytes)} ({worst.bytes:,} bytes) on their own {scope}, "
                       f"{said}")
    top = sorted(needs, key=lambda n: -n.bytes)[:3]
    parts = "; ".join(f"{n.what}: {format_bytes(n.bytes)}" for n in top)
    return worst, (f"about {format_bytes(total)} ({total:,} bytes) are needed {scope}, {said}; the largest parts: "
                   f"{parts}")
