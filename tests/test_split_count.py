"""The validation split holds out `ceil(n · validation)` samples, exact on the decimal written: float64's product held
out 8 of 100 for 0.07 (100 × 0.07 = 7.000000000000001), and about 290 such (n ≤ 2000, k/100) pairs, so validate
refused a batch the spec allows ("batch_size 93 exceeds the 92 training samples")."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from tests_support import tiny_recipe

from lockstep.cli import main
from lockstep.spec.data import Split


@given(n=st.integers(1, 5000), k=st.integers(0, 99), digits=st.sampled_from([100, 1000]))
def test_the_held_out_count_is_exact_on_the_written_decimal(n: int, k: int, digits: int) -> None:
    fraction = float(f"{k}e-{len(str(digits)) - 1}")  # 0.07, 0.007: as YAML reads the text
    assert Split(validation=fraction).held_out(n) == -(-n * k // digits), (n, fraction)


def test_validate_and_run_hold_out_7_of_100_at_0_07(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(tiny_recipe(samples=100, steps=2, data="  split: {validation: 0.07}\n")
                      .replace("batch_size: 16", "batch_size: 93"))
    assert main(["validate", str(recipe)]) == 0, capsys.readouterr()
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "-q"]) == 0, capsys.readouterr()
