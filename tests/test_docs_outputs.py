"""Every command output shown in README.md and docs/ is what the command prints today
(docs/tools/gen_outputs.py produces them; this runs each again and compares: float64 numbers exactly as
printed, float32 numbers, which depend on the machine, only through the words around them, e.g. verdicts).
Blocks that need TensorFlow or a certification are marked slow."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gen_outputs", ROOT / "docs" / "tools" / "gen_outputs.py")
gen = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["gen_outputs"] = gen  # dataclasses look their module up
_spec.loader.exec_module(gen)  # type: ignore[union-attr]

SHOWN = [s for path in gen.DOCS for s in gen.parse(path)]
FRAMEWORKS = ("torch", "tensorflow", "onnx", "onnxruntime")
# a block whose commands name one of these prints what the installed frameworks decide (`lockstep adapters`
# lists them; deploy needs onnx): the outputs were generated with every extra installed
FRAMEWORK_WORDS = re.compile(r"\b(deploy|adapters|certify|torch|tensorflow|onnx\w*)\b")


def _missing_frameworks(blocks: list) -> list[str]:
    if not any(FRAMEWORK_WORDS.search(c) for b in blocks for c in b.commands):
        return []
    return [f for f in FRAMEWORKS if importlib.util.find_spec(f) is None]


def test_there_are_shown_outputs() -> None:
    labels = [s.label for s in SHOWN]
    assert any("lockstep validate" in x for x in labels) and any("lockstep compare" in x for x in labels), labels
    assert all(s.commands for s in SHOWN)


def _pages(slow: bool) -> list:
    """One test per page: its fast blocks (in page order), and, marked slow, all of its blocks where it has slow
    ones (a page is a sequence: a later block may use what an earlier one wrote)."""
    out = []
    for path in gen.DOCS:
        blocks = gen.parse(path)
        has_slow = any(b.slow for b in blocks)
        if slow and has_slow:
            out.append(pytest.param(path, True, id=f"{path.relative_to(ROOT)} (all)", marks=[pytest.mark.slow]))
        elif not slow and any(not b.slow for b in blocks):
            out.append(pytest.param(path, False, id=f"{path.relative_to(ROOT)} (fast)"))
    return out


@pytest.mark.parametrize(("path", "with_slow"), [*_pages(False), *_pages(True)])
def test_shown_outputs_are_current(path: Path, with_slow: bool) -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    shown = [s for s in gen.parse(path) if with_slow or not s.slow]
    if missing := _missing_frameworks(shown):
        pytest.skip(f"its outputs were generated with every framework installed; missing here: {', '.join(missing)}")
    fresh = gen.run_document(shown)
    stale = [(s, body, diff) for s, body in zip(shown, fresh, strict=True) if (diff := gen.stale(s, body))]
    assert not stale, "\n\n".join(
        f"{s.label}: the committed output is stale; run `python docs/tools/gen_outputs.py`\n{diff}\n--- fresh\n{body}"
        for s, body, diff in stale)


def test_masking() -> None:
    """What the check ignores: timings, where a worst case was reached, round-off (float64), every number
    (float32); and what it does not: float64 values and words."""
    assert gen.mask("loss 0.6164211854 diff 3.42e-16 in 1.2 s") == "loss 0.6164211854 diff # in #"
    assert gen.mask("holds (worst: ratio 2e-3 at step 4, loss); DIVERGES") == "holds (#); DIVERGES"
    assert gen.mask("loss 0.4164 ratio 0.03", "float32") == "loss # ratio #"
    assert gen.mask("loss 0.4164", "float64") != gen.mask("loss 0.4165", "float64")
    # how many latency runs fit the time a deploy measures for: a loaded machine fits fewer (CI had 15708)
    assert gen.mask("p99 0.0929 ms over 15708 runs after 20 warm-up runs") == \
        gen.mask("p99 0.0176 ms over 20000 runs after 20 warm-up runs")
    # a lock's holder: another process, at another time
    assert gen.mask("in use: pid 12873 on myhost, started 2026-12-04T16:48:46+00:00 (`x`)") == \
        gen.mask("in use: pid 7 on myhost, started 2027-01-31T09:05:59+01:00 (`x`)")


def test_after_commands_run_and_are_not_shown(tmp_path: Path) -> None:
    """`setup=N` and `after=N` hide the first and the last commands (a holder started, then stopped); a hidden one
    that fails stops the page, as a setup's does."""
    block = gen.Shown(ROOT / "x.md", 0, 0, ["echo a > f", "cat f", "echo shown-not > g"], "",
                      {"setup": "1", "after": "1"})
    assert gen.run(block, tmp_path, dict(os.environ)) == "$ cat f\na\n"
    assert (tmp_path / "g").read_text() == "shown-not\n"
    failing = gen.Shown(ROOT / "x.md", 0, 0, ["true", "false"], "", {"after": "1"})
    with pytest.raises(RuntimeError, match="hidden `false` failed"):
        gen.run(failing, tmp_path, dict(os.environ))


def test_shown_commands_run_as_a_reader_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI machine's variables must not reach the shown commands: with CI set, pytest prints its short summary
    untrimmed, and docs/certify.md's page went stale on CI alone (it passed here)."""
    for name, value in {"CI": "true", "BUILD_NUMBER": "7", "PYTEST_ADDOPTS": "-v", "LOCKSTEP_MEMORY_LIMIT": "1M",
                        "PY_COLORS": "1", "COLUMNS": "300"}.items():
        monkeypatch.setenv(name, value)
    env = gen.sandbox(tmp_path / "sandbox")
    leaked = {k: env[k] for k in ("CI", "BUILD_NUMBER", "PYTEST_ADDOPTS", "LOCKSTEP_MEMORY_LIMIT", "PY_COLORS")
              if k in env}
    assert not leaked, f"variables of the generating process reach the shown commands: {leaked}"
    assert env["COLUMNS"] == "120", f"COLUMNS is {env['COLUMNS']!r}, not the pages' 120"
    assert env["LOCKSTEP_DOCS_OUTPUTS"] == "1", "the sandbox's own settings must still be there"
