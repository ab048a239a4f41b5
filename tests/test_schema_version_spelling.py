"""`lockstep schema --version`: any case, as `--kind`; a version lockstep reads only through migration says so."""

from __future__ import annotations

import json

import pytest

from lockstep.cli import main
from lockstep.spec.migrations import CURRENT


@pytest.mark.parametrize("spelled", ["V1", "Lockstep/V1", "v1"])
def test_the_version_is_read_in_any_case(spelled: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert CURRENT == "lockstep/v1"
    assert main(["schema", "--version", spelled, "--kind", "MODEL"]) == 0
    assert json.loads(capsys.readouterr().out)


def test_a_migratable_version_points_at_migrate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--version", "v1alpha1"]) == 2
    err = capsys.readouterr().err
    assert err == ("lockstep schema: no schema is published for lockstep/v1alpha1; lockstep reads it by migrating it, "
                   "and `lockstep migrate` rewrites it to lockstep/v1 (`lockstep schema --version v1`)\n"), err


def test_an_unknown_version_is_still_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--version", "v9"]) == 2
    assert "unknown spec version `v9`; this lockstep has v1" in capsys.readouterr().err


@pytest.mark.parametrize(("kind", "version"), [("recipe", "V1"), ("MODEL", "Lockstep/V1"), (None, "V1")])
def test_the_python_api_reads_names_as_the_cli_does(kind: str | None, version: str) -> None:
    import lockstep

    assert lockstep.schema(kind, version) == lockstep.schema(kind and kind.capitalize(), "v1")


def test_the_python_api_points_a_migratable_version_at_migrate() -> None:
    import lockstep

    with pytest.raises(lockstep.LockstepError, match="no schema is published for lockstep/v1alpha1"):
        lockstep.schema(version="V1alpha1")
