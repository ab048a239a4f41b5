"""`lockstep certify --jobs N` and the pytest plugin under pytest-xdist: the checks run in worker processes and
the certificate is the one a single process gives (the same cases, verdicts and order; timings aside)."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest
from tests_support import spawned_children, survivors_of_a_killed_parent

from lockstep import api
from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession
from lockstep.cli import main
from lockstep.conformance import parallel
from lockstep.conformance.suite import example_recipes
from lockstep.errors import LockstepError

CONSTRUCTS = "dense,relu,adam,step,mse,random_model,digits-mlp"
SETTINGS: dict[str, Any] = {"dtypes": "float32,float64", "examples": 3, "constructs": CONSTRUCTS,
                            "recipe_steps": 3, "report": False}


def _checks(cert: Any) -> list[dict[str, Any]]:
    """A certificate's checks as JSON, timings aside."""
    return [{k: v for k, v in c.to_json().items() if k != "seconds"} for c in cert.checks]


def _certify(adapter: Any, jobs: int | None, **kw: Any) -> tuple[Any, list[tuple[int, int, str]]]:
    seen: list[tuple[int, int, str]] = []
    settings = {**SETTINGS, **kw}
    if not set(settings["constructs"].split(",")) & {p.parent.name for p in example_recipes()}:
        del settings["recipe_steps"]  # it caps the example recipes: refused where none is planned
    cert = api.certify(adapter, **settings, jobs=jobs, log=lambda _m: None,
                       progress=lambda done, total, r: seen.append((done, total, r.name)))
    return cert, seen


def test_jobs_give_the_serial_certificate() -> None:
    serial, serial_progress = _certify("reference", 1)
    parallel_cert, parallel_progress = _certify("reference", 2)
    assert _checks(parallel_cert) == _checks(serial)
    assert parallel_progress == serial_progress, "the progress counts the checks in plan order"
    assert [d for d, _, _ in parallel_progress] == list(range(1, len(serial.checks) + 1))
    assert parallel_cert.environment["jobs"] == "2" and "jobs" not in serial.environment
    assert serial.certified and parallel_cert.certified


def test_jobs_with_a_failing_adapter_give_the_same_failures(tmp_path: Path) -> None:
    """Failures too: the same shrunk cases, messages and figures, and each failure folder written by its worker."""
    from lockstep.conformance.mutants import MUTANTS

    adapter = MUTANTS["adam_epsilon_placement"].adapter  # module:attribute, resolved in each worker
    serial, _ = _certify(adapter, 1, constructs="adam,adamw,sgd", report=tmp_path / "one")
    two, _ = _certify(adapter, 2, constructs="adam,adamw,sgd", report=tmp_path / "two")
    in_two = json.dumps(_checks(two)).replace(str(tmp_path / "two"), "REPORT")
    assert in_two == json.dumps(_checks(serial)).replace(str(tmp_path / "one"), "REPORT")
    failed = [c for c in two.checks if c.outcome == "fail"]
    assert failed, "the mutant must be caught"
    for c in failed:
        one_case = json.loads((tmp_path / "one" / c.failure_dir / "case.json").read_text(encoding="utf-8"))["case"]
        two_case = json.loads((tmp_path / "two" / c.failure_dir / "case.json").read_text(encoding="utf-8"))["case"]
        assert one_case == two_case, c.name


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_jobs_on_a_framework_give_the_serial_certificate(framework: str) -> None:
    """Float figures too, to the bit: which example and quantity is worst at a round-off error (2.2e-16 in
    float64) depends on the cases drawn, and a worker that ran other checks first drew other cases while
    hypothesis mixed the literals of the modules imported so far into its draws (`suite.seeded_draws`). An
    adapter that reuses what it built for one case in the next (a cache of models or traced functions) must
    give the same figures whichever cases its process ran before."""
    pytest.importorskip(framework)
    from lockstep import cli  # noqa: F401 - one more local module in this process than in the workers

    serial, _ = _certify(framework, 1)
    two, _ = _certify(framework, 2)  # the default threads: one per check either way, the same float32 reductions
    diff = [(a["construct"], a["level"], a["dtype"], a["worst"], b["worst"])
            for a, b in zip(_checks(serial), _checks(two), strict=True) if a != b]
    assert not diff, f"serial against --jobs 2: {diff}"
    assert _checks(two) == _checks(serial)


_DRAWS = """
import json, sys
from contextlib import nullcontext
from hypothesis import HealthCheck, Phase, given, seed, settings, strategies as st
from lockstep.adapters.reference import ReferenceAdapter
from lockstep.conformance import suite

seen = []
real = suite.run_pair

def recording(target, case, levels, workdir):
    seen.append(case.to_json())
    return real(target, case, levels, workdir)

suite.run_pair = recording

def cases():
    seen.clear()
    suite.certify(ReferenceAdapter(), "reference", suite.Options(
        dtypes=("float64",), examples=10, constructs=("dense", "conv2d", "adam", "sgd", "mse", "cosine")))
    return list(seen)

def integers(seeded):
    out = []
    @seed(7)
    @settings(max_examples=20, database=None, derandomize=False, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.integers(0, 10**6), min_size=20, max_size=20))
    def draw(xs):
        out.append(xs)
    with suite.seeded_draws() if seeded else nullcontext():
        draw()
    return out

before = {"cases": cases(), "seeded": integers(True), "unseeded": integers(False)}
sys.path.insert(0, sys.argv[1])
import lockstep_literals_probe  # a local module full of literals, as a check, the CLI or a test may import
after = {"cases": cases(), "seeded": integers(True), "unseeded": integers(False)}
print(json.dumps({"before": before, "after": after}))
"""


def test_a_checks_cases_do_not_depend_on_the_modules_imported(tmp_path: Path) -> None:
    """The state a `--jobs` worker carried from one check to the next: hypothesis's pool of literals from the
    local modules imported so far, which it mixes into its draws (`suite.seeded_draws`). In a fresh process, as
    that pool only grows; a module of literals imported between two identical certifications."""
    import subprocess
    import sys

    from hypothesis.internal.conjecture import providers

    # hypothesis keeps a module's literals when it has at most 1,024 of them, integers outside ±100 (it favours
    # smaller ones anyway), finite nonzero floats, short strings: seeds, sizes, scales and rates a strategy draws
    literals = ", ".join([*(str(i) for i in range(100, 700)), *(repr(10.0 ** (k / 50 - 4)) for k in range(300)),
                          "'tanh'", "'mean'", "'adam'"])
    (tmp_path / "lockstep_literals_probe.py").write_text(f"LITERALS = ({literals})\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", _DRAWS, str(tmp_path)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    drawn = json.loads(run.stdout.strip().splitlines()[-1])
    before, after = drawn["before"], drawn["after"]
    if hasattr(providers, "_get_local_constants"):  # the probe works: unprotected draws see its literals
        assert before["unseeded"] != after["unseeded"], "the probe module changed no draw outside seeded_draws"
    assert before["seeded"] == after["seeded"], (before["seeded"], after["seeded"])
    assert len(before["cases"]) == 60, before["cases"]
    changed = [(x, y) for x, y in zip(before["cases"], after["cases"], strict=True) if x != y]
    assert not changed, f"{len(changed)} of 60 cases changed after a module was imported, e.g. {changed[0]}"


class _PicklableAdapter(ReferenceAdapter):
    """An adapter object (not a name): pickled for the workers."""

    name = "picklable"


def test_an_adapter_object_is_pickled_for_the_workers() -> None:
    one, _ = _certify(_PicklableAdapter(), 1, constructs="dense,sgd")
    two, _ = _certify(_PicklableAdapter(), 2, constructs="dense,sgd")
    assert _checks(two) == _checks(one) and one.adapter == "picklable"


def test_an_adapter_no_worker_can_rebuild_is_a_usage_error() -> None:
    class Local(ReferenceAdapter):  # defined in a function: pickle cannot find it by name
        name = "local"

    with pytest.raises(LockstepError) as info:
        api.certify(Local(), constructs="dense", jobs=2, report=False, log=lambda _m: None)
    assert info.value.exit_code == 2
    assert "--jobs and --timeout need an adapter a worker process can rebuild" in str(info.value)
    assert api.certify(Local(), constructs="dense", dtypes="float64", examples=2, jobs=1, report=False,
                       log=lambda _m: None).certified  # in one process it needs no pickling


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_jobs_are_usage_errors(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--adapter", "reference", "--jobs", value, "--report", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--jobs" in err and "Traceback" not in err, err


def test_threads_are_shared_among_the_workers() -> None:
    assert parallel.threads_per_worker(2, 2) == 1
    assert parallel.threads_per_worker(16, 4) == 4
    assert parallel.threads_per_worker(3, 4) == 1  # never 0
    cert, _ = _certify("reference", 2, constructs="dense", threads=8)
    assert json.loads(cert.environment["threads"])["reference"]["requested"] == 4


def test_a_check_has_the_same_threads_whatever_the_jobs() -> None:
    """Threads change float32 reductions: by default every check runs with CHECK_THREADS, in one process or in
    workers, on any machine; a --threads given is the total the workers share."""
    assert parallel.check_threads(None, 1) == parallel.check_threads(None, 2) == parallel.check_threads(None, 64) == 1
    assert parallel.check_threads(8, 1) == 8 and parallel.check_threads(8, 2) == 4
    requested = [json.loads(_certify("reference", jobs, constructs="dense")[0].environment["threads"])
                 ["reference"]["requested"] for jobs in (1, 2)]
    assert requested == [parallel.CHECK_THREADS] * 2, requested


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record, in order, each process pool created and each time `certify` resolves the adapter in this process."""
    import concurrent.futures

    events: list[Any] = []
    pool = concurrent.futures.ProcessPoolExecutor

    class Recorded(pool):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            events.append(self)

    resolve = api._adapter
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Recorded)
    monkeypatch.setattr(api, "_adapter", lambda a: (events.append("adapter"), resolve(a))[1])
    return events


def test_workers_start_before_the_adapter_is_imported_and_run_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """By name, the workers start first (their imports of the framework overlap this process's), and the run uses
    those very processes: no second pool."""
    events = _recording(monkeypatch)
    cert, _ = _certify("reference", 2, constructs="dense,relu")
    assert len(events) == 2 and events[1] == "adapter" and events[0] != "adapter", events
    assert cert.certified and cert.environment["jobs"] == "2"
    _, serial = _recording(monkeypatch), _certify("reference", 1, constructs="dense,relu")[0]
    assert _checks(cert) == _checks(serial)


def test_workers_started_ahead_that_died_are_replaced() -> None:
    """A worker started ahead that dies before it is given an item (killed while importing the framework) breaks
    its pool: the run starts a fresh one, blames no item, and gives the serial certificate."""
    import signal

    from lockstep.conformance import suite

    options = suite.Options(dtypes=("float64",), examples=2, constructs=("dense", "relu"), levels=(1,))
    ahead = parallel.Workers("reference", "reference", 1, 2, 2)
    try:
        deadline = time.monotonic() + 30
        while len(ahead.executor._processes or {}) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in list(ahead.executor._processes or {}):
            os.kill(pid, signal.SIGKILL)
        while not ahead.executor._broken and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ahead.executor._broken, "the pool did not notice its workers died"
        cert = suite.certify(ReferenceAdapter(), "reference", options, jobs=2, source="reference", workers=ahead)
    finally:
        ahead.close()
    serial = suite.certify(ReferenceAdapter(), "reference", options)
    assert _checks(cert) == _checks(serial) and all(c.outcome == "pass" for c in cert.checks), _checks(cert)


@pytest.mark.parametrize("kw", [{}, {"constructs": ("dense", "digits-mlp")}, {"levels": (4,)}, {"dtypes": ("float64",)},
                                {"devices": ("cpu", "cuda:0")}])
def test_plan_size_is_known_before_the_adapter(kw: dict[str, Any]) -> None:
    """How many workers to start ahead: the plan's size without the adapter (its devices only multiply it)."""
    from lockstep.conformance.suite import Options, plan, plan_size

    options = Options(**kw)
    devices = len(kw.get("devices", ("cpu",)))
    assert plan_size(options) == len(list(plan(ReferenceAdapter(), Options(**{**kw, "devices": ("cpu",)})))) * devices


def test_workers_started_ahead_stop_when_certify_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error found after the workers started (a device the adapter does not offer) leaves no process behind; a
    plan of one item runs in this process and starts none."""
    before = set(multiprocessing.active_children())  # other tests' long-lived processes (replicas) stay
    events = _recording(monkeypatch)
    with pytest.raises(LockstepError, match="offers cpu"):
        _certify("reference", 2, devices="cuda:7")
    cert, _ = _certify("reference", 2, constructs="dense", levels="1", dtypes="float64")
    assert cert.certified and len(cert.checks) == 1
    assert len([e for e in events if e != "adapter"]) == 1, events  # the first only
    deadline = time.monotonic() + 20
    while set(multiprocessing.active_children()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not set(multiprocessing.active_children()) - before


# ------------------------------------------------------------------------------------------ dying workers
class _DyingSession(ReferenceSession):
    def forward(self, x: Any, *, training: bool = False, masks: Any = None) -> Any:
        if multiprocessing.parent_process() is not None:  # only ever in a worker: never the test's own process
            os._exit(3)
        return super().forward(x, training=training, masks=masks)


class DyingOnReluAdapter(ReferenceAdapter):
    """A worker that builds a relu case dies at once (a crash in native code, say)."""

    name = "dying"

    def build(self, model: Any, *, dtype: str, device: str = "cpu", recipe: Any = None) -> Any:
        if any(getattr(layer, "type", None) == "relu" for layer in model.layers or ()):
            return _DyingSession(model, recipe)
        return super().build(model, dtype=dtype, device=device, recipe=recipe)


def test_a_dying_worker_costs_only_its_check() -> None:
    cert, progress = _certify(DyingOnReluAdapter(), 2, constructs="dense,relu,sgd,adam,tanh,mse", dtypes="float64")
    by = {c.name: c for c in cert.checks}
    assert [n for _, _, n in progress] == [c.name for c in cert.checks]
    for level in ("predictions", "gradients"):
        r = by[f"relu.{level}.float64.cpu"]
        assert r.outcome == "error" and "worker process running this check died" in r.message, r
        assert r.message.endswith("run it alone with --jobs 1 to see"), r.message
    assert all(c.outcome == "pass" for c in cert.checks if c.construct != "relu"), _checks(cert)


def test_a_dying_worker_under_a_timeout_alone_is_told_to_run_without_it() -> None:
    """With --timeout and --jobs 1 the checks run in one worker already: `--jobs 1` was no advice."""
    cert = api.certify(DyingOnReluAdapter(), constructs="relu", dtypes="float64", examples=2, jobs=1, timeout=60,
                       report=False, log=lambda _m: None)
    assert {c.outcome for c in cert.checks} == {"error"}
    assert all(c.message.endswith("run it alone without --timeout (in this process) to see") for c in cert.checks), \
        [c.message for c in cert.checks]


# ------------------------------------------------------------------------------------------ pytest-xdist
pytest_plugins = ["pytester"]


def test_the_pytest_plugin_under_xdist_gives_the_same_outcomes(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    common = ["-p", "no:cacheprovider", "--lockstep-adapter=reference", "--lockstep-dtype=float64",
              "--lockstep-examples=2", "--lockstep-construct=dense,conv2d,adam,mse,digits-mlp",
              "--lockstep-recipe-steps=2", "-q"]
    one = pytester.runpytest_subprocess(*common, "--lockstep-report=one")
    two = pytester.runpytest_subprocess(*common, "-n", "2", "--lockstep-report=two")
    one.assert_outcomes(passed=7)
    two.assert_outcomes(passed=7)
    assert "7 checks: 7 pass, 0 fail, 0 error, 0 unsupported" in two.stdout.str(), two.stdout.str()
    reports = [json.loads((pytester.path / d / "report.json").read_text(encoding="utf-8")) for d in ("one", "two")]
    assert [{k: v for k, v in c.items() if k != "seconds"} for c in reports[0]["checks"]] == \
        [{k: v for k, v in c.items() if k != "seconds"} for c in reports[1]["checks"]]


CRASHING = """
import os

from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession


class CrashingSession(ReferenceSession):
    def forward(self, x, **kwargs):
        os._exit(7)  # the adapter ends its process, as a segfaulting native library would

    def loss_and_gradients(self, x, y, **kwargs):
        os._exit(7)


class CrashingAdapter(ReferenceAdapter):
    name = "crashing"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        return CrashingSession(model, recipe)
"""


def test_checks_whose_xdist_worker_crashed_are_errors_in_the_reports(pytester: pytest.Pytester) -> None:
    """pytest said "2 failed" (worker 'gw0' crashed while running ...), while report.md and junit.xml said
    "0 checks: 0 pass, 0 fail, 0 error": no result came back from the crashed workers."""
    pytest.importorskip("xdist")
    pytester.makepyfile(lockstep_crashing_adapter=CRASHING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-q",
                                           "--lockstep-adapter=lockstep_crashing_adapter:CrashingAdapter",
                                           "--lockstep-dtype=float64", "--lockstep-examples=2",
                                           "--lockstep-construct=tanh", "--lockstep-report=rep")
    assert result.ret == 1, result.stdout.str()
    report = json.loads((pytester.path / "rep" / "report.json").read_text(encoding="utf-8"))
    outcomes = {(c["construct"], c["level_name"]): c["outcome"] for c in report["checks"]}
    assert outcomes and set(outcomes.values()) == {"error"}, outcomes
    assert all("crashed" in c["message"] for c in report["checks"]), [c["message"] for c in report["checks"]]
    assert "0 error" not in (pytester.path / "rep" / "report.md").read_text(encoding="utf-8")
    assert f"{len(outcomes)} checks: 0 pass, 0 fail, {len(outcomes)} error" in result.stdout.str(), \
        result.stdout.str()
    # what support() declared is kept, as certify --jobs keeps it (the plugin's were null: its provenance counts
    # differed from the command's for the same adapter and options)
    assert all(c["provenance"] == "written" and c["support"].startswith("written") for c in report["checks"]), \
        [(c["provenance"], c["support"]) for c in report["checks"]]
    assert report["provenance_counts"]["written"] == len(outcomes), report["provenance_counts"]


XDIST_TORCH_CONSTRUCTS = "dense,relu,mse,adam,random_model"


@pytest.fixture
def torch_certificate() -> list[dict[str, Any]]:
    """The in-process torch certification the plugin's is compared with, made before `pytester` snapshots
    sys.modules: made inside the test, the modules it first imported (torch, the loader, the suite) were taken out
    of sys.modules at teardown, and the next test of the same xdist worker to import them failed (torch:
    `SystemError: ... bad call flags`) or hung (the YAML loader compared events against re-imported classes)."""
    pytest.importorskip("torch")
    return _checks(_certify("torch", 1, constructs=XDIST_TORCH_CONSTRUCTS)[0])


@pytest.mark.slow
def test_the_pytest_plugin_under_xdist_on_torch_gives_certify_s_figures(torch_certificate: list[dict[str, Any]],
                                                                        pytester: pytest.Pytester,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two xdist workers, each a process with pytest's modules and the plugin loaded, give the figures of a
    certification in this process, to the bit (the default threads, one per check everywhere: the same float32
    reductions)."""
    pytest.importorskip("xdist")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the plugin's threads do not follow it
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lockstep-adapter=torch", "--lockstep-examples=3",
                                        f"--lockstep-construct={XDIST_TORCH_CONSTRUCTS}", "-n", "2",
                                        "--lockstep-report=two", "-q")
    run.assert_outcomes(passed=16)
    plugin = json.loads((pytester.path / "two" / "report.json").read_text(encoding="utf-8"))["checks"]
    assert [{k: v for k, v in c.items() if k != "seconds"} for c in plugin] == torch_certificate


# ------------------------------------------------------------------------------------------ a killed parent
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_workers_end_with_a_killed_certify(tmp_path: Path) -> None:
    """SIGKILL (or SIGTERM: no clean-up runs either way) on `lockstep certify --jobs 2` takes its workers with it:
    before, idle workers waited for work forever."""
    import sys

    argv = [sys.executable, "-m", "lockstep", "certify", "--adapter", "reference", "--jobs", "2", "--quiet",
            "--report", str(tmp_path / "report")]
    # past their start-up (settle): the watch runs from the initializer on
    assert not survivors_of_a_killed_parent(argv, spawned_children, 2, tmp_path), "workers outlived their killed parent"


ORDERED = '''
import os
from lockstep.adapters.reference import ReferenceAdapter

class Ordered(ReferenceAdapter):
    """Writes the name of each recipe it builds a session for, in the order it does."""
    name = "ordered"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        if recipe is not None:
            with open(os.environ["LOCKSTEP_TEST_ORDER"], "a", encoding="utf-8") as f:
                f.write(recipe.metadata.name + "\\n")
        return super().build(model, dtype=dtype, device=device, recipe=recipe)
'''


def test_the_largest_example_recipe_is_taken_up_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tiny-gpt, last by name and the longest recipe by far, ran alone at the end of a --jobs run; workers now take
    up the largest recipe of each run of recipes first (suite.dispatch_order), and the results, the progress and
    the report keep plan order. One worker (--timeout) shows the order the items are taken up in."""
    from lockstep.conformance import suite

    (tmp_path / "ordered_pkg.py").write_text(ORDERED)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LOCKSTEP_TEST_ORDER", str(tmp_path / "order.txt"))
    settings = dict(constructs="inline-model,tiny-gpt,relu", dtypes="float64", examples=1, recipe_steps=1)
    cert, progress = _certify("ordered_pkg:Ordered", 1, timeout=120, **settings)
    built = (tmp_path / "order.txt").read_text().split()
    taken = [n for n in dict.fromkeys(built) if not n.startswith("conformance-")]  # the generated cases' own names
    assert taken == ["tiny-gpt", "inline-model"] and built[0].startswith("conformance-relu"), built
    serial, serial_progress = _certify("ordered_pkg:Ordered", 1, **settings)
    assert _checks(cert) == _checks(serial) and progress == serial_progress
    assert [c.construct for c in cert.checks] == ["relu", "relu", "inline-model", "tiny-gpt"]
    items = list(suite.plan(ReferenceAdapter(), suite.Options()))
    order = suite.dispatch_order(items)
    assert sorted(order) == list(range(len(items)))
    recipes = [i for i in order if isinstance(items[i][0], Path)]
    assert [items[i][0].parent.name for i in recipes[:2]] == ["tiny-gpt", "csv-binary"]  # then plan order
    assert [i for i in order if not isinstance(items[i][0], Path)] == [
        i for i in range(len(items)) if not isinstance(items[i][0], Path)]


def test_one_planned_check_says_it_ran_in_this_process() -> None:
    """One planned check runs in the process itself: the banner said "2 worker processes" and report.json's
    environment `jobs: 2`, which was not what ran."""
    said: list[str] = []
    cert = api.certify("reference", constructs=["dense"], levels=[1], dtypes=["float64"], examples=1, jobs=2,
                       report=False, log=said.append)
    assert len(cert.checks) == 1 and "jobs" not in cert.environment, cert.environment
    assert not any("worker process" in s for s in said), said
