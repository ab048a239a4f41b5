"""Straight floors: each layer of Lockstep imports only the layers below it (docs/internals.md, "The layers").

    spec  <-  reference  <-  adapters  <-  conformance  <-  runner level (lockstep/*.py)  <-  lockstep.api  <-  CLI

Every import is read from the source (ast: module-level and function-level imports alike, `TYPE_CHECKING`
ones included, since they name a dependency all the same), so a lazy import cannot hide an upward edge.

- spec/ imports only spec/;
- reference/ imports spec/ and reference/;
- adapters/ import spec/, reference/, adapters/ and leaf utilities (lockstep/ modules that import nothing of
  ours: atomic, errors, fingerprint, ...);
- conformance/ imports those, conformance/, and the two runner-level modules it legitimately needs:
  `lockstep.runner` (a case is prepared exactly as `lockstep run` prepares a recipe; level 5 builds its engines
  through adapters/data_parallel.py, as `lockstep run --replicas` does) and `lockstep.runfolder` (the pytest
  plugin's --lockstep-report folder is refused by the rules certify's --report is); importing them never loads
  `lockstep.api`, `lockstep.cli` or `lockstep.commands`;
- the runner level (lockstep/*.py) imports neither the API nor the CLI;
- `from lockstep import X` below the API names only the version constants (`__version__`, `SPEC_VERSION`) or a
  module allowed above: the package's lazy API names are the API's;
- lockstep/commands/* and lockstep/cli.py import anything.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("spec", "reference", "adapters", "conformance")
ABOVE_RUNNER = ("lockstep.api", "lockstep.cli", "lockstep.commands", "lockstep.__main__")
ROOT_NAMES = {"__version__", "SPEC_VERSION"}  # what lower layers may take from `lockstep` itself
CONFORMANCE_RUNNER = {"lockstep.runner", "lockstep.runfolder"}
KNOWN: dict[tuple[str, str], str] = {}
"""Upward imports known and being removed elsewhere: each entry names who removes it."""

ALLOWED: dict[str, tuple[str, ...]] = {
    "spec": ("spec",),
    "reference": ("spec", "reference"),
    "adapters": ("spec", "reference", "adapters", "leaf"),
    "conformance": ("spec", "reference", "adapters", "conformance", "leaf", "runner"),
}


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["lockstep", *parts[1:]] if parts[0] == "lockstep" else ["lockstep", *parts])


def _file_of(module: str) -> Path | None:
    parts = module.split(".")[1:]
    if not parts:
        return ROOT / "lockstep" / "__init__.py"
    base = ROOT / parts[0] if parts[0] in PARTS else ROOT / "lockstep" / parts[0]
    rest = parts[1:]
    for candidate in (base.joinpath(*rest).with_suffix(".py") if rest else base.with_suffix(".py"),
                      base.joinpath(*rest, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _executed(tree: ast.AST) -> list[ast.AST]:
    """The nodes that run when the module is imported: not function bodies, not `if TYPE_CHECKING:` blocks."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return out


@cache
def imports(path: Path, executed: bool = False) -> tuple[tuple[str, int], ...]:
    """(module, line) of every import of ours in a file (with `executed`, only those importing the module runs);
    `from lockstep import x` is `lockstep.x` when x is a module, else `lockstep` itself (a name of the package)."""
    out: list[tuple[str, int]] = []
    tree = ast.parse(path.read_text(), str(path))
    for node in (_executed(tree) if executed else ast.walk(tree)):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "lockstep"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lockstep":
                for a in node.names:
                    sub = f"lockstep.{a.name}"
                    out.append((sub if _file_of(sub) is not None else "lockstep", node.lineno))
            elif node.module.split(".")[0] == "lockstep":
                out.append((node.module, node.lineno))
    return tuple(out)


def _root_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "lockstep" and node.level == 0:
            names |= {a.name for a in node.names if _file_of(f"lockstep.{a.name}") is None}
    return names


def _part(module: str) -> str:
    """spec, reference, adapters, conformance; `lockstep` for the package itself; else the runner-level module."""
    parts = module.split(".")
    if len(parts) == 1:
        return "lockstep"
    return parts[1] if parts[1] in PARTS else module


@cache
def leaves() -> frozenset[str]:
    """lockstep/ modules (outside the four parts, commands and the CLI) that import nothing of ours."""
    out = set()
    for path in (ROOT / "lockstep").glob("*.py"):
        module = _module_of(path)
        if module != "lockstep" and not module.startswith(ABOVE_RUNNER) and not imports(path):
            out.add(module)
    return frozenset(out)


def _allowed(layer: str, module: str) -> bool:
    part = _part(module)
    rules = ALLOWED[layer]
    if part in rules:
        return True
    if part == "lockstep":  # checked by name: see test_lower_layers_take_only_the_version_from_the_package
        return True
    if "leaf" in rules and module in leaves():
        return True
    return "runner" in rules and module in CONFORMANCE_RUNNER


def _files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", PARTS)
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    bad = []
    for path in _files(layer):
        rel = str(path.relative_to(ROOT))
        for module, line in imports(path):
            if not _allowed(layer, module) and (rel, module) not in KNOWN:
                bad.append(f"{rel}:{line} imports {module}")
    assert not bad, f"{layer}/ may import only {', '.join(ALLOWED[layer])}:\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", PARTS)
def test_lower_layers_take_only_the_version_from_the_package(layer: str) -> None:
    bad = [f"{p.relative_to(ROOT)}: from lockstep import {', '.join(sorted(n))}"
           for p in _files(layer) if (n := _root_names(p) - ROOT_NAMES)]
    assert not bad, "below the API, `from lockstep import` names only __version__ and SPEC_VERSION:\n" + "\n".join(bad)


def _reach(start: str) -> dict[str, str]:
    """Every module of ours importing `start` loads, transitively: {module: the file and line that imports it}."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        path = _file_of(module)
        if path is None:
            continue
        for dep, line in imports(path, executed=True):
            if dep not in seen and dep != "lockstep":
                seen[dep] = f"{path.relative_to(ROOT)}:{line}"
                todo.append(dep)
    return seen


@pytest.mark.parametrize("module", sorted(CONFORMANCE_RUNNER | {"lockstep.conformance.suite"}))
def test_importing_the_suite_never_loads_the_api_or_the_cli(module: str) -> None:
    bad = {m: where for m, where in _reach(module).items() if m.startswith(ABOVE_RUNNER)}
    assert not bad, f"importing {module} loads {bad}: the suite must stay below the API and the CLI"


def test_the_runner_level_imports_neither_the_api_nor_the_cli() -> None:
    files = [p for p in (ROOT / "lockstep").glob("*.py") if not _module_of(p).startswith(ABOVE_RUNNER)
             and p.name != "__init__.py"]
    bad = [f"{p.relative_to(ROOT)}:{line} imports {m}" for p in files for m, line in imports(p)
           if m.startswith(ABOVE_RUNNER) and (str(p.relative_to(ROOT)), m) not in KNOWN]
    assert not bad, "\n".join(bad)


def test_nothing_below_the_cli_imports_the_cli() -> None:
    """The issue's headline case (conformance/pytest_plugin.py imported lockstep/commands/certify.py), for every
    file of the four parts and of the runner level."""
    files = [p for layer in PARTS for p in _files(layer)]
    files += [p for p in (ROOT / "lockstep").glob("*.py") if p.name not in ("cli.py", "__main__.py")]
    bad = [f"{p.relative_to(ROOT)}:{line} imports {m}" for p in files for m, line in imports(p)
           if m.startswith(("lockstep.cli", "lockstep.commands"))]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The walk itself: a function-level import of the CLI in a lower layer is found, with its line."""
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from lockstep.commands.certify import main\n    import lockstep.api\n")
    assert imports(fake) == (("lockstep.commands.certify", 2), ("lockstep.api", 3))
    assert not _allowed("conformance", "lockstep.commands.certify") and not _allowed("adapters", "lockstep.runner")
    assert _allowed("conformance", "lockstep.runner") and _allowed("adapters", "lockstep.errors")
    assert not _allowed("spec", "lockstep.reference.tolerances") and _allowed("reference", "lockstep.spec.layers")


def test_known_exceptions_still_exist() -> None:
    """An entry of KNOWN that no longer happens is stale: remove it, so the rule is the plain one again."""
    stale = [f"{f} -> {m} ({why})" for (f, m), why in KNOWN.items()
             if (ROOT / f).is_file() and m not in {dep for dep, _ in imports(ROOT / f)}]
    if stale:
        pytest.xfail("stale KNOWN entries (the upward import is gone; drop them): " + "; ".join(stale))
