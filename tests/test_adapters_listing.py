"""`lockstep adapters` says every broken third-party adapter with and without `--details`, says which adapter a slow
listing waits for (and stops it at certify's limit on loading), and hints at repeating `--adapter`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests_support import fake_entry_points

from lockstep.adapters import registry
from lockstep.cli import main
from lockstep.commands import adapters as command

VENDOR = '''
from lockstep.adapters.reference import ReferenceAdapter

class VendorAdapter(ReferenceAdapter):
    name = "vendor"
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fine and a broken third-party adapter as if installed; only the reference built in (no framework imports:
    the listing stays fast)."""
    (tmp_path / "listing_vendor_pkg.py").write_text(VENDOR)
    (tmp_path / "listing_broken_pkg.py").write_text("raise RuntimeError('vendor bug at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "BUILTIN", {"reference": registry.BUILTIN["reference"]})
    fake_entry_points(monkeypatch, vendor="listing_vendor_pkg:VendorAdapter", broken="listing_broken_pkg:Thing")
    return tmp_path


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_details_say_a_broken_adapter_as_the_listing_does(installed: Path, fmt: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters", "--format", fmt]) == 1
    plain = capsys.readouterr().err
    assert "the adapter `broken` cannot be used" in plain and "vendor bug at import" in plain
    assert main(["adapters", "--details", "--format", fmt]) == 1
    captured = capsys.readouterr()
    assert captured.err == plain  # the same lines, the same exit code
    if fmt == "json":
        assert set(json.loads(captured.out)) == {"reference", "vendor"}


def test_details_of_fine_adapters_only_exit_0(installed: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    fake_entry_points(monkeypatch, vendor="listing_vendor_pkg:VendorAdapter")
    assert main(["adapters", "--details"]) == 0
    assert capsys.readouterr().err == ""


def test_a_slow_import_is_announced_and_stopped(installed: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from lockstep.conformance import parallel

    (installed / "listing_sleepy_pkg.py").write_text("import time\ntime.sleep(60)\nclass Adapter: ...\n")
    fake_entry_points(monkeypatch, sleepy="listing_sleepy_pkg:Adapter", vendor="listing_vendor_pkg:VendorAdapter")
    monkeypatch.setattr(command, "NOTICE_SECONDS", 0.2)
    monkeypatch.setattr(parallel, "LOAD_SECONDS", 1.5)
    assert main(["adapters", "--format", "json"]) == 1
    captured = capsys.readouterr()
    rows = {r["name"]: r for r in json.loads(captured.out)}
    assert rows["vendor"]["available"] and not rows["sleepy"]["available"]  # the listing went on
    assert "still loading after 1.5 s" in rows["sleepy"]["reason"]
    assert "lockstep adapters: still loading the adapter `sleepy` (entry point listing_sleepy_pkg:Adapter)" \
        in captured.err
    assert "the adapter `sleepy` cannot be used" in captured.err


def test_a_comma_list_for_adapter_is_told_to_repeat_it(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters", "--adapter", "reference,vendor"]) == 2
    assert "repeat it (--adapter reference --adapter vendor)" in capsys.readouterr().err
