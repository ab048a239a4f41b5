""".npy and .npz headers read without numpy, and checked against the bytes the file really holds.

numpy allocates an array from its header's shape before it reads a byte of data: a 1.3 KB .npz whose
header claims 10^12 rows fails with MemoryError, or worse, succeeds on an overcommitting system and
dies later. So every header is checked here first, against the file size (.npy) or the member's size
(.npz), and a member's size against what its compression can produce: what passes is an array whose
data is really there. No array data is read and nothing is ever unpickled, so validation stays fast
and dependency-free; the runner calls the same functions before it hands a file to numpy.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import io
import math
import os
import re
import struct
import sys
import tokenize
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from lockstep.spec.files import open_regular

__all__ = ["MAX_HEADER_CHARS", "MAX_NPY_HEADER", "ArrayInfo", "Values", "read_npy_file", "read_npy_header",
           "read_npz_header", "reads_once", "scan_npz_values"]

MAX_NPY_HEADER = 64 * 1024
MAX_DEFLATE_RATIO = 1032  # deflate's largest possible expansion (258 bytes from 2 bits), plus slack below
_DESCR = re.compile(r"[<>|=]?([a-zA-Z?])(\d*)(?:\[\w+\])?")


@dataclass(frozen=True)
class ArrayInfo:
    """What an .npy header says: per-array shape (with the leading axis) and dtype."""

    shape: tuple[int, ...]
    descr: str
    kind: str  # numpy's kind letter: f float, i int, u unsigned, b bool, c complex, O object, ...
    itemsize: int | None = None  # bytes per element; None for structured dtypes
    fortran: bool = False  # stored column-major (fortran_order)

    @property
    def nbytes(self) -> int | None:
        """Bytes of data the header promises (None when the element size is unknown)."""
        if self.itemsize is None:
            return None
        n = self.itemsize
        for s in self.shape:
            n *= s
        return n

    @property
    def dtype_name(self) -> str:
        names = {"f": "float", "i": "int", "u": "uint", "c": "complex"}
        if self.kind in names and self.itemsize:
            return f"{names[self.kind]}{8 * self.itemsize}"
        return {"b": "bool", "?": "bool"}.get(self.kind, self.descr)


_LONG, _POINTER = struct.calcsize("l"), struct.calcsize("P")
_CODES = {"f": ("f", 4), "d": ("f", 8), "e": ("f", 2), "g": ("f", 0), "b": ("i", 1), "?": ("b", 1),
          "B": ("u", 1), "h": ("i", 2), "H": ("u", 2), "i": ("i", 4), "I": ("u", 4), "l": ("i", _LONG),
          "L": ("u", _LONG), "q": ("i", 8), "Q": ("u", 8), "n": ("i", _POINTER), "N": ("u", _POINTER),
          "p": ("i", _POINTER), "P": ("u", _POINTER)}
"""A real-number descr's type code without a size: its kind and bytes, as numpy reads it (`<b` is int8, not bool;
0: the C long double's size)."""
_SIZES = {"f": (2, 4, 8, 0), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "b": (1,)}
"""The sizes numpy reads after a real kind's letter (`<f8`; `b1` is bool; 0: the C long double's size)."""
_NAMES = {"bool": ("b", 1), "bool_": ("b", 1), "byte": ("i", 1), "ubyte": ("u", 1), "short": ("i", 2),
          "ushort": ("u", 2), "intc": ("i", 4), "uintc": ("u", 4), "long": ("i", _LONG), "ulong": ("u", _LONG),
          "longlong": ("i", 8), "ulonglong": ("u", 8), "int": ("i", _POINTER), "int_": ("i", _POINTER),
          "intp": ("i", _POINTER), "uint": ("u", _POINTER), "uintp": ("u", _POINTER), "int8": ("i", 1),
          "int16": ("i", 2), "int32": ("i", 4), "int64": ("i", 8), "uint8": ("u", 1), "uint16": ("u", 2),
          "uint32": ("u", 4), "uint64": ("u", 8), "half": ("f", 2), "single": ("f", 4), "double": ("f", 8),
          "float": ("f", 8), "longdouble": ("f", 0), "float16": ("f", 2), "float32": ("f", 4), "float64": ("f", 8),
          "float128": ("f", 16), "object": ("O", 8), "object_": ("O", 8)}
"""numpy's names of real-number dtypes (np.dtype("float64"), as np.load reads a descr), without a byte order."""
MAX_HEADER_CHARS = 10_000
"""numpy's limit on a header's text (np.load's max_header_size): a longer one is refused by a run."""
_KEYS = {"descr", "fortran_order", "shape"}


def _long_double() -> int:
    import ctypes  # only for `g` and `longdouble`: 16 bytes on x86-64 Linux, 8 on Windows and ARM macOS

    return ctypes.sizeof(ctypes.c_longdouble)


def _itemsize(descr: str) -> tuple[str, int | None]:
    """(numpy's kind letter, bytes per element) of a dtype string, as np.dtype reads it; ValueError for a
    real-number descr numpy does not read (`<f3`, `<u`, `<f8[ns]`). Other strings numpy may or may not read
    (bytes, dates): their kind, or "V", and the data checks refuse them as not real numbers, as a run does."""
    if descr in _NAMES:
        kind, size = _NAMES[descr]
        return kind, size or _long_double()
    m = _DESCR.fullmatch(descr)
    if m is None:
        return "V", None
    code, digits = m.group(1), m.group(2)
    if code in _CODES or code in _SIZES:  # a real number's letter: exactly as numpy reads it, or refused
        if "[" in descr or (code not in _CODES if not digits else int(digits) not in
                            [n or _long_double() for n in _SIZES.get(code, ())]):
            raise ValueError(f"its header's descr {descr!r} is not a dtype numpy reads")
        kind, size = _CODES[code] if not digits else (code, int(digits))
        return kind, size or _long_double()
    if code == "O":
        return "O", 8
    if not digits:
        return code, None
    return code, int(digits) * 4 if code == "U" else int(digits)


def _literal(text: str, major: int) -> Any:
    """The header's Python literal, as numpy reads it: a header of version 1.0 or 2.0 that is not Python 3 syntax
    is read again without the `L` of Python 2's long integers (`(3L,)`), numpy's `_filter_header`."""
    try:
        return ast.literal_eval(text)
    except SyntaxError:
        if major > 2:
            raise ValueError("unreadable .npy header") from None
    except (ValueError, TypeError, MemoryError, RecursionError):
        raise ValueError("unreadable .npy header") from None
    try:
        tokens, number = [], False
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if not (number and token.type == tokenize.NAME and token.string == "L"):
                tokens.append(token)
            number = token.type == tokenize.NUMBER
        return ast.literal_eval(tokenize.untokenize(tokens))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, tokenize.TokenError):
        raise ValueError("unreadable .npy header") from None


@functools.cache
def _max_dims() -> int:
    """numpy's most axes of an array: 64 from numpy 2, 32 before (read from its metadata: numpy is not imported)."""
    try:
        from importlib.metadata import version

        return 64 if int(version("numpy").split(".")[0]) >= 2 else 32
    except (ImportError, ValueError):  # no numpy installed (or an odd version): the smaller limit
        return 32


def read_npy_header(fh: IO[bytes], available: int | None = None) -> tuple[ArrayInfo, int]:
    """(the header's array, the header's length in bytes) of the .npy stream at `fh`; with `available`
    (the bytes of the whole .npy), ValueError unless the data the header promises is all there."""
    if fh.read(6) != b"\x93NUMPY":
        raise ValueError("not a .npy array")
    version = fh.read(2)
    if len(version) != 2:
        raise ValueError("truncated .npy header")
    major = version[0]
    if major in (1, 2, 3) and version[1] != 0:  # numpy reads versions 1.0, 2.0 and 3.0
        raise ValueError(f"unknown .npy format version {major}.{version[1]}")
    if major == 1:
        size_bytes, fmt = 2, "<H"
    elif major in (2, 3):
        size_bytes, fmt = 4, "<I"
    else:
        raise ValueError(f"unknown .npy format version {major}")
    raw = fh.read(size_bytes)
    if len(raw) != size_bytes:
        raise ValueError("truncated .npy header")
    (length,) = struct.unpack(fmt, raw)
    if length > MAX_NPY_HEADER:
        raise ValueError("oversized .npy header")
    body = fh.read(length)
    if len(body) != length:
        raise ValueError("truncated .npy header")
    try:
        text = body.decode("utf-8" if major == 3 else "latin-1")
    except UnicodeDecodeError:
        raise ValueError("unreadable .npy header") from None
    if len(text) > MAX_HEADER_CHARS:  # np.load refuses it (max_header_size)
        raise ValueError(f"its header is {len(text):,} characters long; numpy reads at most {MAX_HEADER_CHARS:,}")
    header = _literal(text, major)
    if not isinstance(header, dict):
        raise ValueError("unreadable .npy header")
    if set(header) != _KEYS:  # as numpy reads a header: these keys, no others
        raise ValueError(f"its header holds {', '.join(sorted(map(repr, header))) or 'no keys'}; numpy reads "
                         "exactly 'descr', 'fortran_order' and 'shape'")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                               for s in shape):  # numpy: "an integer is required" for True
        raise ValueError(f"its header's shape {shape!r} is not a tuple of whole numbers from 0")
    if len(shape) > _max_dims():
        raise ValueError(f"its header's shape has {len(shape)} axes; numpy holds at most {_max_dims()}")
    if not isinstance(header["fortran_order"], bool):  # 1 is not True to numpy
        raise ValueError(f"its header's fortran_order is {header['fortran_order']!r}, not True or False")
    descr = header["descr"]
    if isinstance(descr, str) and descr:
        kind, itemsize = _itemsize(descr)
    else:
        kind, itemsize, descr = "V", None, str(descr)  # structured dtypes
    info = ArrayInfo(tuple(shape), descr, kind, itemsize, header["fortran_order"])
    if math.prod(s for s in shape if s) * (itemsize or 1) > sys.maxsize:  # even of a 0-size array: (0, 2**62)
        raise ValueError(f"its header's shape {list(shape)} is larger than numpy can hold")
    head = 6 + 2 + size_bytes + length
    promised = info.nbytes
    if available is not None and promised is not None and kind != "O" and promised > available - head:
        raise ValueError(f"its header claims shape {list(shape)} of {info.dtype_name} ({promised:,} bytes of data) "
                         f"but only {max(available - head, 0):,} bytes follow it")
    return info, head


def read_npy_file(path: str | os.PathLike[str]) -> ArrayInfo:
    """The array of a local .npy file, its header checked against the file's size (ValueError if not)."""
    try:
        with open_regular(path) as fh:
            return read_npy_header(fh, os.fstat(fh.fileno()).st_size)[0]
    except (OSError, struct.error) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


_READ: contextvars.ContextVar[dict[tuple[Any, ...], dict[Any, Any]] | None] = contextvars.ContextVar(
    "lockstep_npz_reads", default=None)


@contextlib.contextmanager
def reads_once() -> Iterator[None]:
    """Within this block, an .npz that has not changed on disk has its headers and each array's values read once:
    a float32 recipe's weights file was read by the model's checks and again by the recipe's range check."""
    if _READ.get() is not None:
        yield
        return
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def _already_read(path: str | os.PathLike[str]) -> dict[Any, Any] | None:
    """What reads_once holds of this very file (same inode, size and mtime), or None outside reads_once."""
    memo = _READ.get()
    if memo is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # the read itself says why
    return memo.setdefault((os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), {})


def read_npz_header(path: str | os.PathLike[str]) -> dict[str, ArrayInfo]:
    """Names, shapes and dtypes of the arrays in an .npz, from the .npy headers only, each checked
    against its member's size. Raises ValueError for anything that is not a readable, honest .npz."""
    known = _already_read(path)
    if known is not None and "header" not in known:
        known["header"] = _read_npz_header(path)
    return dict(known["header"]) if known is not None else _read_npz_header(path)


def _read_npz_header(path: str | os.PathLike[str]) -> dict[str, ArrayInfo]:
    try:
        with open_regular(path) as raw, zipfile.ZipFile(raw) as z:
            out = {}
            for member in z.infolist():
                if not member.filename.endswith(".npy"):
                    continue
                name = member.filename[:-4]
                if name in out:  # numpy reads one of them, and which one is the zip library's choice
                    raise ValueError(f"array `{name}` is stored twice in the archive")
                if member.compress_type == zipfile.ZIP_STORED:
                    limit = member.compress_size
                elif member.compress_type == zipfile.ZIP_DEFLATED:
                    limit = member.compress_size * MAX_DEFLATE_RATIO + 1024
                else:
                    raise ValueError(f"array `{name}` is compressed with method {member.compress_type}; .npz "
                                     "members are stored or deflated (np.savez, np.savez_compressed)")
                if member.file_size > limit:
                    raise ValueError(f"array `{name}` claims {member.file_size:,} bytes but its "
                                     f"{member.compress_size:,} stored bytes cannot hold them")
                with z.open(member) as fh:
                    try:
                        out[name] = read_npy_header(fh, member.file_size)[0]
                    except ValueError as exc:
                        raise ValueError(f"array `{name}`: {exc}") from None
            return out
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError, struct.error,
            UnicodeDecodeError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


# ------------------------------------------------------------------------------------- values, without numpy
_TYPECODES = {("f", 2): "e", ("f", 4): "f", ("f", 8): "d", ("i", 1): "b", ("i", 2): "h", ("i", 4): "i",
              ("i", 8): "q", ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q", ("b", 1): "B"}


@dataclass(frozen=True)
class Values:
    """What one numeric array holds, as a run will find it: its first non-finite element, its smallest and largest
    values and its first non-integral one (each with its index, as numpy would name it)."""

    nonfinite: tuple[float, tuple[int, ...]] | None
    low: tuple[float, tuple[int, ...]] | None
    high: tuple[float, tuple[int, ...]] | None
    fraction: tuple[float, tuple[int, ...]] | None


def scan_npz_values(path: str | os.PathLike[str], names: list[str], max_bytes: int) -> dict[str, Values]:
    """The values of the named real-number arrays of an .npz (read_npz_header's checks first), each read into
    memory once and walked at C speed: a NaN in a data file passed validation, then stopped the run. Arrays of
    more than `max_bytes` together (or of another dtype) are left out: a large file is checked when a run loads
    it. ValueError for an unreadable file."""
    infos = read_npz_header(path)
    wanted = [n for n in dict.fromkeys(names) if n in infos and (infos[n].kind, infos[n].itemsize) in _TYPECODES]
    if sum(infos[n].nbytes or 0 for n in wanted) > max_bytes:
        return {}
    known = _already_read(path)
    out = {n: known[("values", n)] for n in wanted if ("values", n) in known} if known is not None else {}
    if len(out) == len(wanted):
        return out
    try:
        with open_regular(path) as raw, zipfile.ZipFile(raw) as z:
            for name in (n for n in wanted if n not in out):
                info = infos[name]
                with z.open(name + ".npy") as fh:
                    read_npy_header(fh)  # past the header
                    data = fh.read(info.nbytes or 0)
                out[name] = _values(data, info)
                if known is not None:
                    known[("values", name)] = out[name]
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError, struct.error, KeyError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return {n: out[n] for n in wanted}


def _values(data: bytes, info: ArrayInfo) -> Values:
    import itertools
    import math
    import operator
    import sys

    size = info.itemsize or 1
    if size > 1 and info.descr[:1] in "<>" and (info.descr[0] == ">") != (sys.byteorder == "big"):
        swapped = bytearray(len(data))  # the other byte order: each element's bytes reversed, slice by slice
        for k in range(size):
            swapped[k::size] = data[size - 1 - k::size]
        data = bytes(swapped)
    code = _TYPECODES[(info.kind, size)]
    items: Any = memoryview(data).cast(code) if code != "e" else [v for (v,) in struct.iter_unpack("=e", data)]
    if len(items) == 0:  # (a memoryview has no half-float format: float16 as a list, a rare data type)
        return Values(None, None, None, None)

    def first(flags: Any) -> int | None:
        """The position of the first true flag, at C speed."""
        return next(itertools.compress(itertools.count(), flags), None)

    def at(flat: int) -> tuple[float, tuple[int, ...]]:
        """The element at a flat position (an integer array's as the integer, exactly), and its index as numpy
        names it (row-major, or column-major as stored)."""
        value, index = (items[flat] if info.kind in "iub" else float(items[flat])), []
        for d in (info.shape if info.fortran else info.shape[::-1]):
            flat, r = divmod(flat, d)
            index.append(r)
        return value, tuple(index if info.fortran else index[::-1])

    if info.kind == "f":
        bad = first(map(operator.not_, map(math.isfinite, items)))
        if bad is not None:
            return Values(at(bad), None, None, None)
    low, high = min(items), max(items)
    odd = first(map(operator.not_, map(float.is_integer, items))) if info.kind == "f" else None
    return Values(None, at(first(map(low.__eq__, items)) or 0), at(first(map(high.__eq__, items)) or 0),
                  None if odd is None else at(odd))
