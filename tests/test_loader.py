"""The loader: line numbers, duplicate keys, safety bounds, YAML 1.2 scalars, JSON, round trips."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.spec import files, loader
from lockstep.spec.diagnostics import SpecError
from lockstep.spec.loader import MAX_BYTES, MAX_DEPTH, dump_yaml, load_file, load_text, read_text


def errors(text: str, file: str = "f.yaml") -> list:
    with pytest.raises(SpecError) as exc:
        load_text(text, file)
    return exc.value.diagnostics


# ------------------------------------------------------------------------------------------ positions
def test_positions_of_nested_nodes() -> None:
    doc = load_text("a: 1\nb:\n  - x: 2\n    y: [1, 2]\n", "f.yaml")[0]
    assert doc.locate(("b", 0, "y", 1)) == (4, 12)
    assert doc.key_location(("b", 0, "y")) == (4, 5)
    assert doc.locate(("b", 0, "missing")) == (3, 5)  # a missing key points at its mapping
    assert doc.key_location(("b", 0, "missing")) == (3, 5)
    assert doc.locate(()) == (1, 1) and doc.locate(["a"]) == (1, 4)


def test_positions_in_flow_style_and_json() -> None:
    doc = load_text('{"m": {"k": [10, {"z": null}]},\n "n": "s"}', "f.json")[0]
    assert doc.data == {"m": {"k": [10, {"z": None}]}, "n": "s"}
    assert doc.locate(("m", "k", 1, "z")) == (1, 24)
    assert doc.key_location(("n",)) == (2, 2)


def test_alias_points_at_its_use() -> None:
    doc = load_text("a: &s [1, 2]\nb: *s\n", "f.yaml")[0]
    assert doc.data == {"a": [1, 2], "b": [1, 2]}
    assert doc.data["a"] is not doc.data["b"]  # expanded into independent copies
    assert doc.locate(("b", 1)) == (2, 4)


def test_multi_document_stream_and_null_documents() -> None:
    docs = load_text("a: 1\n---\nb: 2\n---\n---\nc: 3\n", "f.yaml")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}, None, {"c": 3}]
    assert [d.index for d in docs] == [0, 1, 2, 3]
    assert docs[1].line == 3 and docs[3].locate(("c",)) == (6, 4)


def test_unicode_columns_count_characters() -> None:
    doc = load_text("é日: [1, 2]\n", "f.yaml")[0]
    assert doc.locate(("é日", 1)) == (1, 9)


# ----------------------------------------------------------------------------------- duplicate keys
def test_duplicate_key_names_both_lines() -> None:
    (d,) = errors("a: 1\nb: 2\na: 3\n")
    assert (d.line, d.column, d.code, d.path) == (3, 1, "duplicate-key", "a")
    assert "first defined on line 1" in d.message and d.related == ((1, 1),)


def test_duplicate_key_in_json_and_nested() -> None:
    (d,) = errors('{"a": 1,\n "a": 2}', "f.json")
    assert d.code == "duplicate-key" and (d.line, d.column) == (2, 2)
    (d,) = errors("m:\n  x: 1\n  y: 2\n  x: {a: 1}\n")
    assert (d.line, d.path, d.related) == (4, "m.x", ((2, 3),))


def test_keys_that_python_holds_as_one_are_said_as_written() -> None:
    """Sweep P (2026-12-07): `{1: x, true: y}` said "duplicate key `True`": two keys YAML tells apart, one to a
    mapping read into Python (1 == True), in Python's spelling rather than the file's."""
    (d,) = errors("a: {1: x, true: y}\n")
    assert (d.code, d.path) == ("duplicate-key", "a.true"), d
    assert d.message == ("duplicate key: `true` and `1` (line 1) are one key here (equal numbers: true is 1); give "
                         "distinct keys"), d.message
    (d,) = errors("a: {false: x, false: y}\n")
    assert d.message == "duplicate key `false` (first defined on line 1)", d.message


def test_merge_and_complex_keys_are_refused() -> None:
    assert errors("base: &b {x: 1}\nother:\n  <<: *b\n")[0].code == "merge-key"
    assert errors("? [1, 2]\n: 3\n")[0].code == "key"
    assert load_text("'<<': 1\n", "f")[0].data == {"<<": 1}  # a quoted `<<` is just a string


# ------------------------------------------------------------------------------------------ safety
@pytest.mark.parametrize("text", [
    "!!python/object/apply:os.system ['echo pwned']\n",
    "a: !!python/name:os.system\n",
    "a: !!python/object/new:builtins.dict {}\n",
    "a: !custom 3\n",
    "a: !!set {x}\n",
    "a: !!omap [{x: 1}]\n",
    "a: !<tag:example.com,2000:app/x> 1\n",
])
def test_tags_are_refused_never_executed(text: str) -> None:
    diags = errors(text)
    assert diags[0].code == "tag" and diags[0].line == 1


@pytest.mark.parametrize("text", ["a: !!int abc\n", "a: !!float x\n", "a: !!bool maybe\n", "a: !!null 3\n"])
def test_explicit_standard_tags_with_bad_values(text: str) -> None:
    (d,) = errors(text)
    assert d.code == "tag" and (d.line, d.column) == (1, 4)


def test_explicit_standard_tags() -> None:
    data = load_text("a: !!str 5\nb: !!int '7'\nc: !!float 2\n", "f")
    assert data[0].data == {"a": "5", "b": 7, "c": 2.0}


@pytest.mark.parametrize("text, said", [("d: !!binary aGk=\n", "`!!binary` is not allowed: other YAML readers make "
                                         "bytes"),
                                        ("e: !!timestamp 2024-01-01\n", "`!!timestamp` is not allowed")])
def test_tags_other_readers_turn_into_bytes_or_dates_are_refused(text: str, said: str) -> None:
    """Their text was kept: `name: !!binary YWJj` validated as the name "YWJj", which check-jsonschema reads as
    bytes and refuses (one file, two meanings)."""
    (d,) = errors(text)
    assert d.code == "tag" and (d.line, d.column) == (1, 4) and said in d.message, d


def test_a_yaml_1_1_directive_is_refused() -> None:
    """`%YAML 1.1` then `threads: 010`: read as 10 here (YAML 1.2) and as 8 by the YAML 1.1 readers it asks for."""
    (d,) = errors("%YAML 1.1\n---\nthreads: 010\n")
    assert d.code == "yaml" and "%YAML 1.1" in d.message and (d.line, d.column) == (1, 1), d
    for version in ("1.0", "1.3"):  # the parser's own refusal
        (d,) = errors(f"%YAML {version}\n---\nthreads: 010\n")
        assert d.code == "yaml" and (d.line, d.column) == (1, 1), d


def test_the_yaml_1_2_directive_is_read() -> None:
    assert load_text("%YAML 1.2\n---\nthreads: 010\n", "f")[0].data == {"threads": 10}


def test_alias_bomb_fails_fast() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    diags = errors("\n".join(lines) + "\n")
    assert diags[-1].code == "too-large" and "alias" in diags[-1].message
    # bounded by MAX_NODES, not by a clock: timed assertions flake on loaded machines


def test_recursive_and_undefined_aliases() -> None:
    (d,) = errors("a: &x [1, *x]\n")
    assert d.code == "alias" and (d.line, d.column) == (1, 11)
    (d,) = errors("a: *nowhere\n")
    assert d.code == "alias"


@pytest.mark.parametrize("text", [
    "a: " + "[" * 100_000 + "]" * 100_000,  # the C composer would overflow the C stack here
    "- " * 100_000 + "x",
    "a: " + "{a: " * 100_000 + "}" * 100_000,
])
def test_deep_nesting_is_bounded(text: str) -> None:
    (d,) = errors(text)
    assert d.code == "too-large" and str(MAX_DEPTH) in d.message and d.line == 1


def test_nesting_through_aliases_is_bounded() -> None:
    inner = "[" * 40 + "]" * 40
    (d,) = errors(f"a: &a {inner}\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n")
    assert d.code == "too-large" and d.line == 2


def test_node_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_NODES", 50)
    (d,) = errors("a: [" + ", ".join(["1"] * 60) + "]\n")
    assert d.code == "too-large"


@pytest.mark.parametrize("text,code,line", [
    ("", "empty", 0), ("# only a comment\n", "empty", 0), ("a: [1,\n", "yaml", 2), ("a:\tb\n\t- x", "yaml", 2),
    ("a: 1\n b: 2\n", "yaml", 2), ('a: "\x01"\n', "yaml", 1), ("x: 1\ny: \"é\x7f\"\n", "yaml", 2),
    ("a: \ud800\n", "encoding", 1), ("a\x00b", "binary", 0),
])
def test_unreadable_inputs(text: str, code: str, line: int) -> None:
    (d,) = errors(text)
    assert (d.code, d.line) == (code, line), d.format()


def test_reader_errors_are_located_by_character() -> None:
    (d,) = errors('é: 1\nab: "c\x01"\n')
    assert (d.line, d.column) == (2, 7)


def test_files_binary_encoding_size_and_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01\x02")
    (tmp_path / "latin.yaml").write_bytes("a: 1\nb: caf\xe9\n".encode("latin-1"))
    (tmp_path / "big.yaml").write_bytes(b"#" * (MAX_BYTES + 1))
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
    for name, code, line in (("bin.yaml", "binary", 0), ("latin.yaml", "encoding", 2), ("big.yaml", "too-large", 0)):
        with pytest.raises(SpecError) as exc:
            load_file(tmp_path / name)
        assert (exc.value.diagnostics[0].code, exc.value.diagnostics[0].line) == (code, line)
        assert not exc.value.io_error
    assert load_file(tmp_path / "bom.yaml")[0].data == {"a": 1}
    for missing in (tmp_path / "nope.yaml", tmp_path):
        with pytest.raises(SpecError) as exc:
            read_text(missing)
        assert exc.value.io_error
    def deny(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.os, "open", deny)
    with pytest.raises(SpecError) as exc:
        read_text(tmp_path / "bom.yaml")
    assert exc.value.io_error and "Permission denied" in exc.value.diagnostics[0].message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_a_utf16_or_utf32_file_is_said_as_such_not_binary(tmp_path: Path, encoding: str) -> None:
    """Sweep P (2026-12-07): YAML 1.2 allows UTF-16 and UTF-32 with a byte order mark, and such a file was
    "binary file: not a YAML or JSON document" (its NUL bytes); it is refused still, but named, with the fix."""
    path = tmp_path / "wide.yaml"
    path.write_bytes(("\ufeff" if encoding.endswith("-be") else "").encode(encoding) + "a: 1\n".encode(encoding))
    with pytest.raises(SpecError) as exc:
        load_file(path)
    d = exc.value.diagnostics[0]
    assert d.code == "encoding" and d.message == (f"{encoding[:6].upper()} text (its byte order mark says so): "
                                                  "documents are read as UTF-8; save the file as UTF-8"), d


# ------------------------------------------------------------------------------------------- scalars
def test_yaml_12_core_scalars() -> None:
    text = ("a: 1e-3\nb: yes\nc: true\nd: '1e-3'\ne: 0.5\nf: 010\ng: 0o17\nh: 0x1F\ni: 1_000\nj: 1:20\n"
            "k: .inf\nl: -.INF\nm: ~\nn: Null\no: 2024-01-01\np: on\nq: +3\nr: 1.\ns: 12e\nt: \"yes\"\n")
    data = load_text(text, "f")[0].data
    assert data == {"a": 0.001, "b": "yes", "c": True, "d": "1e-3", "e": 0.5, "f": 10, "g": 15, "h": 31,
                    "i": "1_000", "j": "1:20", "k": float("inf"), "l": float("-inf"), "m": None, "n": None,
                    "o": "2024-01-01", "p": "on", "q": 3, "r": 1.0, "s": "12e", "t": "yes"}
    assert load_text("a: .nan\n", "f")[0].data["a"] != load_text("a: .nan\n", "f")[0].data["a"]
    assert load_text("a: " + "9" * 5000 + "\n", "f")[0].data["a"] == "9" * 5000  # beyond int(): text


def test_json_is_read_like_python_reads_it() -> None:
    value = {"s": "😀 é \x7f \x85 \u2028 \\u /", "n": [1, -0.5, 1e300, 2e-7, 0], "b": [True, False, None],
             "e": {}, "l": []}
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent="\t")):
        assert load_text(text, "f.json")[0].data == json.loads(text)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6) | st.text(min_size=1, max_size=3)
                                                                .map(lambda k: k * 400), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(value=st.dictionaries(st.text(max_size=5), _JSON_VALUES, max_size=4),
       blanks=st.sampled_from(["", " ", "\n", "\n   ", " \t\r\n  ", "\r"]), indent=st.sampled_from([None, 2, "\t"]),
       pure=st.booleans())
def test_any_json_text_is_read_as_python_reads_it(value: dict, blanks: str, indent: object, pure: bool) -> None:
    """JSON allows blanks and line breaks between a key and its `:` and keys of any length; YAML's flow mappings
    take neither (an implicit key is one line, at most 1024 characters), and such valid JSON was refused."""
    text = json.dumps(value, indent=indent, separators=(", ", blanks + ": ") if indent is None else None)
    if indent is not None:
        text = text.replace('": ', f'"{blanks}: ')
    with pytest.MonkeyPatch.context() as patch:
        if pure:
            patch.setattr(loader, "_Parser", yaml.SafeLoader)
        assert load_text(text, "f.json")[0].data == json.loads(text), text


def test_a_json_key_with_its_colon_on_a_later_line_or_over_1024_characters_keeps_its_position() -> None:
    long = "k" * 1100
    text = f'{{"a"\n   : {{"b"\n\n : 1,\n  "{long}": 2, "c": 3}},\n "d": [1]}}'
    doc = load_text(text, "f.json")[0]
    assert doc.data == json.loads(text)
    line5 = text.splitlines()[4]
    assert [doc.locate(p) for p in (("a", "b"), ("a", long), ("a", "c"), ("d", 0))] == [
        (4, 4), (5, line5.index(": 2") + 3), (5, line5.index(": 3") + 3), (6, 8)], doc.positions


_ODD_TEXT = st.text(st.sampled_from(["a", "é", "\U0001F389", "\x85", "\x7f", "\u2028", "\u2029", '"', "\\", "\n"]),
                    max_size=4) | st.text(min_size=1, max_size=2).map(lambda k: k * 600)


def _key_paths(value: object, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in [(*path, k), *_key_paths(v, (*path, k))]]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _key_paths(v, (*path, i))]
    return []


@settings(max_examples=150, derandomize=True, deadline=None)
@given(value=st.dictionaries(_ODD_TEXT, st.recursive(st.integers() | _ODD_TEXT, lambda inner: st.lists(
           inner, max_size=2) | st.dictionaries(_ODD_TEXT, inner, max_size=2), max_leaves=5), max_size=4),
       ascii_only=st.booleans(), indent=st.sampled_from([None, 1, "\t"]), crlf=st.booleans(), pure=st.booleans())
def test_every_json_key_is_located_at_its_column_in_the_file(value: dict, ascii_only: bool, indent: object,
                                                               crlf: bool, pure: bool) -> None:
    """JSON is rewritten where YAML does not read it as it is (surrogate-pair escapes, raw C1 controls and line
    separators, keys over 1024 characters); a key after one on its line was said a few columns off (2 per emoji as
    `json.dumps` writes it, 5 per raw NEL, 2 after a long key with one blank before it)."""
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    if crlf:
        text = text.replace("\n", "\r\n")
    with pytest.MonkeyPatch.context() as patch:
        if pure:
            patch.setattr(loader, "_Parser", yaml.SafeLoader)
        doc = load_text(text, "f.json")[0]
    lines = re.split(r"\r\n|\r|\n", text)
    for path in _key_paths(value):
        line, column = doc.key_location(path)
        written = json.dumps(path[-1], ensure_ascii=ascii_only)
        assert lines[line - 1][column - 1:].startswith(written), (path, (line, column), text)


# ---------------------------------------------------------------------------------------- round trip
def test_dump_quotes_what_yaml_would_misread() -> None:
    data = {"s": ["1e5", "0o17", "010", "yes", "null", "~", "<<", "1:20", ".inf", "true", "-", "", " x"],
            "n": [1, 0.1, 1e-05, float("inf"), None, True], "k": {"1e5": 1, "é": "日本"}}
    for block in (False, True):
        text = dump_yaml(data, block=block)
        assert load_text(text, "f")[0].data == data
        assert yaml.safe_load(text) == data  # YAML 1.1 readers agree


def test_pure_python_parser_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["a: 1\nb: [x, {y: 2}]\n---\nc: &q [1]\nd: *q\n", '{"a": "\\ud83d\\ude00", "b": 1e5}',
             "a: !!int 5\nb: yes\nc: 0o17\n"]
    bad = ["a: 1\na: 2\n", "a: [1,\n", "a: " + "[" * 100 + "]" * 100, "a: !custom x\n", 'x: "é\x01"']
    fast = [load_text(t, "f.json" if t.startswith("{") else "f") for t in texts]
    fast_bad = [errors(t) for t in bad]
    monkeypatch.setattr(loader, "_Parser", yaml.SafeLoader)
    for t, expected in zip(texts, fast, strict=True):
        got = load_text(t, "f.json" if t.startswith("{") else "f")
        assert [(d.data, d.positions, d.key_positions) for d in got] == [
            (d.data, d.positions, d.key_positions) for d in expected]
    for t, expected in zip(bad, fast_bad, strict=True):
        got = errors(t)
        assert [(d.code, d.line, d.column) for d in got] == [(d.code, d.line, d.column) for d in expected], t
