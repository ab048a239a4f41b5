"""What a certification produces: one `CheckResult` per (construct, level, dtype, device), gathered in a
`Certification`. Reports (conformance/report.py) render these; nothing here runs an adapter.

Vocabulary (docs/conformance.md):
- a *check* is one construct at one level in one dtype on one device, exercised by `examples`
  hypothesis-generated cases;
- its *worst* is the comparison (quantity, error, tolerance) with the largest error/tolerance ratio
  over every example and every compared quantity (the shrinker's cases included); the *margin* is 1/ratio
  (> 1 passes); a level fails when any case failed it, so the outcome and the worst never disagree;
- a failing check carries the shrunk counterexample's folder (a standalone spec that reproduces it).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lockstep.spec.atomic import strict_json, writable_text
from lockstep.spec.wording import digits

Outcome = Literal["pass", "fail", "unsupported", "error"]

PROVENANCES: tuple[str, ...] = ("native", "bridged", "written")
"""adapters/base.py's provenance vocabulary (restated: this module imports no adapter)."""

LEVELS: dict[int, str] = {1: "predictions", 2: "gradients", 3: "updates", 4: "recipes", 5: "data_parallel"}
"""Level number -> name: 1 forward outputs in eval mode; 2 loss and gradients of one batch; 3 parameters
and optimizer state after k steps (schedules, clipping, regularization included); 4 short training
trajectories of the example recipes; 5 the data-parallel engine on 2 and 3 replicas, step by step (asked for
by name or number: not part of `all`, it starts worker processes)."""

LEVEL_NAMES: dict[str, int] = {name: number for number, name in LEVELS.items()}
DEFAULT_LEVELS: tuple[int, ...] = (1, 2, 3, 4)
"""What `all` means: level 5 starts worker processes and is asked for by name or number."""


def parse_levels(levels: str | int | Iterable[int | str], flag: str = "--level") -> tuple[int, ...]:
    """Levels given as numbers or names (comma-separated text, or several), or `all`; ValueError otherwise, naming
    `flag`. One reading for `lockstep certify --level`, the Python API (`levels`) and the pytest plugin's
    `--lockstep-level`. `all` in a list adds the default levels (`all,5` is 1-5: repeated options add up, and
    `--level all --level 5` was refused)."""
    items = [levels] if isinstance(levels, (str, int)) else list(levels)
    expected = f"{flag} {levels!r}: expected 1-5, level names ({', '.join(LEVEL_NAMES)}) or `all`"
    out = set()
    for x in items:
        for part in (x.split(",") if isinstance(x, str) else [x]):
            p = str(part).strip().lower()
            if p == "all":
                out.update(DEFAULT_LEVELS)
            elif digits(p) and int(p) in LEVELS:
                out.add(int(p))
            elif p in LEVEL_NAMES:
                out.add(LEVEL_NAMES[p])
            else:
                raise ValueError(expected)
    if not out:
        raise ValueError(expected)
    return tuple(sorted(out))


SAFE_NAME_BYTES = 100
"""The longest folder name `safe_name` gives, in UTF-8 bytes: well under the 255 of common file systems, with room
for a prefix (`certify-`) and for the paths under it."""


def safe_name(text: str, *, fallback: str = "adapter", limit: int = SAFE_NAME_BYTES) -> str:
    """`text` as one folder name that cannot leave its parent or surprise a shell: letters and digits (any script),
    `.`, `_` and `-` kept, every run of anything else (`/`, `:`, `..`, spaces, control characters) one `-`, at most
    `limit` UTF-8 bytes; never empty, `.` or `..` (then `fallback`). Adapter and device names are third-party text,
    and a default folder or a failure folder is built from them."""
    out = "".join(c if c.isalnum() or c in "._-" else "-" for c in str(text))
    out = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", "-", out)).strip("-")  # `..` is no part of a name: a separator
    while len(out.encode("utf-8")) > limit:
        out = out[:-1]
    out = out.rstrip("-")
    return fallback if not out.strip(".") else out


@dataclass(frozen=True)
class Worst:
    """The comparison nearest to (or furthest beyond) its tolerance within one check.

    The one rule by which every report and every JSON says it (report.json, `Certification.to_json`, the pytest
    plugin's transfer from its workers, report.md, report.html, junit.xml, the terminal, the pytest failure text;
    docs/conformance.md "Reports"): `margin`, `no_error` and `unmeasured` here, `to_json` and `from_json`."""

    quantity: str  # e.g. "output", "loss", "gradient dense.weight", "step 2 parameter dense.bias"
    error: float  # |a - r| at the element of that quantity where the ratio is largest
    tolerance: float  # the allowed |a - r| at that element
    ratio: float  # max over elements of |a - r| / (rtol |r| + atol); <= 1 passes

    @property
    def unmeasured(self) -> bool:
        """Whether this is a comparison that could not be made at any element (a shape, a missing name:
        conformance/checks.py's error inf, tolerance 0, ratio inf, with what was wrong in its quantity): no error was
        measured and no tolerance applied; every report says `none` (JSON null) for both and for the margin."""
        return math.isinf(self.ratio) and not math.isfinite(self.error) and self.tolerance == 0.0

    @property
    def no_error(self) -> bool:
        """Whether no finite error was measured: a comparison that could not be made (`unmeasured`), or a non-finite
        value where a finite one is due (checks.py's error inf and ratio inf, the tolerance of that element kept,
        what was wrong in its quantity). Every report says `none` (null) for its error and its margin, and its
        tolerance as it is."""
        return not math.isfinite(self.error)

    @property
    def margin(self) -> float | None:
        """The margin every report states: how many times the measured error fits in its tolerance, 1/ratio. inf
        where the error is 0 (ratio 0, or one so small that 1/ratio overflows); 0 where the ratio is inf though the
        error was measured (finite, and huge against a tiny tolerance, or not 0 against a tolerance of 0: it fits
        no times); None where no error was measured (`no_error`) or the ratio is not a number."""
        if self.no_error or math.isnan(self.ratio):
            return None
        if self.ratio <= 0:
            return math.inf
        return 0.0 if math.isinf(self.ratio) else 1.0 / self.ratio  # 1/5e-324 is inf, not an error

    def to_json(self) -> dict[str, Any]:
        """As report.json says it: null error and margin where no error was measured (`no_error`), null tolerance
        where no tolerance applied either (`unmeasured`): the other reports' `none` (checks.py's placeholders inf
        and 0 would read as a measured error against a tolerance of 0); every other non-finite number as the text
        "inf", "-inf" or "nan" (`strict_json`)."""
        return {"quantity": self.quantity,
                "error": None if self.no_error else strict_json(self.error),
                "tolerance": None if self.unmeasured else strict_json(self.tolerance),
                "ratio": strict_json(self.ratio),
                "margin": strict_json(self.margin)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Worst:
        """The Worst `to_json` wrote, saying what it said: a null error reads back as inf and a null tolerance as 0
        (checks.py's placeholders); the margin is derived, not read."""
        error, tolerance = d["error"], d["tolerance"]
        return cls(str(d["quantity"]), math.inf if error is None else float(error),
                   0.0 if tolerance is None else float(tolerance), float(d["ratio"]))


@dataclass
class CheckResult:
    construct: str  # a spec v1 type name ("conv2d", "adam", "cosine", "global_norm", "l2") or a recipe name
    level: int  # a key of LEVELS
    dtype: str
    device: str
    outcome: Outcome
    examples: int = 0  # cases run (a failure: up to and including the first failing this level; a pass: every
    # case the check ran, those shrinking another level's failure included: what `worst` covers)
    worst: Worst | None = None
    seconds: float = 0.0
    support: str = ""  # the adapter's provenance or "unsupported", and its note ("native: torch.optim.Adam")
    message: str = ""  # for fail/error: what diverged first, in words; for unsupported: the adapter's reason
    failure_dir: str | None = None  # relative to the report folder: failures/<name>/ (`failure_folder`)
    reproduce: str | None = None  # the command that reproduces the failure
    provenance: str | None = None  # native | bridged | written: what the verdict is evidence about; None for
    # composites, example recipes and unsupported checks (adapters/base.py, PROVENANCES)
    execution: str = ""  # how the adapter's sessions ran this check's cases (`Session.execution`: "eager",
    # "compiled"); "" where the adapter does not say or nothing ran
    blind_steps: list[int] = field(default_factory=list)  # level 4: the sampled steps whose bounds would also pass
    # every parameter that moved, unmoved (resync.BlindSteps): a pass says nothing of those steps' updates
    blind_quantities: dict[str, int] = field(default_factory=dict)  # level 4: quantity ("parameter conv1.weight",
    # "optimizer_state momentum_buffer of conv1.weight") -> steps asked where its bound would pass it unmoved
    blind_checked: int = 0  # level 4: how many steps were asked that

    def __post_init__(self) -> None:
        self.message, self.support = writable_text(self.message), writable_text(self.support)
        if self.outcome == "unsupported":  # nothing ran: no evidence about anything (it showed `native`)
            self.provenance = None

    @property
    def level_name(self) -> str:
        return LEVELS[self.level]

    @property
    def name(self) -> str:
        """A stable identifier: `conv2d.gradients.float32.cpu`."""
        return f"{self.construct}.{self.level_name}.{self.dtype}.{self.device}"

    @property
    def failure_folder(self) -> str:
        """Where its failing case goes, relative to the report folder: `failures/<name>`, the name made safe as one
        folder name (`safe_name`): the device part is the adapter's text, and `x/../../..` must not climb out. A name
        changed beyond `:` -> `-`, or whose device has a `-` of its own, ends in a hash of the name, so that two
        checks never share a folder."""
        safe = safe_name(self.name, fallback="check")
        if safe != self.name.replace(":", "-") or "-" in self.device:  # changed beyond `cuda:0` -> `cuda-0`, or a
            # device `cuda-0` that `cuda:0` becomes: two devices (`x:0` and `x/0`, `.` and `..`, `x:0` and `x-0`)
            # shared one folder, and one check's reproducer replayed the other's case
            digest = hashlib.sha256(self.name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            safe = f"{safe_name(self.name, fallback='check', limit=SAFE_NAME_BYTES - 9)}-{digest}"
        return f"failures/{safe}"

    def to_json(self) -> dict[str, Any]:
        """As report.json holds it (`Worst.to_json`); what the pytest plugin's workers send to the controller."""
        d = asdict(self)
        d["level_name"] = self.level_name
        if self.worst is not None:
            d["worst"] = self.worst.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CheckResult:
        """The CheckResult `to_json` wrote (the pytest plugin's workers send theirs to the controller so)."""
        fields = {k: v for k, v in d.items() if k not in ("level_name", "worst")}
        w = d.get("worst")
        worst = None if w is None else Worst.from_json(w)
        return cls(**fields, worst=worst)


@dataclass
class Certification:
    """A whole run of `lockstep certify`: its settings, the environment, and every check."""

    adapter: str
    adapter_versions: dict[str, str]
    spec_version: str
    suite_version: str
    seed: int
    examples: int  # examples per check asked for
    levels: list[int]
    dtypes: list[str]
    devices: list[str]
    environment: dict[str, str]  # fingerprint: python, platform, cpu, numpy, hostname-free
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    recipe_steps: int | None = None  # the steps of each example recipe judged (--recipe-steps); None: level 4
    # judges each over its whole length (level 5 its first data_parallel.RECIPE_STEPS)
    # a pytest session that ran fewer checks than it planned (-k, --deselect, -x, expectations): why, in words; the
    # verdict then holds for these checks alone, and every report says so (None: the plan ran whole, as certify's)
    selection: str | None = None

    @property
    def caps_recipes(self) -> bool:
        """Whether `recipe_steps` cut short an example recipe that was judged (levels 4 and 5): the certificate
        must say so, or two steps of each recipe read as their whole length."""
        return self.recipe_steps is not None and any(c.level in (4, 5) for c in self.checks)

    @property
    def certified(self) -> bool:
        """Every supported check passed (unsupported constructs are reported, not failed), and at least one ran."""
        ran = [c for c in self.checks if c.outcome != "unsupported"]
        return bool(ran) and all(c.outcome == "pass" for c in ran)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "unsupported": 0, "error": 0}
        for c in self.checks:
            out[c.outcome] += 1
        return out

    def provenance_counts(self) -> dict[str, int]:
        """How many checks that ran rest on the framework's own op (native), on it with a stated adjustment
        (bridged) or on the adapter's own math (written); composites and example recipes are not counted."""
        out = dict.fromkeys(PROVENANCES, 0)
        for c in self.checks:
            if c.outcome != "unsupported" and c.provenance in out:
                out[c.provenance] += 1
        return out

    def execution_counts(self) -> dict[str, dict[int, int]]:
        """How the adapter ran the checks: execution mode -> level -> checks run so (`CheckResult.execution`;
        checks for which the adapter stated none are left out)."""
        out: dict[str, dict[int, int]] = {}
        for c in self.checks:
            if c.outcome != "unsupported" and c.execution:
                levels = out.setdefault(c.execution, {})
                levels[c.level] = levels.get(c.level, 0) + 1
        return {mode: dict(sorted(levels.items())) for mode, levels in sorted(out.items(), key=lambda m: min(m[1]))}

    def coverage(self) -> dict[str, dict[str, str]]:
        """construct -> level name -> the combined outcome over dtypes and devices ("pass", "fail", ...).

        A cell is "fail" if any of its checks failed, "error" if one errored, "unsupported" if none ran,
        "partial" if some passed and some are unsupported, else "pass"."""
        cells: dict[str, dict[str, list[str]]] = {}
        for c in self.checks:
            cells.setdefault(c.construct, {}).setdefault(c.level_name, []).append(c.outcome)
        out: dict[str, dict[str, str]] = {}
        for construct, levels in cells.items():
            out[construct] = {}
            for level, outcomes in levels.items():
                s = set(outcomes)
                out[construct][level] = ("fail" if "fail" in s else "error" if "error" in s
                                         else "unsupported" if s == {"unsupported"}
                                         else "partial" if "unsupported" in s else "pass")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "certified": self.certified,
            "adapter": self.adapter,
            "adapter_versions": self.adapter_versions,
            "spec_version": self.spec_version,
            "suite_version": self.suite_version,
            "seed": self.seed,
            "examples_per_check": self.examples,
            "recipe_steps": self.recipe_steps,
            "examples_run": sum(c.examples for c in self.checks),
            "levels": {str(k): LEVELS[k] for k in self.levels},
            "dtypes": self.dtypes,
            "devices": self.devices,
            "environment": self.environment,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "provenance_counts": self.provenance_counts(),
            "coverage": self.coverage(),
            "checks": [c.to_json() for c in self.checks],
            **({"selection": self.selection} if self.selection else {}),
        }


