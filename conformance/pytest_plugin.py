"""`pytest --lockstep-adapter=A`: the conformance suite of `lockstep certify` as pytest items.

A vendor's CI already speaks pytest: with this plugin each planned check (conformance.suite.plan) is one item,
`lockstep::<adapter>::<construct>[<level>-<dtype>-<device>]`, so `-k`, `-x`, `-m lockstep`, `--lf`, `--junitxml`
and test dashboards treat the suite like the vendor's own tests, next to them in one run. Checks run through
suite.run_check / suite.run_item (an example recipe at level 4, or at level 5: data_parallel), exactly as `lockstep
certify` runs them, and `--lockstep-report DIR` writes the same reports (report.json, junit.xml, report.html,
report.md).

The plugin is registered under `pytest11`, so every pytest run on a machine with Lockstep installed loads this
module: without `--lockstep-adapter` it only adds its options. It imports nothing else, collects nothing and
registers no other hook.

Expectations (`--lockstep-expect FILE`) are a TOML file mapping glob patterns over check names (the names of the
reports, `<construct>.<level>.<dtype>.<device>`, e.g. `conv2d.gradients.float32.cpu`) to reasons:

    [skip]      # not run, reported as skipped with the reason
    "*.recipes.*" = "no example recipe fits acme's subset"

    [xfail]     # run; a failure is expected (XFAIL), a pass shows as XPASS (a failure under xfail_strict = true)
    "sgd.updates.float32.*" = "acme#12: nesterov rounds differently in float32"

skip wins over xfail; within a section the first pattern that matches gives the reason. The adapter's own
`support()` answers need no entry: a check it declares unsupported is skipped with its note.
"""

from __future__ import annotations

import fnmatch
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from lockstep.adapters.base import Adapter
    from lockstep.conformance.results import Certification, CheckResult
    from lockstep.conformance.suite import Options, Spec, Target

ROOT = "lockstep"  # the first segment of every node id: `pytest --lockstep-adapter=A lockstep::A` runs only the suite
PLUGIN = "lockstep-conformance"
DTYPES = ("float32", "float64")
RESULT = "result"  # a check's result, carried on its report from a pytest-xdist worker (`TestReport.lockstep`)
UNREPORTED = "unreported"  # a check skipped by expectations without a result, carried likewise
DECLARED = "declared"  # what support() said of a check, carried on its setup report: a worker that then crashes
# running it sends no result, and its error keeps the provenance (as certify's `suite.declared`)
STAGE = "lockstep_stage"  # pytest-xdist's workerinput key: the controller's staging folder for failing cases
OPTIONS = ("lockstep_level", "lockstep_dtype", "lockstep_device", "lockstep_examples", "lockstep_seed",
           "lockstep_construct", "lockstep_recipe_steps", "lockstep_report", "lockstep_expect")
# what an explicitly empty value of each text option would have meant, had it been read as "not given": an unset CI
# variable (`--lockstep-report=$DIR`) must not silently change what is certified, nor drop the report
EMPTY = {"lockstep_adapter": ("an adapter", " to run no check"), "lockstep_level": ("levels", " for all"),
         "lockstep_dtype": ("dtypes", " for float32,float64"),
         "lockstep_device": ("devices", " for every device the adapter offers"),
         "lockstep_construct": ("constructs", " for all"), "lockstep_report": ("a folder", " to write no report"),
         "lockstep_expect": ("a file", " for none")}


# ------------------------------------------------------------------------------------------------ options
def pytest_addoption(parser: pytest.Parser) -> None:
    from lockstep.arglists import CommaList  # lists add up when repeated, as certify's own options do (last-wins
    # made `--lockstep-construct=dense --lockstep-construct=tanh` certify tanh alone, without a word)

    group = parser.getgroup("lockstep", "Lockstep conformance suite (docs/certify.md)")
    group.addoption("--lockstep-adapter", metavar="A", default=None,
                    help="run the conformance suite against adapter A: a name (built-in or entry point "
                         "`lockstep.adapters`) or module:attribute. Without it the plugin does nothing")
    group.addoption("--lockstep-level", action=CommaList, metavar="L", default="all",
                    help="levels, comma-separated: 1 predictions, 2 gradients, 3 updates, 4 recipes, "
                         "5 data_parallel, or `all` (default: 1-4; level 5 runs only when named)")
    group.addoption("--lockstep-dtype", action=CommaList, metavar="D", default="float32,float64",
                    help="dtypes, comma-separated (default: float32,float64)")
    group.addoption("--lockstep-device", action=CommaList, metavar="X", default=None,
                    help="devices, comma-separated (default: every device the adapter offers)")
    group.addoption("--lockstep-examples", metavar="N", type=int, default=None,
                    help="hypothesis examples per check (default: lockstep certify's)")
    group.addoption("--lockstep-seed", metavar="S", type=int, default=None,
                    help="seed of the generated cases (default: lockstep certify's)")
    group.addoption("--lockstep-construct", action=CommaList, metavar="C", default=None,
                    help="only these constructs or example recipes, comma-separated (e.g. dense,sgd,digits-mlp)")
    group.addoption("--lockstep-recipe-steps", metavar="K", type=int, default=None,
                    help="levels 4 and 5: optimizer steps of each example recipe (default: lockstep certify's: "
                         "every step at level 4, 5 at level 5)")
    group.addoption("--lockstep-report", metavar="DIR", default=None,
                    help="write lockstep certify's reports into DIR at the end of the session (failing cases "
                         "in DIR/failures/; without it they go to pytest's cache folder)")
    group.addoption("--lockstep-expect", metavar="FILE", default=None,
                    help="TOML expectations: [skip] and [xfail] tables of check-name glob = reason")


def pytest_configure(config: pytest.Config) -> None:
    """Activate only with --lockstep-adapter: then load the adapter (a usage error if it cannot) and register."""
    if config.getoption("lockstep_adapter", None) is None:
        given = [o for o in OPTIONS if config.getoption(o, None) not in (None, "all", "float32,float64")]
        if given:
            raise pytest.UsageError(f"--{given[0].replace('_', '-')} needs --lockstep-adapter")
        return
    config.addinivalue_line("markers", "lockstep: a Lockstep conformance check (pytest --lockstep-adapter=A)")
    if hasattr(config, "workerinput"):  # a pytest-xdist worker ends with its controller, as certify's workers do
        from lockstep.conformance.parallel import die_with_parent

        die_with_parent(os.getppid())
    config.pluginmanager.register(Suite.from_config(config), PLUGIN)


# ------------------------------------------------------------------------------------------------ expectations
class ExpectationsError(ValueError):
    """The expectations file is unreadable or not of the documented form; the message names the file."""


@dataclass(frozen=True)
class Expectations:
    """What an adapter expects of the suite: (glob, reason) pairs to skip and to xfail."""

    skip: tuple[tuple[str, str], ...] = ()
    xfail: tuple[tuple[str, str], ...] = ()
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Expectations:
        """Read a TOML expectations file (module docstring); ExpectationsError says what is wrong."""
        import tomllib

        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ExpectationsError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ExpectationsError(f"{path}: not valid TOML: {exc}") from None
        unknown = sorted(set(doc) - {"skip", "xfail"})
        if unknown:
            raise ExpectationsError(f"{path}: unknown key `{unknown[0]}`; expected the tables [skip] and [xfail] "
                                    "of `\"check-name glob\" = \"reason\"`")
        tables: dict[str, tuple[tuple[str, str], ...]] = {}
        for kind in ("skip", "xfail"):
            table = doc.get(kind, {})
            if not isinstance(table, dict):
                raise ExpectationsError(f"{path}: `{kind}` must be a table: [{kind}] then `\"glob\" = \"reason\"`")
            for pattern, reason in table.items():
                if not isinstance(reason, str) or not reason.strip():
                    raise ExpectationsError(f"{path}: [{kind}] \"{pattern}\": the value must be the reason, a "
                                            "non-empty string")
            tables[kind] = tuple(table.items())
        return cls(tables["skip"], tables["xfail"], str(path))

    def match(self, check: str) -> tuple[str, str] | None:
        """("skip" or "xfail", reason) for a check name such as `conv2d.gradients.float32.cpu`, or None."""
        for kind, entries in (("skip", self.skip), ("xfail", self.xfail)):
            for pattern, reason in entries:
                if fnmatch.fnmatchcase(check, pattern):
                    return kind, reason
        return None


# ------------------------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Planned:
    """One item: a construct (or example recipe, at level 4 or 5) at one level in one dtype on one device."""

    index: int  # report order (the order of lockstep certify)
    construct: str
    level: int
    dtype: str
    device: str
    spec: Spec | None = None  # None for an example recipe (levels 4 and 5)
    recipe: Path | None = None  # the example's recipe.yaml (at level 4, or 5: data_parallel.ExampleRecipe)

    @property
    def check(self) -> str:
        """The check's name in the reports: `conv2d.gradients.float32.cpu`."""
        from lockstep.conformance.results import LEVELS

        return f"{self.construct}.{LEVELS[self.level]}.{self.dtype}.{self.device}"

    @property
    def item_name(self) -> str:
        from lockstep.conformance.results import LEVELS

        return f"{self.construct}[{LEVELS[self.level]}-{self.dtype}-{self.device}]"

    @property
    def group(self) -> tuple[str, str, str]:
        """The checks that share one hypothesis run (a layer's levels 1 and 2 run on the same cases)."""
        return self.construct, self.dtype, self.device


class CheckFailed(Exception):
    """A check diverged from the reference (or the adapter raised); the message is the whole story."""


# ------------------------------------------------------------------------------------------------ the session
class Suite:
    """The active plugin: the adapter, the options, the plan, and the results for the reports."""

    def __init__(self, config: pytest.Config, adapter: Adapter, name: str, options: Options,
                 expectations: Expectations, failures_dir: Path, report_dir: Path | None, *,
                 home: Path | None = None) -> None:
        from lockstep.conformance.levels.data_parallel import ExampleRecipe
        from lockstep.conformance.suite import Spec, plan

        self.config, self.adapter, self.name, self.options = config, adapter, name, options
        self.expectations, self.failures_dir, self.report_dir = expectations, failures_dir, report_dir
        # where they are written: absolute, from the working folder before any adapter code ran (`home`); the
        # relative forms above are what messages and reproduce commands show
        self.home = home or Path.cwd()
        self.failures_abs = self.home / failures_dir
        self.report_abs = None if report_dir is None else self.home / report_dir
        # with a report folder, failing cases are written into a staging folder inside it that replaces its
        # failures/ together with the four reports (report.write_reports), as certify's: a session stopped part-way
        # leaves the earlier certificate and its cases as they were. pytest-xdist's workers take the controller's
        self.stage_abs: Path | None = None
        if self.report_abs is not None:
            from lockstep.runfolder import TRASH_PREFIX

            given = getattr(config, "workerinput", {}).get(STAGE)
            self.stage_abs = Path(given) if given else self.report_abs / f"{TRASH_PREFIX}{os.getpid()}-staged"
        self.written_abs = self.stage_abs or self.failures_abs  # where run_check writes failures/<check>/
        # the node id segment: the name typed, or the adapter's own name for `module:attribute`
        self.segment = name if ":" not in name else str(getattr(adapter, "name", "adapter"))
        self.source = _source(adapter, config.rootpath)
        self.planned: list[Planned] = []
        for item, dtype, device in plan(adapter, options):
            if isinstance(item, Path):
                self.planned.append(Planned(len(self.planned), item.parent.name, 4, dtype, device, recipe=item))
            elif isinstance(item, ExampleRecipe):  # level 5 (data_parallel) on an example recipe
                self.planned.append(Planned(len(self.planned), item.name, 5, dtype, device, recipe=item.path))
            else:
                for level in item.levels:
                    one = Spec(item.construct, (level,), item.strategy, item.needs)
                    self.planned.append(Planned(len(self.planned), item.construct, level, dtype, device, spec=one))
        self.by_check = {p.check: p for p in self.planned}
        self.by_node = {f"{ROOT}::{self.segment}::{p.item_name}": p for p in self.planned}
        self.selected: dict[tuple[str, str, str], set[int]] = {}  # group -> levels to run (after -k, -m, ...)
        self.cache: dict[tuple[str, str, str], dict[int, CheckResult]] = {}
        self.results: dict[int, CheckResult] = {}  # planned index -> result, for the reports
        self.declared: dict[int, dict[str, Any]] = {}  # planned index -> its support and provenance (DECLARED)
        # the planned indices whose items pytest ran and reported: a layer's levels share one hypothesis run, so a
        # level's result is known before its own item runs, and `-x` may stop the session before it does; the
        # reports hold only what pytest reported (serial and pytest-xdist alike)
        self.reported: set[int] = set()
        self.started: float | None = None
        self.selection: list[str] = []  # `lockstep::...` node ids given as arguments
        self.written: dict[str, Path] | None = None
        self.versions: dict[str, str] = {}
        self.unreported = 0  # checks an expectation skipped without an answer from support(): not in the reports
        self.unreported_items: set[int] = set()  # their planned indices (pytest-xdist's reports may repeat)
        self.write_error: str | None = None
        self.note: str | None = None  # a line for the summary: no check ran, so no report replaced the last one
        self.cleared = False  # the last session's failures/ removed (once a check of this one is about to run)
        self.together: dict[int, tuple[int, ...]] = {}  # planned index -> the levels its hypothesis run had
        self.claimed: Any = None  # the report folder's lock (runfolder.RunFolder), held by the controller

    @classmethod
    def from_config(cls, config: pytest.Config) -> Suite:
        """Validate the options as `lockstep certify` does and load the adapter; pytest.UsageError otherwise."""
        from lockstep.adapters.checked import AdapterError, adapter_code, adapter_devices, adapter_versions, describe
        from lockstep.adapters.registry import AdapterNotFound, get
        from lockstep.conformance.results import parse_levels
        from lockstep.conformance.suite import (
            DEFAULT_EXAMPLES,
            DEFAULT_SEED,
            MAX_SEED,
            SPECS,
            Options,
            example_recipes,
            nothing_planned,
            plan_size,
            unused_recipe_steps,
        )

        opt = config.getoption
        for option, (what, default) in EMPTY.items():
            value = opt(option)
            if isinstance(value, str) and not value.strip():
                flag = "--" + option.replace("_", "-")
                raise pytest.UsageError(f"{flag} is empty; give {what}, or leave {flag} out{default}")
        name = str(opt("lockstep_adapter")).strip()
        home = Path.cwd()
        try:
            levels = parse_levels(opt("lockstep_level"), "--lockstep-level")
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        dtypes = _split(opt("lockstep_dtype"))
        if not dtypes or any(d not in DTYPES for d in dtypes):
            raise pytest.UsageError(f"--lockstep-dtype: expected float32 and/or float64, got {opt('lockstep_dtype')!r}")
        from lockstep.spec.base import INT64_MAX

        examples = DEFAULT_EXAMPLES if opt("lockstep_examples") is None else opt("lockstep_examples")
        steps = opt("lockstep_recipe_steps")  # None: every step of each example
        for flag, count in (("--lockstep-examples", examples), ("--lockstep-recipe-steps", steps)):
            # certify's limits (lockstep.effective.as_integer), said with the option and the value given
            if count is not None and not 1 <= count <= INT64_MAX:
                bound = "at least 1" if count < 1 else f"at most {INT64_MAX} (2**63 - 1)"
                raise pytest.UsageError(f"{flag} must be {bound}, got {count}")
        seed = DEFAULT_SEED if opt("lockstep_seed") is None else opt("lockstep_seed")
        if not 0 <= seed <= MAX_SEED:  # as `lockstep certify --seed`: a report the command can reproduce
            raise pytest.UsageError(f"--lockstep-seed {seed}: expected 0 to 2**62 (the example recipes' seeds are "
                                    "shifted by it, and a recipe's seed is a 64-bit integer of 0 or more)")
        given = opt("lockstep_construct")
        constructs = _split(given) or None
        if given is not None and not constructs:  # `--lockstep-construct "$UNSET"` must not mean every construct
            raise pytest.UsageError(f"--lockstep-construct {given!r} names no construct")
        if constructs:
            known = {s.construct for s in SPECS} | {p.parent.name for p in example_recipes()}
            unknown = [c for c in constructs if c not in known]
            if unknown:
                from difflib import get_close_matches

                hint = get_close_matches(unknown[0], sorted(known), n=1)
                raise pytest.UsageError(f"--lockstep-construct: unknown `{unknown[0]}`" + (
                    f"; did you mean `{hint[0]}`?" if hint else f"; known: {', '.join(sorted(known))}"))
        if unused := unused_recipe_steps(steps, levels, constructs):  # as certify refuses it
            raise pytest.UsageError(f"--lockstep-recipe-steps {unused}")
        from lockstep.spec.resources import memory_limit_problem

        if (problem := memory_limit_problem()) is not None:  # one usage error, as certify says it: every check
            raise pytest.UsageError(problem)  # reported it as its own error
        planned = Options(levels=levels, dtypes=dtypes, constructs=constructs)
        if not plan_size(planned):  # as certify refuses it: a session with no check of ours must not pass unseen
            raise pytest.UsageError(nothing_planned(planned, "--lockstep-level", "--lockstep-construct"))
        # the folders first, absolute: the adapter's code (its import included) may change the working folder
        report_dir = _from_invocation(config, opt("lockstep_report")) if opt("lockstep_report") else None
        claimed = None
        if report_dir is not None and not hasattr(config, "workerinput"):  # before any work, as certify
            _check_junitxml(config, report_dir)
            _check_report_folder(report_dir)
            # locked before the adapter is imported (TensorFlow's import takes seconds), as given: a folder another
            # command holds is said at once. The controller's alone under pytest-xdist
            inputs = [config.invocation_params.dir / Path(opt("lockstep_expect")).expanduser()] \
                if opt("lockstep_expect") else []  # an output never overwrites an input
            claimed = _claim_report_folder(report_dir, inputs)
            config.add_cleanup(claimed.release)  # also when a usage error below ends the session
        failures_dir = report_dir or _failures_home(config, name)
        try:
            with adapter_code("import"):
                adapter = get(name)
            offered = list(adapter_devices(adapter))  # checked: a string is not a list of devices
            versions = adapter_versions(adapter)
        except (AdapterNotFound, AdapterError) as exc:
            raise pytest.UsageError(f"--lockstep-adapter {name}: {exc}") from None
        except Exception as exc:  # a third party's import must not become a traceback either
            raise pytest.UsageError(f"--lockstep-adapter {name}: {describe(exc)}") from None
        devices = _split(opt("lockstep_device")) or None
        if opt("lockstep_device") is not None and not devices:  # `--lockstep-device=,`: not every device
            raise pytest.UsageError(f"--lockstep-device {opt('lockstep_device')!r} names no device")
        missing = [d for d in devices or () if d not in offered]
        if missing:
            raise pytest.UsageError(f"--lockstep-device: adapter `{name}` offers {', '.join(offered)}; "
                                    f"not {missing[0]}")
        expectations = Expectations()
        if opt("lockstep_expect"):
            try:
                expectations = Expectations.load(_from_invocation(config, opt("lockstep_expect")))
            except ExpectationsError as exc:
                raise pytest.UsageError(f"--lockstep-expect {exc}") from None
        options = Options(levels=levels, dtypes=dtypes, devices=devices or tuple(offered), examples=examples,
                          seed=seed,
                          constructs=constructs, recipe_steps=steps, report_dir=report_dir)
        suite = cls(config, adapter, name, options, expectations, failures_dir, report_dir, home=home)
        suite.versions = versions
        suite.selection = [a for a in config.args if a.startswith(ROOT + "::")]
        if suite.selection:  # node ids of ours are not paths: take them out of pytest's own collection
            config.args[:] = [a for a in config.args if a not in suite.selection]
        from lockstep.conformance.parallel import CHECK_THREADS
        from lockstep.runner import configure_threads

        # the threads `lockstep certify` gives every check, in this process or in any pytest-xdist worker: the same
        # figures as the certificate's, with or without -n (N workers × 1 thread never oversubscribe N CPUs)
        try:
            with adapter_code("configure_threads()"):
                configure_threads(adapter, name, CHECK_THREADS)
        except Exception as exc:
            raise pytest.UsageError(f"--lockstep-adapter {name}: configure_threads() raised {describe(exc)}") from None
        suite.claimed = claimed
        return suite

    # --------------------------------------------------------------------------------------- hooks
    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        o = self.options
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        devices = ", ".join(o.devices or ())
        expect = f"; expectations {self.expectations.source}" if self.expectations.source else ""
        return [f"lockstep: adapter {self.name} ({versions})",
                f"lockstep: levels {','.join(map(str, o.levels))}, {', '.join(o.dtypes)}, devices {devices}, "
                f"{o.examples} examples per check, seed {o.seed}{expect}"]

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselection and --lf, which must see our items
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        root = SuiteCollector.from_parent(session, name=ROOT, nodeid=ROOT)
        adapter = AdapterCollector.from_parent(root, name=self.segment)
        mine = []
        grouped = config.pluginmanager.hasplugin("xdist")
        for p in self.planned:
            # the id given as the string it prints: pytest 9 parses `sgd[updates-float64-cpu]` into a name and its
            # parameters, as --lf and --ff read the ids of last session's failures back; a child of the name alone
            # never matched them
            item = CheckItem.from_parent(adapter, name=p.item_name, nodeid=f"{adapter.nodeid}::{p.item_name}",
                                         planned=p, suite=self)
            item.add_marker(pytest.mark.lockstep)
            if grouped and p.spec is not None:  # `--dist loadgroup` keeps a construct's levels (one hypothesis
                # run) on one worker; an example recipe's levels 4 and 5 share none
                item.add_marker(pytest.mark.xdist_group(name=f"lockstep-{'-'.join(p.group)}"))
            expected = self.expectations.match(p.check)
            if expected is not None and expected[0] == "xfail":
                item.add_marker(pytest.mark.xfail(reason=expected[1]))
            mine.append(item)
        if self.selection:
            chosen = [i for i in mine if any(_selects(s, i.nodeid) for s in self.selection)]
            lost = [s for s in self.selection if not any(_selects(s, i.nodeid) for i in mine)]
            if lost:
                raise pytest.UsageError(f"not found: {lost[0]} (no Lockstep check has that id; list them with pytest "
                                        f"--lockstep-adapter={self.name} {ROOT}::{self.segment} --collect-only -q)")
            mine = chosen
        # report them as collected by their collector, so that "collected N items" and other plugins count them
        config.hook.pytest_collectreport(report=pytest.CollectReport(adapter.nodeid, "passed", None, mine))
        items.extend(mine)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The levels of each group that will run, so that one hypothesis run serves them all."""
        for item in session.items:
            if isinstance(item, CheckItem) and item.skip_reason is None:
                self.selected.setdefault(item.planned.group, set()).add(item.planned.level)
        if self.selected and not hasattr(self.config, "workerinput"):
            self.clear_failures()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """pytest-xdist's controller collects nothing: its workers' collections say whether a check will run."""
        mine = [self.by_node[i] for i in ids if i in self.by_node]
        if any((self.expectations.match(p.check) or ("run",))[0] != "skip" for p in mine):
            self.clear_failures()

    def clear_failures(self) -> None:
        """A session that runs a check replaces the last one's failing cases in the cache folder; one that runs none
        (`--collect-only`, a `-k` that selects none of ours) leaves them. A report folder's are replaced only with
        its reports, at the end (pytest_sessionfinish)."""
        if self.stage_abs is None and not self.cleared and not self.config.getoption("collectonly", False):
            self.cleared = True
            _clear_failures(self.failures_abs)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist's workers write their failing cases into the controller's staging folder."""
        if self.stage_abs is not None:
            node.workerinput[STAGE] = str(self.stage_abs)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """A check's result rides on its report (`report.lockstep`, plain JSON: pytest-xdist sends a report's
        attributes to the controller as they are; user properties would also land in the user's junit XML)."""
        outcome = yield
        if isinstance(item, CheckItem) and call.when == "call" and item.payload:
            outcome.get_result().lockstep = list(item.payload)
        elif isinstance(item, CheckItem) and call.when == "setup" and item.declared is not None:
            outcome.get_result().lockstep = [(DECLARED, {"index": item.planned.index, **item.declared})]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Under pytest-xdist the controller runs no check: it gathers the workers' results from their reports,
        so its summary and reports are a serial run's."""
        from lockstep.conformance.results import CheckResult

        for key, value in getattr(report, "lockstep", None) or ():
            if key == RESULT:
                self.reported.add(value["index"])
            if key == RESULT and value["index"] not in self.results:
                if self.started is None:
                    self.started = time.perf_counter()
                self.results[value["index"]] = CheckResult.from_json(value["result"])
            elif key == UNREPORTED and value not in self.unreported_items:
                self.unreported_items.add(value)
                self.unreported += 1
            elif key == DECLARED:
                self.declared[value["index"]] = {k: v for k, v in value.items() if k != "index"}
        p = self.by_node.get(report.nodeid)
        if report.failed and not getattr(report, "lockstep", None) and p is not None and p.index not in self.results:
            # no result came back: pytest-xdist's report of a worker that crashed running it (the adapter ended the
            # process). It is an error of that check; the reports said "0 checks: 0 fail, 0 error" before
            first = next((line.strip() for line in str(report.longrepr or "").splitlines() if line.strip()), "")
            self.results[p.index] = CheckResult(p.construct, p.level, p.dtype, p.device, "error",
                                                message=f"no result: {first or 'the process running it ended'}",
                                                **self.declared.get(p.index, {}))
            self.reported.add(p.index)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.report_dir is None or hasattr(self.config, "workerinput"):
            return
        import shutil

        try:
            self.finish(session)
        finally:  # what was not moved into place (a stopped session's cases, or none) goes
            if self.stage_abs is not None:
                shutil.rmtree(self.stage_abs, ignore_errors=True)

    def finish(self, session: pytest.Session) -> None:
        """The reports, and the staged failing cases with them, unless the session was stopped or ran no check."""
        assert self.report_dir is not None
        if session.exitstatus == pytest.ExitCode.INTERRUPTED:  # as certify: a stopped run replaces no report
            self.write_error = f"the session was interrupted: no report written to {self.report_dir}"
            return
        if not self.ran() or self.config.getoption("collectonly", False):
            # an empty "NOT CERTIFIED" report replaced the last certificate (`--collect-only`, `-k nomatch`);
            # `lockstep certify` refuses to run no check
            shown = f"{self.report_dir}/"
            # a folder the lock made goes again when it is released empty
            there = (self.report_abs or self.report_dir).is_dir() and not getattr(self.claimed, "created", False)
            where = f"{shown} left as it was" if there else f"no report written to {shown}"
            self.note = f"no check ran; {where}"
            return
        from lockstep.conformance import report

        cert = self.certification()
        try:
            stage = self.stage_abs
            if stage is not None:  # the failing cases of levels pytest never ran (-x): not in the reports either
                import shutil

                for i, r in self.results.items():
                    if i not in self.reported and r.failure_dir:
                        shutil.rmtree(stage / r.failure_dir, ignore_errors=True)
            written = report.write_reports(cert, self.report_abs or self.report_dir,
                                           failures=None if stage is None else stage / "failures",
                                           trash=None if stage is None else stage / "previous")
            if self.report_abs is not None and _still_in(self.home):  # shown as given, unless an adapter moved us
                written = {kind: self.report_dir / path.relative_to(self.report_abs) for kind, path in written.items()}
            self.written = written
        except OSError as exc:
            self.write_error = f"cannot write the report to {self.report_dir}: {exc.strerror or exc}"
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from lockstep.conformance.report import counts_line, summary_table

        if hasattr(self.config, "workerinput"):
            return
        for note in getattr(self.claimed, "notes", []):  # reports a killed session left half replaced, made whole
            terminalreporter.write_line(f"lockstep: {note}")
        if self.note and not (self.ran() or self.unreported or self.write_error):
            terminalreporter.write_line(f"lockstep: {self.note}")
            return
        if not (self.ran() or self.unreported or self.write_error):
            return  # nothing of ours ran here (deselected, or pytest-xdist's controller)
        cert = self.certification()
        counts = cert.counts()
        tr = terminalreporter
        tr.section(f"lockstep certification: {self.name}")
        if tr.config.getoption("verbose") > 0 and cert.checks:
            tr.write_line(summary_table(cert))
        reported = sum(counts.values())
        # as the reports say it: "certified for these checks" only of a session that ran part of its plan
        verdict = "" if not reported else " · NOT certified" if not cert.certified else \
            " · certified for these checks" if cert.selection else " · CERTIFIED"
        unreported = f", {self.unreported} skipped by expectations (not reported)" if self.unreported else ""
        tr.write_line(f"{counts_line(counts)}{unreported}{verdict}")
        if self.written:
            w = self.written
            tr.write_line(f"report: {w['html']} (also {w['json'].name}, {w['junit'].name}, {w['markdown'].name})")
        if self.write_error:
            tr.write_line(f"lockstep: {self.write_error}", red=True)
        if self.note:
            tr.write_line(f"lockstep: {self.note}")

    # --------------------------------------------------------------------------------------- running
    def target(self, p: Planned) -> Target:
        from lockstep.conformance.suite import Target

        return Target(self.adapter, self.name, p.dtype, p.device)

    def result(self, p: Planned) -> CheckResult:
        """The check's result, running its group's hypothesis run once for every selected level."""
        from dataclasses import replace

        from lockstep.conformance.levels.data_parallel import ExampleRecipe
        from lockstep.conformance.suite import Spec, run_check, run_item

        if self.started is None:
            self.started = time.perf_counter()
        if p.recipe is not None:  # as certify runs an example recipe at level 4 or 5 (suite.run_item)
            options = replace(self.options, report_dir=self.written_abs, report_shown=self.failures_dir)
            (r,) = run_item(self.target(p), p.recipe if p.level == 4 else ExampleRecipe(p.recipe), options)
            self.results[p.index] = r
            self.together[p.index] = (p.level,)
            return r
        cached = self.cache.setdefault(p.group, {})
        if p.level not in cached:
            assert p.spec is not None
            levels = tuple(sorted((self.selected.get(p.group, set()) | {p.level}) - set(cached)))
            spec = Spec(p.spec.construct, levels, p.spec.strategy, p.spec.needs)
            for r in run_check(self.target(p), spec, self.options.examples, self.options.seed, self.written_abs,
                               shown=self.failures_dir):
                cached[r.level] = r
                self.results[self.by_check[r.name].index] = r
                self.together[self.by_check[r.name].index] = levels
        return cached[p.level]

    def describe(self, r: CheckResult) -> str:
        """The failure text: what diverged first, error vs tolerance, the failure folder and how to reproduce."""
        from lockstep.conformance.report import fmt_margin

        examples = f"{r.examples} example{'s' if r.examples != 1 else ''}"
        if r.outcome == "error":  # the case it was running is kept too, as a failing one's: shown the same way
            return "\n".join([f"{r.name}: ERROR: the check could not complete on {self.segment} ({examples})",
                              f"  {r.message}", f"  (run it alone: {self.alone(r)})", *self._kept(r)])
        lines = [f"{r.name}: {self.segment} diverges from the reference (first failure after {examples})",
                 f"  first diverging quantity: {r.message}"]
        if r.worst is not None:
            w = r.worst
            # none where no error was measured or no tolerance applied, as the reports say (Worst.no_error)
            error = "none" if w.no_error else f"{w.error:.3g}"
            tolerance = "none" if w.unmeasured else f"{w.tolerance:.3g}"
            lines.append(f"  worst:                    {w.quantity}: error {error}, tolerance {tolerance}, "
                         f"margin {fmt_margin(w)}")
        return "\n".join([*lines, *self._kept(r)])

    def _kept(self, r: CheckResult) -> list[str]:
        """The lines naming the check's failure folder (its case as a spec file) and how to reproduce it."""
        lines: list[str] = []
        if r.failure_dir:
            from lockstep.conformance.suite import readme_name

            folder = _shown(self.failures_abs / r.failure_dir)
            # a generated case's folder has the README that lists every comparison (suite.write_failure); an example
            # recipe's (levels 4 and 5) holds the recipe and model as they ran and a README naming the failing step
            # (suite.run_recipe, data_parallel.run_recipe), as certify's do, named so that it leaves a README of the
            # recipe's own as it is (suite.readme_name); the README is promised only where it was written
            planned = self.by_check.get(r.name)
            source = planned.recipe if planned is not None else None  # an example recipe's, or None
            recipe = source is not None
            name = readme_name(source.parent if source is not None else None)
            readme = (self.written_abs / r.failure_dir / name).is_file()
            command = ("the command below replays every step" if r.level == 4
                       else "the command below judges level 5 on this check alone again")
            said = (f"{name} lists every comparison" if readme and not recipe
                    else f"the recipe and model as they ran, and {name} naming the failing step and quantity"
                    + (" and the replicas" if r.level != 4 else "") + f"; {command}" if readme
                    else f"the recipe and model as they ran; {command}")
            lines.append(f"  failure folder:           {folder}/ ({said})")
        if r.reproduce:
            lines.append(f"  reproduce:                {r.reproduce}")
        return lines

    def alone(self, r: CheckResult) -> str:
        """The `lockstep certify` command that runs this check alone on the same cases: the levels its hypothesis
        run had (an error is every one of theirs), the seed, and the examples or the recipe steps."""
        import shlex

        o = self.options
        planned = self.by_check.get(r.name)
        levels = self.together.get(planned.index, (r.level,)) if planned is not None else (r.level,)
        cmd = ["lockstep", "certify", "--adapter", self.name, "--construct", r.construct,
               "--level", ",".join(map(str, levels)), "--dtype", r.dtype, "--device", r.device]
        if planned is not None and planned.recipe is not None:  # an example recipe, at level 4 or 5
            cmd += [] if o.recipe_steps is None else ["--recipe-steps", str(o.recipe_steps)]
        else:
            cmd += ["--examples", str(o.examples)]
        return shlex.join([*cmd, "--seed", str(o.seed)])

    def certification(self) -> Certification:
        """What ran, in lockstep certify's order, as a Certification for the reports."""
        from lockstep.conformance.suite import new_certification

        cert = new_certification(self.adapter, self.name, self.options, self.versions or None)
        cert.checks = self.ran()
        cert.seconds = 0.0 if self.started is None else time.perf_counter() - self.started
        missing = len(self.planned) - len(cert.checks)
        if missing > 0:  # the reports must not say CERTIFIED of checks the session left out
            verdict = "certified for these checks only" if cert.certified else "not certified (a verdict on these " \
                "checks only)"
            cert.selection = (f"this pytest session ran {len(cert.checks)} of the {len(self.planned)} planned checks; "
                              f"{missing} not run (deselected by -k, --deselect, --lf or an id, stopped by -x, or "
                              f"skipped by expectations): {verdict}")
        return cert

    def ran(self) -> list[CheckResult]:
        """The results of the checks pytest ran and reported, in lockstep certify's order: a level whose result came
        with another level's hypothesis run but whose own item never ran (`-x` stopped the session) is not one."""
        return [self.results[i] for i in sorted(self.results) if i in self.reported]


# ------------------------------------------------------------------------------------------------ nodes
class SuiteCollector(pytest.Collector):
    """`lockstep`: the root of the suite's items (never collected from files)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class AdapterCollector(pytest.Collector):
    """`lockstep::<adapter>`."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class CheckItem(pytest.Item):
    """One check; runs it (or takes its group's cached result) and reports the outcome."""

    def __init__(self, *, planned: Planned, suite: Suite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.planned = planned
        self.suite = suite
        expected = suite.expectations.match(planned.check)
        self.skip_reason = expected[1] if expected is not None and expected[0] == "skip" else None
        self.payload: list[tuple[str, Any]] = []  # what the controller needs of this check (makereport)
        self.declared: dict[str, Any] | None = None  # support() of it, for the controller (pytest-xdist's workers)

    def setup(self) -> None:
        """In a pytest-xdist worker: what support() says of the check, sent before it runs (DECLARED)."""
        p = self.planned
        if p.spec is not None and self.skip_reason is None and hasattr(self.config, "workerinput"):
            from lockstep.conformance.suite import declared

            self.declared = declared(self.suite.target(p), p.spec)

    def runtest(self) -> None:
        p, suite = self.planned, self.suite
        if self.skip_reason is not None:
            if p.spec is not None:
                from lockstep.conformance.suite import unsupported_results

                found = unsupported_results(suite.target(p), p.spec)
                if found and found[0].outcome == "unsupported":  # what the adapter declares, as certify reports it
                    suite.results[p.index] = found[0]
            if p.index in suite.results:
                self.payload.append((RESULT, {"index": p.index, "result": suite.results[p.index].to_json()}))
            elif p.index not in suite.unreported_items:
                suite.unreported_items.add(p.index)
                suite.unreported += 1
                self.payload.append((UNREPORTED, p.index))
            _skip(f"{self.skip_reason} (expected skip, {suite.expectations.source})")
        from lockstep.adapters.checked import RunnerOutcome

        try:
            r = suite.result(p)
        except RunnerOutcome as stopped:  # pytest-timeout's Failed out of the adapter's code: pytest's, as raised
            raise stopped.outcome from None
        self.payload.append((RESULT, {"index": p.index, "result": r.to_json()}))
        if r.outcome == "pass":
            return
        if r.outcome == "unsupported":
            _skip(f"{suite.segment} does not support {r.construct}: {r.message or r.support}")
        raise CheckFailed(suite.describe(r))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path | str, int | None, str]:
        """The adapter class's source is the item's location: what skips and xunit point at."""
        return (*self.suite.source, self.nodeid)


# ------------------------------------------------------------------------------------------------ helpers
def _skip(reason: str) -> NoReturn:
    """Skip, reported at the item's location (the adapter's class) rather than at this line of the plugin."""
    try:
        exc = pytest.skip.Exception(reason, _use_item_location=True)  # what pytest's own skip marks raise
    except TypeError:  # a pytest without that (private) argument: the plugin's line is shown instead
        pytest.skip(reason)
    raise exc


def _source(adapter: Adapter, fallback: Path) -> tuple[Path | str, int]:
    """(file, 0-based line) of the adapter's class, for reports that want a location."""
    import inspect

    try:
        cls = type(adapter)
        return _shown(Path(inspect.getsourcefile(cls) or "")), inspect.getsourcelines(cls)[1] - 1
    except (OSError, TypeError):
        return fallback, 0


def _split(text: str | None) -> tuple[str, ...]:
    """A comma-separated option's values, each once (`--lockstep-dtype=float32,float32` planned every check twice,
    under one test id, and counted both in the reports; certify asks a value named twice once)."""
    return tuple(dict.fromkeys(t.strip() for t in (text or "").split(",") if t.strip()))


def _selects(selection: str, nodeid: str) -> bool:
    return nodeid == selection or nodeid.startswith(selection + "::") or nodeid.startswith(selection + "[")


def _from_invocation(config: pytest.Config, path: str) -> Path:
    """Paths given on the command line are relative to where pytest was invoked (not the rootdir)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    try:
        return Path(os.path.relpath(config.invocation_params.dir / p))
    except ValueError:  # another drive
        return config.invocation_params.dir / p


def _failures_home(config: pytest.Config, name: str) -> Path:
    """Without --lockstep-report, failing cases are kept in pytest's cache folder (or the temporary folder)."""
    import re

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    cache = getattr(config, "cache", None)
    if cache is not None:
        return _shown(cache.mkdir(f"lockstep-{slug}"))
    import hashlib
    import tempfile

    # one folder per user and project, as the cache's is: a new session (and every xdist worker of it) uses the one
    # the session before used and replaces its failures, where a folder per process was left behind by every run
    uid = os.getuid() if hasattr(os, "getuid") else None
    key = hashlib.sha256(f"{uid}:{config.rootpath}".encode()).hexdigest()[:12]
    home = Path(tempfile.gettempdir()) / f"lockstep-{slug}-{key}"
    try:
        theirs = uid is not None and home.lstat().st_uid != uid
    except OSError:  # not there yet
        theirs = False
    return Path(tempfile.gettempdir()) / f"lockstep-{slug}-{os.getpid()}" if theirs else home


def _shown(path: Path) -> Path:
    """A path relative to the working folder when it lies inside it: shorter, and copy-pasteable."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _still_in(folder: Path) -> bool:
    """Whether the working folder is still `folder` (an adapter may have changed it, or removed it)."""
    try:
        return Path.cwd().samefile(folder)
    except OSError:
        return False


def _check_report_folder(folder: Path) -> None:
    """--lockstep-report is refused before any work by certify's own rules (runfolder.check_report_folder), with its
    words: a folder that holds another command's outputs, a report.json that is not a certificate, certify's outputs
    without a certificate beside them (the user's own failures/, which the reports would replace), or a report that
    is itself a folder or a link; and one that cannot be made or written (under a regular file, no permission). It
    is made to be proven writable, and removed again if this made it."""
    from lockstep.errors import command_line
    from lockstep.runfolder import FolderError, check_report_folder, missing_folders, remove_empty, writable_folder

    made = missing_folders(folder)
    try:
        with command_line():  # pytest's own option, said as typed: --lockstep-report
            check_report_folder(folder, prog="pytest", flag="--lockstep-report")
            writable_folder(folder, "--lockstep-report", "pytest")
    except FolderError as exc:
        raise pytest.UsageError(str(exc).removeprefix("pytest: ")) from None
    finally:
        remove_empty(made)


def _check_junitxml(config: pytest.Config, folder: Path) -> None:
    """pytest's `--junitxml` file must not be one of the report folder's reports: pytest said "generated xml file"
    of a file Lockstep's reports then replaced (or the reverse). A usage error naming both options, before any
    work. The paths are compared as pytest's junitxml makes its own (user and variables expanded, absolute from the
    working folder) and resolved, so that a link to the folder is the folder."""
    from lockstep.conformance.report import REPORT_FILES

    given = getattr(config.option, "xmlpath", None)
    if not given:
        return
    theirs = os.path.realpath(os.path.abspath(os.path.expanduser(os.path.expandvars(given))))
    for name in REPORT_FILES.values():
        if os.path.realpath(os.path.abspath(folder / name)) == theirs:
            raise pytest.UsageError(f"--junitxml={given} is {name} of --lockstep-report={folder}, where Lockstep "
                                    f"writes its own reports: the two would overwrite each other; give --junitxml "
                                    f"another file, or --lockstep-report another folder")


def _claim_report_folder(folder: Path, inputs: list[Path]) -> Any:
    """Lock the report folder for the session, as certify, run and compare lock theirs (runfolder.claim): a second
    session, or a `lockstep certify --report` into it, is refused naming this one. A usage error naming the holder
    when another process has it. Claiming also removes the stages that a killed session left behind."""
    from lockstep.errors import command_line
    from lockstep.runfolder import CERTIFY_OUTPUTS, FolderError, claim

    try:
        with command_line():
            return claim(folder, outputs=CERTIFY_OUTPUTS, inputs=inputs, mode="resume", prog="pytest")
    except FolderError as exc:
        raise pytest.UsageError(f"--lockstep-report {str(exc).removeprefix('pytest: ')}") from None


def _clear_failures(folder: Path) -> None:
    import shutil

    if (folder / "failures").is_dir():
        shutil.rmtree(folder / "failures", ignore_errors=True)
