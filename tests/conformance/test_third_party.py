"""A third party's adapter, out of tree: examples/acme-adapter is installed into a temporary folder as a vendor's
user would install it (pip, entry point `lockstep.adapters`), then certified by `lockstep certify` and by
`pytest --lockstep-adapter=acme` in subprocesses, which find it only through the .dist-info in that folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "examples" / "acme-adapter"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/acme-adapter built and installed (offline) into a folder of its own; skips if pip cannot."""
    tmp = tmp_path_factory.mktemp("acme")
    source = tmp / "acme-adapter"  # a copy, so that the build leaves no build/ or *.egg-info in examples/
    shutil.copytree(ACME, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                               "--no-index", "--disable-pip-version-check", "-q", "--target", str(target), str(source)],
                              capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"pip cannot install examples/acme-adapter here: {exc}")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        pytest.skip(f"pip cannot build examples/acme-adapter offline (needs setuptools in this environment): {last}")
    return target


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _version() -> str:
    text = (ACME / "src" / "acme_lockstep" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    assert match, "acme_lockstep.__version__ not found"
    return match.group(1)


def test_lockstep_certify_finds_and_certifies_acme(site: Path, tmp_path: Path) -> None:
    done = _run(site, tmp_path, "-m", "lockstep", "certify", "--adapter", "acme", "--examples", "2", "--report", "R")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "R" / "report.json").read_text(encoding="utf-8"))
    assert report["certified"] is True
    assert report["adapter"] == "acme"
    assert report["adapter_versions"]["acme-lockstep-adapter"] == _version()
    assert report["coverage"]["dense"] == {"predictions": "pass", "gradients": "pass"}
    assert report["coverage"]["sgd"] == {"updates": "pass"}
    assert report["coverage"]["conv2d"] == {"predictions": "unsupported", "gradients": "unsupported"}
    assert report["coverage"]["digits-mlp"] == {"recipes": "unsupported"}  # adam and cross-entropy: refused by build
    assert report["counts"]["fail"] == report["counts"]["error"] == 0
    assert {"float32", "float64"} == {c["dtype"] for c in report["checks"] if c["outcome"] == "pass"}


def test_pytest_plugin_runs_the_suite_on_acme(site: Path, tmp_path: Path) -> None:
    done = _run(site, tmp_path, "-m", "pytest", "--lockstep-adapter=acme", "--lockstep-examples=2",
                f"--lockstep-expect={ACME / 'conformance.toml'}", "--junitxml=junit.xml", "-p", "no:cacheprovider",
                "lockstep::acme")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lockstep: adapter acme (acme " in done.stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (int(suite.get("failures", "0")), int(suite.get("errors", "0"))) == (0, 0)
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["dense[gradients-float32-cpu]"].find("skipped") is None  # ran and passed
    skipped = cases["conv2d[gradients-float64-cpu]"].find("skipped")
    assert skipped is not None and "acme does not support conv2d" in skipped.get("message", "")
    recipe = cases["digits-mlp[recipes-float32-cpu]"].find("skipped")
    assert recipe is not None and "expected skip" in recipe.get("message", "")  # the shipped conformance.toml
