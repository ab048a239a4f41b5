"""`lockstep compare`'s arguments and outputs (sweep V): empty backend names, --overwrite of files no comparison
wrote, the plot's edges, an adapter that raises mid-run, and the arguments recorded in compare.json."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import tiny_recipe

from lockstep.cli import main

RECIPE = tiny_recipe(layers="[{type: dense, name: hidden, units: 8}, {type: relu}, {type: dense, name: out, units: 3}]",
                     samples=64, steps=6)

SAME = "lockstep.conformance.mutants._base:MutantAdapter"  # the reference under another name: agrees


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


@pytest.mark.parametrize("backends", [f"reference,{SAME},", f"reference,,{SAME}", f",reference,{SAME}"])
def test_an_empty_backend_name_is_refused(recipe: Path, backends: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--backends "reference,torch,$EXTRA"` with EXTRA unset compared two backends without a word."""
    assert main(["compare", str(recipe), "--backends", backends, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "an empty name" in err and "--backends" in err and len(err.strip().splitlines()) == 1, err


def _compare(recipe: Path, *extra: str) -> int:
    return main(["compare", str(recipe), "--backends", f"reference,{SAME}", "--quiet", *extra])


def test_overwrite_replaces_no_compare_json_that_is_not_a_comparison_s(
        recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A user's own compare.json and compare.svg in --out were replaced by --overwrite (sweep V, f3)."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "compare.json").write_text('{"my": "settings"}', encoding="utf-8")
    (out / "compare.svg").write_text("<svg>mine</svg>", encoding="utf-8")
    for flags in ([], ["--overwrite"]):
        assert _compare(recipe, "--out", str(out), *flags) == 2
        err = capsys.readouterr().err
        assert "compare.json that is not a comparison's" in err and len(err.strip().splitlines()) == 1, err
    assert (out / "compare.json").read_text(encoding="utf-8") == '{"my": "settings"}'
    assert (out / "compare.svg").read_text(encoding="utf-8") == "<svg>mine</svg>"
    (out / "compare.json").unlink()
    assert _compare(recipe, "--out", str(out), "--overwrite") == 2
    assert "compare.svg but no compare.json" in capsys.readouterr().err
    assert (out / "compare.svg").read_text(encoding="utf-8") == "<svg>mine</svg>"


def test_overwrite_replaces_an_earlier_comparison(recipe: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("keep", encoding="utf-8")
    assert _compare(recipe, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "files that are not from a Lockstep run" in err and "beside them" in err, err
    assert _compare(recipe, "--out", str(out), "--overwrite") == 0
    first = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert first["agree"] is True
    assert _compare(recipe, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "an earlier comparison" in err and "another run" not in err, err
    assert _compare(recipe, "--out", str(out), "--overwrite", "--steps", "2") == 0
    assert json.loads((out / "compare.json").read_text(encoding="utf-8"))["steps_compared"] == 2
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep"


RAISER = """\
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    calls = 0

    def train_step(self, x, y, *, masks=None):
        type(self).calls += 1
        if type(self).calls >= 5:  # the free run's and the judged steps' calls: fails in step 3
            raise RuntimeError("driver crashed")
        return super().train_step(x, y, masks=masks)


class Raiser(MutantAdapter):
    name = "raiser"
    session_class = _Session
"""


@pytest.fixture
def raiser(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "raiser_adapter.py").write_text(RAISER, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "raiser_adapter:Raiser"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("raiser_adapter", None)


def test_an_adapter_error_mid_run_keeps_the_steps_compared(recipe: Path, tmp_path: Path, raiser: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """An adapter raising at step 3 lost steps 1 and 2: only the error line was said, nothing written (f10)."""
    out = tmp_path / "o"
    code = main(["compare", str(recipe), "--backends", f"reference,{raiser}", "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert re.search(r"^ +1 ", captured.out, re.M) and re.search(r"^ +2 ", captured.out, re.M), captured.out
    assert "stopped: at step 3 an adapter failed" in captured.out
    assert "RuntimeError: driver crashed" in captured.err and len(captured.err.strip().splitlines()) == 1
    doc = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert doc["agree"] is False and doc["error"]["step"] == 3 and "driver crashed" in doc["error"]["message"]
    assert [r["step"] for r in doc["steps"]] == [1, 2]
    assert (out / "compare.svg").is_file()


def test_compare_json_records_the_arguments_given(recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert _compare(recipe, "--out", str(out), "--set", "optimizer.learning_rate=0.02", "--seed", "4", "--steps",
                    "3", "--dtype", "float32") == 0
    doc = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert doc["overrides"] == ["--set optimizer.learning_rate=0.02", "--seed 4"]
    assert (doc["steps_given"], doc["dtype_given"]) == (3, "float32")
    assert _compare(recipe, "--out", str(out), "--overwrite") == 0
    doc = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert (doc["overrides"], doc["steps_given"], doc["dtype_given"]) == ([], None, None)


def _panels(svg: str) -> list[str]:
    return svg.split("<svg x=")[1:]


def _x_ticks(panel: str) -> list[str]:
    return re.findall(r'y="368" text-anchor="middle">([^<]*)<', panel)


def _comparison(recipe: Path, steps: int | None = None):  # type: ignore[no-untyped-def]
    from lockstep.compare import run_compare
    from lockstep.conformance.mutants._base import MutantAdapter
    from lockstep.runner import build_session, prepare_run

    prep = prepare_run(recipe, steps=steps)
    return run_compare(prep, {"reference": build_session(prep, "reference")[1],
                              "same": MutantAdapter().build(prep.model, dtype="float64", recipe=prep.recipe)})


def test_plot_of_one_step_draws_a_dot_in_every_panel(recipe: Path, tmp_path: Path) -> None:
    """`--steps 1` wrote three empty panels: a line of one point draws nothing (f6)."""
    from lockstep.compare import plot

    plot(_comparison(recipe, steps=1), tmp_path / "c.svg")
    panels = _panels((tmp_path / "c.svg").read_text(encoding="utf-8"))
    assert [p.count("<circle") >= 1 for p in panels] == [True, True, True]
    assert panels[0].count("<circle") == 2  # one per backend's loss


def test_plot_says_what_it_does_not_draw_and_shares_the_step_axis(recipe: Path, tmp_path: Path) -> None:
    """A backend that stopped just ended its line; the ratio panel's clamp was silent; the panels' x axes
    disagreed where the losses ended early; the loss panel was linear over any range."""
    import dataclasses
    import math

    from lockstep.compare import plot

    c = _comparison(recipe)
    for r in c.rows[3:]:
        r.losses["same"] = math.nan
    c.stopped["same"] = (4, "loss")
    c.rows[0].judged["same"].worst = dataclasses.replace(c.rows[0].judged["same"].worst, ratio=1e9)  # type: ignore
    for r, v in zip(c.rows, [1000.0, 100.0, 10.0, 1.0, 0.5, 0.2], strict=True):
        r.losses["reference"] = v
    c.rows[-1].losses["reference"] = math.nan  # the last step's loss is not drawn: the axis still reaches it
    plot(c, tmp_path / "c.svg")
    svg = (tmp_path / "c.svg").read_text(encoding="utf-8")
    panels = _panels(svg)
    assert "same (stopped at step 4: non-finite loss) (3 non-finite or non-positive not drawn)" in panels[0]
    assert "(log scale)" in panels[0]
    assert "1 above 1e+06 or non-finite drawn at 1e+06" in panels[2]
    assert "drawn in 1e-17 to 1e+06" in panels[2]
    ticks = [_x_ticks(p) for p in panels]
    assert ticks[0] == ticks[1] == ticks[2] and ticks[0][-1] == "6", ticks


def test_a_stop_acted_on_after_the_files_are_written_says_so(recipe: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop held through writing compare.json and compare.svg is acted on after them: the exit status says
    stopped (130) and the files are the new ones, whole; the command said nothing of that (sweep 2026-12-07). The
    held signal is played by `held_signals` itself raising at its end, as it does when one came: a real signal
    in a pytest-xdist worker may be ignored or blocked by what an earlier test left."""
    import contextlib

    import lockstep.spec.atomic

    depth = [0]

    @contextlib.contextmanager
    def a_stop_comes_while_held():  # type: ignore[no-untyped-def]
        depth[0] += 1  # the writes' own windows nest inside compare's: the stop is acted on at the outermost's end
        try:
            yield
        finally:
            depth[0] -= 1
        if depth[0] == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(lockstep.spec.atomic, "held_signals", a_stop_comes_while_held)
    out = tmp_path / "o"
    assert _compare(recipe, "--out", str(out)) == 130
    err = capsys.readouterr().err
    assert f"stopped after compare.json and compare.svg were written to {out}" in err, err
    assert json.loads((out / "compare.json").read_text(encoding="utf-8"))["agree"] is True
    assert (out / "compare.svg").read_text(encoding="utf-8").rstrip().endswith("</svg>")
