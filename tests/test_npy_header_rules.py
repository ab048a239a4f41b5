"""An .npy header is read as numpy reads it (np.load): exactly the keys descr, fortran_order and shape, a
fortran_order that is a bool, a descr that np.dtype reads, at most 10,000 characters, versions 1.0, 2.0 and 3.0.
`fortran_order: 1`, a missing or extra key and a descr such as '<f3' validated and then stopped the run (exit 2);
a descr numpy writes by name ('float64') was refused as "dtype float64; it must be real numbers" although a run
reads it. Checked against numpy itself, which lockstep.spec does not import."""

from __future__ import annotations

import io
import string
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from tests_support import file_recipe

from lockstep.cli import main
from lockstep.spec.npy import read_npy_header

NAMES = sorted(k for k in np.sctypeDict if isinstance(k, str) and len(k) > 1
               and np.sctypeDict[k].__module__ == "numpy")  # not ml_dtypes' (float8_e5m2), which TensorFlow adds
DESCRS = sorted({p + c + n for p in ("", "<", ">", "=", "|", "!") for c in string.ascii_letters + "?"
                 for n in ("", "0", "1", "2", "3", "4", "5", "8", "08", "12", "16", "32", "64")}
                | set(NAMES) | {"<" + n for n in NAMES} | {"<f8[ns]", "<M8[ns]", "<m8", "", " <f8", "<f8 ", "f8,f8"})


def _npy(header: str, version: tuple[int, int] = (1, 0), data: bytes = b"") -> bytes:
    text = header + " " * (-(len(header) + 11) % 64) + "\n"
    size = struct.pack("<H" if version[0] == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes(version) + size + text.encode("latin-1" if version[0] < 3 else "utf-8") + data


def _numpy_reads(blob: bytes) -> np.ndarray | None:
    try:
        return np.load(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, TypeError, OSError, EOFError, OverflowError):
        return None


def _ours(blob: bytes):  # type: ignore[no-untyped-def]
    try:
        return read_npy_header(io.BytesIO(blob), len(blob))[0]
    except ValueError:
        return None


@pytest.mark.parametrize("descr", DESCRS)
def test_a_real_descr_is_read_as_numpy_reads_it(descr: str) -> None:
    blob = _npy(f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': (0,), }}")
    theirs, ours = _numpy_reads(blob), _ours(blob)
    if theirs is not None and theirs.dtype.kind in "fiub":  # a run takes it: validation must too, as that dtype
        assert ours is not None and (ours.kind, ours.itemsize) == (theirs.dtype.kind, theirs.dtype.itemsize), descr
        assert ours.dtype_name == theirs.dtype.name, descr
    elif theirs is None:  # a run refuses it: validation refuses the file, or the array as not real numbers
        assert ours is None or ours.kind not in "fiub", (descr, ours)


@pytest.mark.parametrize("header", [
    "{'descr': '<f8', 'fortran_order': 1, 'shape': (0,)}",
    "{'descr': '<f8', 'fortran_order': 0, 'shape': (0,)}",
    "{'descr': '<f8', 'fortran_order': None, 'shape': (0,)}",
    "{'descr': '<f8', 'shape': (0,)}",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (0,), 'evil': 1}",
    "{'descr': '<f8', 'fortran_order': False}",
    "{'fortran_order': False, 'shape': (0,)}",
    "{}",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (0,)" + " " * 10_010 + "}",
])
def test_a_header_numpy_refuses_is_refused(header: str) -> None:
    blob = _npy(header)
    assert _numpy_reads(blob) is None
    assert _ours(blob) is None, header


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0), (1, 1), (2, 1)])
def test_versions_are_read_as_numpy_reads_them(version: tuple[int, int]) -> None:
    blob = _npy("{'descr': '<f8', 'fortran_order': True, 'shape': (0,), }", version)
    assert (_numpy_reads(blob) is None) == (_ours(blob) is None), version


PY2 = ["{'descr': '<f8', 'fortran_order': False, 'shape': (3L,), }",
       "{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 2L), }",
       "{u'descr': u'<f8', u'fortran_order': False, u'shape': (3L,), }",
       "{'descr': '<f8', 'fortran_order': False, 'shape': (3l,), }",
       "{'descr': '<f8', 'fortran_order': False, 'shape': (3L,), 'x': 1L}"]


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("header", PY2)
def test_a_python_2_header_is_read_as_numpy_reads_it(header: str, version: tuple[int, int]) -> None:
    """numpy reads the `L` of Python 2's long integers in a version 1.0 or 2.0 header (with a notice); it was
    refused as "unreadable .npy header" by validation and by a run."""
    blob = _npy(header, version, b"\0" * 48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "required additional header parsing"
        theirs = _numpy_reads(blob)
    ours = _ours(blob)
    assert (theirs is None) == (ours is None), (header, version)
    if theirs is not None:
        assert ours is not None and ours.shape == theirs.shape and ours.kind == theirs.dtype.kind


@pytest.mark.parametrize("shape", ["(True, 3)", "(False, 3)", "(3, True)", "(-1, 3)", "(-1,)", "(3.0,)", "[3]",
                                   "(0, 4611686018427387904)", "(0, 9223372036854775808)",
                                   "(3037000500, 3037000500, 0)", "(0, 1099511627776, 1099511627776)",
                                   "(0, 18446744073709551616)",
                                   "(0, 1152921504606846975)", "(0,)", "()", "(" + "0, " * 65 + ")",
                                   "(" + "0, " * 32 + ")", "(" + "1, " * 32 + "0)"])
def test_a_shape_is_read_as_numpy_reads_it(shape: str) -> None:
    """numpy refuses `True` in a shape ("an integer is required": the check on the header lets a bool by, the
    array's creation does not), a negative axis, a zero-size shape whose other axes overflow its sizes, more axes
    than it holds: validation must refuse each, and read what numpy reads as numpy does."""
    blob = _npy(f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}", data=b"\0" * 24)
    with np.errstate(invalid="ignore"):  # numpy's count of (0, 2**63) in int64
        theirs = _numpy_reads(blob)
    ours = _ours(blob)
    assert (theirs is None) == (ours is None), (shape, theirs, ours)
    if theirs is not None:
        assert ours is not None and ours.shape == theirs.shape


MODEL, RECIPE = file_recipe("{type: npz, path: d.npz}", units=3, batch_size=4, steps=2)


@pytest.mark.parametrize(("header", "valid"), [
    ("{'descr': '<f8', 'fortran_order': 1, 'shape': (8, 2)}", False),
    ("{'descr': '<f8', 'shape': (8, 2)}", False),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (8, 2), 'evil': 28813}", False),
    ("{'descr': '<f3', 'fortran_order': False, 'shape': (8, 2)}", False),
    ("{'descr': 'float64', 'fortran_order': False, 'shape': (8, 2)}", True),
    ("{'descr': 'double', 'fortran_order': True, 'shape': (8, 2)}", True),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (8, 2)}", True),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (8L, 2L)}", True),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (True, 2)}", False),
], ids=["fortran-order-1", "no-fortran-order", "extra-key", "f3", "float64", "double", "f8", "python-2", "true"])
def test_validate_and_run_agree_on_a_header(tmp_path: Path, header: str, valid: bool,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import zipfile

    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    x = np.arange(16, dtype="<f8").reshape(8, 2) / 16
    y = io.BytesIO()
    np.save(y, np.arange(8, dtype=np.int64) % 3)
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        z.writestr("x.npy", _npy(header, data=x.tobytes()))
        z.writestr("y.npy", y.getvalue())
    assert main(["validate", str(tmp_path / "recipe.yaml")]) == (0 if valid else 1), capsys.readouterr().out
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert main(["run", str(tmp_path / "recipe.yaml"), "-q", "--out", str(tmp_path / "out")]) == \
            (0 if valid else 2)
    assert not [w for w in said if "Python 2" in str(w.message)], [str(w.message) for w in said]
