"""Semantic checks name the layers, shapes and fields involved, at the right line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.spec.loader import load_text
from lockstep.spec.validate import validate_document

HEAD = "apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: m}\n"


def diags(text: str, base: Path | None = None):
    doc = load_text(text, "m.yaml")[0]
    return validate_document(doc, base_dir=base or Path("."))[1]


def test_shape_mismatch_names_both_layers_and_shapes() -> None:
    (d,) = diags(HEAD + "inputs: [{name: x, shape: [3, 8, 8]}]\nlayers:\n"
                 "  - {type: conv2d, name: conv1, filters: 4, kernel_size: 3}\n"
                 "  - {type: lstm, name: rnn, units: 2}\n")
    assert d.line == 7 and d.code == "shape"
    assert "`rnn` (lstm)" in d.message and "`conv1` (conv2d) [4, 6, 6]" in d.message


def test_merge_layer_in_sequence() -> None:
    (d,) = diags(HEAD + "inputs: [{name: x, shape: [3]}]\nlayers:\n  - {type: add}\n")
    assert "needs a graph model" in d.message and d.line == 6


def test_graph_reference_cycle_and_dangling() -> None:
    base = HEAD + "inputs: [{name: x, shape: [3]}]\noutputs: [b]\nnodes:\n"
    (d,) = diags(base + "  - {name: a, type: relu, inputs: [xx]}\n  - {name: b, type: relu, inputs: [a]}\n")
    assert "`xx`" in d.message and d.suggestion == "x" and d.line == 7
    ds = diags(base + "  - {name: a, type: relu, inputs: [b]}\n  - {name: b, type: relu, inputs: [a]}\n")
    assert any("cycle" in x.message for x in ds)
    (d,) = diags(base + "  - {name: a, type: relu, inputs: [x]}\n  - {name: b, type: relu, inputs: [x]}\n")
    assert "does not feed any output" in d.message and d.line == 7


def test_duplicate_names() -> None:
    ds = diags(HEAD + "inputs: [{name: x, shape: [3]}]\nlayers:\n  - {type: relu, name: a}\n"
               "  - {type: relu, name: a}\n")
    assert ds[0].line == 7 and "used twice" in ds[0].message


def test_embedding_needs_integer_input() -> None:
    (d,) = diags(HEAD + "inputs: [{name: x, shape: [3]}]\nlayers:\n  - {type: embedding, input_dim: 4, "
                 "output_dim: 2}\n")
    assert "integer indices" in d.message


def test_initializer_key_must_be_a_parameter() -> None:
    (d,) = diags(HEAD + "inputs: [{name: x, shape: [3]}]\nlayers:\n  - type: dense\n    units: 2\n"
                 "    initializers: {weigth: {type: zeros}}\n")
    assert d.suggestion == "weight" and d.line == 8


RECIPE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: r}
model: %s
seed: 0
data:
  source: {type: synthetic_classification, num_samples: 100, shape: [4], num_classes: 3}
  batch_size: 10
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer: {type: sgd, learning_rate: 0.1}
schedule: {type: constant, warmup: {steps: 50}}
training: {steps: 20}
"""

MODEL = HEAD + "inputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: dense, units: 5}\n"


def test_recipe_model_reference_and_checks(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text(MODEL)
    ds = diags(RECIPE % "model.yaml", tmp_path)
    msgs = {d.path: d for d in ds}
    assert "3 classes but the model outputs 5" in msgs["loss.type"].message
    assert msgs["schedule.warmup.steps"].line == 11
    ds = diags(RECIPE % "missing.yaml", tmp_path)
    assert "does not exist" in ds[0].message and ds[0].line == 4


@pytest.mark.parametrize("ref", ["../outside.yaml", "/etc/passwd"])
def test_paths_may_not_leave_the_folder(tmp_path: Path, ref: str) -> None:
    ds = diags(RECIPE % ref, tmp_path)
    assert "leaves the spec's folder" in ds[0].message


def test_environment_requirements_are_specifiers() -> None:
    (d,) = diags("apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: e}\nruntime: onnxruntime\n"
                 "tolerance: {rtol: 0.001, atol: 0.0}\nrequirements: {onnxruntime: latest}\n")
    assert "not a version specifier" in d.message and d.line == 6
