"""The reports of `lockstep certify`, rendered from hand-built certifications."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests_support import failing_rename_of

from lockstep.conformance.report import (
    counts_line,
    fmt_margin,
    fmt_number,
    fmt_ratio,
    junit_xml,
    margins_svg,
    summary_table,
    write_reports,
)
from lockstep.conformance.results import Certification, CheckResult, Worst

ODD = 'odd<&>"name\''
REPRO = "lockstep certify --adapter torch --replay failures/conv2d.gradients.float32.cpu/case.yaml"


def _cert(checks: list[CheckResult], **kw) -> Certification:
    base = dict(adapter="torch", adapter_versions={"torch": "2.3.1", "lockstep-torch": "0.1"}, spec_version="v1",
                suite_version="0.1.0", seed=1234, examples=50, levels=[1, 2, 3], dtypes=["float32", "float64"],
                devices=["cpu"], environment={"python": "3.11.7", "numpy": "1.26.4"}, seconds=83.25)
    base.update(kw)
    return Certification(checks=checks, **base)  # type: ignore[arg-type]


def passing() -> Certification:
    return _cert([
        CheckResult("dense", 1, "float32", "cpu", "pass", 50, Worst("output", 1e-7, 3.7e-6, 1e-7 / 3.7e-6), 1.5,
                    "native"),
        CheckResult("dense", 1, "float64", "cpu", "pass", 50, Worst("output", 0.0, 1e-12, 0.0), 0.5, "native"),
        CheckResult("dense", 2, "float32", "cpu", "pass", 50,
                    Worst("gradient dense.weight", 2e-6, 1e-5, 0.2), 2.0, "native"),
        CheckResult("adam", 3, "float64", "cpu", "pass", 50, Worst("step 2 parameter w", 1e-13, 1e-11, 0.01), 1.0,
                    "subclass: eps placement"),
    ])


def mixed() -> Certification:
    return _cert([
        CheckResult("dense", 1, "float32", "cpu", "pass", 50, Worst("output", 1e-7, 3.7e-6, 1e-7 / 3.7e-6), 1.5),
        CheckResult("conv2d", 2, "float32", "cpu", "fail", 7, Worst("gradient conv.weight", 1.234e-5, 1e-5, 1.234),
                    3.25, "native", "gradient conv.weight differs first at [0, 1, 2, 2]",
                    "failures/conv2d.gradients.float32.cpu/", REPRO),
        CheckResult("conv2d", 2, "float64", "cpu", "pass", 50, Worst("gradient conv.weight", 1e-13, 1e-11, 0.01)),
        CheckResult("lstm", 1, "float32", "cpu", "unsupported", support="unsupported: no reset_after",
                    message="GRU reset_after=False has no native <layer> & no subclass"),
        CheckResult("lstm", 1, "float64", "cpu", "unsupported", message="GRU reset_after=False has no native layer"),
        CheckResult(ODD, 1, "float32", "cpu", "error", 3, None, 0.1,
                    message='adapter raised ValueError: shape <3, 4> & "x" \x07 mismatch'),
        CheckResult("softmax", 1, "float32", "cpu", "fail", 1,
                    Worst("output (non-finite (inf at index (0, 1); the reference's is 0.5))", math.inf, 1e-5,
                          math.inf), 0.2,
                    message="output is non-finite (inf) where the reference is finite",
                    failure_dir="failures/odd dir & <x>/", reproduce=f"lockstep replay 'failures/{ODD}'"),
        CheckResult("batchnorm", 1, "float32", "cpu", "pass", 50, Worst("output", 1e-6, 1e-5, 0.1)),
        CheckResult("batchnorm", 1, "float64", "cpu", "unsupported", message="no float64 kernel"),
    ])


# ------------------------------------------------------------------------------------------------ numbers

def test_number_and_margin_formats() -> None:
    assert fmt_number(1.2345e-5) == "1.23e-5"
    assert fmt_number(1e-10) == "1e-10"
    assert fmt_number(37.46) == "37.5"
    assert fmt_number(math.inf) == "inf" and fmt_number(math.nan) == "nan"
    assert fmt_margin(Worst("q", 1e-7, 3.7e-6, 1 / 37)) == "×37"
    assert fmt_margin(Worst("q", 0.0, 1e-5, 0.0)) == "×∞"
    assert fmt_margin(Worst("q", math.inf, 1e-5, math.inf)) == "none"  # no error measured (a NaN or inf value)
    assert fmt_margin(Worst("q", math.nan, 1e-5, math.nan)) == "none"
    assert fmt_margin(Worst("q", 1.0, 1e-5, 5e-324)) == "×∞"  # 1/ratio overflows
    assert fmt_margin(None) == ""
    assert fmt_ratio(1.0004) == "1.0004" and fmt_ratio(0.99996) == "0.99996" and fmt_ratio(1.0) == "1"
    assert fmt_ratio(1.234) == "1.23" and fmt_ratio(math.inf) == "inf"
    assert fmt_margin(Worst("q", 1.0, 1.0, 1.0004)) == "×0.9996"  # a failure never reads as ×1


# ------------------------------------------------------------------------------------------------ files

def test_a_report_that_cannot_be_replaced_leaves_the_earlier_certificate_and_its_failures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reports are put back when one cannot be renamed into place (an immutable report.md); the failures/
    folder swapped in with them went back too, or the earlier reports would name failure folders that were gone."""
    folder = tmp_path / "certify"
    (folder / "failures" / "old-check").mkdir(parents=True)
    write_reports(mixed(), folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    staged = tmp_path / "stage" / "failures"
    (staged / "new-check").mkdir(parents=True)
    failing_rename_of(monkeypatch, "report.md")
    with pytest.raises(PermissionError):
        write_reports(passing(), folder, failures=staged, trash=tmp_path / "stage" / "previous")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    assert [p.name for p in (folder / "failures").iterdir()] == ["old-check"]
    assert [p.name for p in staged.iterdir()] == ["new-check"] and not (tmp_path / "stage" / "previous").exists()


def test_writes_every_report_into_a_new_folder_atomically(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "report"
    paths = write_reports(mixed(), folder)
    assert set(paths) == {"json", "junit", "html", "markdown"}
    assert {p.name for p in paths.values()} == {"report.json", "junit.xml", "report.html", "report.md"}
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths.values())  # no temp files
    write_reports(passing(), folder)  # overwrites in place
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths.values())
    assert json.loads(paths["json"].read_text())["certified"] is True


@pytest.mark.parametrize("make", [passing, mixed])
def test_json_matches_to_json(tmp_path: Path, make) -> None:
    cert = make()
    paths = write_reports(cert, tmp_path)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    expected = json.loads(json.dumps(cert.to_json()))
    assert data == expected  # one rule for both (Worst.to_json)
    for c in expected["checks"]:
        if c["construct"] == "softmax":  # an inf where a finite value is due: no error, so no margin (null)
            assert c["worst"]["error"] is None and c["worst"]["margin"] is None
    assert data["adapter_versions"]["torch"] == "2.3.1" and data["environment"]["numpy"] == "1.26.4"


def test_json_has_no_bare_infinity(tmp_path: Path) -> None:
    text = write_reports(mixed(), tmp_path)["json"].read_text()
    assert "Infinity" not in text and "NaN" not in text
    softmax = next(c for c in json.loads(text)["checks"] if c["construct"] == "softmax")
    assert softmax["worst"]["ratio"] == "inf"


def _cases(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("testcase"))


def test_junit_parses_and_counts_match(tmp_path: Path) -> None:
    cert = mixed()
    root = ET.parse(write_reports(cert, tmp_path)["junit"]).getroot()
    assert root.tag == "testsuites"
    cases = _cases(root)
    assert int(root.get("tests")) == len(cases) == len(cert.checks)
    assert int(root.get("failures")) == 2 == sum(c.find("failure") is not None for c in cases)
    assert int(root.get("errors")) == 1 == sum(c.find("error") is not None for c in cases)
    assert int(root.get("skipped")) == 3 == sum(c.find("skipped") is not None for c in cases)
    assert float(root.get("time")) == pytest.approx(83.25)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["lockstep.certify.torch.predictions", "lockstep.certify.torch.gradients"]
    for suite in suites:
        mine = suite.findall("testcase")
        assert int(suite.get("tests")) == len(mine)
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in mine)
        assert int(suite.get("errors")) == sum(c.find("error") is not None for c in mine)
        assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in mine)
        assert float(suite.get("time")) == pytest.approx(sum(float(c.get("time")) for c in mine), abs=1e-3)
        assert all(c.get("classname") == suite.get("name") for c in mine)
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["version.torch"] == "2.3.1" and props["seed"] == "1234"


def test_junit_case_contents(tmp_path: Path) -> None:
    root = ET.parse(write_reports(mixed(), tmp_path)["junit"]).getroot()
    by_name = {c.get("name"): c for c in _cases(root)}
    conv = by_name["conv2d[float32,cpu]"]
    assert conv.get("classname") == "lockstep.certify.torch.gradients"
    assert conv.get("time") == "3.250"
    failure = conv.find("failure")
    message = failure.get("message")
    for part in ("gradient conv.weight", "1.23e-5", "tolerance 1e-5", "ratio 1.23", REPRO):
        assert part in message
    assert "failures/conv2d.gradients.float32.cpu/" in failure.text and REPRO in failure.text
    assert by_name["softmax[float32,cpu]"].find("failure").get("type") == "non-finite"
    odd = by_name[f"{ODD}[float32,cpu]"]
    assert odd.find("error").get("message").startswith('adapter raised ValueError: shape <3, 4> & "x"')
    assert "\x07" not in odd.find("error").get("message")  # XML 1.0 forbids it
    skipped = by_name["lstm[float32,cpu]"].find("skipped")
    assert skipped.get("message") == "GRU reset_after=False has no native <layer> & no subclass"
    assert by_name["dense[float32,cpu]"].find("failure") is None


def test_html_page(tmp_path: Path) -> None:
    page = write_reports(mixed(), tmp_path)["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "NOT CERTIFIED" in page
    assert "<svg" in page and "</svg>" in page
    assert "<link" not in page and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert ODD not in page and "odd&lt;&amp;&gt;&quot;name&#x27;" in page  # escaped, never raw
    assert "<layer>" not in page and "&lt;layer&gt; &amp; no subclass" in page
    assert "\x07" not in page
    assert 'class="fail"' in page and 'class="pass"' in page and 'class="unsupported"' in page
    assert 'class="partial"' in page and 'class="error"' in page and 'class="na"' in page
    assert "lockstep certify --adapter torch --replay failures/conv2d.gradients.float32.cpu/case.yaml" in page
    assert 'href="failures/conv2d.gradients.float32.cpu/"' in page
    assert 'href="failures/odd%20dir%20%26%20%3Cx%3E/"' in page
    assert "1.23e-5" in page and "non-finite" in page and "×37" in page  # dense: 3.7e-6 / 1e-7
    for fact in ("2.3.1", "v1", "0.1.0", "1234", "1 min 23 s"):
        assert fact in page


def test_html_coverage_cell_titles(tmp_path: Path) -> None:
    page = write_reports(mixed(), tmp_path)["html"].read_text(encoding="utf-8")
    # the batchnorm predictions cell: float32 passed, float64 unsupported
    assert 'title="float32 cpu: pass, ×10 (output)' in page
    assert "float64 cpu: unsupported" in page


def test_html_certified(tmp_path: Path) -> None:
    page = write_reports(passing(), tmp_path)["html"].read_text(encoding="utf-8")
    assert "CERTIFIED" in page and "NOT CERTIFIED" not in page
    assert "×∞" in page


def test_markdown(tmp_path: Path) -> None:
    md = write_reports(mixed(), tmp_path)["markdown"].read_text(encoding="utf-8")
    assert md.startswith("# Lockstep certification of torch: **NOT CERTIFIED**")
    lines = md.splitlines()
    header = lines.index("| construct | 1 predictions | 2 gradients | 3 updates | provenance |")
    assert lines[header + 1] == "| --- | --- | --- | --- | --- |"
    rows = {line.split(" | ")[0]: line for line in lines[header + 2:] if line.startswith("| ")}
    assert rows["| conv2d"] == "| conv2d | - | **FAIL** | - | - |"
    assert rows["| lstm"] == "| lstm | unsupported | - | - | - |"
    assert rows["| batchnorm"] == "| batchnorm | partial ×10 | - | - | - |"
    assert any(r.startswith("| odd\\<\\&\\>") for r in rows)  # escaped
    assert "\n```text\n" + REPRO + "\n```\n" in md
    assert "[failures/conv2d.gradients.float32.cpu/](failures/conv2d.gradients.float32.cpu/)" in md
    assert "(failures/odd%20dir%20%26%20%3Cx%3E/)" in md
    assert "## Unsupported" in md and "no float64 kernel" in md


def test_markdown_fence_outgrows_backticks(tmp_path: Path) -> None:
    cert = _cert([CheckResult("x", 1, "float32", "cpu", "fail", 1, Worst("output", 1, 0.1, 10),
                              message="run ```rm``` first", reproduce="echo ````")])
    md = write_reports(cert, tmp_path)["markdown"].read_text()
    assert "`````text\necho ````\n`````" in md
    assert "````text\nrun ```rm``` first\n````" in md


# ------------------------------------------------------------------------------------------------ terminal

@pytest.mark.parametrize("width", [100, 80, 60])
def test_summary_table_fits_and_names_failures(width: int) -> None:
    cert = mixed()
    cert.checks.append(CheckResult("a_very_long_recipe_name_" * 4, 3, "float32", "cpu", "pass", 50,
                                   Worst("step 1 loss", 1e-6, 1e-4, 0.01)))
    text = summary_table(cert, width=width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    assert lines[0].split() == ["construct", "predictions", "gradients", "updates", "provenance"]
    assert "NOT CERTIFIED" in lines
    joined = " ".join(line.strip() for line in lines)
    assert "FAIL conv2d.gradients.float32.cpu: first diverges at gradient conv.weight differs first" in joined
    assert "failures/conv2d.gradients.float32.cpu/" in joined
    assert "softmax.predictions.float32.cpu" in joined and "non-finite" in joined
    assert "ERROR " in joined
    assert "9 examples run" not in joined and f"{sum(c.examples for c in cert.checks)} examples run" in joined
    assert "1 min 23 s" in joined and "seed 1234" in joined


def test_summary_table_cells() -> None:
    lines = summary_table(mixed()).splitlines()
    row = {line.split()[0]: line.split(None, 1)[1] for line in lines[2:] if line and not line.startswith("-")}
    assert row["dense"].split() == ["pass", "×37", "-", "-", "-"]
    assert row["conv2d"].split() == ["-", "FAIL", "-", "-"]
    assert row["lstm"].split() == ["unsupported", "-", "-", "-"]
    assert row["batchnorm"].split() == ["partial", "×10", "-", "-", "-"]
    assert row["softmax"].split() == ["FAIL", "-", "-", "-"]


def _with_provenance() -> Certification:
    """adam bridged in both dtypes, gelu native in float32 and written in float64, a composite without one."""
    def check(construct: str, level: int, dtype: str, provenance: str | None, outcome: str = "pass") -> CheckResult:
        support = f"{provenance}: note of {construct}" if provenance else "composite: random layers"
        return CheckResult(construct, level, dtype, "cpu", outcome, 5, Worst("q", 1e-9, 1e-8, 0.1), 0.1, support,
                           provenance=provenance)
    return _cert([check("adam", 3, "float32", "bridged"), check("adam", 3, "float64", "bridged"),
                  check("gelu", 1, "float32", "native"), check("gelu", 1, "float64", "written"),
                  check("random_model", 1, "float32", None),
                  CheckResult("lstm", 1, "float32", "cpu", "unsupported", support="unsupported: no")])


def test_provenance_beside_every_verdict_and_counted(tmp_path: Path) -> None:
    cert = _with_provenance()
    assert cert.provenance_counts() == {"native": 1, "bridged": 2, "written": 1}
    assert cert.to_json()["provenance_counts"] == {"native": 1, "bridged": 2, "written": 1}
    assert [c["provenance"] for c in cert.to_json()["checks"]][:4] == ["bridged", "bridged", "native", "written"]
    text = summary_table(cert)
    row = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:] if line and not line.startswith("-")}
    assert row["adam"][-1] == "bridged" and row["gelu"][-1] == "native/written", row
    assert row["random_model"][-1] == "-"
    assert "provenance of the checks run: native 1 · bridged 2 · written 1" in text
    paths = write_reports(cert, tmp_path)
    md = paths["markdown"].read_text(encoding="utf-8")
    gelu = next(line for line in md.splitlines() if line.startswith("| gelu |"))
    assert gelu.endswith(" | native/written |"), gelu
    assert "| provenance | provenance of the checks run: native 1 · bridged 2 · written 1 |" in md
    page = paths["html"].read_text(encoding="utf-8")
    assert "<td>bridged</td><td>bridged: note of adam</td>" in page
    assert '<td class="prov written">native/written</td>' in page
    root = ET.parse(paths["junit"]).getroot()
    props = {c.get("name"): [p.get("value") for p in c.iter("property")] for c in _cases(root)}
    assert props["gelu[float64,cpu]"] == ["written"] and props["random_model[float32,cpu]"] == []


def test_summary_table_certified() -> None:
    text = summary_table(passing())
    assert "CERTIFIED" in text.splitlines() and "FAIL" not in text
    assert "pass ×∞" not in text  # the smallest margin of dense predictions is float32's ×37
    assert "pass ×5" in text  # dense gradients: ratio 0.2


def test_summary_table_prints_no_control_characters() -> None:
    cert = _cert([CheckResult("bad\x1b[31mname", 1, "float32", "cpu", "error", message="boom\x07\x1b[2J\rx\nmore")])
    text = summary_table(cert)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "ERROR bad\ufffd[31mname.predictions.float32.cpu: boom" in text


def test_summary_table_without_checks() -> None:
    text = summary_table(_cert([]))
    assert "(no checks)" in text and "NOT CERTIFIED" in text


# ------------------------------------------------------------------------------------------------ plot

def test_margins_svg_is_standalone_xml() -> None:
    svg = margins_svg(mixed())
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    ns = "{http://www.w3.org/2000/svg}"
    tips = [t.text for t in root.iter(f"{ns}title")]
    # every check that ran with a comparison is a mark with a tooltip; unsupported and the worst-less error are not
    dots = [t for t in tips if t and "\n" in t]
    assert len(dots) == 5
    assert any(t.startswith("conv2d.gradients.float32.cpu (fail)") and "ratio 1.23" in t for t in dots)
    assert any("non-finite" in t for t in dots)
    assert any(t == ODD for t in tips) is False  # the error check has no worst: not plotted
    assert "tolerance (ratio 1)" in svg


def test_margins_svg_bands_and_escaping() -> None:
    svg = margins_svg(passing())
    ET.fromstring(svg)
    assert "error 0" in svg and "non-finite</text>" not in svg
    odd = _cert([CheckResult(ODD, 1, "float<32>", "cpu", "pass", 1, Worst("q&", 1e-3, 1.0, 1e-3))], adapter="a&b")
    root = ET.fromstring(margins_svg(odd))
    texts = "".join(root.itertext())
    assert ODD in texts and "float<32>" in texts and "a&b" in texts


def test_margins_svg_without_checks() -> None:
    svg = margins_svg(_cert([]))
    ET.fromstring(svg)
    assert "no check ran" in svg


def test_the_counts_line_says_one_check_and_many_checks() -> None:
    assert counts_line({"pass": 1, "fail": 0, "error": 0, "unsupported": 0}) == (
        "1 check: 1 pass, 0 fail, 0 error, 0 unsupported")
    assert counts_line({"pass": 4, "fail": 2, "error": 0, "unsupported": 1}).startswith("7 checks: 4 pass, 2 fail")


def test_an_adapter_s_controls_reach_no_report_or_terminal_raw() -> None:
    """An error message with a NUL, ESC sequences, a CR and a bidi override (U+202E) went raw into report.md's
    code block (`cat report.md` acted on them); versions with U+202E reached report.md and the terminal."""
    from lockstep.conformance.report import html_report, markdown_report

    hostile = "kernel\x00 \x1b[31mRED\x1b[0m\r forged \u202eevil\u2066 line one\nline two\tend"
    cert = _cert([CheckResult("dense", 1, "float64", "cpu", "error", 1, None, 0.1, message=hostile,
                              reproduce="lockstep certify --adapter x")],
                 adapter_versions={"x": "1.0\u202e\x1b[2J"})
    for name, text in (("report.md", markdown_report(cert)), ("report.html", html_report(cert)),
                       ("terminal", summary_table(cert))):
        bad = sorted({hex(ord(c)) for c in text if c in "\x00\x1b\r\u202e\u2066"})
        assert not bad, f"{name} holds {bad}"
    assert "line one\nline two\tend" in markdown_report(cert)  # the message's own lines are kept in its block


def test_a_report_that_cannot_be_written_still_says_the_verdict(tmp_path: Path, capsys, monkeypatch) -> None:
    """On a full disk certify said only "cannot write the report" (exit 2): a failed certification's verdict and
    its failing checks were lost with the files. They are printed, without pointing at reproducers never kept."""
    from lockstep.cli import main
    from lockstep.conformance import report

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_reports", full)
    out = tmp_path / "report"
    code = main(["certify", "--adapter", "lockstep.conformance.mutants.adam_no_bias_correction:"
                 "AdamNoBiasCorrectionAdapter", "--construct", "adam", "--level", "3", "--dtype", "float64",
                 "--examples", "2", "--report", str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "NOT CERTIFIED" in captured.out and "FAIL adam.updates.float64.cpu" in captured.out, captured.out
    assert "→" not in captured.out and "failures/" not in captured.out, captured.out
    assert f"cannot write the report to {out}: No space left on device; the folder holds what it held before" \
        in captured.err, captured.err
    assert not out.exists()


def _in_the_way(folder: Path, name: str, kind: str) -> None:
    """Replace a certificate's `name` in `folder` by a folder or a symbolic link."""
    path = folder / name
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(folder.parent / "elsewhere")


@pytest.mark.parametrize("name, kind, said", [
    ("report.html", "folder", "report.html, which is a folder, not a regular file"),
    ("junit.xml", "folder", "junit.xml, which is a folder, not a regular file"),
    ("report.md", "link", "report.md, which is a symbolic link, not a regular file"),
    ("failures", "link", "failures, which is a symbolic link, not a folder"),
])
@pytest.mark.parametrize("default", [False, True])
def test_a_report_in_the_way_is_refused_before_any_check(name: str, kind: str, said: str, default: bool,
                                                         tmp_path: Path, capsys, monkeypatch) -> None:
    """Before: exit 2 came after every check had run ("cannot write the report to DIR: Is a directory"), and a
    report.md that is a symbolic link was not named."""
    from lockstep.cli import main
    from lockstep.conformance import suite

    monkeypatch.chdir(tmp_path)
    argv = ["certify", "--adapter", "reference", "--construct", "relu", "--dtype", "float64", "--examples", "1",
            "--jobs", "1", "-q", *([] if default else ["--report", "r"])]
    folder = tmp_path / ("certify-reference" if default else "r")
    assert main(argv) == 0
    capsys.readouterr()
    _in_the_way(folder, name, kind)
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.setattr(suite, "certify", lambda *a, **k: pytest.fail("a check ran"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    shown = "certify-reference" if default else "r"
    assert err == (f"lockstep certify: --report {shown} holds {said}: the reports cannot replace it; remove it or "
                   "choose another --report folder\n"), err
    assert sorted(p.name for p in folder.iterdir()) == before


def test_the_api_names_a_report_in_the_way(tmp_path: Path) -> None:
    import lockstep
    from lockstep.errors import LockstepError

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "report.json").write_text('{"certified": true, "checks": [], "adapter": "reference", '
                                                '"spec_version": "lockstep/v1", "suite_version": "1.0.0"}')
    (tmp_path / "r" / "junit.xml").mkdir()
    with pytest.raises(LockstepError, match=r"^lockstep certify: report .*r holds junit.xml, which is a folder"):
        lockstep.certify("reference", constructs="relu", report=tmp_path / "r", log=lambda _m: None)


def test_recipe_steps_are_said_where_they_cut_the_example_recipes_short() -> None:
    """`--recipe-steps 2` was recorded nowhere: a certificate that judged two steps of each example recipe read as
    one that judged their whole length."""
    from lockstep.conformance.report import html_report, markdown_report

    recipe = CheckResult("csv-binary", 4, "float64", "cpu", "pass", 1, Worst("loss", 0.0, 1e-10, 0.0))
    said = "at most the first 2 steps of each example recipe judged (--recipe-steps 2): a longer one was cut short"
    capped = _cert([recipe], recipe_steps=2)
    assert capped.to_json()["recipe_steps"] == 2
    assert f"\nrecipes: {said}\n" in summary_table(capped, width=200)
    assert f"| recipes | {said} |" in markdown_report(capped)
    assert f"<tr><th>recipes</th><td>{said}</td></tr>" in html_report(capped)
    props = {p.get("name"): p.get("value") for p in ET.fromstring(junit_xml(capped)).iter("property")}
    assert props["recipe_steps"] == "2"
    whole = _cert([recipe])
    assert whole.to_json()["recipe_steps"] is None
    for text in (summary_table(whole), markdown_report(whole), html_report(whole), junit_xml(whole)):
        assert "recipe-steps" not in text and "recipe_steps" not in text
    assert "recipes:" not in summary_table(_cert([], recipe_steps=2))  # no recipe judged: nothing cut short


def test_recipe_steps_are_kept_in_report_json_and_read_back(tmp_path: Path) -> None:
    import lockstep

    cert = lockstep.certify("reference", constructs="csv-binary", levels=4, dtypes="float64", recipe_steps=1,
                            report=tmp_path / "r", log=lambda _m: None)
    assert cert.recipe_steps == 1 and json.loads((tmp_path / "r" / "report.json").read_text())["recipe_steps"] == 1
    assert lockstep.Certificate.read(tmp_path / "r").recipe_steps == 1


@pytest.mark.parametrize("options", [{"levels": "1,2"}, {"constructs": "dense"}, {"constructs": "dense,sgd"}])
def test_recipe_steps_that_cap_no_recipe_are_refused(options: dict, tmp_path: Path) -> None:
    import lockstep
    from lockstep.errors import LockstepError

    with pytest.raises(LockstepError, match=r"^recipe_steps 3: the options plan no example recipe at level 4 or 5"):
        lockstep.certify("reference", recipe_steps=3, report=tmp_path / "r", **options)
    assert not (tmp_path / "r").exists()


def test_no_provenance_is_said_for_what_it_is() -> None:
    """A construct's own check without a provenance (support() failed, or its worker ended first) was said to have
    none because "example recipes and random models span several" constructs."""
    dense = CheckResult("dense", 1, "float64", "cpu", "error", message="timed out")
    recipe = CheckResult("csv-binary", 4, "float64", "cpu", "pass", 1, Worst("loss", 0.0, 1e-10, 0.0))
    composite = CheckResult("random_model", 1, "float64", "cpu", "pass", 1, Worst("output", 0.0, 1e-10, 0.0),
                            support="composite: 2-5 random layers")
    assert "provenance of the checks run: none recorded (" in summary_table(_cert([dense, recipe]), width=200)
    assert "none of one construct (example recipes and random models span several" in summary_table(
        _cert([recipe, composite]), width=200)
