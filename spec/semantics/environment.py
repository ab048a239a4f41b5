"""Semantic checks of an Environment: requirement names and PEP 440 specifiers (a small regex: `lockstep.spec`
does not depend on `packaging`), the dtype against its tolerance or metric budget, a tolerance that can be met
and means something, the latency budget, and the runtime's name for a GPU device."""

from __future__ import annotations

import re

from lockstep.spec.diagnostics import Diagnostic
from lockstep.spec.documents import Environment
from lockstep.spec.semantics.located import Located
from lockstep.spec.semantics.located import diag as _diag
from lockstep.spec.wording import digits

__all__ = ["check_environment", "unsatisfiable", "valid_requirement", "valid_specifier"]

FLOAT32_EPS = 2.0**-23

_RELEASE = r"[0-9]+(?:\.[0-9]+)*"
_PRE = r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?"
_POST = r"(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?"
_DEV = r"(?:[-_.]?dev[-_.]?[0-9]*)?"
_LOCAL = r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?"
_EPOCH = r"(?:[0-9]+!)?"
_PUBLIC = rf"v?{_EPOCH}{_RELEASE}{_PRE}{_POST}{_DEV}"
_CLAUSE = re.compile(
    rf"""^\s*(?:
        ===\s*[^\s,;]+                                                  # arbitrary equality
      | (?:==|!=)\s*(?:v?{_EPOCH}{_RELEASE}\.\*|{_PUBLIC}{_LOCAL})      # prefix match or exact version
      | ~=\s*v?{_EPOCH}[0-9]+(?:\.[0-9]+)+{_PRE}{_POST}{_DEV}           # compatible release: two parts or more
      | (?:<=|>=|<|>)\s*{_PUBLIC}                                       # ordered comparison
    )\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_BARE_VERSION = re.compile(rf"^\s*{_PUBLIC}\s*$", re.IGNORECASE)
_PACKAGE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def valid_specifier(spec: str) -> bool:
    """Whether `spec` is a PEP 440 version specifier set (`>=1.17`, `~=2.2`, `>=2,<3`, `==1.*`).

    A small regex instead of `packaging`, which `lockstep.spec` does not depend on. An empty string
    means "any version".
    """
    if not spec.strip():
        return True
    return all(_CLAUSE.match(clause) for clause in spec.split(","))


_PLAIN = re.compile(r"^\s*(==|<=|>=|<|>)\s*v?([0-9]+(?:\.[0-9]+)*)\s*$", re.IGNORECASE)


def _release(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:  # 1.0 == 1 (PEP 440 pads releases with zeros)
        parts.pop()
    return tuple(parts)


def unsatisfiable(spec: str) -> str | None:
    """Why no version meets `spec` (`>=1.17,<1.0`: deploy then refused every installed version), or None where some
    may. Only clauses of plain release numbers (`==`, `<`, `<=`, `>`, `>=`) are weighed; any other clause (`!=`,
    `~=`, `==1.*`, a pre-release) leaves the answer None rather than guess: the check never refuses a satisfiable
    range."""
    lower: tuple[tuple[int, ...], bool, str] | None = None  # (release, inclusive, clause)
    upper: tuple[tuple[int, ...], bool, str] | None = None
    for clause in (c for c in spec.split(",") if c.strip()):
        m = _PLAIN.match(clause)
        if m is None:
            return None
        op, version = m.group(1), _release(m.group(2))
        text = clause.strip()
        if op in ("==", ">=", ">"):
            bound = (version, op != ">", text)
            if lower is None or bound[0] > lower[0] or (bound[0] == lower[0] and not bound[1]):
                lower = bound
        if op in ("==", "<=", "<"):
            bound = (version, op != "<", text)
            if upper is None or bound[0] < upper[0] or (bound[0] == upper[0] and not bound[1]):
                upper = bound
    if lower is None or upper is None:
        return None
    if lower[0] > upper[0] or (lower[0] == upper[0] and not (lower[1] and upper[1])):
        return f"`{lower[2]}` and `{upper[2]}` leave no version" if lower[2] != upper[2] else None
    return None


def normalized_name(name: str) -> str:
    """A distribution name as the package index compares names (PEP 503): `ONNX_Runtime` is `onnx-runtime`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def valid_requirement(name: str) -> bool:
    """Whether `name` is a PEP 508 distribution name."""
    return bool(_PACKAGE.fullmatch(name))  # not match: `$` passes a final newline (`onnx\n`), which the schema refuses


def _specifier_suggestion(spec: str) -> str | None:
    s = spec.strip()
    if _BARE_VERSION.match(s):
        return f"=={s}"
    if s.startswith("^") and _BARE_VERSION.match(s[1:]):
        major = s[1:].lstrip("v").split(".")[0]
        return f">={s[1:]},<{int(major) + 1}" if digits(major) else None
    if s.startswith("~") and not s.startswith("~=") and _BARE_VERSION.match(s[1:]):
        return f"~={s[1:]}" if "." in s else None
    if s.startswith("=") and not s.startswith("==") and _BARE_VERSION.match(s[1:]):
        return f"=={s[1:]}"
    return None


def _check_deploy_dtype(env: Environment, doc: Located) -> list[Diagnostic]:
    """int8 is judged by a metric budget (elementwise errors of a quantized model say little), every other
    dtype by its tolerance; quantization settings belong to int8 targets on onnxruntime."""
    out = []
    if env.dtype == "int8":
        if not env.max_metric_drop:
            out.append(_diag(doc, ("max_metric_drop",), "an int8 target needs `max_metric_drop`: the largest "
                             "worsening of each recipe metric it accepts (quantized predictions are judged by "
                             "their metrics, not elementwise)", code="tolerance",
                             expected="e.g. `max_metric_drop: {accuracy: 0.02}`"))
        if env.runtime != "onnxruntime":
            out.append(_diag(doc, ("dtype",), f"int8 targets are quantized by onnxruntime.quantization; runtime "
                             f"`{env.runtime}` has no int8 deployment here", code="range",
                             expected="runtime: onnxruntime"))
    elif env.tolerance is None:
        out.append(_diag(doc, ("tolerance",), f"a {env.dtype} target needs `tolerance` (rtol, atol): how closely its "
                         "predictions must match the float64 reference", code="tolerance",
                         expected="e.g. `tolerance: {rtol: 1.0e-4, atol: 1.0e-5}`"))
    if env.quantization is not None and env.dtype != "int8":
        out.append(_diag(doc, ("quantization",), f"`quantization` applies to int8 targets; this one is {env.dtype}",
                         code="range", expected="dtype: int8, or no `quantization`"))
    return out


def check_environment(env: Environment, doc: Located) -> list[Diagnostic]:
    """Requirement names and specifiers, a tolerance that can be met and means something, the budget."""
    out = []
    first: dict[str, str] = {}  # PEP 503's normalized name -> the key that named it first
    for pkg, spec in env.requirements.items():
        same = first.setdefault(normalized_name(pkg), pkg)
        if same != pkg:
            out.append(_diag(doc, ("requirements", pkg), f"`{pkg}` and `{same}` name one package (names compare "
                             "without case, and with `-`, `_` and `.` alike: PEP 503); give it one entry",
                             code="requirement", expected=f"one entry for `{same}`"))
        if not valid_requirement(pkg):
            out.append(_diag(doc, ("requirements", pkg), f"`{pkg}` is not a package name", code="requirement",
                             expected="a PEP 508 name such as `onnxruntime` or `torch`"))
        if not valid_specifier(spec):
            out.append(_diag(doc, ("requirements", pkg), f"`{spec}` is not a version specifier for `{pkg}`",
                             _specifier_suggestion(spec), code="requirement",
                             expected="PEP 440 specifiers such as `>=1.17`, `==2.13.0`, `~=2.2` or `>=2.2,<3`"))
        elif (why := unsatisfiable(spec)) is not None:
            out.append(_diag(doc, ("requirements", pkg), f"no version of `{pkg}` meets `{spec}`: {why}",
                             code="requirement", expected="a range some version is in, such as `>=1.17,<2`"))
    out += _check_deploy_dtype(env, doc)
    tol = env.tolerance
    eps = {"float32": FLOAT32_EPS, "float16": 2.0**-10}.get(env.dtype)
    if tol is None:
        pass
    elif tol.rtol == 0 and tol.atol == 0:
        out.append(_diag(doc, ("tolerance",), "rtol and atol are both 0: predictions would have to equal the "
                         "float64 reference bit for bit, which no runtime does", code="tolerance"))
    elif eps is not None and tol.atol == 0 and tol.rtol < eps / 2:
        out.append(_diag(doc, ("tolerance", "rtol"), f"rtol {tol.rtol:g} with atol 0 is below {env.dtype}'s rounding "
                         f"error ({eps / 2:.3g}): rounding the reference to {env.dtype} alone would exceed it",
                         code="tolerance", expected=f"at least {eps:.3g} for {env.dtype}"))
    if tol is not None and tol.rtol >= 1:
        out.append(_diag(doc, ("tolerance", "rtol"), f"rtol {tol.rtol:g} accepts predictions off by 100% or more "
                         "(even 0 for any reference value): it checks nothing", code="tolerance",
                         expected="a value below 1"))
    for metric, drop in (env.max_metric_drop or {}).items():
        if metric == "accuracy" and drop >= 1:
            out.append(_diag(doc, ("max_metric_drop", metric), f"an accuracy drop of {drop:g} allows any accuracy "
                             "(accuracy lies between 0 and 1): it checks nothing", code="range",
                             expected="a value below 1"))
    q = env.quantization
    if q is not None and q.mode == "dynamic" and "calibration_samples" in q.model_fields_set:
        out.append(_diag(doc, ("quantization", "calibration_samples"), "calibration_samples is for `mode: static`; "
                         "dynamic quantization calibrates nothing (deploy would ignore it)", code="range"))
    seen: set[int] = set()
    for i, b in enumerate(env.batch_sizes):  # each checked once: a repeat ran (and reported) its checks twice
        if b in seen:
            out.append(_diag(doc, ("batch_sizes", i), f"batch size {b} appears twice in batch_sizes", code="range"))
        seen.add(b)
    budget = env.latency_budget
    if budget is not None:
        if budget.batch_size not in env.batch_sizes:
            out.append(_diag(doc, ("latency_budget", "batch_size"), f"batch size {budget.batch_size} is not among "
                             f"batch_sizes {env.batch_sizes}", code="range",
                             expected="one of " + ", ".join(map(str, env.batch_sizes))))
        if budget.p50_ms is not None and budget.p99_ms is not None and budget.p50_ms > budget.p99_ms:
            out.append(_diag(doc, ("latency_budget", "p50_ms"), f"p50_ms {budget.p50_ms} exceeds p99_ms "
                             f"{budget.p99_ms}: the median cannot be slower than the 99th percentile", code="range"))
    if env.device.startswith("gpu") and env.runtime in ("onnxruntime", "torch"):
        fixed = "cuda" + env.device[3:]
        out.append(_diag(doc, ("device",), f"{env.runtime} names its GPU device `cuda`, not `gpu`", fixed,
                         code="device"))
    return out
