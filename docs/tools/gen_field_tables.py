"""Fill the generated tables of docs/spec/v1.md from the pydantic models, so the page cannot drift.

    python docs/tools/gen_field_tables.py           # rewrite the tables in docs/spec/v1.md in place
    python docs/tools/gen_field_tables.py --check   # exit 1 (and say which) if the page is stale

The page is written by hand; only the regions between markers are generated:

    <!-- fields: documents.Recipe -->        a field table: field | type | default | meaning
    <!-- /fields -->
    <!-- params: conv2d -->                  canonical parameters of a layer: name | shape | init | fans
    <!-- /params -->
    <!-- initializers -->                    every initializer type with its fields
    <!-- /initializers -->
    <!-- header -->                          the fields every document starts with
    <!-- /header -->

Types, constraints, defaults and meanings come from the models: a field's meaning is its
`Field(description=...)` (also the JSON Schema's description, which editors show on hover). A field added to
a model without a description makes this script fail, so the normative page always describes every field.
Parameter shapes are written symbolically in PARAMS and checked against the layer's own
`parameters()`/`buffers()` for a sample input, so a changed layout fails here too.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from lockstep.spec import base, data, documents, initializers, layers, losses, optimizers, schedules

PAGE = Path(__file__).resolve().parents[1] / "spec" / "v1.md"
MODULES = {m.__name__.rsplit(".", 1)[-1]: m for m in (base, data, documents, initializers, layers, losses,
                                                        optimizers, schedules)}
HEADER_FIELDS = {"apiVersion", "kind", "metadata"}  # described once, in "Every document"
LAYER_COMMON = {"name", "inputs", "initializers"}  # described once, in "Fields every layer has"

# ------------------------------------------------------------------------------------------ params
# Symbolic canonical parameters per layer type: (name, shape, fan_in, fan_out, when). Each symbolic
# string is evaluated in `env` (with / as integer division and · as product) and compared with the
# layer's own parameters()/buffers() for `example` and `input`; a tuple (shown, python) gives a
# separate expression where the shown text is prose.
PARAMS: dict[str, dict[str, Any]] = {
    "dense": {
        "example": {"units": 5}, "input": (3, 4), "env": lambda l, x: {"in": x[-1], "units": l.units},
        "rows": [("weight", "[in, units]", "in", "units", ""),
                 ("bias", "[units]", "in", "units", "`use_bias: true`")],
    },
    "conv1d": {
        "example": {"filters": 6, "kernel_size": 3, "groups": 2}, "input": (4, 11),
        "env": lambda l, x: {"C": x[0], "filters": l.filters, "groups": l.groups, "k": l.kernel_size},
        "rows": [("weight", "[filters, C/groups, k]", "(C/groups)·k", "filters·k", ""),
                 ("bias", "[filters]", "(C/groups)·k", "filters·k", "`use_bias: true`")],
    },
    "conv2d": {
        "example": {"filters": 6, "kernel_size": [3, 2], "groups": 2}, "input": (4, 9, 9),
        "env": lambda l, x: {"C": x[0], "filters": l.filters, "groups": l.groups, "kh": l.kernel_size[0],
                             "kw": l.kernel_size[1]},
        "rows": [("weight", "[filters, C/groups, kh, kw]", "(C/groups)·kh·kw", "filters·kh·kw", ""),
                 ("bias", "[filters]", "(C/groups)·kh·kw", "filters·kh·kw", "`use_bias: true`")],
    },
    "batch_norm": {
        "example": {}, "input": (3, 5, 5), "env": lambda l, x: {"C": x[0]},
        "rows": [("weight", "[C]", "C", "C", ""), ("bias", "[C]", "C", "C", ""),
                 ("running_mean", "[C]", "C", "C", "buffer"), ("running_var", "[C]", "C", "C", "buffer")],
    },
    "layer_norm": {
        "example": {"dims": 2}, "input": (3, 4, 5), "env": lambda l, x: {"x": x, "dims": l.dims},
        "rows": [("weight", ("the input's last `dims` axes", "list(x[-dims:])"),
                  ("the first of them", "x[-dims]"), ("the last of them", "x[-1]"), ""),
                 ("bias", ("the input's last `dims` axes", "list(x[-dims:])"),
                  ("the first of them", "x[-dims]"), ("the last of them", "x[-1]"), "")],
    },
    "embedding": {
        "example": {"input_dim": 10, "output_dim": 4}, "input": (7,),
        "env": lambda l, x: {"input_dim": l.input_dim, "output_dim": l.output_dim},
        "rows": [("weight", "[input_dim, output_dim]", "input_dim", "output_dim", "")],
    },
    "lstm": {
        "example": {"units": 4}, "input": (7, 5), "env": lambda l, x: {"F": x[-1], "H": l.units},
        "rows": [("weight_ih", "[F, 4·H]", "F", "4·H", "gates i, f, g, o"),
                 ("weight_hh", "[H, 4·H]", "H", "4·H", "gates i, f, g, o"),
                 ("bias", "[4·H]", "4·H", "4·H", "one bias")],
    },
    "gru": {
        "example": {"units": 4}, "input": (7, 5), "env": lambda l, x: {"F": x[-1], "H": l.units},
        "rows": [("weight_ih", "[F, 3·H]", "F", "3·H", "gates r, z, n"),
                 ("weight_hh", "[H, 3·H]", "H", "3·H", "gates r, z, n"),
                 ("bias_ih", "[3·H]", "3·H", "3·H", "input side"),
                 ("bias_hh", "[3·H]", "3·H", "3·H", "recurrent side (inside the reset)")],
    },
    "multi_head_attention": {
        "example": {"num_heads": 2}, "input": (7, 6), "env": lambda l, x: {"E": x[-1]},
        "rows": [*((f"{p}_weight", "[E, E]", "E", "E", "") for p in ("query", "key", "value", "output")),
                 *((f"{p}_bias", "[E]", "E", "E", "`use_bias: true`") for p in ("query", "key", "value", "output"))],
    },
}


# ------------------------------------------------------------------------------------------ rendering
def fmt_number(v: float | int) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    text = repr(v)
    m = re.fullmatch(r"(-?[\d.]+)e([+-])0*(\d+)", text)
    if m:
        return f"{m.group(1)}e{'-' if m.group(2) == '-' else ''}{m.group(3)}"
    return text


def yaml_value(v: Any) -> str:
    """A value as YAML flow text."""
    if isinstance(v, BaseModel):
        v = v.model_dump(exclude_none=True)
    if v is None:
        return "null"
    if isinstance(v, bool) or isinstance(v, int | float):
        return fmt_number(v)
    if isinstance(v, str):
        return v if v and re.fullmatch(r"[A-Za-z_][\w.\-]*", v) else f'"{v}"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(yaml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _constraints(metas: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metas:
        if isinstance(m, FieldInfo):
            out.update(_constraints(list(m.metadata)))
            continue
        for attr in ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern"):
            if getattr(m, attr, None) is not None and getattr(m, attr) not in (base.INT64_MIN, base.INT64_MAX):
                out[attr] = getattr(m, attr)  # the 64-bit bounds of every integer are stated once, in prose
    return out


def _range(c: dict[str, Any]) -> str:
    lo = ("(", c["gt"]) if "gt" in c else ("[", c["ge"]) if "ge" in c else None
    hi = (")", c["lt"]) if "lt" in c else ("]", c["le"]) if "le" in c else None
    if lo and hi:
        return f" in {lo[0]}{fmt_number(lo[1])}, {fmt_number(hi[1])}{hi[0]}"
    if lo:
        return f" {'>' if lo[0] == '(' else '≥'} {fmt_number(lo[1])}"
    if hi:
        return f" {'<' if hi[0] == ')' else '≤'} {fmt_number(hi[1])}"
    return ""


UNIONS = {  # discriminated unions shown as one linked word
    frozenset(layers.LAYER_CLASSES): ("layer", "layers", "#layers"),
    frozenset(typing.get_args(typing.get_args(initializers.Initializer)[0])): ("initializer", "initializers",
                                                                               "#initializers"),
    frozenset(typing.get_args(typing.get_args(losses.Loss)[0])): ("loss", "losses", "#losses"),
    frozenset(typing.get_args(typing.get_args(optimizers.Optimizer)[0])): ("optimizer", "optimizers",
                                                                           "#optimizers"),
    frozenset(typing.get_args(typing.get_args(schedules.Schedule)[0])): ("schedule", "schedules",
                                                                         "#learning-rate-schedules"),
    frozenset(typing.get_args(typing.get_args(schedules.GradientClipping)[0])): ("clipping", "clippings",
                                                                                 "#gradient-clipping"),
    frozenset(typing.get_args(typing.get_args(data.Source)[0])): ("source", "sources", "#data-sources"),
    frozenset(typing.get_args(typing.get_args(data.Preprocessing)[0])): ("preprocessing step",
                                                                         "preprocessing steps", "#preprocessing"),
}
OBJECTS = {  # nested objects: (word, anchor)
    base.Metadata: ("metadata", "#every-document"), documents.Input: ("input", "#inputs"),
    documents.WeightsFile: ("weights file", "#weights-file"), data.Data: ("data", "#data"),
    data.Split: ("split", "#split"), documents.Regularization: ("regularization", "#regularization"),
    documents.Training: ("training", "#training"), documents.Evaluation: ("evaluation", "#evaluation"),
    documents.Checkpoint: ("checkpoint", "#checkpoints"), documents.Tolerance: ("tolerance", "#tolerance"),
    documents.LatencyBudget: ("latency budget", "#latency-budget"), schedules.Warmup: ("warm-up", "#warm-up"),
    documents.Quantization: ("quantization", "#quantization"),
    documents.Distribution: ("distribution", "#data-parallelism"),
}
PLURAL = {"integer": "integers", "number": "numbers", "string": "strings", "name": "names", "boolean": "booleans"}


def render_type(a: Any, metas: list[Any] | None = None, plural: bool = False) -> str:
    metas = list(metas or [])
    origin, args = typing.get_origin(a), typing.get_args(a)
    if origin is typing.Annotated:
        return render_type(args[0], metas + list(args[1:]), plural)
    c = _constraints(metas)
    if origin in (typing.Union, types.UnionType):
        members = [x for x in args if x is not type(None)]
        null = " or `null`" if type(None) in args else ""
        if len(members) == 1:
            return render_type(members[0], metas, plural) + null
        for key, (one, many, anchor) in UNIONS.items():
            if frozenset(members) == key:
                return f"[{many if plural else one}]({anchor})" + null
        return " or ".join(render_type(x, metas, plural) for x in members) + null
    if origin is typing.Literal:
        return " or ".join(f"`{x}`" for x in args)
    if origin is list:
        inner = render_type(args[0], plural=True) if args else "values"
        size = ""
        if c.get("min_length"):
            size = f", at least {c['min_length']}"
        return f"list of {inner}{size}"
    if origin is dict:
        return f"mapping of {render_type(args[0], plural=True)} to {render_type(args[1], plural=True)}"
    if a is dict:
        return "mapping"
    if isinstance(a, type) and issubclass(a, BaseModel):
        word, anchor = OBJECTS[a]
        return f"[{word}]({anchor})"
    if a is str:
        if c.get("pattern") == r"^[A-Za-z_][A-Za-z0-9_\-]*$":
            word = "name"
        elif c.get("pattern"):
            return f"string matching `{c['pattern']}`"
        elif c.get("min_length") == c.get("max_length") == 1:
            return "one character"
        else:
            word = "string"
        return f"[{PLURAL[word] if plural else word}](#names)" if word == "name" else (PLURAL[word] if plural
                                                                                       else word)
    base_word = {int: "integer", float: "number", bool: "boolean"}.get(a)
    if base_word is None:
        raise TypeError(f"no rendering for {a!r}")
    word = PLURAL[base_word] if plural else base_word
    return word + _range(c)


def render_default(f: FieldInfo) -> str:
    if f.is_required():
        return "**required**"
    value = f.default_factory() if f.default_factory is not None else f.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return ""
    return f"`{yaml_value(value)}`"


def meaning(cls: type[BaseModel], field: str, page: str = "") -> str:
    """The field's `Field(description=...)`, its references to a section of the spec written as links (`page`:
    the page the sections are on, relative to the page written; "" for v1.md itself)."""
    text = cls.model_fields[field].description
    if not text:
        raise KeyError(f"{cls.__module__}.{cls.__name__}.{field} has no description: give it "
                       "`Field(description=...)` in the model")
    return SECTION.sub(lambda m: f"[{m.group(1)}]({page}#{m.group(1).lower().replace(' ', '-')})", text)


SECTION = re.compile(r'docs/spec/v1\.md, "([^"]+)"')
"""How a description names a section of docs/spec/v1.md (`(docs/spec/v1.md, "Randomness")`): plain text in an
editor's hover, a link in the generated tables."""


def fields_table(cls: type[BaseModel], *, skip: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    rows = []
    for name, f in cls.model_fields.items():
        if name in ("type", "kind") or name in skip:
            continue
        if issubclass(cls, documents.Document) and name in HEADER_FIELDS:
            continue
        if issubclass(cls, layers.LayerBase) and cls is not layers.LayerBase and name in LAYER_COMMON:
            continue
        cells = [f"`{name}`", render_type(f.annotation, list(f.metadata)), render_default(f), meaning(cls, name)]
        rows.append(row(cells))
    if not rows:
        return "No fields besides `type`" + (" and the [common ones](#fields-every-layer-has)."
                                             if issubclass(cls, layers.LayerBase) else ".")
    return "\n".join(["| field | type | default | meaning |", "| --- | --- | --- | --- |", *rows])


def row(cells: list[str]) -> str:
    """One table row; `|` inside a cell (code spans included) must be escaped in GitHub's tables."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _evaluate(text: str, env: dict[str, Any]) -> Any:
    expr = re.sub(r"\bin\b", "in_", text.replace("·", "*").replace("/", "//"))  # `in` is a Python keyword
    names = {("in_" if k == "in" else k): v for k, v in env.items()}
    return eval(expr, {"__builtins__": {"list": list}}, names)  # only the constant strings in PARAMS


def params_table(tag: str) -> str:
    spec = PARAMS[tag]
    cls = layers.LAYER_TYPES[tag]
    layer = cls.model_validate({"type": tag, **spec["example"]})
    x = spec["input"]
    actual = {**layer.parameters([x]), **layer.buffers([x])}
    env = spec["env"](layer, x)
    lines = ["| parameter | shape | default initializer | fan_in | fan_out | note |",
             "| --- | --- | --- | --- | --- | --- |"]
    names = []
    for name, shape, fan_in, fan_out, when in spec["rows"]:
        names.append(name)
        p = actual.get(name)
        if p is None:
            raise AssertionError(f"{tag}: PARAMS lists `{name}`, which {cls.__name__}.parameters() does not give")
        for what, sym, real in (("shape", shape, list(p.shape)), ("fan_in", fan_in, p.fan_in),
                                ("fan_out", fan_out, p.fan_out)):
            shown, expr = sym if isinstance(sym, tuple) else (sym, sym)
            got = _evaluate(expr, env)
            if got != real:
                raise AssertionError(f"{tag}.{name}: symbolic {what} `{shown}` gives {got} for input {list(x)}, "
                                     f"the model says {real}")
        shown = [s[0] if isinstance(s, tuple) else f"`{s}`" for s in (shape, fan_in, fan_out)]
        note = when if when != "buffer" else "buffer: not trained, updated in training mode"
        lines.append(row([f"`{name}`", shown[0], render_initializer(p.initializer), shown[1], shown[2], note]))
    extra = set(actual) - set(names)
    if extra:
        raise AssertionError(f"{tag}: parameters {sorted(extra)} are missing from PARAMS in {__file__}")
    return "\n".join(lines)


def render_initializer(init: BaseModel) -> str:
    fields = {k: v for k, v in init.model_dump(exclude={"seed", "type"}).items()}
    cls = type(init)
    shown = {k: v for k, v in fields.items()
             if cls.__name__ in ("Uniform", "Normal", "Constant") or v != cls.model_fields[k].default}
    args = ", ".join(f"{k} {fmt_number(v) if isinstance(v, int | float) else v}" for k, v in shown.items())
    return f"`{init.type}`" + (f" ({args})" if args else "")  # type: ignore[attr-defined]


INIT_RULES = {
    "Zeros": "0", "Ones": "1", "Constant": "`value`", "Uniform": "`U(low, high)`", "Normal": "`N(mean, std²)`",
    "GlorotUniform": "`U(-a, a)`, `a = gain · sqrt(6 / (fan_in + fan_out))`",
    "GlorotNormal": "`N(0, s²)`, `s = gain · sqrt(2 / (fan_in + fan_out))`, not truncated",
    "HeUniform": "`U(-a, a)`, `a = sqrt(6 / fan)`, `fan` = fan_in or fan_out by `mode`",
    "HeNormal": "`N(0, s²)`, `s = sqrt(2 / fan)`, not truncated",
    "Orthogonal": "`gain ·` an orthogonal matrix from the QR decomposition of a standard normal one, "
                  "viewed as `[shape[0], prod(shape[1:])]`",
}


def initializers_table() -> str:
    lines = ["| `type` | fields (default) | values |", "| --- | --- | --- |"]
    for cls in typing.get_args(typing.get_args(initializers.Initializer)[0]):
        tags = typing.get_args(cls.model_fields["type"].annotation)
        name = " or ".join(f"`{t}`" for t in tags)
        fields = ", ".join(f"`{n}` ({render_default(f).strip('`') if not f.is_required() else 'required'})"
                           for n, f in cls.model_fields.items() if n not in ("type", "seed"))
        lines.append(row([name, fields or "—", INIT_RULES[cls.__name__]]))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the page
MARKER = re.compile(r"(<!-- (fields|params|initializers|header)(?:: ([\w.]+))? -->\n)(.*?)(<!-- /\2 -->)",
                    re.DOTALL)


def resolve_class(ref: str) -> type[BaseModel]:
    module, _, name = ref.partition(".")
    cls = getattr(MODULES[module], name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise KeyError(f"no model `{ref}` (write <module>.<Class>, e.g. documents.Recipe)")
    return cls


def header_table() -> str:
    """The three fields every document starts with (`kind`'s meaning gathers each kind's own)."""
    doc = documents.Document.model_fields
    kinds = " ".join(cls.model_fields["kind"].description or "" for cls in documents.KINDS.values())
    rows = [["`apiVersion`", render_type(doc["apiVersion"].annotation), "**required**",
             meaning(documents.Document, "apiVersion")],
            ["`kind`", " or ".join(f"`{k}`" for k in documents.KINDS), "**required**",
             f"The document kind; the rest of the document follows that kind's table. {kinds}"],
            ["`metadata`", render_type(doc["metadata"].annotation), "**required**",
             meaning(documents.Document, "metadata")]]
    return "\n".join(["| field | type | default | meaning |", "| --- | --- | --- | --- |", *map(row, rows)])


def generate(kind: str, arg: str | None) -> str:
    if kind == "header":
        return header_table()
    if kind == "fields":
        return fields_table(resolve_class(arg or ""))
    if kind == "params":
        return params_table(arg or "")
    return initializers_table()


def render(page: str) -> str:
    def fill(m: re.Match[str]) -> str:
        return f"{m.group(1)}{generate(m.group(2), m.group(3))}\n{m.group(5)}"

    return MARKER.sub(fill, page)


def coverage(page: str) -> list[str]:
    """Models and layer types the page never tabulates."""
    shown = {m.group(3) for m in MARKER.finditer(page) if m.group(2) == "fields"}
    params = {m.group(3) for m in MARKER.finditer(page) if m.group(2) == "params"}
    missing = []
    for mod in (data, documents, layers, losses, optimizers, schedules):
        for name, cls in vars(mod).items():
            if (isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == mod.__name__
                    and not name.startswith("_") and cls is not documents.Document and cls is not layers.LayerBase
                    and f"{mod.__name__.rsplit('.', 1)[-1]}.{name}" not in shown):
                missing.append(f"fields: {mod.__name__.rsplit('.', 1)[-1]}.{name}")
    missing += [f"params: {t}" for t in PARAMS if t not in params]
    missing += [f"params: {t} (add it to PARAMS)" for t, c in layers.LAYER_TYPES.items() if t not in PARAMS
                and (c.parameters is not layers.LayerBase.parameters or c.buffers is not layers.LayerBase.buffers)]
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/spec/v1.md is stale; write nothing")
    parser.add_argument("--page", type=Path, default=PAGE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    page = args.page.read_text(encoding="utf-8")
    try:
        new = render(page)
    except (KeyError, AssertionError, TypeError, NameError, SyntaxError) as exc:
        print(f"gen_field_tables: {exc}", file=sys.stderr)
        return 2
    missing = coverage(new)
    if missing:
        print("gen_field_tables: the page has no table for: " + "; ".join(missing), file=sys.stderr)
        return 1
    if args.check:
        if new != page:
            diff = difflib.unified_diff(page.splitlines(), new.splitlines(), str(args.page), "generated", lineterm="",
                                        n=1)
            print("\n".join(list(diff)[:60]), file=sys.stderr)
            print(f"gen_field_tables: {args.page} is stale; run python docs/tools/gen_field_tables.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != page:
        args.page.write_text(new, encoding="utf-8")
        print(f"updated {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
