"""spec/ is the bottom floor and has no import cycles: every module imports only the standard library, its
dependencies and modules of spec/ that do not import it back (lazy imports inside functions included: the
validate/semantics cycle was one), and each module imports alone in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec"


def _modules() -> dict[str, Path]:
    """`lockstep.spec.<...>` -> its file, for every module and package of spec/."""
    found = {}
    for path in sorted(SPEC.rglob("*.py")):
        parts = list(path.relative_to(SPEC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(["lockstep", "spec", *parts])] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The `lockstep...` modules one file imports, wherever the import statement is (a function's too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "lockstep")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .x import y
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            if base.split(".")[0] != "lockstep":
                continue
            for alias in node.names:  # `from lockstep.spec import semantics` imports a module, not a name
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan), each in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_spec_modules_form_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    assert "lockstep.spec.resolve" in graph and "lockstep.spec.semantics.recipe" in graph, sorted(graph)
    cycles = _cycles(graph)
    assert not cycles, "import cycles inside spec/: " + "; ".join(
        " <-> ".join(c) + " (" + ", ".join(f"{a} imports {b}" for a in c for b in sorted(graph[a]) if b in c) + ")"
        for c in cycles)


def test_spec_imports_nothing_above_it() -> None:
    modules = _modules()
    upward = {name: sorted(i for i in _imports(path, name, modules) if not i.startswith("lockstep.spec"))
              for name, path in modules.items()}
    assert not {k: v for k, v in upward.items() if v}, f"spec/ imports modules above it: {upward}"


def test_the_cycle_finder_finds_a_lazy_cycle(tmp_path: Path) -> None:
    """The check above would have caught the validate/semantics cycle (an import inside a function)."""
    (tmp_path / "validate.py").write_text("from lockstep.spec import semantics\n")
    (tmp_path / "semantics.py").write_text("def load_model():\n    from lockstep.spec.validate import x\n")
    modules = {"lockstep.spec.validate": tmp_path / "validate.py", "lockstep.spec.semantics": tmp_path / "semantics.py"}
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    assert _cycles(graph) == [["lockstep.spec.semantics", "lockstep.spec.validate"]], graph


def test_every_spec_module_imports_alone_in_a_fresh_interpreter() -> None:
    """A cycle that Python happens to resolve in one import order fails in another: import each module first."""
    names = sorted(n for n in _modules() if not n.startswith("lockstep.spec.schemas"))
    procs = {n: subprocess.Popen([sys.executable, "-c", f"import {n}"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True) for n in names}
    failed = {}
    for n, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        if proc.returncode:
            failed[n] = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
    assert not failed, f"modules that fail to import first: {failed}"
