"""Generate docs/spec/v1-fields.md, the compact index of every field, from the pydantic models, so it cannot drift.

    python docs/tools/gen_spec_reference.py > docs/spec/v1-fields.md

Types, defaults and constraints come from the fields' annotations; meanings from their `Field(description=...)`
(through gen_field_tables.meaning, which also fills the tables of docs/spec/v1.md). tests/test_schemas.py fails
when the committed page differs from what this prints.
"""

from __future__ import annotations

import inspect
import typing

from gen_field_tables import meaning  # docs/tools/, beside this script
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from lockstep.spec import data, documents, initializers, layers, losses, optimizers, schedules
from lockstep.spec.base import INT64_MAX, INT64_MIN, Shape

SECTIONS = [
    ("Documents", [documents.Model, documents.Input, documents.WeightsFile, documents.Recipe,
                   documents.Regularization, documents.Training, documents.Evaluation, documents.Checkpoint,
                   documents.Distribution,
                   documents.Environment, documents.Tolerance, documents.LatencyBudget]),
    ("Layers", list(layers.LAYER_CLASSES)),
    ("Initializers", list(typing.get_args(typing.get_args(initializers.Initializer)[0]))),
    ("Losses", list(typing.get_args(typing.get_args(losses.Loss)[0]))),
    ("Optimizers", list(typing.get_args(typing.get_args(optimizers.Optimizer)[0]))),
    ("Schedules and clipping", [*typing.get_args(typing.get_args(schedules.Schedule)[0]), schedules.Warmup,
                                schedules.ClipGlobalNorm, schedules.ClipValue]),
    ("Data", [data.Data, *typing.get_args(typing.get_args(data.Source)[0]),
              *typing.get_args(typing.get_args(data.Preprocessing)[0]), data.Split]),
]

COMMON = {"name", "inputs", "initializers"}


def _type(annotation) -> str:
    return _pretty(annotation).replace("|", "\\|")


def _pretty(a) -> str:
    origin = typing.get_origin(a)
    args = typing.get_args(a)
    if origin is typing.Annotated:
        return _pretty(args[0])
    if origin is typing.Literal:
        return " or ".join(f"`{x}`" for x in args)
    if origin in (typing.Union, __import__("types").UnionType):
        if all(inspect.isclass(x) and issubclass(x, layers.LayerBase) for x in args):
            return "layer"
        return " or ".join(_pretty(x) for x in args)
    if origin is list:
        return f"list of {_pretty(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {_pretty(args[0])} -> {_pretty(args[1])}" if args else "mapping"
    if a is type(None):
        return "null"
    return getattr(a, "__name__", str(a))


def _constraints(field) -> str:
    parts = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"), ("min_length", "min length"),
                          ("max_length", "max length"), ("pattern", "pattern")):
            if getattr(m, attr, None) is not None and getattr(m, attr) not in (INT64_MIN, INT64_MAX):
                parts.append(f"{sym} {getattr(m, attr)}")
    return ", ".join(parts)


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "(factory)"
        return f"`{value.model_dump() if isinstance(value, BaseModel) else value}`"
    return f"`{field.default}`" if field.default is not PydanticUndefined else ""


def table(cls: type[BaseModel]) -> str:
    literal = cls.model_fields.get("type") or cls.model_fields.get("kind")
    tags = typing.get_args(literal.annotation) if literal is not None else ()
    title = " / ".join(f"`{t}`" for t in tags) if tags else f"`{cls.__name__}`"
    doc = inspect.cleandoc(cls.__doc__ or "") if cls.__doc__ and cls.__doc__ != BaseModel.__doc__ else ""
    lines = [f"### {title}", ""]
    if doc and not doc.startswith("Every spec object"):
        lines += [doc, ""]
    rows = [(n, f) for n, f in cls.model_fields.items() if n not in ("type", "kind")
            and not (issubclass(cls, layers.LayerBase) and n in COMMON)]
    if rows:
        lines += ["| field | type | default | constraints | meaning |", "| --- | --- | --- | --- | --- |"]
        for n, f in rows:
            text = meaning(cls, n, page="v1.md").replace("|", "\\|")
            lines.append(f"| `{n}` | {_type(f.annotation)} | {_default(f)} | {_constraints(f)} | {text} |")
        lines.append("")
    if issubclass(cls, layers.LayerBase) and tags:
        lines += _layer_params(cls, tags[0])
    return "\n".join(lines)


EXAMPLE_INPUTS: dict[str, Shape] = {
    "dense": (5,), "conv1d": (3, 10), "conv2d": (3, 8, 8), "batch_norm": (3, 8, 8), "layer_norm": (5,),
    "embedding": (7,), "lstm": (7, 5), "gru": (7, 5), "multi_head_attention": (7, 6),
}
EXAMPLE_FIELDS = {"dense": {"units": 4}, "conv1d": {"filters": 4, "kernel_size": 3},
                  "conv2d": {"filters": 4, "kernel_size": 3}, "embedding": {"input_dim": 10, "output_dim": 4},
                  "lstm": {"units": 4}, "gru": {"units": 4}, "multi_head_attention": {"num_heads": 2}}


def _layer_params(cls, tag: str) -> list[str]:
    if tag not in EXAMPLE_INPUTS:
        return []
    layer = cls.model_validate({"type": tag, **EXAMPLE_FIELDS.get(tag, {})})
    shape = EXAMPLE_INPUTS[tag]
    lines = [f"Parameters (canonical names and layouts), e.g. for per-sample input {list(shape)} "
             f"with {EXAMPLE_FIELDS.get(tag, {})}:", "",
             "| parameter | shape | default initializer | fan in / out | trainable |",
             "| --- | --- | --- | --- | --- |"]
    for kind, specs in (("", layer.parameters([shape])), ("buffer", layer.buffers([shape]))):
        for name, p in specs.items():
            init = p.initializer.model_dump(exclude={"seed"})
            lines.append(f"| `{name}` | {list(p.shape)} | `{init}` | {p.fan_in} / {p.fan_out} | "
                         f"{'no (buffer)' if kind else 'yes'} |")
    return [*lines, ""]


def main() -> None:
    print("<!-- generated by docs/tools/gen_spec_reference.py from the pydantic models: do not edit -->\n")
    print("# Spec v1: every field\n")
    print("Fields common to every layer: `name` (optional in a sequence; defaults to `<type>_<index>`), "
          "`inputs` (graph models only), `initializers` (a mapping from parameter name to initializer, "
          "overriding the defaults below).\n")
    for section, classes in SECTIONS:
        print(f"## {section}\n")
        for cls in classes:
            print(table(cls))


if __name__ == "__main__":
    main()
