"""The loader: line numbers, duplicate keys, safety bounds, YAML 1.2 scalars."""

from __future__ import annotations

import pytest

from lockstep.spec.diagnostics import SpecError
from lockstep.spec.loader import MAX_BYTES, load_file, load_text


def errors(text: str) -> list:
    with pytest.raises(SpecError) as exc:
        load_text(text, "f.yaml")
    return exc.value.diagnostics


def test_positions_of_nested_nodes() -> None:
    doc = load_text("a: 1\nb:\n  - x: 2\n    y: [1, 2]\n", "f.yaml")[0]
    assert doc.locate(("b", 0, "y", 1)) == (4, 12)
    assert doc.key_location(("b", 0, "y")) == (4, 5)
    assert doc.locate(("b", 0, "missing")) == (3, 5)  # a missing key points at its mapping


def test_multi_document_stream() -> None:
    docs = load_text("a: 1\n---\nb: 2\n", "f.yaml")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].line == 3


def test_duplicate_key_names_both_lines() -> None:
    (d,) = errors("a: 1\nb: 2\na: 3\n")
    assert (d.line, d.code) == (3, "duplicate-key")
    assert "first defined on line 1" in d.message and d.related == ((1, 1),)


def test_duplicate_key_in_json() -> None:
    (d,) = errors('{"a": 1,\n "a": 2}')
    assert d.code == "duplicate-key" and d.line == 2


@pytest.mark.parametrize("text", [
    "!!python/object/apply:os.system ['echo pwned']\n",
    "a: !!python/name:os.system\n",
    "a: !custom 3\n",
])
def test_tags_are_refused_never_executed(text: str) -> None:
    diags = errors(text)
    assert diags[0].code == "tag"


def test_alias_bomb_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    (d,) = errors("\n".join(lines) + "\n")
    assert d.code == "too-large"


def test_deep_nesting_is_bounded() -> None:
    (d,) = errors("a: " + "[" * 100 + "]" * 100 + "\n")
    assert d.code == "too-large"


@pytest.mark.parametrize("text,code", [("", "empty"), ("# only a comment\n", "empty"), ("a: [1,\n", "yaml"),
                                       ("a:\tb\n\t- x", "yaml")])
def test_unreadable_inputs(text: str, code: str) -> None:
    assert errors(text)[0].code == code


def test_binary_and_bad_encoding(tmp_path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01\x02")
    (tmp_path / "latin.yaml").write_bytes("a: caf\xe9\n".encode("latin-1"))
    (tmp_path / "big.yaml").write_bytes(b"#" * (MAX_BYTES + 1))
    for name, code in (("bin.yaml", "binary"), ("latin.yaml", "encoding"), ("big.yaml", "too-large")):
        with pytest.raises(SpecError) as exc:
            load_file(tmp_path / name)
        assert exc.value.diagnostics[0].code == code


def test_yaml_12_scalars() -> None:
    data = load_text("a: 1e-3\nb: yes\nc: true\nd: '1e-3'\ne: 0.5\n", "f")[0].data
    assert data == {"a": 0.001, "b": "yes", "c": True, "d": "1e-3", "e": 0.5}
