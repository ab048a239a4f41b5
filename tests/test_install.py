"""A real, non-editable install: the wheel built from this checkout, installed into a fresh virtual environment and
run from a folder outside the repository. An editable install hides bugs that only an installed wheel shows
(a module that something else happened to import, a file left out of the wheel); .ci/run's `wheel` step does the
same with the dependencies from the package index, this test does it offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "runs",
                              ".hypothesis", ".pytest_cache", ".ruff_cache", "certify-*")


def _sh(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding only the wheel of this checkout (dependencies seen through a .pth line)."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "src"  # a copy: the build writes build/ and *.egg-info next to the sources
    shutil.copytree(ROOT, source, ignore=SKIP)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = _sh(*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp / "dist", source,
                cwd=tmp)
    if built.returncode != 0:
        pytest.skip(f"cannot build the wheel offline here: {built.stderr.strip()[-300:]}")
    (wheel,) = (tmp / "dist").glob("lockstep_standard-*.whl")
    venv = tmp / "venv"
    assert _sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp).returncode == 0
    python = venv / "bin" / "python"
    done = _sh(*pip, "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp)
    assert done.returncode == 0, done.stderr
    # the dependencies (pydantic, numpy, hypothesis, ...) from this environment's site-packages: a .pth line adds
    # the folder to sys.path without running the .pth files in it, so this environment's editable finder stays out
    site = Path(_sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.mark.slow
def test_the_installed_wheel_runs_every_kind_of_command(installed: Path, tmp_path: Path) -> None:
    lockstep = installed / "lockstep"
    where = _sh(installed / "python", "-c", "import lockstep; print(lockstep.__file__)", cwd=tmp_path, env=_env())
    assert where.stdout.startswith(str(installed.parent)), f"imported from {where.stdout} {where.stderr}"
    version = _sh(lockstep, "--version", cwd=tmp_path, env=_env())
    assert version.returncode == 0 and version.stdout.startswith("lockstep "), version.stderr
    example = _sh(installed / "python", "-c", "import importlib.resources as r; "
                  "print(r.files('lockstep.examples') / 'digits-mlp' / 'recipe.yaml')", cwd=tmp_path, env=_env())
    recipe = example.stdout.strip()
    assert Path(recipe).is_file() and recipe.startswith(str(installed.parent)), example.stdout + example.stderr
    done = _sh(lockstep, "validate", recipe, cwd=tmp_path, env=_env())
    assert done.returncode == 0 and "0 errors" in done.stdout, done.stdout + done.stderr
    done = _sh(lockstep, "run", recipe, "--steps", "5", "--quiet", "--out", "run", cwd=tmp_path, env=_env())
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "report.json").read_text())["steps"] == 5
    # level 4 trains the example recipes shipped in the wheel: they must be found there
    done = _sh(lockstep, "certify", "--adapter", "reference", "--level", "4", "--construct", "digits-mlp", "--dtype",
               "float64", "--examples", "1", "--quiet", "--report", "cert", cwd=tmp_path, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "digits-mlp" in json.loads((tmp_path / "cert" / "report.json").read_text())["coverage"]


@pytest.mark.slow
def test_every_example_file_ships_in_the_wheel(installed: Path) -> None:
    """tiny-gpt's corpus.txt (the text its recipe says its data was made from) and make_data.py were left out."""
    purelib = _sh(installed / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  cwd=installed, env=_env()).stdout.strip()
    shipped = Path(purelib) / "lockstep" / "examples"
    tracked = subprocess.run(["git", "ls-files", "examples"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    wanted = [Path(f).relative_to("examples") for f in tracked.stdout.split()  # acme is a package of its own
              if not f.startswith("examples/acme-adapter/")]
    missing = [str(f) for f in wanted if not (shipped / f).is_file()]
    assert not missing, f"left out of the wheel: {missing}"
