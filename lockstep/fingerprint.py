"""The machine a run's numbers came from: CPU model and vector ISA, threads, oneDNN/MKL settings, builds.

float32 results depend on more than the code: kernels chosen by CPU features (AVX2, AVX-512, AMX) round
differently, and the number of threads changes the order of reductions. `lockstep run`, `compare` and
`certify` record this fingerprint in their reports, so every float32 number can be traced to its machine.
Frameworks are described only when already imported (a torch run never imports TensorFlow to describe it).
No host names, user names or paths.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Collection
from typing import Any

ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "KMP_BLOCKTIME",
       "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE", "MKL_ENABLE_INSTRUCTIONS",
       "MKL_CBWR", "TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
       "ATEN_CPU_CAPABILITY", "LOCKSTEP_ALLOW_TF32", "CUDA_VISIBLE_DEVICES")
"""Environment variables that change which kernels run or how many threads they use."""

ISA = re.compile(r"^(sse\d?(_\d)?|ssse3|avx.*|amx.*|fma4?|f16c|bmi\d|vnni|popcnt)$")
"""The /proc/cpuinfo flags that choose vector kernels (x86); other flags say nothing about rounding."""

_THREADS: dict[str, dict[str, Any]] = {}  # backend -> the thread settings in effect, recorded by the runner


def default_threads() -> int:
    """The runner's default intra-op thread count: OMP_NUM_THREADS where the environment sets it (the usual way
    to ask every framework for fewer threads), else the CPUs this process may run on (its affinity mask)."""
    asked = os.environ.get("OMP_NUM_THREADS", "").strip()
    if asked.isascii() and asked.isdigit() and int(asked) > 0:  # not `²` (a leaf: no spec import)
        return int(asked)
    return usable_cpus()


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


_BLAS_NAMES = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
               ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
               ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
               ("openblas_get_num_threads", "openblas_set_num_threads"))


def _openblas() -> tuple[Any, Any] | None:
    """(get, set) of the OpenBLAS that NumPy loaded, found through the process's memory map, or None (another
    BLAS, another OS): the same library calls threadpoolctl makes, without the dependency."""
    import ctypes

    import numpy  # noqa: F401  (loads its BLAS)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = sorted({part for line in f for part in line.split() if "openblas" in part.lower()
                            and ".so" in part})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, put in _BLAS_NAMES:
            if hasattr(lib, get) and hasattr(lib, put):
                getter, setter = getattr(lib, get), getattr(lib, put)
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                return getter, setter
    return None


def blas_threads(threads: int | None = None) -> int | None:
    """NumPy's BLAS threads (the reference's matrix products): set them when `threads` is given; returns the
    number in effect, or None where the BLAS is not an OpenBLAS this can reach."""
    found = _openblas()
    if found is None:
        return None
    getter, setter = found
    if threads is not None:
        setter(max(1, int(threads)))
    return int(getter())


def record_threads(backend: str, settings: dict[str, Any]) -> None:
    """Remember the thread settings a backend runs with (the runner calls this when it configures one)."""
    _THREADS[backend] = dict(settings)


def cpu() -> dict[str, Any]:
    """CPU model, vendor, the ISA flags that pick kernels, logical CPUs and the affinity mask's size."""
    out: dict[str, Any] = {"machine": platform.machine(), "logical_cpus": os.cpu_count(),
                           "usable_cpus": usable_cpus()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        out["model"] = platform.processor() or platform.machine()
        return out
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            fields.setdefault(k.strip(), v.strip())
        elif not line.strip() and fields:
            break  # the first processor is enough: they are alike
    out["model"] = fields.get("model name") or fields.get("Processor") or fields.get("cpu model") or "?"
    out["vendor"] = fields.get("vendor_id", "?")
    flags = fields.get("flags") or fields.get("Features") or ""
    out["isa"] = sorted(f for f in flags.split() if ISA.match(f))
    return out


def _torch() -> dict[str, Any] | None:
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "__version__"):
        return None
    out: dict[str, Any] = {"version": str(torch.__version__)}
    try:
        out["threads"] = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
        out["mkldnn"] = {"available": bool(torch.backends.mkldnn.is_available()),
                         "enabled": bool(torch.backends.mkldnn.enabled)}
        out["mkl"] = bool(torch.backends.mkl.is_available())
        out["cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
        config = torch.__config__.show()
        keep = ("CPU capability", "BLAS_INFO", "LAPACK_INFO", "USE_MKL", "USE_MKLDNN", "USE_OPENMP", "oneDNN",
                "MKL-DNN", "Math Kernel", "OpenMP", "CXX_FLAGS")
        out["build"] = [line.strip() for line in config.splitlines() if any(k in line for k in keep)][:12]
        out["build"] = [b if len(b) <= 300 else b[:297] + "..." for b in out["build"]]
    except Exception as exc:  # a torch build without one of these: say so instead of failing a report
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def _tensorflow() -> dict[str, Any] | None:
    tf = sys.modules.get("tensorflow")
    if tf is None or not hasattr(tf, "__version__"):
        return None
    out: dict[str, Any] = {"version": str(tf.__version__)}
    try:
        threading = tf.config.threading
        out["threads"] = {"intra_op": threading.get_intra_op_parallelism_threads(),
                          "inter_op": threading.get_inter_op_parallelism_threads(),
                          "note": "0 is TensorFlow's default (every core)"}
        info = dict(tf.sysconfig.get_build_info())
        out["build"] = {k: str(v) for k, v in info.items() if not isinstance(v, list | dict)}
        onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
        out["onednn_opts"] = "default (on)" if onednn is None else onednn
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def _numpy() -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {"version": np.__version__}
    try:
        cfg = np.show_config(mode="dicts")  # type: ignore[call-arg]
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        out["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        pass
    threads = blas_threads()
    if threads is not None:
        out["blas_threads"] = threads
    return out


def fingerprint(backends: Collection[str] | None = None) -> dict[str, Any]:
    """The whole fingerprint: CPU, the thread settings each backend ran with (of `backends` only where given: a
    process that ran or certified others before, through the Python API, recorded theirs too), environment,
    builds."""
    out: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(terse=True),
        "cpu": cpu(), "threads": {k: dict(v) for k, v in _THREADS.items() if backends is None or k in backends},
        "env": {k: os.environ[k] for k in ENV if k in os.environ},
        "numpy": _numpy(),
    }
    for name, describe in (("torch", _torch), ("tensorflow", _tensorflow)):
        found = describe()
        if found is not None:
            out[name] = found
    return out
