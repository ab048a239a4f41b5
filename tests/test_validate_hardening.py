"""Validate what run will need (issue #9): every document here once passed `lockstep validate` and then
crashed `run`, was converted silently, hung, or printed raw escapes. Each test names the defect."""

from __future__ import annotations

import copy
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import documents, get, paths

from lockstep.cli import main
from lockstep.reference.data import DataError, prepare
from lockstep.spec import resources
from lockstep.spec.documents import Recipe
from lockstep.spec.formats import FORMATS, render
from lockstep.spec.loader import MAX_DOCUMENTS, dump_yaml, load_text
from lockstep.spec.npy import read_npy_file, read_npz_header
from lockstep.spec.schema_export import SCHEMA_DIR
from lockstep.spec.validate import MAX_DIAGNOSTICS, validate_document, validate_paths

ROOT = Path(__file__).resolve().parents[1]
FIFO = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")

RECIPE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: r}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [4]}]
  layers:
    - {type: dense, units: 8}
    - {type: relu}
    - {type: dense, units: 3}
seed: 0
data:
  source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}
  batch_size: 16
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}
training: {steps: 20}
"""


def diags(text: str, base: Path = Path("."), file: str = "r.yaml"):
    doc = load_text(text, file)[0]
    obj, found = validate_document(doc, base_dir=base)
    assert (obj is None) == bool(found)
    assert not [d for d in found if d.code == "internal"], [d.format() for d in found]
    return found


def one(text: str, base: Path = Path("."), file: str = "r.yaml"):
    found = diags(text, base, file)
    assert len(found) == 1, "\n".join(d.format() for d in found)
    return found[0]


def validate_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(["validate", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out + out.err


@pytest.fixture(autouse=True)
def _known_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stated memory limit, so that no test depends on this machine's free memory."""
    monkeypatch.setenv(resources.ENV, "8GiB")


# ------------------------------------------------------------------------ 1. non-finite numbers, ranges
NON_FINITE = [
    ("optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}", "learning_rate: 0.1", "learning_rate: .inf",
     "optimizer.learning_rate"),
    ("training: {steps: 20}", "training: {steps: 20}", "training: {steps: 20}\nregularization: {l2: .inf}",
     "regularization.l2"),
    ("loss:", "loss: {type: sparse_categorical_crossentropy, from_logits: true}", "loss: {type: huber, delta: .inf}",
     "loss.delta"),
    ("units: 8}", "units: 8}", "units: 8, initializers: {weight: {type: constant, value: .nan}}}",
     "model.layers[0].initializers.weight.value"),
    ("units: 8}", "units: 8}", "units: 8, initializers: {weight: {type: normal, mean: -.inf}}}",
     "model.layers[0].initializers.weight.mean"),
    ("units: 8}", "units: 8}", "units: 8, initializers: {weight: {type: uniform, low: -.inf, high: 1}}}",
     "model.layers[0].initializers.weight.low"),
    ("batch_size", "  batch_size: 16", "  batch_size: 16\n  preprocessing: [{type: min_max, low: .nan}]",
     "data.preprocessing[0].low"),
    ("num_classes: 3}", "num_classes: 3}", "num_classes: 3, separation: .inf}", "data.source.separation"),
]


@pytest.mark.parametrize("anchor,old,new,path", NON_FINITE, ids=[p for *_, p in NON_FINITE])
def test_non_finite_numbers_are_refused(anchor: str, old: str, new: str, path: str) -> None:
    assert anchor in RECIPE and old in RECIPE
    text = RECIPE.replace(old, new, 1)
    found = [d for d in diags(text) if d.path == path]
    assert found and "expected a finite number" in found[0].message, [d.format() for d in diags(text)]
    assert re.search(r"got -?\.(inf|nan)", found[0].message), found[0].message


def _numbers(node: object, where: str = ""):
    if isinstance(node, dict):
        if node.get("type") in ("number", "integer"):
            yield where, node
        for k, v in node.items():
            yield from _numbers(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{where}/{i}")


@pytest.mark.parametrize("name", ["model", "recipe", "environment", "document"])
def test_every_number_in_the_exported_schema_is_bounded(name: str) -> None:
    """One shared finite float type and one 64-bit integer type, used everywhere, and the schema says so:
    a number without bounds would accept `.inf` in an editor, an integer without them 10**25."""
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    found = list(_numbers(schema))
    assert found
    for where, node in found:
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        assert low is not None and high is not None, f"{where}: {node} is unbounded"
        if node["type"] == "integer":
            assert -(2**63) <= low and high <= 2**63 - 1, f"{where}: {node}"
        else:
            assert -1.8e308 < low and high < 1.8e308, f"{where}: {node}"


def test_every_float_field_refuses_infinity() -> None:
    """Scan the models themselves: any field typed float rejects .inf and .nan, whatever its annotation."""
    from lockstep.spec import base, data, documents, initializers, layers, losses, optimizers, schedules

    fields = 0
    for module in (base, data, documents, initializers, layers, losses, optimizers, schedules):
        for cls in vars(module).values():
            if not (isinstance(cls, type) and issubclass(cls, base.Strict)) or cls is base.Strict:
                continue
            for name, field in cls.model_fields.items():
                if float not in _leaf_types(field.annotation):
                    continue
                fields += 1
                for bad in (float("inf"), float("nan")):
                    errors = _errors(cls, {name: _holding(field.annotation, bad)})
                    assert any(e["loc"][:1] == (name,) and e["type"] == "finite_number" for e in errors), (
                        f"{cls.__name__}.{name} accepts {bad}: {errors}")
    assert fields >= 30


def _holding(annotation: object, bad: float) -> object:
    """`bad` where the field's float sits: the value itself, or under a valid key of a dict-typed field."""
    import typing

    for arm in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arm) is dict:
            key_type = typing.get_args(arm)[0]
            keys = [k for k in _leaf_types(key_type) if isinstance(k, str)] or ["key"]
            return {keys[0]: bad}
    return bad


def _leaf_types(annotation: object) -> set:
    import typing

    args = typing.get_args(annotation)
    if not args:
        return {annotation}
    if typing.get_origin(annotation) is typing.Literal:
        return set()
    return set().union(*(_leaf_types(a) for a in args))


def _errors(cls, data: dict) -> list:
    from pydantic import ValidationError

    try:
        cls.model_validate(data)
    except ValidationError as exc:
        return exc.errors()
    return []


@pytest.mark.parametrize("old,new,path,message", [
    ("units: 8}", "units: 8, initializers: {weight: {type: uniform, low: 5, high: -5}}}",
     "model.layers[0].initializers.weight", "`low` (5) must be below `high` (-5)"),
    ("units: 8}", "units: 8, initializers: {weight: {type: uniform, low: 1, high: 1}}}",
     "model.layers[0].initializers.weight", "`low` (1) must be below `high` (1)"),
    ("units: 8}", "units: 8, initializers: {weight: {type: uniform, low: -1e308, high: 1e308}}}",
     "model.layers[0].initializers.weight", "wider than a float64 can hold"),
    ("  batch_size: 16", "  batch_size: 16\n  preprocessing: [{type: min_max, low: 1, high: 0}]",
     "data.preprocessing[0]", "`low` (1) must be below `high` (0)"),
])
def test_ranges_are_checked(old: str, new: str, path: str, message: str) -> None:
    d = one(RECIPE.replace(old, new, 1))
    assert d.path == path and message in d.message, d.format()


def test_a_growing_schedule_that_overflows_is_refused() -> None:
    """`gamma ** t` past the largest float raised OverflowError inside the run."""
    text = RECIPE.replace("training: {steps: 20}", "training: {steps: 5000}\nschedule: {type: exponential, "
                          "gamma: 1.5}")
    d = one(text)
    assert d.path == "schedule.gamma" and "past the largest float64" in d.message and "1.5^4999" in d.message
    assert not diags(text.replace("steps: 5000", "steps: 1000"))  # 0.1 x 1.5^999 is still a float
    step = text.replace("{type: exponential, gamma: 1.5}", "{type: step, step_size: 2, gamma: 1.5}")
    assert one(step).path == "schedule.gamma"


# ------------------------------------------------------------------------------------------ memory
@pytest.mark.parametrize("old,new,path,what", [
    ("units: 8}", "units: 3000000000}", "model.layers[0]", "the parameters of `dense_0` (dense)"),
    ("num_samples: 64", "num_samples: 100000000000000", "data.source", "the data (100,000,000,000,000 samples"),
    ("units: 8}", "units: 20000000}", "model.layers[0]", "the activations of `dense_0` (dense) for"),
    ("steps: 20}", "steps: 100000000}", "training", "the run's history (100,000,000 steps)"),
])
def test_memory_is_estimated_and_named(old: str, new: str, path: str, what: str) -> None:
    """3e9 units (MemoryError, 179 GiB), 1e14 samples, a batch's activations, a history: each named with its
    layer and bytes, against the stated limit."""
    d = one(RECIPE.replace(old, new, 1))
    assert d.code == "memory" and d.path == path and what in d.message, d.format()
    assert re.search(r"need [0-9.]+ [KMGTP]iB \([0-9,]+ bytes\)", d.message), d.message
    assert "more than the memory limit of 8 GiB (LOCKSTEP_MEMORY_LIMIT=8GiB" in d.message


def test_integers_beyond_64_bits_are_refused() -> None:
    d = one(RECIPE.replace("units: 8}", "units: 10000000000000000000000000}"))
    assert d.path == "model.layers[0].units" and "2**63 - 1" in d.message


def test_memory_limit_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    big = RECIPE.replace("units: 8}", "units: 1000000}")  # 8 MB of weights, 48 MB of activations
    assert not diags(big)
    monkeypatch.setenv(resources.ENV, "20MB")
    assert one(big).code == "memory"
    monkeypatch.setenv(resources.ENV, "none")
    assert not diags(big)
    monkeypatch.setenv(resources.ENV, "lots")
    d = one(big)
    assert d.code == "memory" and "`lots` is not a size" in d.message
    monkeypatch.delenv(resources.ENV)
    assert resources.memory_limit().source == "the memory available on this machine"
    (tmp_path / "r.yaml").write_text(big)
    code, out = validate_cli(["--memory-limit", "10M", str(tmp_path / "r.yaml")], capsys)
    assert code == 1 and "more than the memory limit of 10 MiB (--memory-limit 10M)" in out
    assert validate_cli(["--memory-limit", "none", str(tmp_path / "r.yaml")], capsys)[0] == 0
    assert main(["validate", "--memory-limit", "ten", str(tmp_path / "r.yaml")]) == 2  # a usage error
    assert "`ten` is not a size" in capsys.readouterr().err
    # the variable, on the command line, is a usage error too (it was an error of the first document, exit 1)
    monkeypatch.setenv(resources.ENV, "\x1b[31mlots")
    assert main(["validate", str(tmp_path / "r.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lockstep validate: {resources.ENV}: `\\x1b[31mlots` is not a size"), err
    assert main(["validate", "--memory-limit", "\x1b[31m", str(tmp_path / "r.yaml")]) == 2
    assert "`\\x1b[31m` is not a size" in capsys.readouterr().err  # escaped, not obeyed


@pytest.mark.parametrize("text,size", [("16GiB", 16 * 2**30), ("16G", 16 * 2**30), ("16GB", 16 * 10**9),
                                       ("512m", 512 * 2**20), ("8e9", 8 * 10**9), ("1024", 1024), ("off", None)])
def test_sizes(text: str, size: int | None) -> None:
    assert resources.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "-5G", "1e400", "0", "5 parsecs", ".inf"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        resources.parse_size(text)


def test_a_model_alone_is_checked_for_its_parameters() -> None:
    text = ("apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\ninputs: [{name: x, shape: [40000]}]\n"
            "layers:\n  - {type: dense, units: 40000}\n")
    d = one(text, file="m.yaml")
    assert d.code == "memory" and d.path == "layers[0]" and "to hold the model in float64" in d.message


# ------------------------------------------------------------------------------- npz and npy headers
def _npy(shape: tuple, data: bytes = b"\0" * 64, descr: str = "<f8") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def _lying_npz(path: Path, rows: int = 10**12) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", _npy((rows, 4)))
        z.writestr("y.npy", _npy((rows,), descr="<i8"))


NPZ_RECIPE = RECIPE.replace("source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}",
                            "source: {type: npz, path: d.npz}")


def test_an_npz_header_that_claims_more_than_the_file_holds(tmp_path: Path) -> None:
    """1.3 KB claiming 10^12 rows passed validate, then numpy allocated 32 TB."""
    _lying_npz(tmp_path / "d.npz")
    assert (tmp_path / "d.npz").stat().st_size < 1500
    d = one(NPZ_RECIPE, tmp_path)
    assert d.path == "data.source.path" and "array `x`: its header claims shape [1000000000000, 4] of float64 " \
        "(32,000,000,000,000 bytes of data) but only 64 bytes follow it" in d.message, d.format()
    recipe = Recipe.model_validate(load_text(NPZ_RECIPE, "r.yaml")[0].data)
    with pytest.raises(DataError, match=r"not a readable \.npz file .*claims shape"):
        prepare(recipe, tmp_path)  # the runner checks again, before numpy allocates


def test_an_npz_member_whose_size_its_compression_cannot_produce(tmp_path: Path) -> None:
    x = np.zeros((1000, 4))
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(1000, dtype=np.int64))
    raw = bytearray((tmp_path / "d.npz").read_bytes())
    central = raw.index(b"PK\x01\x02")  # x.npy's central directory entry: claim 1 TB uncompressed
    struct.pack_into("<I", raw, central + 24, 2**32 - 1)
    (tmp_path / "d.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="cannot hold them"):
        read_npz_header(tmp_path / "d.npz")


def test_an_npz_that_holds_an_array_twice_is_refused(tmp_path: Path) -> None:
    """Sweep S (2026-12-07): numpy reads one of two entries of one name, which one being the zip library's choice."""
    import io
    import warnings
    import zipfile

    with warnings.catch_warnings(), zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
        for value in (0.0, 1.0):
            buf = io.BytesIO()
            np.save(buf, np.full(3, value))
            z.writestr("x.npy", buf.getvalue())
    with pytest.raises(ValueError, match="array `x` is stored twice in the archive"):
        read_npz_header(tmp_path / "d.npz")


def test_honest_npz_and_npy_files_read(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "c.npz", x=np.zeros((100, 4)), y=np.arange(100))
    np.savez(tmp_path / "s.npz", x=np.zeros((3, 2), dtype=np.float32), s=np.array(["ab", "c"]), b=np.ones(2, bool))
    info = read_npz_header(tmp_path / "c.npz")
    assert info["x"].shape == (100, 4) and info["x"].nbytes == 3200 and info["y"].kind == "i"
    info = read_npz_header(tmp_path / "s.npz")
    assert info["x"].nbytes == 24 and info["s"].itemsize == 8 and info["b"].kind == "b"
    np.save(tmp_path / "a.npy", np.zeros((5, 3)))
    assert read_npy_file(tmp_path / "a.npy").shape == (5, 3)
    (tmp_path / "lie.npy").write_bytes(_npy((10**9, 3)))
    with pytest.raises(ValueError, match="claims shape \\[1000000000, 3\\]"):
        read_npy_file(tmp_path / "lie.npy")


def test_data_preparation_refuses_data_beyond_the_memory_limit(tmp_path: Path, monkeypatch) -> None:
    np.savez_compressed(tmp_path / "d.npz", x=np.zeros((100_000, 4)), y=np.zeros(100_000, dtype=np.int64))
    recipe = Recipe.model_validate(load_text(NPZ_RECIPE, "r.yaml")[0].data)
    monkeypatch.setenv(resources.ENV, "1MiB")
    with pytest.raises(DataError, match="more than the memory limit of 1 MiB"):
        prepare(recipe, tmp_path)
    (tmp_path / "d.csv").write_text("a,b\n" + "1,0\n" * 100_000)
    csv_recipe = Recipe.model_validate(load_text(NPZ_RECIPE.replace("{type: npz, path: d.npz}", "{type: csv, path: "
                                                                    "d.csv, target: b}"), "r.yaml")[0].data)
    with pytest.raises(DataError, match="100,000 rows of 2 columns need about"):
        prepare(csv_recipe, tmp_path)


def test_a_large_csv_is_estimated_from_its_first_mebibyte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files over MAX_CSV_BYTES are not read whole at validation: their rows are estimated."""
    from lockstep.spec.semantics import data as semantics_data

    (tmp_path / "d.csv").write_text("a,b,c,d,t\n" + "0.5,1.5,2.5,3.5,1\n" * 20_000)
    text = RECIPE.replace("source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}",
                          "source: {type: csv, path: d.csv, target: t, target_type: class_index}")
    monkeypatch.setattr(semantics_data, "MAX_CSV_BYTES", 1000)
    monkeypatch.setenv(resources.ENV, "1MiB")
    d = one(text, tmp_path)
    assert d.path == "data.source" and re.search(r"the data \(about (19,99\d|20,00\d) samples of \[4\] features\)",
                                                  d.message), \
        d.format()


# -------------------------------------------------------------------------------------- 2. strict types
@pytest.mark.parametrize("old,new,path,message", [
    ("momentum: 0.9}", "momentum: 0.9, nesterov: yes}", "optimizer.nesterov",
     'expected true or false, got the string "yes" (YAML 1.2 and JSON read `yes` as a string); write `true`'),
    ("batch_size: 16", 'batch_size: "64"', "data.batch_size",
     'expected an integer, got the string "64"; remove the quotes'),
    ("learning_rate: 0.1", 'learning_rate: "0.1"', "optimizer.learning_rate",
     'expected a number, got the string "0.1"; remove the quotes'),
    ("units: 8}", "units: true}", "model.layers[0].units", "expected an integer, got true"),
    ("units: 8}", "units: 8.0}", "model.layers[0].units", "expected an integer, got 8.0; write 8"),
    ("steps: 20}", 'steps: "200"}', "training.steps", 'expected an integer, got the string "200"; remove the quotes'),
    ("learning_rate: 0.1", "learning_rate: true", "optimizer.learning_rate", "expected a number, got true"),
    ("seed: 0", "seed: '0'", "seed", 'expected an integer, got the string "0"; remove the quotes'),
])
def test_types_are_strict_and_say_what_was_expected(old: str, new: str, path: str, message: str) -> None:
    d = one(RECIPE.replace(old, new, 1))
    assert (d.path, d.message) == (path, message), d.format()


def test_filters_as_a_string_is_refused() -> None:
    text = ("apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\ninputs: [{name: x, shape: [1, 8, 8]}]\n"
            "layers:\n  - {type: conv2d, filters: \"32\", kernel_size: 3}\n")
    d = one(text, file="m.yaml")
    assert d.message == 'expected an integer, got the string "32"; remove the quotes'


def test_an_integer_is_a_number() -> None:
    assert not diags(RECIPE.replace("learning_rate: 0.1", "learning_rate: 1"))


@pytest.mark.parametrize("text,line,message", [
    ('{"apiVersion": "lockstep/v1", "kind": "Model",}', 1, "a trailing comma before `}`"),
    ('{"a": [1, 2,\n]}', 1, "a trailing comma before `]`"),
    ('{"a": 1} // comment', 1, "invalid JSON"),
    ('{"a": NaN}', 1, "`NaN` is not a JSON value"),
    ('{"a": .5}', 1, "invalid JSON"),
])
def test_json_files_are_json(text: str, line: int, message: str) -> None:
    from lockstep.spec.diagnostics import SpecError

    with pytest.raises(SpecError) as exc:
        load_text(text, "d.json")
    (d,) = exc.value.diagnostics
    assert d.code == "json" and d.line == line and message in d.message, d.format()
    load_text(text.replace(",}", "}").replace(",\n]", "]").replace(" // comment", ""), "d.yaml")  # YAML reads it


# ------------------------------------------------------------------------------------- 3. reported once
def test_a_model_files_problem_is_reported_once(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "m.yaml").write_text("apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\n"
                                     "inputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: dense, units: 0}\n")
    (tmp_path / "r.yaml").write_text(RECIPE.replace(RECIPE[RECIPE.index("model:"):RECIPE.index("seed:")],
                                                    "model: m.yaml\n"))
    monkeypatch.chdir(tmp_path)
    for args in (["."], ["r.yaml", "m.yaml"], ["m.yaml", "r.yaml"], [str(tmp_path / "r.yaml"), "m.yaml"]):
        code, out = validate_cli(args, capsys)
        lines = out.splitlines()
        assert code == 1 and lines[-1] == "2 files, 2 documents, 1 error", out
        assert len([x for x in lines if "layers[0].units: expected an integer > 0, got 0" in x]) == 1, out
    code, out = validate_cli(["r.yaml"], capsys)  # named as the recipe names it, not by its absolute path
    assert out.splitlines()[0].startswith("m.yaml:6:26: layers[0].units"), out


# --------------------------------------------------------------------------- 4. cross-entropy targets
BCE = RECIPE.replace("source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}",
                     "source: {type: csv, path: d.csv, target: t}").replace(
    "loss: {type: sparse_categorical_crossentropy, from_logits: true}",
    "loss: {type: binary_crossentropy, from_logits: true}").replace("units: 3}", "units: 1}")


@pytest.mark.parametrize("bad", [5, -1, 2, 7, 1.5])
def test_binary_cross_entropy_targets_outside_0_1(tmp_path: Path, bad: float) -> None:
    """Targets 5, -1, 2, 7 trained to a loss of -5.2e6."""
    rows = ["a,b,c,d,t"] + [f"{i},1,2,3,{i % 2}" for i in range(30)]
    rows[7] = f"6,1,2,3,{bad}"
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    d = one(BCE, tmp_path)
    assert d.path == "data.source.target" and f"`d.csv` column `t` holds {bad:g} (line 8)" in d.message
    assert "`binary_crossentropy` takes targets in [0, 1]" in d.message
    recipe = Recipe.model_validate(load_text(BCE, "r.yaml")[0].data)
    with pytest.raises(DataError, match=rf"d.csv:8: target `{bad}` in column `t` is outside \[0, 1\]"):
        prepare(recipe, tmp_path)  # a file changed after validation is caught in data preparation
    (tmp_path / "d.csv").write_text("\n".join(rows[:7] + rows[8:]) + "\n")
    assert not diags(BCE, tmp_path)


def test_binary_cross_entropy_targets_in_an_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 4)), y=np.array([0.0, 1.0] * 9 + [5.0, 1.0])[:, None])
    text = BCE.replace("{type: csv, path: d.csv, target: t}", "{type: npz, path: d.npz}")
    d = one(text, tmp_path)  # validate reads the values too (up to 64 MiB), as the run does
    assert "`d.npz` array `y` holds 5 (sample 18 [0]), but `binary_crossentropy` takes targets in [0, 1]" \
        in d.message, d.format()
    recipe = Recipe.model_validate(load_text(text, "r.yaml")[0].data)
    with pytest.raises(DataError, match=r"d.npz: `y` holds 5 at index \(18, 0\), outside \[0, 1\]"):
        prepare(recipe, tmp_path)


def test_class_indices_in_a_csv_are_checked_against_the_outputs(tmp_path: Path) -> None:
    rows = ["a,b,c,d,t"] + [f"{i},1,2,3,{i % 3}" for i in range(30)] + ["1,2,3,4,7"]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    text = RECIPE.replace("source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}",
                          "source: {type: csv, path: d.csv, target: t, target_type: class_index}")
    d = one(text, tmp_path)
    assert "`d.csv` column `t` holds class 7 (line 32), but the model's outputs give 3 classes" in d.message


def test_binary_cross_entropy_on_many_classes_is_refused() -> None:
    text = RECIPE.replace("loss: {type: sparse_categorical_crossentropy, from_logits: true}",
                          "loss: {type: binary_crossentropy, from_logits: true}").replace("units: 3}", "units: 1}")
    d = one(text)
    assert "`binary_crossentropy` takes 0/1 targets" in d.message and "3 classes" in d.message


# ---------------------------------------------------------------------------------- 5. resource bounds
def test_documents_per_file_are_capped(tmp_path: Path, capsys) -> None:
    """1.3 M empty documents in a 5 MB file took 1.45 GB and 17 s."""
    (tmp_path / "many.yaml").write_text("---\n" * 1_300_000)
    code, out = validate_cli([str(tmp_path / "many.yaml")], capsys)
    assert code == 1 and f"more than {MAX_DOCUMENTS} documents in one file (the limit)" in out
    assert f"{MAX_DOCUMENTS + 1}:1:" in out


def test_problems_per_document_are_capped(capsys, tmp_path: Path) -> None:
    items = ",".join(["1"] * 5000)
    (tmp_path / "m.yaml").write_text(f"apiVersion: lockstep/v1\nkind: Model\nmetadata: {{name: m}}\n"
                                     f"inputs: [{{name: x, shape: [4]}}]\nlayers: [{items}]\n")
    code, out = validate_cli(["--format", "json", str(tmp_path / "m.yaml")], capsys)
    errs = json.loads(out)
    assert code == 1 and len(errs) == MAX_DIAGNOSTICS + 1
    assert errs[-1]["message"] == f"and 4900 more problems in this document (only the first {MAX_DIAGNOSTICS} are " \
        "listed)"


@FIFO
def test_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    """A FIFO named on the command line hung forever; now: exit 2 before it is opened, also in folders and
    behind globs. A subprocess with a timeout, so a regression fails instead of hanging the suite."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "ok.yaml").write_text("apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\n"
                                      "inputs: [{name: x, shape: [4]}]\nlayers: [{type: relu}]\n")
    for target in ("pipe.yaml", ".", "*.yaml", "/dev/null"):
        proc = subprocess.run([sys.executable, "-m", "lockstep", "validate", target], cwd=tmp_path, timeout=60,
                              capture_output=True, text=True)
        assert proc.returncode == 2, (target, proc.stdout, proc.stderr)
        assert re.search(r"is a (named pipe \(FIFO\)|character device), not a regular file: refusing to read it",
                         proc.stdout), (target, proc.stdout)
        assert "Traceback" not in proc.stdout + proc.stderr


@pytest.fixture()
def fifo(tmp_path: Path):
    """mkfifo, with a watchdog: after 10 s it opens every FIFO for writing and closes it again, so a reader
    that blocked on one (the defect) reads an empty file and fails its test instead of hanging the suite."""
    made: list[Path] = []
    stop = threading.Event()

    def watchdog() -> None:
        while not stop.wait(10):
            for p in made:
                try:
                    os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO unless someone is blocked reading
                except OSError:
                    pass

    def make(name: str) -> Path:
        os.mkfifo(tmp_path / name)
        made.append(tmp_path / name)
        return tmp_path / name

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    yield make
    stop.set()
    thread.join()


@FIFO
def test_fifos_named_by_a_document_are_refused(tmp_path: Path, fifo) -> None:
    for name in ("m.yaml", "d.csv", "d.npz", "w.npz"):
        fifo(name)
    texts = {
        "model": RECIPE.replace(RECIPE[RECIPE.index("model:"):RECIPE.index("seed:")], "model: m.yaml\n"),
        "data": BCE,
        "npz": BCE.replace("{type: csv, path: d.csv, target: t}", "{type: npz, path: d.npz}"),
        "weights": RECIPE.replace("  layers:\n", "  weights: {path: w.npz}\n  layers:\n"),
    }
    for what, text in texts.items():
        d = one(text, tmp_path)
        assert "is a named pipe (FIFO), not a regular file: refusing to read it" in d.message, (what, d.format())
    recipe = Recipe.model_validate(load_text(BCE, "r.yaml")[0].data)
    with pytest.raises(DataError, match="is a named pipe \\(FIFO\\), not a regular file"):
        prepare(recipe, tmp_path)


def test_an_empty_path_is_a_usage_error(capsys) -> None:
    """`validate ''` validated the current folder."""
    code, out = validate_cli([""], capsys)
    assert code == 2 and "empty path" in out and "0 files" in out and out.startswith("'':0:0: "), out
    code, out = validate_cli(["", "--format", "json"], capsys)  # the name as given, as for any other path
    assert code == 2 and json.loads(out)[0]["file"] == "", out


# ----------------------------------------------------------------------------------------- 6. escaping
def test_no_raw_escape_reaches_the_terminal(tmp_path: Path, capsys) -> None:
    evil = "\x1b[31mred\x1b]0;title\x07\x9b2J\u202e\nfake.yaml:1:1: all good"
    doc = {"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": evil, "labels": {evil: 1}},
           "inputs": [{"name": "x", "shape": [4]}], "layers": [{"type": "dense", "units": 3, evil: evil}]}
    path = tmp_path / "e\x1b[2Jvil.json"
    path.write_text(json.dumps(doc))
    for fmt in ("text", "json", "github", "junit"):
        code, out = validate_cli(["--format", fmt, str(path)], capsys)
        assert code == 1
        for line in out.splitlines():
            assert not re.search("[\x00-\x1f\x7f-\x9f\u202e]", line), (fmt, line)
        assert "fake.yaml:1:1" not in [line[:12] for line in out.splitlines()]
    errs = json.loads(validate_cli(["--format", "json", str(path)], capsys)[1])
    assert any(evil in e["path"] for e in errs)  # JSON keeps the exact text, escaped as JSON


def test_unreadable_file_names_do_not_crash_printing(tmp_path: Path, capsys) -> None:
    name = os.fsdecode(b"bad\xff.yaml")  # not UTF-8: a lone surrogate once decoded
    try:
        (tmp_path / name).write_text("a: [")
    except (OSError, UnicodeEncodeError):
        pytest.skip("the file system refuses non-UTF-8 names")
    proc = subprocess.run([sys.executable, "-m", "lockstep", "validate", name], cwd=tmp_path, timeout=60,
                          capture_output=True)
    assert proc.returncode == 1 and b"bad\\udcff.yaml:" in proc.stdout and b"Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------- run
@pytest.mark.parametrize("old,new", [
    ("units: 8}", "units: 8, initializers: {weight: {type: uniform, low: 5, high: -5}}}"),
    ("learning_rate: 0.1", "learning_rate: .inf"),
    ("units: 8}", "units: 3000000000}"),
    ("num_samples: 64", "num_samples: 100000000000000"),
])
def test_run_refuses_what_validate_refuses(old: str, new: str, tmp_path: Path, capsys) -> None:
    """Each of these passed validate and then crashed `run` with a traceback (ValueError, MemoryError)."""
    (tmp_path / "r.yaml").write_text(RECIPE.replace(old, new, 1))
    code = main(["run", str(tmp_path / "r.yaml"), "--backend", "reference", "--out", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert code in (1, 2) and "Traceback" not in out.out + out.err
    assert "r.yaml:" in out.err, out.err


def test_examples_stay_valid_under_a_small_limit(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The examples are small: a CI runner with 2 GiB validates them."""
    monkeypatch.setenv(resources.ENV, "2GiB")
    code, out = validate_cli([str(ROOT / "examples")], capsys)
    assert code == 0, out


@FIFO
def test_read_text_handles_a_file_replaced_by_a_fifo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fifo) -> None:
    """The descriptor is checked again after opening (with O_NONBLOCK, so opening a FIFO cannot block)."""
    from lockstep.spec import files
    from lockstep.spec.diagnostics import SpecError
    from lockstep.spec.loader import read_text

    fifo("p.yaml")
    (tmp_path / "f.yaml").write_text("a: 1\n")
    real = files.check_regular
    # the race: stat saw a file
    monkeypatch.setattr(files, "check_regular", lambda p, **kw: real(tmp_path / "f.yaml", **kw))
    with pytest.raises(SpecError) as exc:
        read_text(tmp_path / "p.yaml")
    assert exc.value.io_error and "named pipe" in exc.value.diagnostics[0].message


# ------------------------------------------------------------------------- 6. escaping, as a property
UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
controls = st.characters(categories=["Cc", "Zl", "Zp"]) | st.sampled_from(["\x1b[31m", "\x9b", "\u202e", "\u2066"])
tainted = st.lists(st.one_of(controls, st.text(max_size=3)), min_size=1, max_size=5).map("".join).filter(
    lambda s: bool(UNSAFE_CHARS.search(s)))


@given(documents, st.data())
@settings(max_examples=60)
def test_no_output_line_of_any_format_holds_a_raw_control_character(data: dict, draw) -> None:
    mutant = copy.deepcopy(data)
    for _ in range(draw.draw(st.integers(1, 3))):
        where = draw.draw(st.sampled_from([p for p in paths(mutant) if isinstance(get(mutant, p[:-1]), dict)]))
        parent, key = get(mutant, where[:-1]), where[-1]
        if draw.draw(st.booleans()):
            parent[key] = draw.draw(tainted)  # a value echoed in a message
        else:
            parent[draw.draw(tainted)] = parent.pop(key)  # a key echoed as a path and an unknown field
    name = "".join(c for c in draw.draw(tainted) if c not in "\x00/") + ".yaml"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(dump_yaml(mutant), encoding="utf-8")
        result = validate_paths([str(path)])
        assert result.diagnostics
        for fmt in FORMATS:
            out = render(fmt, result.diagnostics, files=result.files, documents=result.documents,
                         per_document=result.per_document, path_problems=result.path_problems)
            for line in out.split("\n"):
                found = UNSAFE_CHARS.search(line)
                assert found is None, f"{fmt}: raw U+{ord(found.group(0)):04X} in {line!r}"


def test_a_null_or_boolean_key_is_named_as_yaml_writes_it(tmp_path: Path) -> None:
    """`~: 1` under metadata was reported at `metadata.None`, `true: 2` at `metadata.1`."""
    from lockstep.spec.validate import load_and_validate

    path = tmp_path / "m.yaml"
    path.write_text("apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m, ~: 1, true: 2}\n"
                    "inputs: [{name: x, shape: [1]}]\nlayers: [{type: dense, units: 1}]\n")
    found = {(d.path, d.line, d.column) for d in load_and_validate(path)[1]}
    assert found == {("metadata.null", 3, 21), ("metadata.true", 3, 27)}, found  # each at its key


def test_a_path_under_a_null_or_boolean_key_names_it_as_yaml_writes_it(tmp_path: Path) -> None:
    """Under such a key the path read `metadata.labels.None` ("key `None`: expected a string") and `metadata.None.a`
    (a duplicate key below it); `true` read `metadata.labels.1`, located on the line of another key."""
    from lockstep.spec.validate import load_and_validate

    head = "apiVersion: lockstep/v1\nkind: Environment\nruntime: onnxruntime\ndevice: cpu\ndtype: float32\n"
    (tmp_path / "e.yaml").write_text(head + "metadata:\n  name: e\n  labels:\n    ~: x\n    true: [1]\n")
    found = sorted((d.line, d.column, d.path, d.message) for d in load_and_validate(tmp_path / "e.yaml")[1])
    assert found == [(9, 5, "metadata.labels.null", "key `null`: expected a string, got null"),
                     (10, 5, "metadata.labels.true", "key `true`: expected a string, got true"),
                     (10, 11, "metadata.labels.true", "expected a string, got the list [1]")], found
    (tmp_path / "d.yaml").write_text(head + "metadata:\n  name: e\n  null:\n    a: 1\n    a: 2\n")
    found = sorted((d.line, d.column, d.path, d.message) for d in load_and_validate(tmp_path / "d.yaml")[1])
    assert found == [(10, 5, "metadata.null.a", "duplicate key `a` (first defined on line 9)")], found


@pytest.mark.parametrize(("written", "said"), [("1e400", "1e400"), ("-1.5E+999", "-1.5E+999"), (".inf", ".inf"),
                                               ("-.Inf", "-.inf")])
def test_a_number_beyond_float64_is_said_as_written(written: str, said: str) -> None:
    """`1e400` reads as infinity (YAML's and JSON's way); its refusal said `.inf`, which the user never wrote."""
    d = one(RECIPE.replace("learning_rate: 0.1", f"learning_rate: {written}"))
    beyond = "" if written.lower().lstrip("-") == ".inf" else " (beyond float64's range, ±1.8e308)"
    assert d.path == "optimizer.learning_rate" and d.message == f"expected a finite number, got {said}{beyond}", \
        d.format()


@pytest.mark.parametrize(("written", "zero"), [("1e-400", "0.0"), ("-2.5E-999", "-0.0"), ("2.4e-324", "0.0")])
def test_a_nonzero_number_below_float64_is_said_as_written(written: str, zero: str) -> None:
    """`1e-400` reads as 0 (YAML's and JSON's way); its refusal said "got 0.0", which the user never wrote."""
    d = one(RECIPE.replace("learning_rate: 0.1", f"learning_rate: {written}"))
    assert d.path == "optimizer.learning_rate" and d.message == (
        f"expected a number > 0, got {written} (below float64's smallest, 4.9e-324: read as {zero})"), d.format()


@pytest.mark.parametrize("written", ["0.0e-5", "0e-400", "-0.0", "5e-324", "1e-320"])
def test_zero_and_subnormal_numbers_read_as_themselves(written: str) -> None:
    """A zero written as one is 0, and a subnormal is its value: neither is marked below float64."""
    from lockstep.spec.loader import BelowFloat, _resolve_plain

    value = _resolve_plain(written)
    assert not isinstance(value, BelowFloat) and value == float(written), (written, value)


@pytest.mark.parametrize("version", ["lockstep/v1", "lockstep/v1alpha1"])
def test_a_synonym_beside_its_field_is_not_suggested_back(version: str) -> None:
    """`lr` beside `learning_rate` said "did you mean `learning_rate`?" (in v1alpha1 too, where the migration's
    rename gives way to the key that is there)."""
    text = RECIPE.replace("learning_rate: 0.1", "lr: 0.1, learning_rate: 0.2").replace("lockstep/v1", version)
    d = one(text)
    assert (d.path, d.suggestion) == ("optimizer.lr", None), d.format()
    assert d.message.startswith("unknown field `lr`, given beside `learning_rate`, the field it would name; "
                                "remove `lr`"), d.format()
    alone = one(RECIPE.replace("learning_rate: 0.1", "lr: 0.1"))
    assert alone.suggestion == "learning_rate", alone.format()


def test_a_field_beside_its_near_name_in_an_inline_model_is_said_not_an_internal_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Sweep P (2026-12-07): `unit` beside `units` in a recipe's inline model was "internal error in lockstep's
    semantic checks (AttributeError: '_Nested' object has no attribute 'key_positions')", which hid every other
    problem of the model; an override's `filter` beside `filters` said the same (exit 2)."""
    found = diags(RECIPE.replace("{type: dense, units: 8}", "{type: dense, units: 8, unit: 2}")
                  .replace("metadata: {name: m}", "metadata: {}"))
    said = {(d.path, d.line, d.column): d.message for d in found}
    assert said[("model.layers[0].unit", 10, 31)].startswith("unknown field `unit`, given beside `units`"), said
    assert ("model.metadata.name", 7, 13) in said, "the model's other problems are found too"
    example = str(Path(__file__).resolve().parents[1] / "examples" / "inline-model" / "recipe.yaml")
    assert main(["run", example, "--set", "model.layers[0].filter=6", "--steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown field `filter`; did you mean `filters`?" in err and "internal" not in err, err


@pytest.mark.parametrize(("arrays", "loss", "message"), [
    ({"x": [[0.0, np.nan, 1, 2]] * 2, "y": [0, 1]}, "sparse", "`d.npz`: `x` holds a non-finite value (nan) at index "
     "(0, 1)"),
    ({"x": [[0.0] * 4] * 3, "y": [0, np.inf, 1]}, "sparse", "`y` holds a non-finite value (inf) at index (1,)"),
    ({"x": [[0.0] * 4] * 3, "y": [0, 1.5, 1]}, "sparse", "array `y` holds 1.5 (sample 1); class indices are whole"),
    ({"x": [[0.0] * 4] * 3, "y": [0, 7, 1]}, "sparse", "array `y` holds class 7 (sample 1), but the model's outputs "
     "give 3 classes"),
    ({"x": [[0.0] * 4] * 3, "y": np.array([0, -2, 1], dtype=np.int8)}, "sparse", "holds -2 (sample 1); class "
     "indices are 0 or more"),
    ({"x": [[0.0] * 4] * 2, "y": [[0.0, 1, 0.5], [5.0, 0, 0]]}, "bce", "array `y` holds 5 (sample 1 [0]), but "
     "`binary_crossentropy` takes targets in [0, 1]"),
])
def test_npz_values_a_run_refuses_are_found_by_validate(arrays: dict, loss: str, message: str,
                                                        tmp_path: Path) -> None:
    """validate read an .npz's headers only: a NaN, or a class index past the outputs, passed it and stopped the
    run when it loaded the data (the guarantee: validate accepts nothing a run then stops on for a reason it could
    have seen)."""
    np.savez(tmp_path / "d.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    text = RECIPE.replace("source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}",
                          "source: {type: npz, path: d.npz}").replace("batch_size: 16", "batch_size: 1")
    if loss == "bce":
        text = text.replace("{type: sparse_categorical_crossentropy, from_logits: true}",
                            "{type: binary_crossentropy, from_logits: true}")
    d = one(text, tmp_path)
    assert message in d.message, d.format()
    from lockstep.runner import RunError, prepare_run

    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises((RunError, ValueError)):  # the run refuses the same file
        prepare_run(tmp_path / "r.yaml")


def test_a_nan_in_a_model_s_weights_file_is_found_by_validate(tmp_path: Path) -> None:
    """The run refuses it ("holds non-finite values"); validate read the headers only."""
    w = {"dense_0.weight": np.zeros((4, 8)), "dense_0.bias": np.zeros(8), "dense_2.weight": np.zeros((8, 3)),
         "dense_2.bias": np.array([0.0, np.nan, 0.0])}
    np.savez(tmp_path / "w.npz", **w)
    text = RECIPE.replace("layers:\n", "weights: {path: w.npz}\n  layers:\n", 1)
    d = one(text, tmp_path)
    assert "`dense_2.bias` in `w.npz` holds a non-finite value (nan) at index (1,)" in d.message, d.format()
    w["dense_2.bias"] = np.zeros(3)
    np.savez(tmp_path / "w.npz", **w)
    assert not diags(text, tmp_path)


def test_weights_a_run_refuses_are_found_by_validate(tmp_path: Path) -> None:
    """Each passed validate, then `run` refused it (bool, beyond float32) or trained to a NaN with status ok (a
    negative running variance under batch norm's square root)."""
    w = {"dense_0.weight": np.zeros((4, 8)), "dense_0.bias": np.zeros(8), "dense_2.weight": np.zeros((8, 3)),
         "dense_2.bias": np.zeros(3)}
    text = RECIPE.replace("layers:\n", "weights: {path: w.npz}\n  layers:\n", 1)
    for name, value, said in (
            ("dense_2.bias", np.array([False, True, False]), "`dense_2.bias` in `w.npz` has dtype |b1; weights must "
                                                            "be real numbers"),
            ("dense_2.bias", np.array([0.0, 1e39, 0.0]), "`dense_2.bias` in weights file `w.npz` holds 1e+39 at index "
                                                        "(1,), beyond the range of the recipe's dtype (float32")):
        np.savez(tmp_path / "w.npz", **{**w, name: value})
        d = one(text.replace("seed: 0\n", "seed: 0\ndtype: float32\n"), tmp_path)
        assert said in d.message, d.format()
    np.savez(tmp_path / "w.npz", **{**w, "dense_2.bias": np.array([0.0, 1e39, 0.0])})
    assert not diags(text.replace("seed: 0\n", "seed: 0\ndtype: float64\n"), tmp_path)  # float64 holds it
    bn = text.replace("    - {type: relu}\n", "    - {type: batch_norm}\n    - {type: relu}\n")
    bn_w = {**w, "batch_norm_1.weight": np.ones(8), "batch_norm_1.bias": np.zeros(8),
            "batch_norm_1.running_mean": np.zeros(8), "batch_norm_1.running_var": np.r_[np.ones(7), -1.0]}
    np.savez(tmp_path / "w.npz", **{k.replace("dense_2", "dense_3"): v for k, v in bn_w.items()})
    d = one(bn, tmp_path)
    assert "`batch_norm_1.running_var` in `w.npz` holds a negative variance (-1) at index (7,)" in d.message, d.format()


def test_a_float32_recipe_s_weights_file_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model's checks and the recipe's range check each read the headers and the values (six opens); one
    validation now opens the file once for its headers and once for its values, and still finds a change."""
    from lockstep.spec import npy

    w = {"dense_0.weight": np.zeros((4, 8)), "dense_0.bias": np.zeros(8), "dense_2.weight": np.zeros((8, 3)),
         "dense_2.bias": np.zeros(3)}
    np.savez(tmp_path / "w.npz", **w)
    opened: list[str] = []
    real_open = npy.open_regular
    monkeypatch.setattr(npy, "open_regular", lambda p, *a, **k: opened.append(Path(p).name) or real_open(p, *a, **k))
    text = RECIPE.replace("layers:\n", "weights: {path: w.npz}\n  layers:\n", 1).replace(
        "seed: 0\n", "seed: 0\ndtype: float32\n")
    assert not diags(text, tmp_path)
    assert opened.count("w.npz") == 2, opened
    w["dense_2.bias"] = np.array([0.0, 1e39, 0.0])  # a new file between two validations is read again
    np.savez(tmp_path / "w.npz", **w)
    assert "holds 1e+39 at index (1,)" in one(text, tmp_path).message


@pytest.mark.parametrize("where, old, new, said", [
    ("optimizer", "optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}",
     "optimizer: {type: adam, learning_rate: 0.1, epsilon: 1.0e-300}", "optimizer.epsilon: the optimizer's epsilon"),
    ("layer", "    - {type: relu}\n", "    - {type: layer_norm, epsilon: 1.0e-300}\n",
     "model.layers[1].epsilon: layer_norm `layer_norm_1`'s epsilon"),
])
def test_an_epsilon_float32_holds_as_0_is_refused_in_a_float32_recipe(where: str, old: str, new: str,
                                                                     said: str) -> None:
    """torch stopped at "non-finite loss" (0/0 where a variance is 0); the float64 reference trained on."""
    text = RECIPE.replace(old, new).replace("seed: 0\n", "seed: 0\ndtype: float32\n")
    d = one(text)
    assert d.format().startswith(f"r.yaml:{d.line}:{d.column}: {said} 1e-300 is 0 in float32"), d.format()
    assert not diags(text.replace("dtype: float32", "dtype: float64"))
    assert not diags(text.replace("1.0e-300", "1.0e-44"))  # a subnormal, but not 0


@pytest.mark.parametrize("optimizer, key", [("{type: adam, learning_rate: 0.1, beta2: 0.99999999}", "beta2"),
                                            ("{type: adamw, learning_rate: 0.1, beta1: 0.99999998}", "beta1")])
def test_an_adam_beta_float32_holds_as_1_is_refused_in_a_float32_recipe(optimizer: str, key: str) -> None:
    """The TensorFlow adapter's Adam went NaN at step 1 (its bias-correction bridge divided by 1 − 1ᵗ = 0) and
    Keras's own Adam never moved the weights; torch, correcting in Python's float64, trained on."""
    text = RECIPE.replace("optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}", f"optimizer: {optimizer}") \
        .replace("seed: 0\n", "seed: 0\ndtype: float32\n")
    d = one(text)
    assert d.path == f"optimizer.{key}" and "is 1 in float32" in d.message, d.format()
    assert not diags(text.replace("dtype: float32", "dtype: float64"))
    assert not diags(text.replace("0.99999999", "0.99999997").replace("0.99999998", "0.99999997"))


@pytest.mark.parametrize("init, key", [("{type: constant, value: 1.0e+39}", "value"),
                                       ("{type: uniform, low: -1.0e+300, high: 1.0}", "low"),
                                       ("{type: glorot_uniform, gain: 1.0e+300}", "gain")])
def test_an_initializer_number_beyond_the_dtype_is_refused(init: str, key: str) -> None:
    """The run started from ±inf weights and stopped at step 1 with "non-finite loss"."""
    text = RECIPE.replace("    - {type: dense, units: 8}\n", f"    - {{type: dense, units: 8, initializers: "
                          f"{{weight: {init}}}}}\n").replace("seed: 0\n", "seed: 0\ndtype: float32\n")
    d = one(text)
    assert d.path == f"model.layers[0].initializers.weight.{key}" and "beyond the range of the recipe's dtype " \
        "(float32: ±3.40282e+38)" in d.message, d.format()
    if key == "value":
        assert not diags(text.replace("dtype: float32", "dtype: float64"))


@pytest.mark.parametrize("layer, key", [("{type: leaky_relu, negative_slope: 1.0e+39}", "negative_slope"),
                                        ("{type: elu, alpha: 1.0e+300}", "alpha")])
def test_a_layer_constant_beyond_the_dtype_is_refused(layer: str, key: str) -> None:
    """torch could not convert it ("value cannot be converted to type float without overflow"), so its adapter
    raised at step 1, where the reference and TensorFlow stopped at a non-finite loss."""
    text = RECIPE.replace("    - {type: relu}\n", f"    - {layer}\n").replace("seed: 0\n", "seed: 0\ndtype: float32\n")
    d = one(text)
    assert d.path == f"model.layers[1].{key}" and "beyond the range of the recipe's dtype (float32: ±3.40282e+38)" \
        in d.message, d.format()
    assert not diags(text.replace("dtype: float32", "dtype: float64"))


@pytest.mark.parametrize("old, new, path", [
    ("source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}",
     "source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3, separation: 1.0e+300}",
     "data.source.separation"),
    ("optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}",
     "optimizer: {type: adagrad, learning_rate: 0.1, initial_accumulator_value: 1.0e+300}",
     "optimizer.initial_accumulator_value"),
])
def test_a_generator_spread_or_a_starting_state_beyond_float32_is_refused(old: str, new: str, path: str) -> None:
    """run refused the samples (exit 2) and torch could not build the Adagrad session, after validate passed."""
    text = RECIPE.replace(old, new).replace("seed: 0\n", "seed: 0\ndtype: float32\n")
    d = one(text)
    assert d.path == path and "beyond the range of the recipe's dtype (float32: ±3.40282e+38)" in d.message, d.format()
    assert not diags(text.replace("dtype: float32", "dtype: float64"))


def test_a_regression_generator_s_noise_beyond_float32_is_refused() -> None:
    text = RECIPE.replace("source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}",
                          "source: {type: synthetic_regression, num_samples: 64, shape: [4], targets: 3, "
                          "noise: 1.0e+300}").replace(
        "loss: {type: sparse_categorical_crossentropy, from_logits: true}", "loss: {type: mse}")
    d = one(text.replace("seed: 0\n", "seed: 0\ndtype: float32\n"))
    assert d.path == "data.source.noise" and "spreads its targets beyond the range" in d.message, d.format()
