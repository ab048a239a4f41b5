"""One construct, one place: for every construct of the spec (spec/constructs.py, read off the pydantic unions),
every part exists where the registry says, or is declared unsupported with a reason. A construct added without
one of them fails here with the file to write (docs/internals.md, "Adding a construct"):

    reference   its reference module with the kind's functions (a layer: forward, backward; ...)
    tolerance   its float32 rules next to that math (a layer: reduction_length, batch_length, backward_excess,
                magnitude, magnitude_backward; a loss: length, terms, singular; an optimizer: sensitivity, ...)
    torch       its torch mapping (a layer module, or an entry of the kind's table), or `UNSUPPORTED[name]`
    tensorflow  its TensorFlow mapping, likewise
    onnx        its ONNX export (layers only), or `UNSUPPORTED[name]`
    strategy    its hypothesis strategy in conformance/strategies.py (the conformance suite's cases)
    fields      a description on every field of its model (`Field(description=...)`: the schema, editor hovers
                and the docs tables come from it)
    docs        its section (or table row) in docs/spec/v1.md, and (what a backend runs) its normative math in
                docs/spec/v1-semantics.md

Besides, the tables hold nothing the spec does not have, and each optimizer's rules name its states.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from lockstep.spec import constructs
from lockstep.spec.constructs import Construct, Location, NotApplicable, Shared

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = {"torch": "torch", "tensorflow": "tensorflow", "onnx": "onnxruntime"}
CHECKED = ("reference", "tolerance", "torch", "tensorflow", "onnx", "strategy", "docs")


def _cases() -> list:
    return [pytest.param(c, part, id=f"{c.name}-{c.kind}-{part}") for c in constructs.constructs() for part in CHECKED]


def _needs_framework(part: str, construct: Construct) -> None:
    module = FRAMEWORKS.get(part)
    if module and isinstance(construct.where(part), Location) and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: its mappings cannot be imported here")


def _shared_exists(where: str) -> bool:
    """A shared rule's place is real: files ("a/b.py, c/d.py"), or `module[:attribute,...]`."""
    if "/" in where:
        return all((ROOT / p.strip()).is_file() for p in where.split(","))
    module, _, attrs = where.partition(":")
    mod = importlib.import_module(module)
    return all(hasattr(mod, a.strip()) for a in attrs.split(",") if a.strip())


def _docs_page() -> str:
    return (ROOT / constructs.SPEC_PAGE).read_text()


def _documented(c: Construct) -> bool:
    style, text = c.docs_anchor
    page = _docs_page()
    if style == "heading":
        return any(re.fullmatch(rf"#+ .*{re.escape(text)}.*", line) for line in page.splitlines())
    rows = [line for line in page.splitlines() if line.startswith("|")]
    return all(any(line.split("|")[1].count(f"`{n}`") for line in rows) for n in c.names)


@pytest.mark.parametrize(("construct", "part"), _cases())
def test_every_construct_has_every_part(construct: Construct, part: str) -> None:
    where = construct.where(part)  # type: ignore[arg-type]
    if part == "docs":
        style, text = construct.docs_anchor
        what = "a section headed" if style == "heading" else "a table row"
        assert _documented(construct), (
            f"{construct.describe()} has no docs part: write {what} {text} in {constructs.SPEC_PAGE}; see "
            f"{constructs.GUIDE}")
        name = construct.semantics_name
        assert name is None or re.search(rf"(?<![\w]){re.escape(name)}(?![\w])",
                                         (ROOT / constructs.SEMANTICS_PAGE).read_text()), (
            f"{construct.describe()} has no normative semantics: state its math (and its float32 rules' rows in "
            f"§ Tolerances) in {constructs.SEMANTICS_PAGE}; see {constructs.GUIDE}")
        return
    if isinstance(where, NotApplicable):
        assert where.reason
        return
    if isinstance(where, Shared):
        assert where.note and _shared_exists(where.where), f"{construct.describe()}: {part} rule at {where.where}"
        return
    _needs_framework(part, construct)
    if part in FRAMEWORKS and construct.unsupported(part):  # type: ignore[arg-type]
        return  # declared, with its reason
    construct.load(part)  # type: ignore[arg-type]  # MissingPart says which file to write


def test_every_field_has_a_description() -> None:
    """The `fields` part: every field of every construct's model says what it means in the schema itself (editor
    hovers, the generated docs tables)."""
    missing = []
    for c in constructs.constructs():
        assert c.model is not None
        undescribed = [name for name, f in c.model.model_fields.items() if name != "type" and not f.description]
        if undescribed:
            missing.append(f"{c.describe()}: {', '.join(undescribed)} (write Field(description=...) in "
                           f"{constructs.module_file(c.model.__module__)})")
    assert not missing, f"{len(missing)} constructs have fields without a description:\n" + "\n".join(missing)


# ------------------------------------------------------------------------------------ no stale entries
def _tables() -> dict[tuple[str, str], tuple[str, set[str]]]:
    """{(module, table): (part, the spec names it may hold)}: kinds that share a table (schedules and the
    warm-up) pool their names."""
    out: dict[tuple[str, str], tuple[str, set[str]]] = {}
    for c in constructs.constructs():
        for part in CHECKED:
            where = c.where(part)  # type: ignore[arg-type]
            if isinstance(where, Location) and where.table is not None:
                out.setdefault((where.module, where.table), (part, set()))[1].update(c.names)
    return out


@pytest.mark.parametrize("table", sorted(_tables()), ids=lambda t: f"{t[0]}.{t[1]}")
def test_tables_hold_only_spec_constructs(table: tuple[str, str]) -> None:
    """A table keyed by construct name (LOSSES, OPTIMIZER_CASES, CLIPPING, ...) names nothing the spec lacks: a
    construct removed or renamed in the spec leaves no mapping behind."""
    part, names = _tables()[table]
    if FRAMEWORKS.get(part) and importlib.util.find_spec(FRAMEWORKS[part]) is None:
        pytest.skip(f"{FRAMEWORKS[part]} is not installed")
    module, attr = table
    stale = set(getattr(importlib.import_module(module), attr)) - names
    assert not stale, f"{constructs.module_file(module)} `{attr}` maps {sorted(stale)}, which spec v1 does not have"


@pytest.mark.parametrize("part", ["torch", "tensorflow", "onnx"])
def test_layer_packages_hold_only_spec_layers(part: str) -> None:
    """A per-construct module for a layer the spec does not have is dead code (or a misspelt name)."""
    if importlib.util.find_spec(FRAMEWORKS[part]) is None:
        pytest.skip(f"{FRAMEWORKS[part]} is not installed")
    folder = ROOT / Path(constructs.get("dense", "layer").where(part).file).parent  # type: ignore[union-attr]
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert modules <= set(constructs.names("layer")), sorted(modules - set(constructs.names("layer")))


def test_reference_layer_modules_are_exactly_the_spec_layers() -> None:
    modules = {p.stem for p in (ROOT / "reference" / "layers").glob("*.py") if not p.stem.startswith("_")}
    assert modules - {"context"} == set(constructs.names("layer"))


# --------------------------------------------------------------------------------- optimizer states
@pytest.mark.parametrize("name", constructs.names("optimizer"))
def test_optimizer_rules_name_every_state_the_optimizer_keeps(name: str) -> None:
    """`state_names` is `init_state`'s keys for every configuration, and `STATES` classifies each of them (the
    StepTracker's rule of a state it does not know would be an error mid-certification)."""
    import numpy as np
    from pydantic import TypeAdapter

    from lockstep.spec.optimizers import Optimizer

    module = constructs.get(name, "optimizer").load("reference")
    flags = [{}, {"momentum": 0.9}, {"amsgrad": True}, {"centered": True}, {"centered": True, "momentum": 0.5}]
    fields = constructs.get(name, "optimizer").model.model_fields  # type: ignore[union-attr]
    for extra in flags:
        if not set(extra) <= set(fields):
            continue
        opt = TypeAdapter(Optimizer).validate_python({"type": name, "learning_rate": 0.1, **extra})
        state = module.init_state(opt, np.zeros(3))
        assert tuple(state) == tuple(module.state_names(opt)), (name, extra, tuple(state))
        assert set(state) <= set(module.STATES), (name, sorted(set(state) - set(module.STATES)))
        assert set(module.STATES.values()) <= {"linear", "quadratic", "directions"}


# ------------------------------------------------------------------------------------- the registry
def test_registry_is_the_spec_unions() -> None:
    """Every `type` literal of the unions is a construct, once per kind, and nothing else is."""
    import typing

    from lockstep.spec import data, initializers, losses, optimizers, schedules
    from lockstep.spec.layers import LAYER_TYPES

    def literals(union: object) -> set[str]:
        return {n for m in typing.get_args(typing.get_args(union)[0])
                for n in typing.get_args(m.model_fields["type"].annotation)}

    expected = {"layer": set(LAYER_TYPES), "loss": literals(losses.Loss), "optimizer": literals(optimizers.Optimizer),
                "schedule": literals(schedules.Schedule), "clipping": literals(schedules.GradientClipping),
                "initializer": literals(initializers.Initializer), "data_source": literals(data.Source),
                "preprocessing": literals(data.Preprocessing), "warmup": {"warmup"}, "regularization": {"l2"}}
    assert {k: set(constructs.names(k)) for k in constructs.KINDS} == expected  # type: ignore[arg-type]


def test_unknown_names_and_missing_parts_say_what_to_do() -> None:
    with pytest.raises(constructs.UnknownConstruct, match=r"`densse` is not a spec v1 layer; did you mean `dense`"):
        constructs.get("densse", "layer")
    assert constructs.get("constant").kind == "schedule"  # a schedule and an initializer: the one a backend runs
    assert constructs.get("constant", "initializer").kind == "initializer"
    fake = Construct("group_norm", "layer", None)
    with pytest.raises(constructs.MissingPart) as info:
        fake.load("tolerance")
    assert str(info.value).startswith("layer `group_norm` has no tolerance part: write reference/layers/group_norm.py")
    with pytest.raises(constructs.MissingPart, match=r"adapters/torch/losses.py"):
        Construct("poisson", "loss", None).load("torch")
    with pytest.raises(constructs.MissingPart, match=r"`UNSUPPORTED` of adapters/onnxruntime/layers/__init__.py"):
        fake.load("onnx")
    with pytest.raises(constructs.MissingPart, match=r"`no_such_rule` in reference/layers/relu.py"):
        constructs.get("relu").rule("tolerance", "no_such_rule")


def test_rules_fail_loudly_for_a_layer_without_them() -> None:
    """batch_length and backward_excess used to answer 0 for a layer they did not know; now the rule is
    required of every layer and a missing one names the file."""
    from types import SimpleNamespace

    from lockstep.reference import tolerances

    ghost = SimpleNamespace(type="group_norm")
    with pytest.raises(KeyError, match="group_norm"):
        tolerances.batch_length(ghost, [(4,)], 2)
    with pytest.raises(KeyError, match="group_norm"):
        tolerances.backward_excess(ghost, [(4,)])
    with pytest.raises(KeyError, match="group_norm"):
        tolerances.layer_length(ghost, [(4,)])
