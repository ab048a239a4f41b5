"""The certification suite: which checks exist, how one check runs, and a whole certification.

A check is one construct at one or more levels (a layer is checked at levels 1 and 2 on the same cases),
in one dtype, on one device. Hypothesis draws `examples` cases for it from the construct's strategy
(conformance/strategies.py), each case is prepared by the runner's own path and run on the reference and
on the adapter, and the level modules compare them (conformance/levels/). The first failing case is shrunk
by hypothesis and written out as a standalone spec (`failures/<check>/`) with the command that reproduces it.

Runs are reproducible: the same `seed` and `examples` draw the same cases (hypothesis's `seed`, no example
database), whatever the adapter, the order the checks run in, or the process that runs them (`--jobs`). Each
check draws independently: its hypothesis seed is derived from (seed, construct, dtype, device)
(`check_seed`), so checks that share a strategy (the five optimizers, float32 and float64 of one construct) do
not draw the same cases. Hypothesis's first case of every check is still its simplest (the smallest sizes,
batch 1, seed 0): kept on purpose, as one deterministic minimal-shape case per check (docs/conformance.md).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from shlex import quote
from typing import TYPE_CHECKING, Any

from lockstep import SPEC_VERSION, __version__
from lockstep.adapters.base import Adapter, Support, UnsupportedConstruct
from lockstep.adapters.checked import (
    AdapterError,
    AdapterRaised,
    PassThrough,
    SupportError,
    adapter_code,
    adapter_devices,
    adapter_versions,
    checked_support,
    describe,
    session_answer,
)
from lockstep.conformance import strategies as cs
from lockstep.conformance.cases import Case
from lockstep.conformance.checks import Check
from lockstep.conformance.levels import MODULES, Pair, run_levels
from lockstep.conformance.levels import data_parallel as dp
from lockstep.conformance.results import LEVELS, Certification, CheckResult, Worst
from lockstep.spec.atomic import writable_text
from lockstep.spec.formats import plural
from lockstep.spec.wording import got

if TYPE_CHECKING:
    from lockstep.runner import Prepared

SUITE_VERSION = "1.0.0"
DEFAULT_EXAMPLES = 10  # per check; `--examples` raises it (docs/conformance.md has the detection table)
DEFAULT_SEED = 0
MAX_SEED = 2**62  # the largest --seed: it shifts the example recipes' own seeds, which must stay valid
SHRINK_SECONDS = 60.0  # a failing case is shrunk for at most this long; the best case so far is kept
AUXILIARY = ("dense", "tanh", "mse", "sgd", "constant")  # what every generated case may use besides its construct
TRAINING_AUXILIARY = ("mse", "sgd", "constant")  # of those, what only training levels (2-4) run
COMPOSITES = {"random_model": "composite: 2-5 random layers, a head and any loss; a case whose constructs the "
                              "adapter cannot build is skipped"}
"""Checks of combinations rather than one construct (bugs between layers: layouts, strides, gradient flow)."""


@dataclass(frozen=True)
class Spec:
    """One construct's entry in the suite: the levels it is checked at and the strategy that draws its cases."""

    construct: str
    levels: tuple[int, ...]
    strategy: Callable[[str], Any]  # construct -> a hypothesis strategy of Case
    needs: tuple[str, ...] = ()  # other constructs its cases use (besides AUXILIARY)


def _specs() -> list[Spec]:
    out = [Spec(c, (1, 2), cs.layer_problem) for c in cs.LAYERS]
    out += [Spec(c, (2,), cs.loss_problem, tuple(h["type"] for h in cs.HEADS.get(c, []))) for c in cs.LOSSES]
    out += [Spec(c, (3,), cs.optimizer_problem) for c in cs.OPTIMIZERS]
    out += [Spec(c, (3,), cs.schedule_problem) for c in cs.SCHEDULES]
    out += [Spec(c, (3,), cs.clipping_problem) for c in cs.CLIPPING]
    out += [Spec(c, (3,), cs.regularization_problem, ("adam",)) for c in cs.REGULARIZATION]
    out += [Spec(c, (1, 2), cs.random_model_problem) for c in COMPOSITES]
    return out


SPECS: list[Spec] = _specs()
SPECS += [Spec(c, (dp.LEVEL,), dp.problem) for c in dp.CONSTRUCTS]  # level 5 (conformance/levels/data_parallel.py)
COMPOSITES.update(dp.CONSTRUCTS)


def unused_recipe_steps(steps: int | None, levels: Iterable[int], constructs: Iterable[str] | None) -> str | None:
    """Why `--recipe-steps` (`steps`) would change nothing under these options, or None: it caps the example
    recipes, and the options plan none at levels 4 and 5. certify and the pytest plugin refuse it so."""
    chosen = set(constructs or ())
    if steps is None or ({4, 5} & set(levels) and (not chosen or {p.parent.name for p in example_recipes()} & chosen)):
        return None
    return (f"{steps}: the options plan no example recipe at level 4 or 5 (it caps the example recipes' steps "
            "there); leave it out or ask for level 4 or 5 and an example recipe")


def example_recipes() -> list[Path]:
    """The example recipes that ship with Lockstep (level 4), sorted by folder name."""
    try:
        root = Path(str(resources.files("lockstep.examples")))
    except (ModuleNotFoundError, TypeError):
        root = Path(__file__).resolve().parents[1] / "examples"
    return sorted(root.glob("*/recipe.yaml"))


# ------------------------------------------------------------------------------------------ one check
class _Diverged(Exception):
    """Raised inside a hypothesis example when a comparison fails (hypothesis then shrinks the case)."""

    def __init__(self, case: Case, checks: dict[int, list[Check] | Exception]) -> None:
        self.case = case
        self.checks = checks
        super().__init__("diverged")


class _ShrinkBudget(PassThrough):
    """Stops hypothesis's shrinking when SHRINK_SECONDS are spent (the best failing case so far is kept).
    A BaseException, so that hypothesis does not take it for a failure of its own."""


@dataclass
class _Explored:
    """What one check saw over its examples."""

    ran: int = 0  # cases run on both backends
    rejected: int = 0  # cases the adapter could not build (UnsupportedConstruct)
    first_failure_at: int | None = None  # the number of cases run up to the first failing one
    worst: dict[int, Check] = field(default_factory=dict)  # per level, over every case run (shrinking included)
    failing: _Diverged | None = None  # the case hypothesis shrank (it fails at least one level)
    level_first_failure: dict[int, int] = field(default_factory=dict)  # level -> cases run up to its first failure
    level_failing: dict[int, _Diverged] = field(default_factory=dict)  # level -> the last case failing that level
    error: BaseException | None = None
    error_case: Case | None = None
    unsupported: str | None = None


@dataclass
class Target:
    """The adapter under test and where it runs."""

    adapter: Adapter
    name: str
    dtype: str
    device: str
    executions: set[str] = field(default_factory=set)  # how the sessions built for it ran (`Session.execution`)

    def execution(self) -> str:
        """What its certificate records: the sessions' execution modes, sorted, joined ("" if none stated)."""
        return "/".join(sorted(e for e in self.executions if e))


def build_pair(target: Target, prep: Prepared, *, few_calls: bool = False) -> Pair:
    """The reference (float64, CPU) and the adapter under test, both built for the prepared recipe. `few_calls`
    hints the adapter's session that it serves one generated case (`Session.expect_few_calls`: it may skip
    compiling); the mode it then runs in is recorded on `target` for the certificate."""
    from lockstep.adapters.reference import ReferenceAdapter

    reference = ReferenceAdapter().build(prep.model, dtype="float64", recipe=prep.recipe)
    with adapter_code("build()"):
        actual = session_answer(target.adapter.build(prep.model, dtype=target.dtype, device=target.device,
                                                     recipe=prep.recipe))
        if few_calls:
            actual.expect_few_calls()
        execution = getattr(actual, "execution", "")  # a third-party session need not subclass Session
    target.executions.add(execution if isinstance(execution, str) else "")
    return Pair(prep, reference, actual, target.dtype, target)


def run_pair(target: Target, case: Case, levels: tuple[int, ...], workdir: Path
             ) -> dict[int, list[Check] | Exception]:
    """Prepare `case` (written into `workdir`), build both sessions (the adapter's told it serves a few calls)
    and run each level's comparisons; a level whose run raised (other than UnsupportedConstruct, which
    propagates) maps to the exception, a BaseException of the adapter's session included (AdapterRaised)."""
    pair = build_pair(target, case.prepare(workdir, target.dtype), few_calls=True)
    out: dict[int, list[Check] | Exception] = {}
    for level in levels:  # one level at a time: a BaseException in one level leaves the others' results
        try:
            with adapter_code("session"):
                out.update(run_levels(pair, (level,)))
        except AdapterRaised as exc:
            out[level] = exc
    return out


def check_seed(seed: int, construct: str, dtype: str, device: str) -> int:
    """The hypothesis seed of one check: a hash of the run's seed and the check's name without its level (a
    layer's levels share one hypothesis run, and the pytest plugin may run them apart), so every check draws
    its own cases, the same ones in any order and in any process."""
    import hashlib

    digest = hashlib.sha256(f"lockstep-check/{int(seed)}/{construct}/{dtype}/{device}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@contextmanager
def seeded_draws() -> Iterator[None]:
    """Hypothesis draws from its seed alone while this is open: the cases of a check must not depend on what else
    the process has imported.

    Recent hypothesis (6.170 here) mixes into its draws (about one in twenty integers, floats and strings) literals it
    collects from the source of every *local* module imported so far: any module outside site-packages and the
    standard library, such as an editable install of Lockstep, a user's script or a third-party adapter. The
    same check seed then drew other cases after one more such module was imported: by a check that ran earlier
    in the process (a `--jobs` worker has run other checks than the serial run had at that point), by the CLI,
    or by a test module (issue #13: `--jobs 2` against a serial run). While this is open the pool of local
    literals is empty (hypothesis's own global constants stay); the pool is hypothesis's private state, so a
    version without it (older, or renamed) runs unchanged, and tests/conformance/test_parallel.py fails on one
    that moved it."""
    try:
        from hypothesis.internal.conjecture import providers

        cache, collect, empty = providers.CONSTANTS_CACHE, providers._get_local_constants, providers.Constants()
    except (ImportError, AttributeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.cache.clear()  # the allowed constants per kind of draw, filled from the pool in force
    try:
        yield
    finally:
        providers._get_local_constants = collect
        cache.cache.clear()


def _explore(target: Target, spec: Spec, examples: int, seed: int) -> _Explored:
    from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable

    seen = _Explored()
    shrink_started: list[float] = []

    def body(case: Case) -> None:
        if seen.first_failure_at is not None:
            if not shrink_started:
                shrink_started.append(time.perf_counter())
            elif time.perf_counter() - shrink_started[0] > SHRINK_SECONDS:
                raise _ShrinkBudget
        with tempfile.TemporaryDirectory(prefix="lockstep-case-") as tmp:
            try:
                results = run_pair(target, case, spec.levels, Path(tmp))
            except UnsupportedConstruct as exc:  # this case only: the adapter may run others
                seen.unsupported = f"{exc.construct}: {exc.reason}"
                seen.rejected += 1
                reject()
        seen.ran += 1
        bad_levels = []
        for level, checks in results.items():
            if isinstance(checks, Exception):
                bad_levels.append(level)
                continue
            w = max(checks, key=lambda c: c.ratio, default=None)
            if w is not None and (level not in seen.worst or w.ratio > seen.worst[level].ratio):
                seen.worst[level] = w
            if any(not c.ok for c in checks):
                bad_levels.append(level)
        if bad_levels:
            if seen.first_failure_at is None:
                seen.first_failure_at = seen.ran
            seen.failing = _Diverged(case, results)
            for level in bad_levels:  # a level keeps its own failing case: the shrunk one may fail only another
                seen.level_first_failure.setdefault(level, seen.ran)
                seen.level_failing[level] = seen.failing
            raise seen.failing

    try:
        if spec.construct in COMPOSITES:  # draw only what the adapter says it runs
            strategy = spec.strategy(spec.construct, supported_constructs(target))
        else:
            strategy = spec.strategy(spec.construct)
    except SupportError as exc:
        seen.error = exc
        return seen
    test = hypothesis_seed(check_seed(seed, spec.construct, target.dtype, target.device))(settings(
        max_examples=examples, database=None, deadline=None, derandomize=False, print_blob=False,
        report_multiple_bugs=False, verbosity=Verbosity.quiet, phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck))(given(strategy)(body)))
    try:
        with seeded_draws():
            test()
    except _Diverged as exc:
        seen.failing = exc
    except _ShrinkBudget:
        pass  # seen.failing holds the best failing case so far
    except Unsatisfiable:
        pass  # every case drawn was unsupported: seen.ran == 0
    except Exception as exc:  # the suite itself raised (preparing a case): an error of every level
        seen.error = exc
    return seen


def supported_constructs(target: Target) -> frozenset[str]:
    """The layer types and losses the adapter supports in this dtype on this device."""
    names = [*cs.LAYERS, *cs.LOSSES]
    return frozenset(c for c in names
                     if checked_support(target.adapter, c, dtype=target.dtype, device=target.device).supported)


def _support(target: Target, spec: Spec) -> Support:
    if spec.construct in COMPOSITES:  # not a construct: each case's constructs are asked for at build
        return Support("native", COMPOSITES[spec.construct])
    return checked_support(target.adapter, spec.construct, dtype=target.dtype, device=target.device)


def _base(target: Target, spec: Spec) -> dict[str, Any]:
    support = _support(target, spec)
    if spec.construct in COMPOSITES:  # no provenance of its own: each case's constructs have theirs
        return {"construct": spec.construct, "dtype": target.dtype, "device": target.device,
                "support": COMPOSITES[spec.construct]}
    return {"construct": spec.construct, "dtype": target.dtype, "device": target.device,
            "support": support.status + (f": {support.note}" if support.note else ""),
            "provenance": support.provenance}


def adapter_levels(adapter: Adapter) -> tuple[int, ...]:
    """The levels an adapter can be checked at (`Adapter.levels`; a third-party class without it: all four).
    One that trains (level 4) can be asked for level 5, data_parallel: without an engine it reports unsupported."""
    raw = getattr(adapter, "levels", (1, 2, 3, 4))
    levels = tuple(raw) if isinstance(raw, (tuple, list)) else None
    if not levels or any(isinstance(lv, bool) or lv not in LEVELS for lv in levels):
        raise AdapterError(f"`levels` is {got(raw)}; expected the levels it can be checked at, a tuple of "
                           f"{', '.join(map(str, LEVELS))}, such as (1, 2, 3, 4)")
    return (*levels, dp.LEVEL) if 4 in levels and dp.LEVEL not in levels else levels


def _levels_note(adapter: Adapter) -> str:
    runs = adapter_levels(adapter)
    return (f"the adapter runs level{'s' * (len(runs) != 1)} "
            f"{', '.join(f'{lv} ({LEVELS[lv]})' for lv in runs) or 'none'} only")


def unsupported_results(target: Target, spec: Spec) -> list[CheckResult] | None:
    """The results of a check whose construct (or one its cases need) the adapter declares unsupported, or
    none of whose levels it runs (`Adapter.levels`), without running anything; None when the check would
    run. The pytest plugin asks this for checks it skips. A support() that raises or answers no Support makes
    the check an error (SupportError's message), as it would when run."""
    try:
        return _unsupported(target, spec)
    except SupportError as exc:
        return _support_error(target, spec, exc)


def _support_error(target: Target, spec: Spec, exc: SupportError) -> list[CheckResult]:
    return [CheckResult(construct=spec.construct, level=lv, dtype=target.dtype, device=target.device,
                        outcome="error", message=str(exc)[:2000]) for lv in spec.levels]


def _unsupported(target: Target, spec: Spec) -> list[CheckResult] | None:
    support = _support(target, spec)
    base = _base(target, spec)
    if not support.supported:
        return [CheckResult(level=lv, outcome="unsupported", message=support.note, **base) for lv in spec.levels]
    levels = [lv for lv in spec.levels if lv in adapter_levels(target.adapter)]
    if not levels:
        return [CheckResult(level=lv, outcome="unsupported", message=_levels_note(target.adapter), **base)
                for lv in spec.levels]
    trains = any(lv > 1 for lv in levels)  # a predictions-only check needs no loss, optimizer or schedule
    auxiliary = AUXILIARY if trains else tuple(a for a in AUXILIARY if a not in TRAINING_AUXILIARY)
    for other in () if spec.construct in COMPOSITES else (*auxiliary, *(spec.needs if trains else ())):
        s = checked_support(target.adapter, other, dtype=target.dtype, device=target.device)
        if not s.supported:
            return [CheckResult(level=lv, outcome="unsupported", message=f"its cases need `{other}`: {s.note}",
                                **base) for lv in spec.levels]
    return None


def run_check(target: Target, spec: Spec, examples: int = DEFAULT_EXAMPLES, seed: int = DEFAULT_SEED,
              report_dir: Path | None = None, *, shown: Path | None = None) -> list[CheckResult]:
    """One construct at its levels in one dtype on one device: a CheckResult per level. Failing cases go under
    `report_dir`; `shown` is that folder as the reproduce commands name it (default: `report_dir`)."""
    unsupported = unsupported_results(target, spec)
    if unsupported is not None:
        return unsupported
    try:
        base = _base(target, spec)
    except SupportError as exc:  # support() answered once, then not
        return _support_error(target, spec, exc)
    runs = adapter_levels(target.adapter)
    skipped = [CheckResult(level=lv, outcome="unsupported", message=_levels_note(target.adapter), **base)
               for lv in spec.levels if lv not in runs]
    spec = Spec(spec.construct, tuple(lv for lv in spec.levels if lv in runs), spec.strategy, spec.needs)
    t0 = time.perf_counter()
    seen = _explore(target, spec, examples, seed)
    seconds = time.perf_counter() - t0
    return sorted(_results(target, spec, seen, seconds, report_dir, base, shown, examples, seed) + skipped,
                  key=lambda r: r.level)


def _results(target: Target, spec: Spec, seen: _Explored, seconds: float, report_dir: Path | None,
             base: dict[str, Any], shown: Path | None = None, examples: int = DEFAULT_EXAMPLES,
             seed: int = DEFAULT_SEED) -> list[CheckResult]:
    per = seconds / max(len(spec.levels), 1)
    if seen.ran == 0 and seen.unsupported is not None:
        return [CheckResult(level=lv, outcome="unsupported", message=seen.unsupported, seconds=per, **base)
                for lv in spec.levels]
    if seen.error is not None:
        msg = describe(seen.error)
        return [CheckResult(level=lv, outcome="error", examples=seen.ran, message=msg[:2000], seconds=per, **base)
                for lv in spec.levels]
    skipped = (f"{seen.rejected} generated case{'s' * (seen.rejected != 1)} the adapter cannot build were skipped "
               f"({seen.unsupported})") if seen.rejected else ""
    base = {**base, "execution": target.execution()}
    out = []
    for lv in spec.levels:
        # a level fails if any case it ran failed it (not only if the shrunk case does), and its figure is its
        # worst over every case run: the outcome and the ratio always agree (ratio > 1 never reads "pass")
        failing = _failing_case(seen, lv)
        w = seen.worst.get(lv)
        worst = _worst(w) if w else None
        if failing is None:
            out.append(CheckResult(level=lv, outcome="pass", examples=seen.ran, worst=worst, seconds=per,
                                   message=skipped, **base))
            continue
        n = seen.level_first_failure.get(lv, seen.first_failure_at or seen.ran)
        level_checks = failing.checks[lv]
        if isinstance(level_checks, Exception):
            msg = describe(level_checks)
            result = CheckResult(level=lv, outcome="error", examples=n, worst=worst, seconds=per,
                                 message=msg[:2000], **base)
        else:
            first_bad = next(c for c in level_checks if not c.ok)
            result = CheckResult(level=lv, outcome="fail", examples=n, worst=worst, seconds=per,
                                 message=first_bad.describe(), **base)
        if report_dir is not None:
            result.failure_dir, result.reproduce = write_failure(report_dir, target, result, failing, shown=shown,
                                                                 examples=examples, seed=seed)
        out.append(result)
    return out


def _failing_case(seen: _Explored, level: int) -> _Diverged | None:
    """The case that shows `level` failing: the shrunk case where it fails there, else the last (most shrunk)
    case that failed that level; None when every case passed it."""
    for candidate in (seen.failing, seen.level_failing.get(level)):
        if candidate is None:
            continue
        checks = candidate.checks.get(level)
        if isinstance(checks, Exception) or (checks is not None and any(not c.ok for c in checks)):
            return candidate
    return None


def _worst(c: Check) -> Worst:
    """The check's worst comparison. One that could not be made (`Check.why`: a shape, a non-finite value, a missing
    name) keeps what was wrong in its quantity (`output (shape [1, 2], the reference's [1, 1])`), the only text every
    report, pytest-xdist's transfer and `Certificate.read` carry: its error inf is a placeholder, and so is its
    tolerance 0 where no element could be compared (a non-finite value keeps the tolerance its element had to meet);
    the reports say them as `none` (Worst.no_error, Worst.unmeasured)."""
    quantity = f"{c.quantity} ({' '.join(c.why.split())})" if c.why else c.quantity
    return Worst(quantity, c.error, c.tolerance, c.ratio)


def command_name(target: Target) -> str:
    """How `lockstep compare --backends` names the adapter under test: its name where the registry knows it (a
    built-in, an entry point) or it is `module:attribute` already; else its class as `module:Class` (an object
    handed to `lockstep.certify` by its own name is found by no command)."""
    from lockstep.adapters.registry import names

    if ":" in target.name or target.name in names():
        return target.name
    cls = type(target.adapter)
    if cls.__module__ in ("__main__", "builtins") or "<" in cls.__qualname__:
        return target.name  # nothing a command can import
    return f"{cls.__module__}:{cls.__qualname__}"


def write_failure(report_dir: Path, target: Target, result: CheckResult, failing: _Diverged, *,
                  shown: Path | None = None, examples: int = DEFAULT_EXAMPLES,
                  seed: int = DEFAULT_SEED) -> tuple[str, str]:
    """The shrunk case as a standalone spec in `report_dir/failures/<check>/` (the check's name made a safe folder
    name: `CheckResult.failure_folder`); (relative folder, command). The command names the folder through `shown`
    (the report folder as the user gave it) where given. A level-5 case (data_parallel) is reproduced by certify's
    own search (`examples`, `seed`): `lockstep compare` judges one process, not the recipe's replicas."""
    from lockstep.conformance.report import one_line
    from lockstep.spec import atomic

    rel = result.failure_folder
    folder = report_dir / rel
    case = failing.case
    error = result.outcome == "error"  # the adapter raised: no quantity diverged
    what = "raises an error in" if error else "fails"
    recipe = case.write(folder, target.dtype, note=one_line(f"lockstep certify: {target.name} {what} {result.name}: "
                                                            f"{result.message}"))  # a YAML comment: one line
    said = [f"{'Error' if error else 'First diverging quantity'}: {result.message}"]
    more: list[str] = []
    if result.level == dp.LEVEL:
        assert isinstance(case, dp.DataParallelCase)
        command = certify_command(target, result.construct, dp.LEVEL, (shown or report_dir) / dp.rerun_folder(rel),
                                  examples=examples, seed=seed)
        said.insert(0, f"Generated case: {dp.case_words(case)}")
        more = [dp.RERUN_WORDS.format(what=f"with the same search ({plural(examples, 'example')}, seed {seed}), "
                                           "which finds this case again,", folder=dp.rerun_folder(rel)),
                *dp.watch_words(target, (shown or report_dir) / rel / recipe.relative_to(folder), case.replicas,
                                case.batch_norm, None, in_recipe=True)]
    else:
        device = f" --device {quote(target.device)}" if target.device != "cpu" else ""  # the adapter's text: quoted
        command = (f"lockstep compare {quote(str((shown or report_dir) / rel / recipe.relative_to(folder)))} "
                   f"--backends {quote(f'reference,{command_name(target)}')} --conformance{device}")
    title = f"{result.name}: {target.name} {'raised an error' if error else 'diverges from the reference'}"
    write_readme(folder, title, said, command, "Every comparison of this (shrunk) case:", failing.checks, more=more)
    atomic.write_json(folder / "case.json", {"check": result.name, "adapter": target.name,
                                             "case": case.to_json(), "command": command})
    return rel, command


def certify_command(target: Target, construct: str, level: int, report: Path, *, examples: int | None = None,
                    seed: int | None = None, recipe_steps: int | None = None) -> str:
    """The `lockstep certify` line that runs one check again as it ran (its level, construct, dtype, device; a
    generated case's `examples`, an example recipe's `recipe_steps`; the `seed`, which draws the cases and shifts
    the recipe's own), its report into `report`: the report it reproduces is left as it is."""
    device = f" --device {quote(target.device)}" if target.device != "cpu" else ""  # the adapter's text: quoted
    search = f" --examples {examples}" if examples is not None else ""
    steps = f" --recipe-steps {recipe_steps}" if recipe_steps is not None else ""
    seeded = f" --seed {seed}" if seed is not None else ""
    return (f"lockstep certify --adapter {quote(command_name(target))} --level {level} --construct {quote(construct)} "
            f"--dtype {quote(target.dtype)}{device}{search}{steps}{seeded} --report {quote(str(report))}")


def readme_name(source: Path | None = None) -> str:
    """The name of a failure folder's README: README.md, unless the example recipe's folder copied into it
    (`source`) holds a file of that name (in any case: a case-insensitive file system has one), whose copy is kept
    as it is: then FAILURE-README.md (FAILURE-README-2.md, ... where that is taken too)."""
    if source is None:
        return "README.md"
    try:
        taken = {p.name.lower() for p in source.iterdir()}
    except OSError:
        taken = set()
    names = ("README.md", "FAILURE-README.md", *(f"FAILURE-README-{i}.md" for i in range(2, len(taken) + 3)))
    return next(n for n in names if n.lower() not in taken)


def write_readme(folder: Path, title: str, said: list[str], command: str, listed: str,
                 checks: dict[int, list[Check] | Exception], *, more: Iterable[str] = (),
                 name: str = "README.md") -> None:
    """A failure folder's README (`name`: `readme_name`), written atomically: the title, what failed (`said`, a
    paragraph each), the command that reproduces it and `more` paragraphs on it, and under `listed` every
    comparison made, by level (an adapter's error as one line). One form for a generated case's folder
    (`write_failure`) and an example recipe's (`run_recipe`, and level 5's `data_parallel.run_recipe`)."""
    from lockstep.conformance.report import shown_text
    from lockstep.spec import atomic

    lines = [f"# {title}", ""]
    if name != "README.md":  # the recipe's own README was copied with it (readme_name)
        lines += ["(`README.md` here is the example recipe's own, copied with it as it is; this file is the "
                  "failure's.)", ""]
    for paragraph in said:
        lines += [paragraph, ""]
    lines += ["Reproduce:", "", f"    {command}", ""]
    for paragraph in more:
        lines += [paragraph, ""]
    lines += [listed, ""]
    for level, found in checks.items():
        lines.append(f"Level {level} ({LEVELS[level]}):")
        if isinstance(found, Exception):
            lines.append(f"- ERROR {writable_text(describe(found))}")
        else:
            lines += [f"- {'ok  ' if c.ok else 'FAIL'} {c.describe()}" for c in found]
        lines.append("")
    atomic.write_text(folder / name, shown_text("\n".join(lines)))  # as report.md shows the message


# ---------------------------------------------------------------------------------------- recipes
def prepare_failure(exc: Exception, copy: Path, recipe: Path) -> str:
    """Why an example recipe did not prepare (levels 4 and 5), said of the example, not of its temporary copy
    `copy` (gone when this is read)."""
    said = "; ".join([str(exc).replace(str(copy), recipe.name),
                      *(d.body() for d in getattr(exc, "diagnostics", ()) or ())])
    return f"the example {recipe.parent.name} does not prepare: {said}"


def run_recipe(target: Target, recipe: Path, steps: int | None, report_dir: Path | None, seed: int = DEFAULT_SEED,
               *, shown: Path | None = None) -> CheckResult:
    """Level 4 on one example recipe in `target.dtype`: every step (or the first `steps`) judged re-synchronized.
    A `seed` other than the default shifts the recipe's own seed by it (its initial weights, data, order and
    dropout masks all follow), so `--seed` varies the recipes as it varies the generated cases. `shown`: the report
    folder as the reproduce command names it (default: `report_dir`)."""
    import shutil

    from lockstep.runner import RunError, prepare_run

    name = recipe.parent.name
    base = {"construct": name, "level": 4, "dtype": target.dtype, "device": target.device}
    if 4 not in adapter_levels(target.adapter):
        return CheckResult(outcome="unsupported", message=_levels_note(target.adapter), **base)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lockstep-recipe-") as tmp:
        copy = Path(tmp) / name
        shutil.copytree(recipe.parent, copy)
        path = copy / recipe.name
        _set_dtype(path, target.dtype)
        if seed != DEFAULT_SEED:
            _shift_seed(path, seed)
        try:
            pair = build_pair(target, prepare_run(path, steps))
            with adapter_code("session"):
                checks = MODULES[4].checks(pair, steps)
        except UnsupportedConstruct as exc:
            return CheckResult(outcome="unsupported", message=f"{exc.construct}: {exc.reason}", **base)
        except RunError as exc:
            return CheckResult(outcome="error", message=prepare_failure(exc, path, recipe), **base)
        except Exception as exc:
            return CheckResult(outcome="error", examples=1, message=describe(exc)[:2000],
                               seconds=time.perf_counter() - t0, **base)
        seconds = time.perf_counter() - t0
        total = pair.prep.total_steps if steps is None else min(steps, pair.prep.total_steps)  # as the level judged
        w = max(checks, key=lambda c: c.ratio, default=None)
        bad = next((c for c in checks if not c.ok), None)
        blind = pair.blind  # None where the level stopped before its steps
        result = CheckResult(outcome="fail" if bad else "pass", examples=1, worst=_worst(w) if w else None,
                             seconds=seconds, message=bad.describe() if bad else "", execution=target.execution(),
                             blind_steps=list(blind.steps) if blind else [],
                             blind_quantities=dict(blind.quantities) if blind else {},
                             blind_checked=blind.checked if blind else 0, **base)
        if bad and report_dir is not None:
            rel = result.failure_folder
            shutil.copytree(copy, report_dir / rel, dirs_exist_ok=True)
            dev = f" --device {quote(target.device)}" if target.device != "cpu" else ""
            cap = f" --steps {steps}" if steps is not None else ""
            result.failure_dir = rel
            result.reproduce = (f"lockstep compare {quote(str((shown or report_dir) / rel / recipe.name))} "
                                f"--backends {quote(f'reference,{command_name(target)}')}{cap}{dev}")
            write_readme(report_dir / rel, f"{result.name}: {target.name} diverges from the reference",
                         _recipe_said(name, recipe.name, bad, target.dtype, seed, total), result.reproduce,
                         "Its comparisons (the first batch's predictions from the initial weights, then the failing "
                         "quantities of the first failing step, or where no step failed the closest call of all):",
                         {4: checks}, name=readme_name(recipe.parent))
        return result


def _recipe_said(name: str, file: str, bad: Check, dtype: str, seed: int, total: int) -> list[str]:
    """What a level-4 failure's README says failed: the example recipe as it ran, its failing step and quantity."""
    import re

    shifted = f", its seed shifted by {seed} (--seed)" if seed != DEFAULT_SEED else ""
    at = re.match(r"step (\d+) (.*)", bad.quantity, re.S)
    where = (f"step {at.group(1)} of {total}, {at.group(2)}" if at
             else f"before step 1, {bad.quantity} of the first batch from the initial weights")
    return [f"Example recipe: {name} (`{file}` here, with its model and data, is the example as it ran: dtype "
            f"{dtype}{shifted}, {plural(total, 'step')}, each judged from the reference's exact state before it)",
            f"Failed at: {where}", f"First diverging quantity: {bad.describe()}"]


def _shift_seed(path: Path, shift: int) -> None:
    """Add `shift` to the copied recipe's top-level `seed:` (the recipe default, 0, where it has none)."""
    import re

    text = path.read_text(encoding="utf-8")
    found = re.search(r"(?m)^seed:\s*(\d+)\s*$", text)
    value = (int(found.group(1)) if found else 0) + int(shift)
    if found:
        text = text[:found.start()] + f"seed: {value}" + text[found.end():]
    else:
        text = re.sub(r"(?m)^(kind: Recipe\s*)$", rf"\1\nseed: {value}", text, count=1)
    path.write_text(text, encoding="utf-8")


def _set_dtype(path: Path, dtype: str) -> None:
    """Rewrite the copied recipe's `dtype:` (a top-level key) to the dtype under test."""
    import re

    text = path.read_text(encoding="utf-8")
    new, n = re.subn(r"(?m)^dtype:.*$", f"dtype: {dtype}", text)
    if n == 0:
        new = re.sub(r"(?m)^(kind: Recipe\s*)$", rf"\1\ndtype: {dtype}", text, count=1)
    path.write_text(new, encoding="utf-8")


# ------------------------------------------------------------------------------------ certification
@dataclass
class Options:
    levels: tuple[int, ...] = (1, 2, 3, 4)
    dtypes: tuple[str, ...] = ("float32", "float64")
    devices: tuple[str, ...] | None = None  # None: every device the adapter offers
    examples: int = DEFAULT_EXAMPLES
    seed: int = DEFAULT_SEED
    constructs: tuple[str, ...] | None = None  # None: all
    recipe_steps: int | None = None  # level 4: every step of each example unless capped
    report_dir: Path | None = None  # where failing cases are written (lockstep certify makes it absolute first)
    report_shown: Path | None = None  # report_dir as the user named it, in the reproduce commands (default: it)


def plan(adapter: Adapter, options: Options) -> Iterator[tuple[Spec | Path | dp.ExampleRecipe, str, str]]:
    """Every (spec or example recipe, dtype, device) the options ask for, in report order."""
    devices = options.devices or adapter_devices(adapter)
    for device in devices:
        for dtype in options.dtypes:
            for spec in SPECS:
                levels = tuple(lv for lv in spec.levels if lv in options.levels)
                if levels and (options.constructs is None or spec.construct in options.constructs):
                    yield Spec(spec.construct, levels, spec.strategy, spec.needs), dtype, device
            if 4 in options.levels:
                for recipe in example_recipes():
                    if options.constructs is None or recipe.parent.name in options.constructs:
                        yield recipe, dtype, device
            if dp.LEVEL in options.levels:
                for recipe in example_recipes():
                    if options.constructs is None or recipe.parent.name in options.constructs:
                        yield dp.ExampleRecipe(recipe), dtype, device


def nothing_planned(options: Options, level_flag: str = "--level", construct_flag: str = "--construct") -> str:
    """Why `plan` gives nothing under these options (a construct without the asked level), as certify and the pytest
    plugin refuse them, naming the options as the caller spells them."""
    levels = ", ".join(map(str, options.levels))
    if options.constructs:
        have = {s.construct: s.levels for s in SPECS}
        said = "; ".join(f"`{c}` has level{'s' * (len(have[c]) != 1)} {', '.join(map(str, have[c]))}"
                         if c in have else f"`{c}` is an example recipe (levels 4, {dp.LEVEL})"
                         for c in options.constructs)
        return f"no check to run: {level_flag} {levels} with {construct_flag} {','.join(options.constructs)} ({said})"
    return f"no check to run at {level_flag} {levels}"


def plan_size(options: Options) -> int:
    """How many items `plan` gives, before any adapter is loaded: a plan asks the adapter only for its devices, so
    without `options.devices` this counts one device (the CPU every adapter offers), a lower bound."""
    return sum(1 for _ in plan(None, replace(options, devices=options.devices or ("cpu",))))  # type: ignore[arg-type]


def run_item(target: Target, item: Spec | Path | dp.ExampleRecipe, options: Options) -> list[CheckResult]:
    """One planned item (a construct's check, an example recipe at level 4 or 5): its CheckResults."""
    if isinstance(item, Path):
        return [run_recipe(target, item, options.recipe_steps, options.report_dir, options.seed,
                           shown=options.report_shown)]
    if isinstance(item, dp.ExampleRecipe):
        try:
            with adapter_code("data-parallel engine"):
                return dp.run_recipe(target, item.path, options.recipe_steps or dp.RECIPE_STEPS, options.report_dir,
                                     seed=options.seed, shown=options.report_shown)
        except AdapterRaised as exc:
            return [CheckResult(construct=item.path.parent.name, level=dp.LEVEL, dtype=target.dtype,
                                device=target.device, outcome="error", message=str(exc)[:2000])]
    return run_check(target, item, options.examples, options.seed, options.report_dir, shown=options.report_shown)


def certify(adapter: Adapter, name: str, options: Options,
            on_result: Callable[[int, int, CheckResult], None] | None = None, *, jobs: int = 1,
            source: str | bytes | None = None, threads: int = 1, workers: Any = None,
            versions: dict[str, str] | None = None, timeout: float | None = None,
            items: list[tuple[Spec | Path | dp.ExampleRecipe, str, str]] | None = None,
            say: Callable[[str], None] | None = None) -> Certification:
    """Run every planned check; `on_result(done, total, result)` reports progress after each, in plan order.

    With `jobs` > 1 the items run in that many worker processes (conformance/parallel.py), each with `threads`
    intra-op threads and the adapter rebuilt from `source` (a name, or the pickled adapter: `parallel.
    adapter_source`); the certificate is the one a serial run gives (the same cases, verdicts and order).
    `workers`: a `parallel.Workers` started ahead for this run (the caller closes it). `versions`: what the
    caller read (and checked) of `adapter.versions()` already. `timeout`: seconds each item may run before its
    worker is stopped and the item reported an error (`--timeout`); it runs the items in worker processes, one at
    least, since only a process can be stopped whatever it is doing. `items`: `plan(adapter, options)` as the
    caller made it already (under its time limit), so it is made once. `say`: where a line goes that the user should
    read while the run goes on (worker processes that do not start)."""
    cert = new_certification(adapter, name, options, versions)
    items = list(plan(adapter, options)) if items is None else items
    t0 = time.perf_counter()

    def hand_on(index: int, results: list[CheckResult]) -> None:
        for r in results:
            cert.checks.append(r)
            if on_result is not None:
                on_result(index + 1, len(items), r)

    if (jobs > 1 and len(items) > 1) or (timeout is not None and items):
        from dataclasses import asdict

        from lockstep.conformance import parallel

        setup = parallel.Setup(source if source is not None else parallel.adapter_source(adapter, adapter),
                               name, asdict(options), threads, tuple(parallel.item_name(i) for i in items))
        parallel.run(setup, jobs, hand_on, lambda index, message, seconds, said=None: _error_results(
            items[index], message, seconds, said), workers, timeout, say, dispatch_order(items))
    else:
        for index, (item, dtype, device) in enumerate(items):
            hand_on(index, run_item(Target(adapter, name, dtype, device), item, options))
    cert.seconds = round(time.perf_counter() - t0, 3)  # as report.json keeps it: Certificate.read gives it back
    return cert


def dispatch_order(items: list[tuple[Spec | Path | dp.ExampleRecipe, str, str]]) -> list[int]:
    """The order worker processes take the planned items up: the plan's, except that in each run of consecutive
    example recipes the largest goes first. A recipe takes seconds where a construct's check takes a fraction of
    one, and the largest (tiny-gpt, last by name) came last: with two workers it ran alone for seconds at the end
    of the run. Results are still handed on in plan order, so the progress and the report do not change, and taken
    from the front of the run the largest holds the progress back no longer than it would have at its own place.
    Size is the recipe's and its model's text, a stand-in for the work (layers, steps) known without loading it."""
    def size(path: Path) -> int:
        try:
            return sum(p.stat().st_size for p in {path, path.parent / "model.yaml"} if p.exists())
        except OSError:
            return 0

    order: list[int] = []
    block: list[int] = []
    for index, (item, _dtype, _device) in enumerate([*items, (None, "", "")]):
        if isinstance(item, Path):
            block.append(index)
            continue
        if block:
            largest = max(block, key=lambda i: size(items[i][0]))  # type: ignore[arg-type]
            order += [largest, *(i for i in block if i != largest)]
            block = []
        if item is not None:
            order.append(index)
    return order


def declared(target: Target, item: Spec | Path | dp.ExampleRecipe) -> dict[str, Any] | None:
    """What the adapter's support() says of a construct's check (its `support` and `provenance`), asked in the
    worker before the check runs, so that a check its worker could not finish (a timeout, a crash) keeps them;
    None for example recipes (they have neither) or where support() does not answer a Support."""
    if not isinstance(item, Spec):
        return None
    try:
        with adapter_code("support()"):
            base = _base(target, item)
    except Exception:  # the check itself says what support() did
        return None
    return {k: base[k] for k in ("support", "provenance") if k in base}


def _error_results(planned: tuple[Spec | Path | dp.ExampleRecipe, str, str], message: str, seconds: float = 0.0,
                   said: dict[str, Any] | None = None) -> list[CheckResult]:
    """An item that could not be run at all (its worker died, or was stopped by the timeout): an error at each of
    its levels, with the support and provenance its worker heard from support() before running it (`said`,
    `declared`). The adapter is not asked anything here (not even support()): this runs in the parent, and an
    adapter that hung or crashed in a worker may do the same here, where no timeout reaches it."""
    item, dtype, device = planned
    if isinstance(item, Spec):
        base = {"construct": item.construct, "dtype": dtype, "device": device, **(said or {})}
        return [CheckResult(level=lv, outcome="error", message=message, seconds=seconds, **base)
                for lv in item.levels]
    construct = item.parent.name if isinstance(item, Path) else item.path.parent.name
    level = 4 if isinstance(item, Path) else dp.LEVEL
    return [CheckResult(construct=construct, level=level, dtype=dtype, device=device, outcome="error",
                        message=message, seconds=seconds)]


def new_certification(adapter: Adapter, name: str, options: Options, versions: dict[str, str] | None = None
                      ) -> Certification:
    """An empty certificate of `adapter` under `options` (lockstep certify and the pytest plugin fill it).
    `versions`: the adapter's versions as already read (else asked here: AdapterError if unusable)."""
    return Certification(
        adapter=name, adapter_versions=dict(adapter_versions(adapter) if versions is None else versions),
        spec_version=SPEC_VERSION, suite_version=SUITE_VERSION, seed=options.seed, examples=options.examples,
        levels=list(options.levels), dtypes=list(options.dtypes),
        devices=list(options.devices or adapter_devices(adapter)), environment=fingerprint(name),
        recipe_steps=options.recipe_steps)


def fingerprint(adapter: str | None = None) -> dict[str, str]:
    """The environment a certificate was produced in, flat strings (lockstep/fingerprint.py: CPU model and ISA,
    threads, oneDNN/MKL settings, framework builds; no host names or user names). `adapter`: the threads of that
    adapter only (a process that certified another adapter, or ran a recipe, before recorded theirs too)."""
    import json

    from lockstep import fingerprint as machine

    fp = machine.fingerprint(None if adapter is None else [adapter])
    cpu = fp["cpu"]
    env = {"python": platform.python_version(), "implementation": platform.python_implementation(),
           "platform": platform.platform(terse=True), "machine": platform.machine(),
           "processor": str(cpu.get("model") or platform.processor() or platform.machine()),
           "cpu_count": str(os.cpu_count() or "?"), "usable_cpus": str(cpu.get("usable_cpus", "?")),
           "isa": " ".join(cpu.get("isa", [])), "numpy": fp["numpy"]["version"],
           "blas": str(fp["numpy"].get("blas", "?")), "lockstep": __version__,
           "threads": json.dumps(fp["threads"], sort_keys=True), "env": json.dumps(fp["env"], sort_keys=True)}
    for framework in ("torch", "tensorflow"):
        if framework in fp:
            env[framework] = json.dumps(fp[framework], sort_keys=True)
    try:
        import hypothesis

        env["hypothesis"] = hypothesis.__version__
    except ImportError:  # pragma: no cover - a core dependency
        pass
    return env
