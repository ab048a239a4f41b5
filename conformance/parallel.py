"""`lockstep certify --jobs N`: the planned checks run in N worker processes, reported as a serial run would be.

Each worker is a fresh interpreter (the `spawn` start method: a framework's threads do not survive `fork`) that
imports nothing heavy until it has set its thread counts: its environment first (OMP_NUM_THREADS and the BLAS
pools), then the adapter (resolved by name, or unpickled), then `runner.configure_threads` with the threads every
check runs with (`check_threads`: one, as in a serial run, unless `--threads` gives a total to share), so N
workers × threads do not oversubscribe the machine and the float32 reductions are a serial run's. It plans the
certification itself (`suite.plan` is deterministic) and runs the items it is handed by index; each check's cases
come from its own hypothesis seed (`suite.check_seed`) and from nothing else a process carries (`suite.seeded_draws`),
so a check draws the same cases in any worker, in any order. The parent hands the results on in plan order, so the
progress counts checks in order and the certificate lists them as a serial run does.

`lockstep certify` starts its workers (`Workers`) before it imports the adapter itself when the adapter is given by
name: each worker's import of the framework (seconds for TensorFlow) then overlaps the parent's own and its
planning, instead of following them.

A worker that dies (a crash in native code, a kill) takes only what it was running: the pool is restarted and the
unfinished items run again; an item that was running when two workers died is reported as an `error` of its
levels instead of being tried a third time. With a timeout (`--timeout`), an item still running past it has its
worker killed and is reported as timed out, not run again, and workers that take up no item for `load_limit`
seconds are stuck starting: an error, not a hang. Ctrl-C stops the workers with the parent; a parent killed
outright takes them with it (each watches it: `_exit_with_parent`).

This module imports only the standard library at its top: a worker unpickles it before it sets its threads.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""Set in each worker's environment before anything that reads them loads (torch's OpenMP, NumPy's BLAS)."""

ATTEMPTS = 2  # an item running when this many workers died is reported as an error, not run again

LOAD_SECONDS = 120.0
"""With a timeout, what loading the adapter may take at least (the timeout if longer): in the parent (its import,
devices(), versions(), planning: lockstep.api) and in the workers (their start, until one takes up a check). A
framework's import takes seconds, more than a small check's timeout."""


LIMIT_CEILING = 1e9
"""The longest limit set (31 years): a larger --timeout (1e10, written for "no limit") would overflow the system's
timers and thread waits."""

_T = TypeVar("_T")

def load_limit(timeout: float | None) -> float | None:
    """Seconds loading the adapter may take with `timeout` (None: no limit)."""
    return None if timeout is None else min(max(timeout, LOAD_SECONDS), LIMIT_CEILING)


def bounded(timeout: float | None, work: Callable[[], _T], what: str) -> _T:
    """`work()`, or with a timeout, LockstepError once it has run `parallel.load_limit(timeout)` seconds (the
    timeout, 120 s at least: parallel.LOAD_SECONDS).

    In the main thread, `work` runs right there under a SIGALRM timer: adapter code keeps the thread it has
    without a timeout (an import may set signal handlers, which only the main thread can), and a hang that returns
    to Python, or a native one that checks for signals (a regular expression), is stopped, as are SIGTERM and Ctrl-C
    during it. Off the main thread (or where SIGALRM is someone else's), it runs in a thread of its own, left running
    in the background when it hangs. A hang in native code that never checks for signals is out of reach either
    way (SIGKILL ends it)."""
    if timeout is None:
        return work()
    import signal
    import threading

    from lockstep.adapters.checked import PassThrough
    from lockstep.errors import LockstepError

    limit = load_limit(timeout) or 0.0
    late = LockstepError(f"{what} still running after {limit:g} s (--timeout {timeout:g}; loading gets "
                         f"{LOAD_SECONDS:g} s at least)")
    alarm = getattr(signal, "SIGALRM", None)
    mine = (alarm is not None and threading.current_thread() is threading.main_thread()
            and signal.getsignal(alarm) in (signal.SIG_DFL, None) and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if mine:
        class TimedOut(PassThrough):
            """SIGALRM's: a BaseException that adapter code's `except Exception` does not swallow, and that
            `adapter_code` lets pass."""

        def ring(_signum: int, _frame: Any) -> None:
            raise TimedOut

        signal.signal(alarm, ring)
        try:
            signal.setitimer(signal.ITIMER_REAL, limit)
            return work()
        except TimedOut:
            raise late from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(alarm, signal.SIG_DFL)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # handed to the caller's thread, raised there
            box["error"] = exc

    thread = threading.Thread(target=target, name="lockstep-certify-load", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise late
    if "error" in box:
        raise box["error"]
    return box["result"]



class WorkerSetupError(RuntimeError):
    """A worker could not resolve the adapter or plan the certification (the message says why)."""


@dataclass(frozen=True)
class Setup:
    """What every worker needs, as plain picklable data (the suite's classes are rebuilt in the worker)."""

    adapter: str | bytes  # a name or `module:attribute` resolved in the worker, or the pickled adapter instance
    name: str  # the adapter's name in the certificate
    options: dict[str, Any]  # suite.Options as keyword arguments
    threads: int  # intra-op threads of each worker
    plan: tuple[str, ...]  # the parent's plan (item names), which each worker's must equal


def adapter_source(given: Any, instance: Any) -> str | bytes:
    """How a worker gets the adapter: the name it was given by, else the instance pickled. ValueError (one line)
    when neither works: an adapter object whose class cannot be imported by its module path."""
    if isinstance(given, str):
        return given
    try:
        return pickle.dumps(instance)
    except Exception as exc:
        raise ValueError(f"--jobs and --timeout need an adapter a worker process can rebuild: give it by name or "
                         f"module:attribute, or make {type(instance).__name__} picklable "
                         f"({type(exc).__name__}: {exc})") from None


def threads_per_worker(total: int, jobs: int) -> int:
    """Each worker's intra-op threads: its share of `total` (at least 1)."""
    return max(1, int(total) // max(1, int(jobs)))


CHECK_THREADS = 1
"""A check's intra-op threads unless `--threads` says otherwise, whatever `--jobs`. Threads change a framework's
float32 reductions (torch's oneDNN convolutions, batch-norm statistics: measured in docs/conformance.md), so a
default that followed the process layout (all CPUs in one process, a share in each worker) gave `--jobs 1` and
`--jobs 2` different figures, and a 2-core laptop and a 64-core CI machine different certificates. The cases are
small: one thread costs a serial run little, and the default `--jobs` (one worker per CPU) uses the machine."""


def check_threads(threads: int | None, jobs: int) -> int:
    """The intra-op threads every check runs with: `threads` given is the total that `jobs` workers share, its
    share each; none given is CHECK_THREADS, the same in one process and in any number of workers."""
    return CHECK_THREADS if threads is None else threads_per_worker(threads, jobs)


# ------------------------------------------------------------------------------------------------ the worker
_WORKER: dict[str, Any] = {}


def _exit_with_parent() -> None:
    """A worker whose parent is gone ends too. Killed (SIGKILL, or SIGTERM, which runs no clean-up), the parent
    stops no worker, and an idle worker would wait for work forever: it holds its task queue's write end itself,
    so no end of file ever comes (measured: workers of a killed `lockstep certify` still there 20 minutes later,
    600 MB each with TensorFlow). A thread waits on the parent's sentinel, which closes when the parent ends."""
    import multiprocessing
    import threading

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="lockstep-exit-with-parent", daemon=True).start()


def die_with_parent(parent_pid: int | None = None) -> None:
    """Linux: the kernel kills this worker when the parent's thread that started it ends (PR_SET_PDEATHSIG), even
    while the worker's main thread holds the GIL in native code, where `_exit_with_parent`'s watch cannot run. The
    thread that starts workers is the one that called certify, which outlives them. If the parent died before the
    request, no signal will come: the worker ends now. `parent_pid`: the process to die with (default: the
    multiprocessing parent, certify's; a pytest-xdist worker gives its controller's: a SIGTERM to the controller left
    workers hung in an adapter running for good)."""
    import ctypes
    import multiprocessing
    import sys

    if parent_pid is None:
        parent = multiprocessing.parent_process()
        if parent is None:
            return
        parent_pid = parent.pid
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)


def _own_group(tmp: str | None) -> None:
    """This worker leads a process group of its own, which the parent signals as a whole (`_signal`), and puts its
    temporary files in its pool's folder (`tmp`), as do the processes it starts."""
    if hasattr(os, "setpgrp"):
        try:
            os.setpgrp()
        except OSError:
            pass
        if hasattr(signal, "SIGTTOU"):  # a background group writing to the terminal is not stopped (`stty tostop`)
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    if tmp is not None:
        import tempfile

        os.environ["TMPDIR"] = tmp
        tempfile.tempdir = tmp


def _init(source: str | bytes, name: str, threads: int, started: Any, tmp: str | None = None) -> None:
    """Worker start: threads first, then the adapter (the framework's import, the slow part). An error is kept and
    raised by each task (a failing initializer would only break the pool without saying why)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    die_with_parent()
    _exit_with_parent()
    _own_group(tmp)
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    _WORKER["started"] = started
    try:
        from lockstep.conformance import suite  # noqa: F401  (imported here, not by the first task)
        from lockstep.runner import configure_threads

        if isinstance(source, bytes):
            adapter = pickle.loads(source)
        else:
            from lockstep.adapters.registry import get

            adapter = get(source)
        configure_threads(adapter, name, threads)
        _WORKER.update(adapter=adapter, name=name)
    except BaseException as exc:
        _WORKER["error"] = f"{type(exc).__name__}: {exc}"


def _ready() -> None:
    """A task that only makes the pool start a process (workers started ahead of the plan: `Workers`)."""


def _prepare(setup: Setup) -> None:
    """The certification's options and plan, once per worker: its plan must be the parent's."""
    from lockstep.conformance import suite

    options = suite.Options(**setup.options)
    items = list(suite.plan(_WORKER["adapter"], options))
    if tuple(item_name(item) for item in items) != setup.plan:
        raise WorkerSetupError("the worker planned other checks than the parent (an adapter whose devices or "
                               "support differ between processes?)")
    _WORKER.update(setup=setup, options=options, items=items)


def _run(index: int, setup: Setup) -> list[Any]:
    """One planned item in the worker: the CheckResults `suite.certify` would append for it."""
    if "error" in _WORKER:
        raise WorkerSetupError(f"a worker process could not start: {_WORKER['error']}")
    if _WORKER.get("setup") != setup:
        try:
            _prepare(setup)
        except WorkerSetupError:
            raise
        except Exception as exc:
            raise WorkerSetupError(f"a worker process could not plan the checks: {type(exc).__name__}: {exc}") from None
    from lockstep.adapters import checked
    from lockstep.conformance import suite

    _WORKER["started"].put((index, os.getpid()))
    item, dtype, device = _WORKER["items"][index]
    target = suite.Target(_WORKER["adapter"], _WORKER["name"], dtype, device)
    try:
        with checked.adapter_code("code"):  # a SystemExit sent back would end the parent: it comes back as an exception
            said = suite.declared(target, item)  # kept by the parent should this worker not finish the item
            if said:
                _WORKER["started"].put((index, os.getpid(), said))
            return suite.run_item(target, item, _WORKER["options"])
    except KeyboardInterrupt as exc:  # workers ignore SIGINT: this one is the adapter's own, not the user's Ctrl-C
        raise checked.AdapterRaised(exc, "code") from None


def item_name(item: tuple[Any, str, str]) -> str:
    """A planned item as text: what the parent and each worker compare their plans by."""
    what, dtype, device = item
    levels = getattr(what, "levels", None)
    label = getattr(what, "construct", None) or str(getattr(what, "path", what))
    return f"{label}{list(levels) if levels is not None else ''}.{dtype}.{device}"


# ------------------------------------------------------------------------------------------------ the parent
def _start_resource_tracker() -> None:
    """multiprocessing's resource tracker ignores SIGINT and SIGTERM but not SIGHUP: a closed terminal, or
    `timeout -s HUP`, which signals the whole process group, killed it, and it printed seven tracebacks while the
    command ended (exit 129). Started here with SIGHUP ignored, a disposition a child inherits, it outlives a
    hang-up as it does a Ctrl-C (the command itself ends on SIGHUP as on SIGTERM: lockstep/cli.py)."""
    import threading
    from multiprocessing import resource_tracker

    hup = getattr(signal, "SIGHUP", None)
    if hup is None or threading.current_thread() is not threading.main_thread():
        return  # (a signal's disposition can be set from the main thread only)
    previous = signal.signal(hup, signal.SIG_IGN)
    try:
        resource_tracker.ensure_running()
    finally:
        signal.signal(hup, previous)


class Workers:
    """A pool of up to `jobs` workers with `start` of them started now, each importing the adapter (`source`) with
    `threads` threads, for a `run` that comes later: the parent imports the adapter and plans meanwhile (the run
    starts more, up to `jobs`, if its plan has more items than `start`). `run` makes its own pools the same way,
    with `start` 0 (its tasks start the processes). `close()` in any case (a run that used them has shut them
    down already; otherwise they are stopped)."""

    def __init__(self, source: str | bytes, name: str, threads: int, jobs: int, start: int) -> None:
        import multiprocessing
        import tempfile
        from concurrent.futures import ProcessPoolExecutor

        self.source, self.name, self.threads = source, name, threads
        context = multiprocessing.get_context("spawn")
        _start_resource_tracker()
        self.started = context.SimpleQueue()  # no feeder thread: what a worker put is there when it dies
        try:  # the workers' temporary files, removed with them
            self.tmp: str | None = tempfile.mkdtemp(prefix="lockstep-certify-")
        except OSError:  # no usable temporary folder: the workers use the default one (and fail as a serial run would)
            self.tmp = None
        self.executor = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init,
                                            initargs=(source, name, threads, self.started, self.tmp))
        try:
            with _without_main(source):
                for _ in range(min(start, jobs)):  # the pool starts a process per task submitted while none is idle
                    self.executor.submit(_ready)
        except BaseException:
            self.close()
            raise

    def serves(self, setup: Setup) -> bool:
        return (self.source, self.name, self.threads) == (setup.adapter, setup.name, setup.threads)

    def close(self) -> None:
        _stop(self.executor)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.started.close()
        self.remove_files()

    def remove_files(self) -> None:
        """Remove the workers' temporary folder (what a killed check left in it too)."""
        import shutil

        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def timed_out_message(timeout: float) -> str:
    """What a check stopped by `--timeout` reports (its error message)."""
    return (f"timed out: still running after {timeout:g} s (--timeout); its worker process was stopped and the "
            "check was not run again")


def run(setup: Setup, jobs: int, on_done: Callable[[int, list[Any]], None],
        error_results: Callable[..., list[Any]], workers: Workers | None = None,
        timeout: float | None = None, say: Callable[[str], None] | None = None,
        order: Sequence[int] | None = None) -> None:
    """Run every planned item in up to `jobs` workers; `on_done(index, results)` is called in plan order.
    `error_results(index, message, seconds, said)` makes an item's results when the workers running it kept dying or
    it ran out of time (`seconds`: how long it ran, as far as the parent knows; 0 when unknown; `said`: what its
    worker heard from support() before running it, `suite.declared`, or None). `workers`:
    processes started ahead for this setup (used first; a restart after a death starts new ones).

    `timeout`: seconds an item may run (from when its worker took it up; the worker's own start, the framework's
    import, is not counted). A worker past it is killed: the item is an error of its levels, not run again (a
    hang would hang again), and the items the pool's breakage interrupted in other workers run again, unblamed.
    With a timeout the workers' start is bounded too (`load_limit`): when no worker has taken up an item for that
    long and none is running one, they are stuck starting (an adapter only one process may load at a time, held by
    this one) and WorkerSetupError says so; without a timeout there is no limit, and `say` is told once, after
    LOAD_SECONDS, that the workers still have not started (the run would otherwise wait silently forever). A
    finished pool is shut down without waiting on a worker that never started (with a timeout or not): it is
    killed after SHUTDOWN_SECONDS. `order`: the items in the order the workers take them up (default: plan order),
    such that a long item is not taken up last, to run alone while the other workers idle."""
    import time
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    total = len(setup.plan)
    done: dict[int, list[Any]] = {}
    deaths: dict[int, int] = {}
    handed = 0
    ahead = workers if workers is not None and workers.serves(setup) else None

    def has_result(index: int) -> bool:
        """Whether the item has its results (handed on, or waiting for an earlier one): the started queue also
        lists items a worker finished long ago, and that worker may be running another one now."""
        return index < handed or index in done

    def hand_on() -> None:
        nonlocal handed
        while handed in done:
            on_done(handed, done.pop(handed))
            handed += 1

    running: dict[int, tuple[int, float]] = {}  # item -> (its worker's pid, when it was taken up)
    said: dict[int, dict[str, Any]] = {}  # item -> its support and provenance, as its worker heard them
    limit = load_limit(timeout)
    told = say is None  # without a limit: whether the user was told of workers that do not start
    # where a check runs in this process, its crash shows: one worker already, the timeout is what made it one
    alone = ("without --timeout (in this process)" if jobs == 1 else
             "with --jobs 1" + (" and no --timeout" if timeout is not None else ""))
    timed_out: set[int] = set()
    while handed + len(done) < total:
        pending = [i for i in (order if order is not None else range(total)) if i >= handed and i not in done]
        early = ahead is not None
        pool = ahead or Workers(setup.adapter, setup.name, setup.threads, min(jobs, len(pending)), start=0)
        executor, started, ahead = pool.executor, pool.started, None
        broken = False
        try:
            with _without_main(setup.adapter):
                try:
                    futures = {executor.submit(_run, i, setup): i for i in pending}  # the workers start here
                except BrokenProcessPool:
                    if not early:
                        raise
                    # a worker started ahead died before it was given an item (killed while importing): no item
                    # is to blame, so start afresh
                    executor.shutdown(wait=False, cancel_futures=True)
                    started.close()
                    pool.remove_files()
                    continue
            processes = dict(getattr(executor, "_processes", None) or {})  # pid -> Process, to see who died
            waiting = set(futures)
            moved = time.monotonic()  # when a worker last took up or finished an item (or the pool started)
            while waiting and not broken:
                # the started queue is read as the run goes, timeout or not: a pipe left unread fills (about 2,700
                # items) and blocks every worker writing to it
                if _overdue(started, running, has_result, timeout, timed_out, said):
                    moved = time.monotonic()
                idle = not running and time.monotonic() - moved
                if limit is not None and idle and idle > limit:
                    raise WorkerSetupError(f"no worker process took up a check in {limit:g} s: they are stuck "
                                           "starting (loading the adapter); an adapter that only one process may "
                                           "load at a time cannot run with --jobs or --timeout")
                if not told and idle and idle > LOAD_SECONDS and say is not None:
                    told = True
                    say(f"no worker process has taken up a check in {LOAD_SECONDS:g} s: still loading the adapter? "
                        "(an adapter that only one process may load at a time cannot run with --jobs: use "
                        "--jobs 1; --timeout stops the wait); waiting")
                finished, waiting = wait(waiting, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                if finished:
                    moved = time.monotonic()
                for future in sorted(finished, key=futures.__getitem__):
                    try:
                        done[futures[future]] = future.result()
                    except BrokenProcessPool:
                        broken = True
                    except WorkerSetupError:
                        raise
                    except Exception as exc:  # the item raised past the suite's own handlers: its error, not the run's
                        message = f"{type(exc).__name__}: {exc}"[:2000]
                        done[futures[future]] = error_results(futures[future], message, 0.0,
                                                              said.get(futures[future]))
                hand_on()
        except BaseException:
            _stop(executor)
            pool.remove_files()
            raise
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
        if not broken:
            _reap(list(processes.values()), SHUTDOWN_SECONDS)  # one still starting never reads its stop: killed
            pool.remove_files()
        else:
            _drain(started, running, said)
            running = {i: at for i, at in running.items() if not has_result(i)}
            stopped = time.monotonic()
            _reap(list(processes.values()), 5.0)  # the pool sent SIGTERM to the survivors
            pool.remove_files()
            if not running:
                raise WorkerSetupError(f"the worker processes died before running any check (run {alone} to see "
                                       "why)")
            for index in [i for i in running if i in timed_out]:  # stopped on purpose: reported, not run again
                ran = stopped - running.pop(index)[1]
                done[index] = error_results(index, timed_out_message(timeout or 0.0), ran, said.get(index))
            # the pool terminates the survivors (SIGTERM) when one dies: the others' items are bystanders
            died = {pid for pid, p in processes.items() if p.exitcode not in (None, 0, -signal.SIGTERM)}
            culprits = [i for i, (pid, _) in running.items() if pid in died]
            if not culprits and not timed_out:
                culprits = list(running)
            for index in culprits:
                deaths[index] = deaths.get(index, 0) + 1
                if deaths[index] >= ATTEMPTS:
                    done[index] = error_results(index, f"the worker process running this check died {ATTEMPTS} "
                                                       "times (killed, or a crash in native code); run it alone "
                                                       f"{alone} to see", 0.0, said.get(index))
            hand_on()
        timed_out.clear()
        running.clear()
        started.close()


POLL_SECONDS = 0.25  # how often a run reads the started queue and, with a timeout, looks for overdue items
SHUTDOWN_SECONDS = 10.0  # how long a finished pool's workers have to end before they are killed


def _drain(started: Any, running: dict[int, tuple[int, float]], said: dict[int, dict[str, Any]] | None = None
           ) -> int:
    """Read what the workers said they took up (item, pid) into `running` (item -> (pid, when the parent heard)),
    and what they heard from support() for it (item, pid, answer) into `said`; how many items were taken up."""
    import time

    count = 0
    while not started.empty():
        index, pid, *answer = started.get()
        if answer:
            if said is not None:
                said[index] = answer[0]
            continue
        running[index] = (pid, time.monotonic())
        count += 1
    return count


def _overdue(started: Any, running: dict[int, tuple[int, float]], has_result: Callable[[int], bool],
             timeout: float | None, timed_out: set[int], said: dict[int, dict[str, Any]] | None = None) -> int:
    """Kill the worker of every item running longer than `timeout` (once each); the pool then breaks, and `run`
    reports those items as timed out. Items with a result are not running (their worker has moved on). Returns how
    many items workers took up since the last call."""
    import time

    taken = _drain(started, running, said)
    for index in [i for i in running if has_result(i)]:
        del running[index]
    if timeout is None:
        return taken
    now = time.monotonic()
    for index, (pid, since) in list(running.items()):
        if index not in timed_out and now - since > timeout:
            timed_out.add(index)
            if not _signal(pid, signal.SIGKILL):  # a hang in native code ignores anything milder
                timed_out.discard(index)  # it ended meanwhile: its result, if any, still counts
    return taken


@contextmanager
def _without_main(source: str | bytes) -> Iterator[None]:
    """Start workers that do not re-run the parent's main script. `spawn` imports it in every child, so a script
    calling `lockstep.certify(..., jobs=2)` without an `if __name__ == "__main__":` guard would start workers from
    its workers; the workers need nothing of it (they import the suite and the adapter by name), unless the
    adapter's class lives there (pickled by reference to `__main__`): then the script is imported, and needs
    the guard, as any multiprocessing program does."""
    import sys

    main = sys.modules.get("__main__")
    needs_main = isinstance(source, bytes) and b"__main__" in source
    if main is None or needs_main:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    try:
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _stop(executor: Any, grace: float = 2.0) -> None:
    """Terminate the workers now (Ctrl-C or an error in the parent): their work is lost anyway. One that ignores
    SIGTERM is killed after `grace` seconds (`_reap`)."""
    processes = [p for p in list((getattr(executor, "_processes", None) or {}).values()) if p.is_alive()]
    for process in processes:
        _signal(process.pid, signal.SIGTERM)
    _reap(processes, grace)


def _reap(processes: list[Any], grace: float) -> None:
    """Wait up to `grace` seconds in all for terminated workers to end, then kill the ones still there: a worker
    that ignores SIGTERM would keep the pool's shutdown, and so the parent, waiting forever."""
    import time

    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            _signal(process.pid, signal.SIGKILL)
            process.join(1.0)
        elif process.pid is not None:  # what the worker started outlives it unless stopped too
            _signal(process.pid, signal.SIGKILL, group_only=True)


def _signal(pid: int | None, sig: int, *, group_only: bool = False) -> bool:
    """Send `sig` to a worker's process group (the worker and what it started: it leads its group once started),
    else to the worker alone (one still starting has not made its group yet). Whether anything received it."""
    if pid is None:
        return False
    if hasattr(os, "killpg"):
        try:
            os.killpg(pid, sig)
            return True
        except OSError:
            pass
    if group_only:
        return False
    try:
        os.kill(pid, sig)
        return True
    except OSError:
        return False

