"""Finding adapters (built-in, entry point, module:attribute), clear messages when one cannot be used, the
`lockstep adapters` listing, and the reference adapter's own contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from tests_support import fake_entry_points

from lockstep.adapters import registry
from lockstep.adapters.base import NonFiniteError, UnsupportedConstruct
from lockstep.adapters.reference import ReferenceAdapter
from lockstep.adapters.registry import AdapterNotFound, get
from lockstep.cli import main
from lockstep.spec.documents import Model, Recipe

VENDOR = '''
from lockstep.adapters.reference import ReferenceAdapter

class VendorAdapter(ReferenceAdapter):
    name = "vendor"

    def versions(self):
        return {"vendor": "9.9"}

class NotAnAdapter:
    pass
'''


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable third-party module `vendor_pkg` with an adapter class."""
    (tmp_path / "vendor_pkg.py").write_text(VENDOR)
    (tmp_path / "broken_pkg.py").write_text("raise RuntimeError('vendor bug at import')\n")
    (tmp_path / "needs_framework.py").write_text("import lockstep_no_such_framework\nclass A: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "vendor_pkg"


def test_builtin_reference_by_name_and_alias() -> None:
    assert isinstance(get("reference"), ReferenceAdapter)
    assert isinstance(get("Reference"), ReferenceAdapter)
    assert {"reference", "torch", "tensorflow"} <= set(registry.names())


def test_module_attribute(vendor: str) -> None:
    adapter = get(f"{vendor}:VendorAdapter")
    assert adapter.name == "vendor" and adapter.versions() == {"vendor": "9.9"}


@pytest.mark.parametrize("target,message", [
    ("nope", "unknown adapter `nope`; known: onnxruntime, reference"),
    ("lockstep_absent_mod:Thing", "no module `lockstep_absent_mod`"),
    ("vendor_pkg:Missing", "`vendor_pkg` has no attribute `Missing`"),
    ("vendor_pkg:NotAnAdapter", "is not a Lockstep adapter"),
    ("broken_pkg:Thing", "failed to import: RuntimeError: vendor bug at import"),
    ("needs_framework:A", "needs the module `lockstep_no_such_framework`, which is not installed"),
    ("vendor_pkg:", "not of the form `module:attribute`"),
])
def test_clear_messages(vendor: str, target: str, message: str) -> None:
    with pytest.raises(AdapterNotFound, match=re.escape(message)):
        get(target)


def test_missing_framework_says_which_extra(vendor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "torch", ("needs_framework:A", "torch"))
    with pytest.raises(AdapterNotFound, match=r"pip install 'lockstep-standard\[torch\]'"):
        get("torch")


def test_entry_points(vendor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, vendor="vendor_pkg:VendorAdapter", broken="broken_pkg:Thing")
    assert "vendor" in registry.names() and "broken" in registry.names()
    assert get("vendor").versions() == {"vendor": "9.9"}
    with pytest.raises(AdapterNotFound, match=re.escape("(entry point `broken_pkg:Thing`) failed to load")):
        get("broken")
    rows = {r.name: r for r in registry.available()}
    assert rows["vendor"].available and rows["vendor"].source == "entry point vendor_pkg:VendorAdapter"
    assert not rows["broken"].available and "vendor bug" in rows["broken"].reason
    assert rows["reference"].available and rows["reference"].devices == ["cpu"]


def test_adapters_command_lists_available_and_unavailable(vendor: str, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fake_entry_points(monkeypatch, vendor="vendor_pkg:VendorAdapter", broken="broken_pkg:Thing")
    assert main(["adapters"]) == 1  # a third-party adapter that is installed but does not load is an error
    captured = capsys.readouterr()
    text = captured.out
    assert "reference" in text and "numpy" in text and "broken" in text and "unavailable" in text
    assert captured.err == ("lockstep adapters: the adapter `broken` cannot be used: entry point "
                            "`broken = broken_pkg:Thing` (group lockstep.adapters): RuntimeError: vendor bug at "
                            "import\n"), captured.err
    assert main(["adapters", "--format", "json"]) == 1
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["reference"]["versions"]["compute_dtype"] == "float64"
    assert rows["vendor"]["available"] and not rows["broken"]["available"]


def test_a_listing_scans_the_installed_distributions_once(vendor: str, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`available()` scanned them for its names (twice), its entry points, the shadowed ones and each third-party
    row; the command twice more. Each scan walks every installed distribution's metadata."""
    from importlib import metadata

    fake_entry_points(monkeypatch, vendor="vendor_pkg:VendorAdapter", other="vendor_pkg:VendorAdapter")
    scans: list[str | None] = []
    fake = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: scans.append(group) or fake(group=group))
    rows = registry.available(["vendor_pkg:VendorAdapter"])
    assert len(scans) == 1 and {"vendor", "other"} <= {r.name for r in rows}, scans
    scans.clear()
    assert main(["adapters"]) == 0, capsys.readouterr().err
    assert len(scans) == 2, scans  # the listing's, and one for the command's notes


def test_adapters_command_exits_0_when_every_third_party_adapter_loads(
        vendor: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake_entry_points(monkeypatch, vendor="vendor_pkg:VendorAdapter")
    assert main(["adapters"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().err == ""
    fake_entry_points(monkeypatch, vendor="vendor_pkg:VendorAdapter", notone="vendor_pkg:NotAnAdapter")
    assert main(["adapters"]) == 1
    err = capsys.readouterr().err
    assert "`notone = vendor_pkg:NotAnAdapter`" in err and "is not a Lockstep adapter" in err, err


def test_a_name_two_distributions_register_is_refused_and_named(vendor: str, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Which of two `dup` entry points loads would depend on sys.path's order: neither does, and both are named;
    the same target registered twice (one distribution installed twice) is no clash."""
    fake_entry_points(monkeypatch, ("dup", "vendor_pkg:VendorAdapter"), ("dup", "vendor_pkg:NotAnAdapter"),
                      ("twice", "vendor_pkg:VendorAdapter"), ("twice", "vendor_pkg:VendorAdapter"))
    with pytest.raises(AdapterNotFound, match=r"adapter `dup` is registered by 2 installed distributions \(.*"
                       r"vendor_pkg:VendorAdapter; .*vendor_pkg:NotAnAdapter\); name the one you mean"):
        get("dup")
    assert get("twice").versions() == {"vendor": "9.9"}
    assert main(["adapters"]) == 1
    err = capsys.readouterr().err
    assert "the adapter `dup` cannot be used" in err and "registered by 2 installed distributions" in err, err


def test_an_entry_point_with_a_built_in_name_is_listed_by_its_target_and_said(
        vendor: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`--adapter reference` keeps meaning the built-in one; the vendor's adapter is reachable, and listed, by its
    module:attribute, and the listing exits 1 so that a vendor's CI sees it."""
    fake_entry_points(monkeypatch, reference="vendor_pkg:VendorAdapter", Reference="vendor_pkg:VendorAdapter")
    assert isinstance(get("reference"), ReferenceAdapter) and not isinstance(get("reference"), type(get(
        "vendor_pkg:VendorAdapter")))
    assert "Reference" not in registry.names()
    rows = {r.name: r for r in registry.available()}
    assert rows["reference"].source == "built-in"
    assert rows["vendor_pkg:VendorAdapter"].available
    assert "which names the built-in adapter" in rows["vendor_pkg:VendorAdapter"].source
    assert main(["adapters"]) == 1
    err = capsys.readouterr().err
    assert ("the entry point `reference = vendor_pkg:VendorAdapter` (group lockstep.adapters) has the name of a "
            "built-in adapter, which `reference` keeps meaning; name it `vendor_pkg:VendorAdapter`") in err, err


# ------------------------------------------------------------------------------ the reference adapter
MODEL = Model.model_validate({
    "apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "m"}, "inputs": [{"name": "x", "shape": [3]}],
    "layers": [{"type": "dense", "units": 4}, {"type": "batch_norm"}, {"type": "relu"},
               {"type": "dense", "units": 2}]})


def _recipe(lr: float = 0.1) -> Recipe:
    return Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "r"}, "model": "m.yaml", "seed": 0,
        "data": {"source": {"type": "synthetic_classification", "num_samples": 8, "shape": [3], "num_classes": 2},
                 "batch_size": 4},
        "loss": {"type": "sparse_categorical_crossentropy", "from_logits": True},
        "optimizer": {"type": "adam", "learning_rate": lr}, "training": {"steps": 3}})


def _session(lr: float = 0.1):
    from lockstep.reference.initializers import initial_parameters
    from lockstep.spec.graph import build_graph

    s = ReferenceAdapter().build(MODEL, dtype="float32", recipe=_recipe(lr))
    s.set_parameters(initial_parameters(build_graph(MODEL), 0))
    return s


def test_reference_says_it_computes_in_float64() -> None:
    a = ReferenceAdapter()
    assert a.support("dense", dtype="float64").status == "written"  # the standard's own math, not a framework's
    assert "computes in float64" not in a.support("dense", dtype="float64").note
    assert "computes in float64" in a.support("dense", dtype="float32").note
    assert a.support("glorot_uniform").supported and a.support("one_hot").supported
    assert not a.support("no_such_layer").supported and not a.support("dense", device="cuda").supported
    with pytest.raises(UnsupportedConstruct, match="CPU only"):
        a.build(MODEL, dtype="float32", device="cuda")


def test_reference_session_contract() -> None:
    s = _session()
    x, y = np.arange(12, dtype=np.float32).reshape(4, 3) / 10, np.array([0, 1, 1, 0])
    with pytest.raises(KeyError, match="missing parameters"):
        s.set_parameters({})
    before = s.get_parameters()
    assert all(v.dtype == np.float64 for v in before.values()) and "batch_norm_1.running_mean" in before
    res = s.train_step(x, y)
    assert np.isfinite(res.loss) and res.learning_rate == 0.1 and res.grad_norm is not None
    step, state = s.get_optimizer_state()
    assert step == 1 and set(state["dense_0.weight"]) >= {"exp_avg", "exp_avg_sq"}
    # a copy restored into a new session continues identically
    t = _session()
    t.set_parameters(s.get_parameters())
    t.set_optimizer_state(step, state)
    a, b = s.train_step(x, y), t.train_step(x, y)
    assert a.loss == b.loss
    assert all(np.array_equal(v, t.get_parameters()[k]) for k, v in s.get_parameters().items())


def test_non_finite_step_changes_nothing() -> None:
    s = _session()
    x, y = np.full((4, 3), np.inf, dtype=np.float32), np.array([0, 1, 1, 0])
    before, (step, _) = s.get_parameters(), s.get_optimizer_state()
    with pytest.raises(NonFiniteError) as info:
        s.train_step(x, y)
    assert info.value.quantity == "loss" or info.value.quantity.startswith("gradient of ")
    after = s.get_parameters()
    assert all(np.array_equal(before[k], after[k]) for k in before), "a failed step must not touch buffers"
    assert s.get_optimizer_state()[0] == step


def test_forward_only_session_refuses_to_train() -> None:
    s = ReferenceAdapter().build(MODEL, dtype="float64")
    with pytest.raises(RuntimeError, match="without a recipe"):
        s.train_step(np.zeros((2, 3)), np.zeros(2, dtype=np.int64))



@pytest.mark.parametrize("backend", ["torch", "tensorflow", "onnxruntime"])
@pytest.mark.parametrize("device", ["cpu:1", "cpu:0", "cuda:-1", "cuda:x", "gpu:", "tpu", ""])
def test_every_adapter_refuses_a_device_name_the_standard_does_not_have(backend: str, device: str) -> None:
    """TensorFlow took `cpu:1` as the CPU (a run exited 0) and answered `cuda:-1` with "sees no GPU"."""
    from lockstep.adapters.registry import get

    pytest.importorskip({"onnxruntime": "onnxruntime", "torch": "torch", "tensorflow": "tensorflow"}[backend])
    problem = get(backend).device_problem(device)
    assert problem is not None and problem.startswith(f"unknown device `{device}`"), problem
    assert get(backend).device_problem("cpu") is None


def test_the_adapters_command_lists_an_adapter_named_module_attribute(capsys: pytest.CaptureFixture[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """compare and certify take `module:attribute`; `lockstep adapters --adapter module:attr` refused it."""
    from lockstep.cli import main

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    name = "conformance.mutants.adam_no_bias_correction:AdamNoBiasCorrectionAdapter"
    assert main(["adapters", "--adapter", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(name) and "cpu" in out, out
    assert main(["adapters", "--adapter", "nope_module:Nope"]) == 1
    captured = capsys.readouterr()
    assert "nope_module:Nope" in captured.out and "unavailable: no module `nope_module`" in captured.out
    assert "the adapter `nope_module:Nope` cannot be used" in captured.err


def test_details_of_an_adapter_that_cannot_load_say_why(vendor: str, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`lockstep adapters --adapter torch --details` without torch said only "not an available adapter here",
    where the plain listing says which module is missing and what to install."""
    monkeypatch.setitem(registry.BUILTIN, "torch", ("needs_framework:A", "torch"))
    assert main(["adapters", "--adapter", "torch", "--details"]) == 2
    err = capsys.readouterr().err
    assert "`torch` is not an available adapter here: adapter `needs_framework:A` needs the module" in err, err
    assert "pip install 'lockstep-standard[torch]'" in err, err
