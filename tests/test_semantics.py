"""Semantic checks: each names the layers, fields and shapes involved, at the right line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lockstep.spec import semantics
from lockstep.spec.base import ShapeError
from lockstep.spec.documents import Model
from lockstep.spec.loader import load_text
from lockstep.spec.validate import validate_document

HEAD = "apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\n"


def diags(text: str, base: Path | None = None, file: str = "m.yaml"):
    doc = load_text(text, file)[0]
    obj, found = validate_document(doc, base_dir=base or Path("."))
    assert (obj is None) == bool(found)
    return found


def one(text: str, base: Path | None = None):
    found = diags(text, base)
    assert len(found) == 1, "\n".join(d.format() for d in found)
    return found[0]


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the nth line containing `needle` (so tests state lines without counting)."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth]


# ------------------------------------------------------------------------------------------ shapes
def test_conv_after_rank1_dense_names_both_layers_and_shapes() -> None:
    text = HEAD + ("inputs: [{name: x, shape: [64]}]\nlayers:\n  - {type: dense, name: fc, units: 16}\n"
                   "  - {type: conv2d, name: conv, filters: 2, kernel_size: 3}\n")
    d = one(text)
    assert d.line == line_of(text, "conv2d") and d.code == "shape" and d.path == "layers[1]"
    assert "layer `conv` (conv2d) cannot take `fc` (dense) [16]" in d.message
    assert "[C, H, W]" in d.message and "{type: reshape, shape: [1, 4, 4]}" in d.message


def test_lstm_fed_a_rank3_tensor() -> None:
    text = HEAD + ("inputs: [{name: x, shape: [3, 8, 8]}]\nlayers:\n"
                   "  - {type: conv2d, name: conv1, filters: 4, kernel_size: 3}\n"
                   "  - {type: lstm, name: rnn, units: 2}\n")
    d = one(text)
    assert d.line == line_of(text, "lstm")
    assert "`rnn` (lstm)" in d.message and "`conv1` (conv2d) [4, 6, 6]" in d.message
    assert "{type: reshape, shape: [4, 36]}" in d.message


def test_pool_padding_must_be_smaller_than_the_window() -> None:
    text = HEAD + "inputs: [{name: x, shape: [3, 4, 4]}]\nlayers:\n  - {type: max_pool2d, kernel_size: 2, padding: 2}\n"
    d = one(text)
    assert d.line == 6 and "padding [2, 2] must be smaller than the window 2" in d.message


def test_embedding_needs_an_int64_input() -> None:
    text = HEAD + "inputs: [{name: x, shape: [3]}]\nlayers:\n  - {type: embedding, input_dim: 4, output_dim: 2}\n"
    d = one(text)
    assert d.line == 6 and d.code == "dtype" and "integer indices" in d.message and "input `x`" in d.message


def test_float_layer_refuses_int64_input() -> None:
    text = HEAD + "inputs: [{name: ids, shape: [3], dtype: int64}]\nlayers:\n  - {type: dense, units: 2}\n"
    d = one(text)
    assert d.line == 6 and d.code == "dtype" and "`dense_0` (dense) needs floating-point values" in d.message


# --------------------------------------------------------------------------------------- sequences
def test_sequence_has_exactly_one_input() -> None:
    text = HEAD + "inputs: [{name: a, shape: [3]}, {name: b, shape: [3]}]\nlayers:\n  - {type: relu}\n"
    d = one(text)
    assert d.line == 4 and d.path == "inputs" and "exactly one input, got 2" in d.message


def test_sequence_layers_take_no_inputs() -> None:
    text = HEAD + "inputs: [{name: x, shape: [3]}]\nlayers:\n  - type: relu\n    inputs: [x]\n"
    d = one(text)
    assert d.line == 7 and d.path == "layers[0].inputs"


@pytest.mark.parametrize("kind", ["add", "concat"])
def test_merge_layers_need_a_graph(kind: str) -> None:
    text = HEAD + f"inputs: [{{name: x, shape: [3]}}]\nlayers:\n  - {{type: relu}}\n  - {{type: {kind}}}\n"
    found = diags(text)
    assert any(d.line == 7 and f"`{kind}` merges several inputs" in d.message for d in found)


# ------------------------------------------------------------------------------------------ graphs
GRAPH = HEAD + "inputs: [{name: x, shape: [3]}]\noutputs: [%s]\nnodes:\n"


def test_graph_nodes_need_names() -> None:
    text = GRAPH % "b" + "  - {type: relu, inputs: [x]}\n  - {name: b, type: relu, inputs: [x]}\n"
    found = diags(text)
    assert found[0].line == 7 and "needs a `name`" in found[0].message


def test_graph_names_are_unique_also_against_inputs() -> None:
    text = GRAPH % "b" + ("  - {name: a, type: relu, inputs: [x]}\n  - {name: a, type: relu, inputs: [x]}\n"
                          "  - {name: x, type: relu, inputs: [x]}\n  - {name: b, type: add, inputs: [a, x]}\n")
    found = diags(text)
    assert any(d.line == 8 and "`a` is used twice (first at nodes[0])" in d.message for d in found)
    assert any(d.line == 9 and "`x` is already a model input" in d.message for d in found)


@pytest.mark.parametrize("first, second, said", [
    ("{type: dense, name: h, units: 4}", "{type: relu, name: h}", "layers[1].name: name `h` is used twice"),
    ("{type: dense, name: x, units: 4}", "{type: relu}", "layers[0].name: name `x` is already a model input"),
])
def test_a_sequence_name_used_twice_is_one_problem(first: str, second: str, said: str) -> None:
    """A sequence layer's input is implied: a name used twice also said "layers[1].inputs[0]: node `h` takes
    itself", of a field nobody wrote."""
    text = HEAD + f"inputs: [{{name: x, shape: [3]}}]\nlayers:\n  - {first}\n  - {second}\n"
    found = diags(text)
    assert len(found) == 1 and said in found[0].format(), [d.format() for d in found]


def test_graph_reference_suggests_a_close_name() -> None:
    text = GRAPH % "b" + "  - {name: hidden, type: relu, inputs: [x]}\n  - {name: b, type: relu, inputs: [hiden]}\n"
    d = one(text)
    assert d.line == 8 and d.path == "nodes[1].inputs[0]" and d.suggestion == "hidden"
    assert "node `b` takes `hiden`, which is neither a node nor an input" in d.message


def test_graph_cycle_is_reported_with_its_members() -> None:
    text = GRAPH % "c" + ("  - {name: a, type: relu, inputs: [c]}\n  - {name: b, type: relu, inputs: [a]}\n"
                          "  - {name: c, type: relu, inputs: [b]}\n")
    found = diags(text)
    cycle = [d for d in found if "cycle" in d.message]
    assert cycle and cycle[0].line == 7 and all(f"`{n}`" in cycle[0].message for n in "abc")


def test_graph_outputs_must_exist() -> None:
    text = GRAPH % "[b, outt]".strip("[]") + ("  - {name: b, type: relu, inputs: [x]}\n"
                                              "  - {name: out, type: relu, inputs: [b]}\n")
    found = diags(text)
    d = next(d for d in found if d.path == "outputs[1]")
    assert d.line == 5 and d.suggestion == "out" and "output `outt` is not a node" in d.message


def test_dangling_node_is_an_error() -> None:
    text = GRAPH % "b" + "  - {name: a, type: relu, inputs: [x]}\n  - {name: b, type: relu, inputs: [x]}\n"
    d = one(text)
    assert d.line == 7 and "node `a` does not feed any output" in d.message


def test_initializer_keys_are_parameter_names() -> None:
    text = HEAD + ("inputs: [{name: x, shape: [3]}]\nlayers:\n  - type: dense\n    units: 2\n"
                   "    initializers: {weigth: {type: zeros}}\n")
    d = one(text)
    assert d.line == 8 and d.code == "initializer" and d.suggestion == "weight"
    assert "its parameters are weight, bias" in d.message


# ----------------------------------------------------------------------------------------- weights
WEIGHTS = HEAD + ("inputs: [{name: x, shape: [3]}]\nlayers:\n  - {type: dense, name: fc, units: 2}\n"
                  "weights: {path: %s%s}\n")


def test_weights_file_must_exist_and_stay_inside(tmp_path: Path) -> None:
    d = one(WEIGHTS % ("w.npz", ""), tmp_path)
    assert d.line == 7 and d.path == "weights.path" and "does not exist" in d.message
    d = one(WEIGHTS % ("../w.npz", ""), tmp_path)
    assert d.line == 7 and "leaves the spec's folder" in d.message


def test_weights_names_and_shapes_are_checked(tmp_path: Path) -> None:
    np.savez(tmp_path / "w.npz", **{"fc.weight": np.zeros((3, 2)), "fc.bias": np.zeros(2)})
    assert diags(WEIGHTS % ("w.npz", ""), tmp_path) == []
    np.savez(tmp_path / "w.npz", **{"fc.weight": np.zeros((2, 3)), "fc.bais": np.zeros(2)})
    found = diags(WEIGHTS % ("w.npz", ""), tmp_path)
    assert all(d.line == 7 for d in found)
    assert any("missing `fc.bias`" in d.message and "unexpected `fc.bais` (did you mean `fc.bias`?)" in d.message
               for d in found)
    assert any("`fc.weight` in `w.npz` has shape [2, 3], the model's canonical layout is [3, 2]" in d.message
               for d in found)
    np.savez(tmp_path / "w.npz", **{"fc.weight": np.zeros((3, 2)), "extra": np.zeros(1)})
    assert diags(WEIGHTS % ("w.npz", ", strict: false"), tmp_path) == []
    (tmp_path / "w.npz").write_bytes(b"not a zip")
    d = one(WEIGHTS % ("w.npz", ""), tmp_path)
    assert "not a readable .npz" in d.message


# ----------------------------------------------------------------------------------------- helpers
def test_infer_shapes_and_layer_names() -> None:
    model = Model.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
        "inputs": [{"name": "x", "shape": [1, 8, 8]}],
        "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"}, {"type": "relu"},
                   {"type": "flatten"}, {"type": "dense", "name": "logits", "units": 10}]})
    assert semantics.layer_names(model) == ["conv2d_0", "relu_1", "flatten_2", "logits"]
    assert semantics.infer_shapes(model) == {"conv2d_0": (4, 8, 8), "relu_1": (4, 8, 8), "flatten_2": (256,),
                                             "logits": (10,)}
    bad = model.model_copy(update={"layers": model.layers[2:] + model.layers[:1]})  # type: ignore[operator]
    with pytest.raises(ShapeError, match="conv2d"):
        semantics.infer_shapes(bad)


def test_check_accepts_any_located_document() -> None:
    """The loader is only one source of locations: `check` needs `.file`, `.data` and `.locate`."""

    class StandIn:
        file = "standin.yaml"
        data = None

        def locate(self, path):
            return (100 + len(path), 1)

    model = Model.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"},
        "inputs": [{"name": "x", "shape": [3]}], "layers": [{"type": "dense", "units": 2, "name": "x"}]})
    d = semantics.check(model, StandIn(), base_dir=Path("."))[0]
    assert d.file == "standin.yaml" and d.line == 103 and d.path == "layers[0].name"


# ----------------------------------------------------------------------------------------- recipes
MODEL = HEAD + "inputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: dense, name: logits, units: %d}\n"


def recipe(*, model: str = "model.yaml", source: str = "{type: synthetic_classification, num_samples: 100, "
           "shape: [4], num_classes: 3}", pre: str = "", batch: str = "10", loss: str =
           "{type: sparse_categorical_crossentropy, from_logits: true}", optimizer: str =
           "{type: sgd, learning_rate: 0.1}", schedule: str = "{type: constant}", training: str = "{steps: 20}",
           extra: str = "") -> str:
    return (f"apiVersion: lockstep/v1\nkind: Recipe\nmetadata: {{name: r}}\nmodel: {model}\nseed: 0\ndata:\n"
            f"  source: {source}\n" + (f"  preprocessing: {pre}\n" if pre else "") + f"  batch_size: {batch}\n"
            f"loss: {loss}\noptimizer: {optimizer}\nschedule: {schedule}\ntraining: {training}\n{extra}")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "model.yaml").write_text(MODEL % 3)
    (tmp_path / "five.yaml").write_text(MODEL % 5)
    return tmp_path


def test_valid_recipe_has_no_problem(folder: Path) -> None:
    assert diags(recipe(), folder) == []


def test_model_file_must_exist(folder: Path) -> None:
    d = one(recipe(model="modle.yaml"), folder)
    assert d.line == 4 and d.path == "model" and "does not exist" in d.message and d.suggestion == "model.yaml"


@pytest.mark.parametrize("ref", ["../outside.yaml", "/etc/passwd", "sub/../../x.yaml"])
def test_paths_may_not_leave_the_folder(folder: Path, ref: str) -> None:
    d = one(recipe(model=ref), folder)
    assert d.line == 4 and d.code == "path" and "the spec's folder" in d.message


def test_outside_paths_allowed_by_environment(folder: Path, monkeypatch) -> None:
    inner = folder / "inner"
    inner.mkdir()
    assert "leaves" in one(recipe(model="../model.yaml"), inner).message
    monkeypatch.setenv("LOCKSTEP_ALLOW_OUTSIDE_PATHS", "1")
    assert diags(recipe(model="../model.yaml"), inner) == []


def test_model_file_must_hold_one_model(folder: Path) -> None:
    (folder / "two.yaml").write_text(MODEL % 3 + "---\n" + MODEL % 3)
    d = one(recipe(model="two.yaml"), folder)
    assert d.line == 4 and "exactly one Model document, found 2" in d.message


def test_invalid_model_file_is_reported_in_that_file(folder: Path) -> None:
    (folder / "bad.yaml").write_text(HEAD + "inputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: dense, units: 0}\n")
    d = one(recipe(model="bad.yaml"), folder)
    assert d.file == str(folder / "bad.yaml") and d.line == 6


def test_inline_model_problems_are_located_in_the_recipe(folder: Path) -> None:
    inline = ("\n  apiVersion: lockstep/v1\n  kind: Model\n  metadata: {name: m}\n  inputs: [{name: x, shape: [4]}]\n"
              "  layers:\n    - {type: dense, units: 3}\n    - {type: lstm, units: 2}\n")
    text = recipe(model=inline)
    d = one(text, folder)
    assert d.file == "m.yaml" and d.line == line_of(text, "lstm") and d.path == "model.layers[1]"
    text = recipe(model=inline.replace("kind: Model", "kind: Environment"))
    d = one(text, folder)
    assert d.path == "model.kind" and d.line == line_of(text, "kind: Environment") and d.suggestion == "Model"


def test_inline_model_unknown_field(folder: Path) -> None:
    inline = "\n  apiVersion: lockstep/v1\n  kind: Model\n  metadata: {name: m}\n  inputs: [{name: x, shape: [4]}]\n" \
             "  layers:\n    - {type: dense, unitz: 3}\n"
    text = recipe(model=inline)
    found = diags(text, folder)
    assert any(d.path.startswith("model.layers[0]") and d.line == line_of(text, "unitz") for d in found)


# ---------------------------------------------------------------------------------------- data files
def test_npz_source_is_checked_statically(folder: Path) -> None:
    src = "{type: npz, path: d.npz, targets: %s}"
    d = one(recipe(source=src % "y"), folder)
    assert d.line == 7 and d.path == "data.source.path" and "does not exist" in d.message
    np.savez(folder / "d.npz", x=np.zeros((30, 4)), labels=np.zeros(30, dtype=np.int64))
    d = one(recipe(source=src % "label"), folder)
    assert d.line == 7 and d.path == "data.source.targets" and d.suggestion == "labels"
    assert diags(recipe(source=src % "labels"), folder) == []
    np.savez(folder / "d.npz", x=np.zeros((30, 5)), labels=np.zeros(20, dtype=np.int64))
    assert "`x` has 30 samples but `labels` has 20" in one(recipe(source=src % "labels"), folder).message
    np.savez(folder / "d.npz", x=np.zeros((30, 5)), labels=np.zeros(30, dtype=np.int64))
    d = one(recipe(source=src % "labels"), folder)
    assert d.path == "data.source" and "`d.npz` gives samples of shape [5] but input `x`" in d.message
    np.savez(folder / "d.npz", x=np.array(["a"] * 30), labels=np.zeros(30))
    assert "real numbers" in one(recipe(source=src % "labels"), folder).message


def test_csv_source_is_checked_statically(folder: Path) -> None:
    (folder / "d.csv").write_text("a,b,c,d,label\n" + "1,2,3,4,0\n" * 20)
    src = "{type: csv, path: d.csv, target: %s, target_type: class_index}"
    assert diags(recipe(source=src % "label"), folder) == []
    d = one(recipe(source=src % "lable"), folder)
    assert d.line == 7 and d.path == "data.source.target" and d.suggestion == "label"
    d = one(recipe(source=src % "9"), folder)
    assert "target column 9 is outside the 5 columns" in d.message
    d = one(recipe(source="{type: csv, path: d.csv, target: label, header: false}"), folder)
    assert "`header` is false" in d.message
    (folder / "d.csv").write_text("a,b,label\n" + "1,2,0\n" * 20)
    assert "gives samples of shape [2]" in one(recipe(source=src % "label"), folder).message


def test_an_empty_model_path_is_named_as_empty(folder: Path) -> None:
    """`model: ""` resolved to the recipe's own folder: "`` is a folder"."""
    d = one(recipe(model='""'), folder)
    assert d.path == "model" and "`model` is empty" in d.message, d.message


@pytest.mark.parametrize(("row", "message"), [
    ("1,2,3,x,0", "`d.csv`:8: `x` in column `d` is not a number"),
    ("1,2,3,nan,0", "`d.csv`:8: `nan` in column `d` is not a finite number"),
    ("1,2,3,1e400,0", "`d.csv`:8: `1e400` in column `d` is not a finite number"),
    ("1,2,3,4,nan", "`d.csv`:8: `nan` in column `label` is not a finite number"),
    ("1,2,3,4", "`d.csv`:8: 4 cells, expected 5"),
    ("1,2,3,4,0,7", "`d.csv`:8: 6 cells, expected 5"),
    ("1,2,3,4,0.5", "`d.csv`:8: target `0.5` in column `label` is not a class index"),
    ("1,2,3,5_0,0", "`d.csv`:8: `5_0` in column `d` is not a number"),
])
def test_a_csv_cell_or_row_that_a_run_refuses_is_invalid(folder: Path, row: str, message: str) -> None:
    """validate scanned the target column's range only: a non-number, a non-finite cell or a ragged row passed
    (exit 0) and `lockstep run` then refused the file; both apply one rule now (spec.semantics.data.csv_row)."""
    lines = ["a,b,c,d,label", *["1,2,3,4,0"] * 20]
    lines[7] = row  # the file's line 8
    (folder / "d.csv").write_text("\n".join(lines) + "\n")
    d = one(recipe(source="{type: csv, path: d.csv, target: label, target_type: class_index}"), folder)
    assert d.path == "data.source.path" and message in d.message, d.message


# --------------------------------------------------------------------------------- data against model
def test_input_shape_must_match_the_data(folder: Path) -> None:
    text = recipe(source="{type: synthetic_classification, num_samples: 100, shape: [5], num_classes: 3}")
    d = one(text, folder)
    assert d.line == 7 and d.code == "data" and "gives samples of shape [5] but input `x`" in d.message
    assert "`model.yaml` has shape [4]" in d.message


def test_digits_shape_suggests_the_right_layout(folder: Path) -> None:
    (folder / "img.yaml").write_text(HEAD + "inputs: [{name: x, shape: [64]}]\nlayers:\n  - {type: dense, units: 10}\n")
    d = one(recipe(model="img.yaml", source="{type: dataset, name: digits, shape: image}"), folder)
    assert d.path == "data.source.shape" and d.suggestion == "flat" and d.line == 7


def test_integer_inputs_need_token_data(folder: Path) -> None:
    (folder / "tok.yaml").write_text(HEAD + "inputs: [{name: ids, shape: [6], dtype: int64}]\nlayers:\n"
                                     "  - {type: embedding, name: emb, input_dim: 5, output_dim: 3}\n"
                                     "  - {type: gru, units: 4}\n  - {type: dense, units: 2}\n")
    seq = "{type: synthetic_sequences, num_samples: 100, length: 6, %s}"
    found = diags(recipe(model="tok.yaml", source=seq % "features: 1"), folder)
    assert any(d.line == 7 and d.code == "dtype" and "takes integer indices" in d.message for d in found)
    d = one(recipe(model="tok.yaml", source=seq % "vocab_size: 9"), folder)
    assert d.path == "data.source.vocab_size" and "embedding `emb`" in d.message and "input_dim 5" in d.message
    np.savez(folder / "tok.npz", x=np.ones((20, 6)), y=np.zeros(20, dtype=np.int64))  # integral floats: a run decides
    assert diags(recipe(model="tok.yaml", source="{type: npz, path: tok.npz}"), folder) == []
    text = recipe(model="tok.yaml", source=seq % "vocab_size: 5", pre="[{type: standardize}]")
    d = one(text, folder)
    assert d.line == 8 and d.path == "data.preprocessing[0]" and "integer indices" in d.message


# ------------------------------------------------------------------------------------ loss and output
def test_sparse_ce_classes_equal_the_output_axis(folder: Path) -> None:
    d = one(recipe(model="five.yaml"), folder)
    assert d.line == 9 and d.path == "loss.type" and "has 3 classes but the model `five.yaml` outputs [5]" in d.message


def test_class_losses_need_two_outputs(folder: Path) -> None:
    (folder / "one.yaml").write_text(MODEL % 1)
    d = one(recipe(model="one.yaml", loss="{type: nll}"), folder)
    assert d.line == 9 and "needs one output per class (at least 2)" in d.message


def test_one_hot_checks(folder: Path) -> None:
    cce = "{type: categorical_crossentropy, from_logits: true}"
    d = one(recipe(loss=cce), folder)
    assert d.line == 9 and "needs one-hot targets" in d.message and d.suggestion == "sparse_categorical_crossentropy"
    assert diags(recipe(loss=cce, pre="[{type: one_hot, num_classes: 3}]"), folder) == []
    found = diags(recipe(loss=cce, model="five.yaml", pre="[{type: one_hot, num_classes: 5}]"), folder)
    assert [d.path for d in found] == ["data.preprocessing[0].num_classes"]
    assert "one_hot makes 5 classes but `synthetic_classification` has 3" in found[0].message
    d = one(recipe(model="five.yaml", loss=cce, source="{type: synthetic_classification, num_samples: 100, "
                   "shape: [4], num_classes: 3}", pre="[{type: one_hot, num_classes: 3}]"), folder)
    assert d.line == 8 and "one_hot makes targets of shape [3] per sample but the model" in d.message
    d = one(recipe(pre="[{type: one_hot, num_classes: 3}]"), folder)
    assert d.line == 8 and "takes class indices; remove the `one_hot` step" in d.message


def test_binary_crossentropy_needs_one_output_and_two_classes(folder: Path) -> None:
    bce = "{type: binary_crossentropy, from_logits: true}"
    d = one(recipe(loss=bce), folder)
    assert d.line == 9 and "needs an output of shape [1]" in d.message
    (folder / "one.yaml").write_text(MODEL % 1)
    d = one(recipe(loss=bce, model="one.yaml"), folder)
    assert "takes 0/1 targets" in d.message and "has 3 classes" in d.message
    two = "{type: synthetic_classification, num_samples: 100, shape: [4], num_classes: 2}"
    assert diags(recipe(loss=bce, model="one.yaml", source=two), folder) == []


def test_regression_targets(folder: Path) -> None:
    reg = "{type: synthetic_regression, num_samples: 100, shape: [4], targets: %d}"
    assert diags(recipe(loss="{type: mse}", source=reg % 3), folder) == []
    d = one(recipe(loss="{type: huber}", source=reg % 2), folder)
    assert d.line == 9 and "gives targets of shape [2] per sample but the model `model.yaml` outputs [3]" in d.message
    d = one(recipe(source=reg % 3), folder)
    assert "needs class targets but `synthetic_regression` gives real-valued ones" in d.message
    text = recipe(loss="{type: mse}", source=reg % 3, extra="evaluation: {metrics: [loss, accuracy]}\n")
    d = one(text, folder)
    assert d.line == line_of(text, "accuracy") and d.path == "evaluation.metrics[1]"


@pytest.mark.parametrize("metric", ["mse", "mae"])
def test_elementwise_metrics_need_targets_of_the_outputs_shape(folder: Path, metric: str) -> None:
    """`mse`/`mae` with class-index targets passed validation; the run then stopped at its first evaluation with
    an internal error (a reshape of 90 indices into [90, 3]), leaving a folder without a report."""
    text = recipe(extra=f"evaluation: {{metrics: [loss, {metric}]}}\n")
    d = one(text, folder)
    assert d.path == "evaluation.metrics[1]" and d.line == line_of(text, metric), d
    assert f"`{metric}` compares the outputs with targets of their shape" in d.message, d.message
    one_hot = recipe(loss="{type: categorical_crossentropy, from_logits: true}",
                     extra=f"evaluation: {{metrics: [loss, {metric}]}}\n")
    assert diags(one_hot.replace("data:\n", "data:\n  preprocessing: [{type: one_hot, num_classes: 3}]\n", 1),
                 folder) == []


def test_dense_after_conv_without_flatten(folder: Path) -> None:
    (folder / "cnn.yaml").write_text(HEAD + "inputs: [{name: x, shape: [1, 8, 8]}]\nlayers:\n"
                                     "  - {type: conv2d, name: conv, filters: 2, kernel_size: 3}\n"
                                     "  - {type: dense, name: logits, units: 10}\n")
    d = one(recipe(model="cnn.yaml", source="{type: dataset, name: digits, shape: image}"), folder)
    assert d.line == 9 and "one class index per sample, so the output must be [C]" in d.message
    assert "outputs [2, 6, 10] from `logits` (dense)" in d.message and "insert `{type: flatten}` before it" in d.message


def test_return_sequences_keeps_the_time_axis(folder: Path) -> None:
    (folder / "rnn.yaml").write_text(HEAD + "inputs: [{name: x, shape: [6, 2]}]\nlayers:\n"
                                     "  - {type: lstm, name: rnn, units: 3, return_sequences: true}\n"
                                     "  - {type: dense, units: 2}\n")
    d = one(recipe(model="rnn.yaml", source="{type: synthetic_sequences, num_samples: 50, length: 6, features: 2}"),
            folder)
    assert "`rnn` (lstm) has `return_sequences: true`" in d.message


def test_logits_and_probabilities(folder: Path) -> None:
    (folder / "soft.yaml").write_text(MODEL % 3 + "  - {type: softmax}\n")
    (folder / "logsoft.yaml").write_text(MODEL % 3 + "  - {type: log_softmax}\n")
    (folder / "sig.yaml").write_text(MODEL % 1 + "  - {type: sigmoid}\n")
    probs = "{type: sparse_categorical_crossentropy, from_logits: false}"
    d = one(recipe(loss=probs), folder)
    assert d.line == 9 and d.path == "loss.from_logits" and "end it with `{type: softmax}`" in d.message
    assert diags(recipe(loss=probs, model="soft.yaml"), folder) == []
    d = one(recipe(model="soft.yaml"), folder)
    assert "apply softmax a second time" in d.message and d.suggestion == "false"
    d = one(recipe(loss="{type: nll}"), folder)
    assert "`nll` takes log-probabilities" in d.message
    assert diags(recipe(loss="{type: nll}", model="logsoft.yaml"), folder) == []
    two = "{type: synthetic_classification, num_samples: 100, shape: [4], num_classes: 2}"
    d = one(recipe(model="sig.yaml", source=two, loss="{type: binary_crossentropy, from_logits: true}"), folder)
    assert "apply the sigmoid a second time" in d.message
    assert diags(recipe(model="sig.yaml", source=two, loss="{type: binary_crossentropy, from_logits: false}"),
                 folder) == []


# ------------------------------------------------------------------------------- hyper-parameters
def test_warmup_must_end_before_training(folder: Path) -> None:
    d = one(recipe(schedule="{type: constant, warmup: {steps: 20}}"), folder)
    assert d.line == 11 and d.path == "schedule.warmup.steps" and "(20 training steps)" in d.message
    # with epochs the length is known from the data: 100 samples / batch 10 = 10 steps per epoch
    d = one(recipe(schedule="{type: constant, warmup: {steps: 30}}", training="{epochs: 2}"), folder)
    assert "20 training steps (2 epochs)" in d.message
    d = one(recipe(schedule="{type: constant, warmup: {steps: 1}}", training="{steps: 1}"), folder)  # singulars
    assert "the warm-up of 1 step does not end before training does (1 training step)" in d.message, d.message
    d = one(recipe(schedule="{type: step, step_size: 1, warmup: {steps: 1}}", training="{steps: 2}"), folder)
    assert "first decays after 1 step but 1 step follows the warm-up" in d.message, d.message


def test_cosine_and_step_schedules_fit_the_run(folder: Path) -> None:
    d = one(recipe(schedule="{type: cosine, decay_steps: 18, warmup: {steps: 5}}"), folder)
    assert d.line == 11 and d.path == "schedule.decay_steps" and "15 steps follow the warm-up" in d.message
    assert diags(recipe(schedule="{type: cosine, decay_steps: 15, warmup: {steps: 5}}"), folder) == []
    d = one(recipe(schedule="{type: cosine, decay_steps: 10, min_learning_rate: 0.5}"), folder)
    assert d.path == "schedule.min_learning_rate" and "above the optimizer's learning_rate 0.1" in d.message
    d = one(recipe(schedule="{type: step, step_size: 20}"), folder)
    assert d.path == "schedule.step_size" and "never decay" in d.message


def test_evaluation_and_checkpoint_must_happen(folder: Path) -> None:
    text = recipe(extra="evaluation: {every: 50}\ncheckpoint: {every: 30}\n")
    found = diags(text, folder)
    assert [(d.path, d.line) for d in found] == [("evaluation.every", 13), ("checkpoint.every", 14)]
    assert "every 50 steps never happens in a run of 20 training steps" in found[0].message


def test_batch_size_fits_the_training_split(folder: Path) -> None:
    d = one(recipe(batch="100", source="{type: synthetic_classification, num_samples: 100, shape: [4], "
                   "num_classes: 3}\n  split: {validation: 0.2}"), folder)
    assert d.line == 9 and d.path == "data.batch_size" and "exceeds the 80 training samples (20 of 100" in d.message
    d = one(recipe(batch="101", source="{type: synthetic_classification, num_samples: 100, shape: [4], "
                   "num_classes: 3}\n  drop_last: true"), folder)
    assert "no batch would remain" in d.message
    d = one(recipe(batch="4", source="{type: synthetic_classification, num_samples: 2, shape: [4], "
                   "num_classes: 3}\n  split: {validation: 0.5}"), folder)  # counts of one are said in the singular
    assert "exceeds the 1 training sample (1 of 2 is held out for validation)" in d.message, d.message


def test_split_must_leave_training_samples(folder: Path) -> None:
    text = recipe(batch="1", source="{type: synthetic_classification, num_samples: 1, shape: [4], num_classes: 3}\n"
                  "  split: {validation: 0.5}")
    d = one(text, folder)
    assert d.line == 8 and "leaves no training sample" in d.message


def test_batch_norm_needs_two_values_per_channel(folder: Path) -> None:
    (folder / "bn.yaml").write_text(HEAD + "inputs: [{name: x, shape: [4]}]\nlayers:\n"
                                    "  - {type: batch_norm, name: bn}\n  - {type: dense, units: 3}\n")
    d = one(recipe(model="bn.yaml", batch="1"), folder)
    assert d.line == 8 and "batch_norm `bn`" in d.message and "one value per channel" in d.message
    src = "{type: synthetic_classification, num_samples: 21, shape: [4], num_classes: 3}"
    d = one(recipe(model="bn.yaml", source=src), folder)
    assert "the last batch of every epoch holds 1 sample" in d.message
    assert diags(recipe(model="bn.yaml", source=src + "\n  drop_last: true"), folder) == []


def test_nesterov_needs_momentum(folder: Path) -> None:
    text = recipe(optimizer="\n  type: sgd\n  learning_rate: 0.1\n  nesterov: true")
    d = one(text, folder)
    assert d.line == line_of(text, "nesterov") and d.path == "optimizer.nesterov"


def test_centered_rmsprop_needs_rho(folder: Path) -> None:
    """With rho 0, v − a² is g² − g² = 0: the step is g/ε, and torch's fused v − a² rounds below 0 to a NaN
    (the reference's is exactly 0), so torch stopped at "non-finite loss" where the reference trained."""
    text = recipe(optimizer="\n  type: rmsprop\n  learning_rate: 0.1\n  rho: 0\n  centered: true")
    d = one(text, folder)
    assert d.line == line_of(text, "centered") and d.path == "optimizer.centered" and "needs `rho` > 0" in d.message
    assert diags(text.replace("rho: 0", "rho: 0.5"), folder) == []
    assert diags(text.replace("centered: true", "centered: false"), folder) == []


def test_preprocessing_combinations(folder: Path) -> None:
    found = diags(recipe(pre="[{type: standardize}, {type: min_max}, {type: standardize}]"), folder)
    assert {d.path for d in found} == {"data.preprocessing[1]", "data.preprocessing[2]"}
    assert all(d.line == 8 for d in found)


# ------------------------------------------------------------------------------------- environments
ENV = ("apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: e}\nruntime: %s\ndevice: %s\n"
       "tolerance: {rtol: %s, atol: %s}\nrequirements:\n  %s: '%s'\n%s")


def env(runtime: str = "onnxruntime", device: str = "cpu", rtol: str = "0.001", atol: str = "0.0",
        pkg: str = "onnxruntime", spec: str = ">=1.17", extra: str = "") -> str:
    return ENV % (runtime, device, rtol, atol, pkg, spec, extra)


@pytest.mark.parametrize("spec", [">=1.17", "==2.13.0", "~=2.2", ">=2.2,<3", "==1.*", "!=1.5.*", "", "==1.0+cpu",
                                  ">=1.0rc1", ">=2.0.post1,<3.0.dev0", "===weird-1"])
def test_valid_specifiers(spec: str) -> None:
    assert diags(env(spec=spec)) == []


@pytest.mark.parametrize(("spec", "suggestion"), [("latest", None), ("1.17", "==1.17"), ("^1.2", ">=1.2,<2"),
                                                  ("~1.2", "~=1.2"), ("~=1", None), (">=1.*", None),
                                                  (">=1.0,", None)])
def test_invalid_specifiers(spec: str, suggestion: str | None) -> None:
    d = one(env(spec=spec))
    assert d.line == 8 and d.path == "requirements.onnxruntime" and "is not a version specifier" in d.message
    assert d.suggestion == suggestion and "PEP 440" in (d.expected or "")


def test_package_names() -> None:
    d = one(env(pkg="torch[cuda]"))
    assert d.line == 8 and "not a package name" in d.message


@pytest.mark.parametrize(("rtol", "atol", "field", "words"), [
    ("0.0", "0.0", "tolerance", "bit for bit"),
    ("1.0e-9", "0.0", "tolerance.rtol", "below float32's rounding error"),
    ("1.5", "0.0", "tolerance.rtol", "checks nothing"),
])
def test_tolerance_is_sane(rtol: str, atol: str, field: str, words: str) -> None:
    d = one(env(rtol=rtol, atol=atol))
    assert d.line == 6 and d.path == field and words in d.message


INT8 = "dtype: int8\nmax_metric_drop: {accuracy: 0.02}\n"


@pytest.mark.parametrize("extra, fixed, field, words", [
    ("max_metric_drop: {accuracy: 1}\n", "max_metric_drop: {accuracy: 0.02}\n", "max_metric_drop.accuracy",
     "allows any accuracy"),
    ("max_metric_drop: {accuracy: 1.0e+300}\n", "max_metric_drop: {loss: 1.0e+300}\n", "max_metric_drop.accuracy",
     "it checks nothing"),
    (INT8 + "quantization: {mode: dynamic, calibration_samples: 5}\n", INT8 + "quantization: {mode: dynamic}\n",
     "quantization.calibration_samples", "dynamic quantization calibrates nothing"),
])
def test_budgets_and_settings_that_do_nothing_are_refused(extra: str, fixed: str, field: str, words: str) -> None:
    """deploy passed `accuracy: 1e300` ("accuracy drop 0 limit 1e+300 ×∞ ok") and ignored a dynamic mode's
    calibration_samples without a word."""
    d = one(env(extra=extra))
    assert d.path == field and words in d.message, d.format()
    assert diags(env(extra=fixed)) == []


def test_latency_budget() -> None:
    d = one(env(extra="batch_sizes: [1, 8]\nlatency_budget: {batch_size: 4, p99_ms: 2}\n"))
    assert d.line == 10 and d.path == "latency_budget.batch_size" and "not among batch_sizes [1, 8]" in d.message
    d = one(env(extra="latency_budget: {p50_ms: 5, p99_ms: 2}\n"))
    assert d.line == 9 and "the median cannot be slower" in d.message


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_gpu_device_name(runtime: str) -> None:
    d = one(env(runtime=runtime, device="gpu:1"))
    assert d.line == 5 and d.suggestion == "cuda:1"
