"""`lockstep migrate --out` and migrated diagnostics, against what an adversarial tester found: a migrated recipe
that no longer finds its data file, a second run that nests its output inside itself, empty output folders left by
a failed run, and diagnostics on renamed fields pointing at the wrong line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lockstep.cli import main
from lockstep.spec import migrations
from lockstep.spec.loader import load_text
from lockstep.spec.migrations import CURRENT, migrate_document, migration

MODEL = """apiVersion: lockstep/v1
kind: Model
metadata: {name: m}
inputs: [{name: x1, shape: [1]}]
layers: [{type: dense, units: 1}]
"""

# A v1alpha1 recipe reading a csv beside it; `lr` on line 16, `clip_norm` on line 17 (after the header comments).
CSV_RECIPE = """# a recipe of the pre-release
#
apiVersion: lockstep/v1alpha1
kind: Recipe
metadata:
  name: real2
model: model.yaml
seed: 7
data:
  source: {type: csv, path: points.csv, target: y, header: true}
  batch_size: 4
loss:
  type: mse
optimizer:
  type: sgd
  lr: 0.05
clip_norm: 1.0
training:
  steps: 2
"""

POINTS = "x1,y\n" + "".join(f"{i / 10},{i % 2}\n" for i in range(12))


def _folder(root: Path, recipe: str = CSV_RECIPE) -> Path:
    ip = root / "ip"
    ip.mkdir()
    (ip / "real2.yaml").write_text(recipe)
    (ip / "model.yaml").write_text(MODEL)
    (ip / "points.csv").write_text(POINTS)
    return ip


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ----------------------------------------------------------------------------- --out finds what documents name
def test_out_copies_the_data_file_a_recipe_names(tmp_path: Path, capsys) -> None:
    ip = _folder(tmp_path)
    assert main(["migrate", str(ip), "--out", str(ip / "sub")]) == 0
    assert (ip / "sub" / "points.csv").read_text() == POINTS
    assert "points.csv: named by" in capsys.readouterr().out
    assert main(["validate", str(ip / "sub" / "real2.yaml")]) == 0


def test_out_places_a_named_model_file_and_its_weights_beside_the_recipe(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "models").mkdir(parents=True)
    np.savez(src / "models" / "w.npz", **{"dense_0.weight": np.zeros((1, 1)), "dense_0.bias": np.zeros(1)})
    (src / "models" / "m.yaml").write_text(MODEL.replace("lockstep/v1", "lockstep/v1alpha1")
                                           + "weights: {path: w.npz}\n")
    (src / "r.yaml").write_text(CSV_RECIPE.replace("model: model.yaml", "model: models/m.yaml"))
    (src / "points.csv").write_text(POINTS)
    out = tmp_path / "out"
    assert main(["migrate", str(src / "r.yaml"), "--out", str(out)]) == 0  # the model file was not named
    assert _tree(out) == {"r.yaml", "points.csv", "models", "models/m.yaml", "models/w.npz"}
    assert load_text((out / "models" / "m.yaml").read_text())[0].data["apiVersion"] == CURRENT
    assert main(["validate", str(out / "r.yaml")]) == 0


def test_out_copies_an_inline_models_weights(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    np.savez(src / "w.npz", **{"dense_0.weight": np.zeros((1, 1)), "dense_0.bias": np.zeros(1)})
    inline = "model:\n" + "".join(f"  {line}\n" for line in (MODEL + "weights: {path: w.npz}").splitlines())
    (src / "r.yaml").write_text(CSV_RECIPE.replace("model: model.yaml\n", inline))
    (src / "points.csv").write_text(POINTS)
    assert main(["validate", str(src / "r.yaml")]) == 0
    out = tmp_path / "out"
    assert main(["migrate", str(src), "--out", str(out)]) == 0
    assert _tree(out) == {"r.yaml", "points.csv", "w.npz"}
    assert main(["validate", str(out)]) == 0


def test_out_copies_for_current_files_too(tmp_path: Path) -> None:
    ip = _folder(tmp_path, CSV_RECIPE.replace("lockstep/v1alpha1", CURRENT).replace("lr:", "learning_rate:")
                 .replace("clip_norm: 1.0\n", ""))
    out = tmp_path / "out"
    assert main(["migrate", str(ip), "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0


def test_a_path_leading_out_of_the_folder_is_refused_with_its_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LOCKSTEP_ALLOW_OUTSIDE_PATHS", "1")  # the loader reads it; the copy would not find it
    ip = _folder(tmp_path, CSV_RECIPE.replace("path: points.csv", "path: ../points.csv"))
    (tmp_path / "points.csv").write_text(POINTS)
    (ip / "model.yaml").unlink()
    (ip / "real2.yaml").write_text((ip / "real2.yaml").read_text().replace("model: model.yaml\n", "model:\n"
                                   + "".join(f"  {line}\n" for line in MODEL.splitlines())))
    assert main(["validate", str(ip)]) == 0
    out = tmp_path / "out"
    assert main(["migrate", str(ip), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "real2.yaml:15:29: data.source.path: `../points.csv` leads out of the folder" in err
    assert "not written" in err and "Traceback" not in err
    assert not out.exists()


# ------------------------------------------------------------------------------------ the output is not an input
def test_running_again_into_a_folder_inside_the_input_does_not_nest(tmp_path: Path, capsys) -> None:
    ip = _folder(tmp_path)
    assert main(["migrate", str(ip), "--out", str(ip / "sub")]) == 0
    first = {p: (ip / p).read_bytes() for p in _tree(ip) if (ip / p).is_file()}
    capsys.readouterr()
    assert main(["migrate", str(ip), "--out", str(ip / "sub")]) == 0
    read = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert read and not any("sub" in Path(f).parts for f in read)
    assert not (ip / "sub" / "sub").exists()
    assert {p: (ip / p).read_bytes() for p in _tree(ip) if (ip / p).is_file()} == first
    assert main(["migrate", str(ip / "**" / "*.yaml"), "--out", str(ip / "sub")]) == 0  # a glob above it: the same
    assert not (ip / "sub" / "sub").exists()


def test_a_file_under_out_is_read_when_named_or_searched_from_inside(tmp_path: Path) -> None:
    ip = _folder(tmp_path)
    sub = ip / "sub"
    sub.mkdir()
    for name in ("real2.yaml", "model.yaml", "points.csv"):
        (sub / name).write_text((ip / name).read_text())
    assert main(["migrate", str(ip), "--out", str(sub), "--overwrite"]) == 0  # sub's old copies: replaced
    (sub / "old.yaml").write_text(CSV_RECIPE)
    assert main(["migrate", str(ip), "--out", str(sub)]) == 0
    assert "lockstep/v1alpha1" in (sub / "old.yaml").read_text()  # under --out: an output, not an input
    assert not (sub / "sub").exists()
    assert main(["migrate", str(sub / "old.yaml"), "--out", str(ip / "elsewhere")]) == 0  # named: read
    assert load_text((ip / "elsewhere" / "old.yaml").read_text())[0].data["apiVersion"] == CURRENT
    assert main(["migrate", str(sub / "old.yaml"), "--out", str(sub)]) == 2  # but never written over itself


# ---------------------------------------------------------------------------------- a failure leaves nothing
def test_a_failed_migration_leaves_no_output_folder(tmp_path: Path, capsys) -> None:
    ip = _folder(tmp_path, CSV_RECIPE.replace("batch_size: 4", "batch_size: 0"))
    (ip / "model.yaml").unlink()
    (ip / "real2.yaml").write_text((ip / "real2.yaml").read_text().replace("model: model.yaml\n", "model:\n"
                                   + "".join(f"  {line}\n" for line in MODEL.splitlines())))
    out = tmp_path / "o_fail" / "deeper"
    assert main(["migrate", str(ip), "--out", str(out)]) == 1
    assert "not written" in capsys.readouterr().err
    assert not (tmp_path / "o_fail").exists()
    assert main(["migrate", str(ip / "missing.yaml"), "--out", str(out)]) == 2  # a path naming nothing
    assert not (tmp_path / "o_fail").exists()


def test_a_write_that_fails_removes_what_it_copied(tmp_path: Path, monkeypatch, capsys) -> None:
    from lockstep.spec import atomic

    ip = _folder(tmp_path)
    (ip / "real2.yaml").rename(ip / "nested.yaml")  # the only file that is migrated
    (ip / "model.yaml").unlink()
    (ip / "nested.yaml").write_text((ip / "nested.yaml").read_text().replace("model: model.yaml\n", "model:\n"
                                    + "".join(f"  {line}\n" for line in MODEL.splitlines())))

    def refuse(path: object, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "write_text", refuse)
    out = tmp_path / "out"
    assert main(["migrate", str(ip), "--out", str(out)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists()  # neither the copied points.csv nor the folder


# --------------------------------------------------------------------- diagnostics on renamed fields: their lines
BAD = CSV_RECIPE.replace("lr: 0.05", "lr: .nan").replace("clip_norm: 1.0", "clip_norm: .inf")


@pytest.mark.parametrize(("command", "stream"), [("validate", "out"), ("migrate", "err")])
def test_diagnostics_point_at_the_line_of_the_old_field(command: str, stream: str, tmp_path: Path, capsys) -> None:
    ip = _folder(tmp_path, BAD)
    assert main([command, str(ip / "real2.yaml")]) == 1
    said = getattr(capsys.readouterr(), stream)
    assert "real2.yaml:16:7: optimizer.learning_rate" in said
    assert "real2.yaml:17:12: gradient_clipping.max_norm" in said
    assert (ip / "real2.yaml").read_text() == BAD  # nothing rewritten on a failure


def test_unknown_key_beside_a_renamed_one_keeps_its_own_line(tmp_path: Path, capsys) -> None:
    ip = _folder(tmp_path, CSV_RECIPE.replace("  lr: 0.05\n", "  lr: 0.05\n  momentun: 0.9\n"))
    assert main(["validate", str(ip / "real2.yaml")]) == 1
    assert "real2.yaml:17:3: optimizer.momentun" in capsys.readouterr().out


def test_positions_follow_renames_through_a_chain_and_into_an_inline_model(monkeypatch) -> None:
    monkeypatch.setattr(migrations, "_REGISTRY", dict(migrations._REGISTRY))
    monkeypatch.setattr(migrations, "MIGRATABLE", migrations.MIGRATABLE)

    @migration("lockstep/v0", "lockstep/v1alpha1")
    def _v0(doc: dict) -> dict:
        migrations.rename_key(doc, "opt", "optimizer")
        if isinstance(doc.get("optimizer"), dict):
            migrations.rename_key(doc["optimizer"], "rate", "lr")
        for layer in doc.get("layers", []):
            migrations.rename_key(layer, "size", "units")
        return doc

    text = """apiVersion: lockstep/v1
kind: Recipe
model:
  apiVersion: lockstep/v0
  kind: Model
  layers:
    - {type: dense, size: 3}
    - type: dense
      size: 1
opt:
  type: sgd
  rate: 0.1
"""
    (doc,) = load_text(text, "r.yaml")
    doc.data["apiVersion"] = "lockstep/v0"
    migrate_document(doc)
    assert doc.data["optimizer"] == {"type": "sgd", "learning_rate": 0.1}
    assert doc.data["model"]["layers"][1] == {"type": "dense", "units": 1}
    assert doc.locate(("optimizer", "learning_rate")) == (12, 9)
    assert doc.key_location(("optimizer", "learning_rate")) == (12, 3)
    assert doc.locate(("optimizer",)) == (11, 3)
    assert doc.locate(("model", "layers", 0, "units")) == (7, 27)
    assert doc.locate(("model", "layers", 1, "units")) == (9, 13)
    assert ("opt", "rate") not in doc.positions


@pytest.mark.parametrize("value", [None, [1, 2], "text"])
def test_migrate_document_leaves_odd_documents_alone(value: object) -> None:
    (doc,) = load_text("apiVersion: lockstep/v1alpha1\nkind: Model\n", "m.yaml")
    doc.data = value
    migrate_document(doc)
    assert doc.data == value


# ------------------------------------------------------------------------ 2026-12-06 sweep: --out, header, CRLF
@pytest.mark.parametrize("how", ["folder", "file", "dot"])
def test_out_onto_the_inputs_own_folder_is_refused(tmp_path: Path, monkeypatch, capsys, how: str) -> None:
    """`migrate m --out m` rewrote the inputs in place (and "copied" model.yaml onto itself), exit 0."""
    ip = _folder(tmp_path)
    before = (ip / "real2.yaml").read_bytes()
    args = {"folder": [str(ip), "--out", str(ip)], "file": [str(ip / "real2.yaml"), "--out", str(ip)],
            "dot": [".", "--out", "."]}[how]
    if how == "dot":
        monkeypatch.chdir(ip)
    assert main(["migrate", *args]) == 2
    err = capsys.readouterr().err
    assert "would be written over itself" in err and err.startswith("lockstep migrate: "), err
    assert (ip / "real2.yaml").read_bytes() == before


def test_comments_after_a_document_start_line_are_kept(tmp_path: Path) -> None:
    """A file opening with `---` lost its whole header (modeline included)."""
    path = tmp_path / "r.yaml"
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "points.csv").write_text(POINTS)
    path.write_text("# licence: MIT\n---\n# yaml-language-server: $schema=x\n" + CSV_RECIPE)
    assert main(["migrate", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("# licence: MIT\n---\n# yaml-language-server: $schema=x\n# a recipe of the pre-release\n")
    assert load_text(text, str(path))[0].data["apiVersion"] == CURRENT


def test_a_crlf_file_stays_crlf(tmp_path: Path) -> None:
    """The kept header was CRLF and the migrated body LF: mixed line endings."""
    path = tmp_path / "r.yaml"
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "points.csv").write_text(POINTS)
    path.write_bytes(CSV_RECIPE.replace("\n", "\r\n").encode())
    assert main(["migrate", str(path)]) == 0
    data = path.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") > 10


@pytest.mark.parametrize("directive", ["%YAML 1.2", "%TAG !e! tag:example.com,2000:"])  # `%YAML 1.1` is refused
def test_comments_after_a_directive_are_kept(tmp_path: Path, directive: str) -> None:
    """A file opening with `%YAML 1.2` then `---` lost its licence header and modeline."""
    path = tmp_path / "r.yaml"
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "points.csv").write_text(POINTS)
    head = f"{directive}\n---\n# licence: MIT\n# yaml-language-server: $schema=x\n"
    path.write_text(head + CSV_RECIPE)
    assert main(["migrate", str(path)]) == 0
    text = path.read_text()
    assert text.startswith(head), text
    assert load_text(text, str(path))[0].data["apiVersion"] == CURRENT


def test_a_model_file_a_recipe_names_is_written_under_out_before_the_recipe(tmp_path: Path, monkeypatch,
                                                                             capsys) -> None:
    """The recipe was written first and its model file after it: a stop between the two left a recipe under --out
    naming a file that was not there, and a model file that did not migrate left the recipe written anyway."""
    from lockstep.spec import atomic

    src = tmp_path / "src"
    src.mkdir()
    (src / "model.yaml").write_text(MODEL.replace("lockstep/v1", "lockstep/v1alpha1"))
    (src / "r.yaml").write_text(CSV_RECIPE)
    (src / "points.csv").write_text(POINTS)
    written: list[str] = []
    real = atomic.write_text
    monkeypatch.setattr(atomic, "write_text", lambda path, text: (written.append(Path(path).name), real(path, text)))
    assert main(["migrate", str(src / "r.yaml"), "--out", str(tmp_path / "out")]) == 0
    assert written == ["model.yaml", "r.yaml"], written
    out = capsys.readouterr().out
    assert out.index("model.yaml: migrated") < out.index("r.yaml: migrated"), out

    def full(path: Path, text: str) -> None:
        if Path(path).name == "model.yaml":
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(atomic, "write_text", full)
    assert main(["migrate", str(src / "r.yaml"), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "model.yaml: cannot write" in err and "r.yaml: not written: the model file it names" in err, err
    assert not (tmp_path / "out2").exists()


def test_a_current_recipe_with_an_old_inline_model_names_the_models_version(tmp_path: Path, capsys) -> None:
    """It said "needs migrating from lockstep/v1 to lockstep/v1" (the recipe's own version)."""
    inline = "model:\n" + "".join(f"  {line}\n" for line in MODEL.replace("lockstep/v1", "lockstep/v1alpha1")
                                  .splitlines())
    recipe = CSV_RECIPE.replace("lockstep/v1alpha1", CURRENT).replace("lr:", "learning_rate:") \
        .replace("clip_norm: 1.0\n", "").replace("model: model.yaml\n", inline)
    (tmp_path / "points.csv").write_text(POINTS)
    (tmp_path / "r.yaml").write_text(recipe)
    assert main(["migrate", str(tmp_path / "r.yaml"), "--check"]) == 1
    assert f"needs migrating from lockstep/v1alpha1 to {CURRENT}" in capsys.readouterr().out
    assert main(["migrate", str(tmp_path / "r.yaml")]) == 0
    assert f"migrated from lockstep/v1alpha1 to {CURRENT}" in capsys.readouterr().out


# ------------------------------------------------------------------- 2026-12-07 sweep: header, BOM, JSON CRLF, --out
OLD_MODEL = MODEL.replace("lockstep/v1\n", "lockstep/v1alpha1\n", 1)


def test_comments_after_a_commented_document_start_line_are_kept(tmp_path: Path) -> None:
    """`--- # start` on line 1 lost the whole header, modeline included (a bare `---` kept it)."""
    path = tmp_path / "m.yaml"
    path.write_text("--- # start\n# licence: MIT\n# yaml-language-server: $schema=x\n" + OLD_MODEL)
    assert main(["migrate", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("--- # start\n# licence: MIT\n# yaml-language-server: $schema=x\n"), text
    assert load_text(text, str(path))[0].data["apiVersion"] == CURRENT


@pytest.mark.parametrize("name", ["m.yaml", "m.json"])
def test_a_byte_order_mark_and_crlf_are_kept(tmp_path: Path, name: str) -> None:
    """A UTF-8 byte-order mark was dropped from YAML and JSON files, and a CRLF JSON file became LF."""
    import json

    path = tmp_path / name
    data = load_text(OLD_MODEL, "m")[0].data
    text = json.dumps(data, indent=2) + "\n" if name.endswith(".json") else OLD_MODEL
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert main(["migrate", str(path)]) == 0
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\n") == raw.count(b"\r\n") > 5, raw[:80]
    assert load_text(raw.decode("utf-8-sig"), str(path))[0].data["apiVersion"] == CURRENT


def test_relative_modelines_point_from_where_out_writes(tmp_path: Path) -> None:
    """`migrate specs --out specs/v1` (versioning.md's own example) kept `$schema=../schemas/...` in files one folder
    deeper, naming nothing; copies of current files too. URLs and absolute paths are kept as written."""
    (tmp_path / "schemas").mkdir()
    specs = tmp_path / "specs"
    specs.mkdir()
    line = "# yaml-language-server: $schema=../schemas/model.schema.json\n"
    (specs / "old.yaml").write_text(line + "# yaml-language-server: $schema=https://example.com/s.json\n" + OLD_MODEL)
    (specs / "cur.yaml").write_text(line + MODEL)
    assert main(["migrate", str(specs), "--out", str(specs / "v1")]) == 0
    for name in ("old.yaml", "cur.yaml"):
        text = (specs / "v1" / name).read_text()
        assert text.startswith("# yaml-language-server: $schema=../../schemas/model.schema.json\n"), (name, text)
    assert "$schema=https://example.com/s.json\n" in (specs / "v1" / "old.yaml").read_text()
    assert (specs / "old.yaml").read_text().startswith(line)  # the inputs as they were
