"""docs/python-api.md is a notebook: every ```python block runs, in order, in one namespace, from a folder holding
copies of examples/ and docs/tutorials/mistakes/; the ```text block right after a code block is what it printed.

The shown outputs are float64 reference numbers (printed rounded), verdicts, names and shapes: the same on every
machine. `python tests/test_docs_python_api.py --write` reruns the page and writes what it printed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python-api.md"
BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```\n", re.M | re.S)


def blocks(text: str) -> list[tuple[str, str, tuple[int, int] | None]]:
    """(code, shown output, span of the shown output's body) for every python block, in order."""
    found = list(BLOCK.finditer(text))
    out = []
    for i, m in enumerate(found):
        if m.group("lang") != "python":
            continue
        nxt = found[i + 1] if i + 1 < len(found) else None
        shown = nxt if nxt is not None and nxt.group("lang") == "text" and not text[m.end():nxt.start()].strip() \
            else None
        out.append((m.group("body"), shown.group("body") if shown else "",
                    shown.span("body") if shown else None))
    return out


def run_page(folder: Path) -> list[str]:
    """Run every block in `folder` (prepared with the files the page reads); what each printed."""
    shutil.copytree(ROOT / "examples", folder / "examples")
    shutil.copytree(ROOT / "docs" / "tutorials" / "mistakes", folder / "docs" / "tutorials" / "mistakes")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    printed = []
    here = Path.cwd()
    os.chdir(folder)
    try:
        for i, (code, _, _) in enumerate(blocks(PAGE.read_text(encoding="utf-8"))):
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"{PAGE.name} block {i + 1}", "exec"), namespace)
            printed.append(buffer.getvalue())
    finally:
        os.chdir(here)
    return printed


def test_every_block_runs_and_prints_what_the_page_shows(tmp_path: Path) -> None:
    pytest.importorskip("torch")  # the page compares the reference with PyTorch
    text = PAGE.read_text(encoding="utf-8")
    printed = run_page(tmp_path)
    for i, ((code, shown, span), got) in enumerate(zip(blocks(text), printed, strict=True), 1):
        if span is not None:
            assert got == shown, f"block {i} of {PAGE.name} printed:\n{got}\nthe page shows:\n{shown}\n{code}"
        else:
            assert got == "", f"block {i} printed output that the page does not show:\n{got}"


def test_the_page_covers_the_walk_through() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for call in ("lockstep.validate(", "lockstep.load(", "lockstep.dump(", "lockstep.run(", "result.parameters[",
                 "lockstep.compare(", "loss.svg", "lockstep.certify("):
        assert call in text, call


def _write() -> None:
    import tempfile

    text = PAGE.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        printed = run_page(Path(tmp))
    for (_, _, span), got in reversed(list(zip(blocks(text), printed, strict=True))):
        if span is not None:
            text = text[:span[0]] + got + text[span[1]:]
    PAGE.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/test_docs_python_api.py --write")
    _write()
