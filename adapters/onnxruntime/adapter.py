"""The ONNX Runtime adapter: a spec model exported from the standard and run on onnxruntime, predictions only.

`support()` says `native` for every layer exported to its own ONNX operator, naming it (`written` where a layer
module declares `PROVENANCE = "written"`: attention is its formula in MatMul/Softmax); for a float64 export
written from other operators because ONNX Runtime's CPU provider has no float64 kernel for theirs, `written`
(the note says which; `FLOAT64_PROVENANCE = "bridged"` where the native operator runs with an adjustment:
batch norm's ε folded into the running variance); and `unsupported` for losses, optimizers, schedules,
clipping and regularization: a deployment runtime does not train. `levels = (1,)`: the conformance suite
checks predictions and reports levels 2-4 unsupported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import onnx
import onnxruntime as ort

from lockstep import __version__
from lockstep.adapters.base import PREPARED, Adapter, Session, Support, UnsupportedConstruct, unknown_device
from lockstep.adapters.onnxruntime import layers
from lockstep.adapters.onnxruntime.export import Exporter
from lockstep.adapters.onnxruntime.session import PREDICTIONS_ONLY, OnnxRuntimeSession
from lockstep.spec.graph import build_graph
from lockstep.spec.layers import LAYER_TYPES

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxRuntimeAdapter(Adapter):
    """`--adapter onnxruntime`: the spec's own ONNX export on ONNX Runtime (CPU; CUDA where its provider is)."""

    name = "onnxruntime"
    levels: ClassVar[tuple[int, ...]] = (1,)
    exporter: ClassVar[type[Exporter]] = Exporter
    DTYPES: ClassVar[tuple[str, ...]] = ("float32", "float64", "float16")
    EXECUTION = ("the model exported to ONNX by Lockstep's exporter, run by an ONNX Runtime InferenceSession "
                 "(graph optimizations at ONNX Runtime's defaults)")

    def __init__(self, *, threads: int = 1, opset: int = 17) -> None:
        self.threads = threads
        self.opset = opset

    def versions(self) -> dict[str, str]:
        return {"lockstep": __version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                "opset": str(self.opset), "exporter": "spec"}

    def devices(self) -> list[str]:
        return ["cpu", *(["cuda:0"] if cuda_available() else [])]

    def device_problem(self, device: str) -> str | None:
        if (unknown := unknown_device(device)) is not None:
            return unknown
        if device == "cpu":
            return None
        if not cuda_available():
            return "this onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu on a machine with CUDA)"
        return None

    def support(self, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        from lockstep.spec.constructs import construct_names

        problem = self.device_problem(device)
        if problem:
            return Support("unsupported", problem)
        if dtype not in self.DTYPES:
            return Support("unsupported", f"dtype {dtype}: the adapter runs {', '.join(self.DTYPES)}")
        run, prepared = construct_names()
        if construct in layers.UNSUPPORTED:
            return Support("unsupported", layers.UNSUPPORTED[construct])
        if construct in LAYER_TYPES:
            module = layers.get(construct)
            if hasattr(module, "provenance"):  # the answer depends on the opset
                return Support(*module.provenance(dtype, self.opset))
            if dtype == "float64" and hasattr(module, "FLOAT64"):  # written from other operators, unless stated
                return Support(getattr(module, "FLOAT64_PROVENANCE", "written"), module.FLOAT64)
            return Support(getattr(module, "PROVENANCE", "native"), module.OP)
        if construct in run:
            return Support("unsupported", PREDICTIONS_ONLY)
        if construct in prepared:
            return PREPARED
        return Support("unsupported", f"`{construct}` is not a spec v1 construct")

    def build(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None) -> Session:
        """A predictions-only session (a recipe is accepted and ignored: nothing here trains)."""
        problem = self.device_problem(device)
        if problem:
            raise UnsupportedConstruct(f"device:{device}", problem)
        if dtype not in self.DTYPES:
            raise UnsupportedConstruct(f"dtype:{dtype}", f"the onnxruntime adapter runs {', '.join(self.DTYPES)}")
        for node in build_graph(model).nodes:  # refuse before any work what has no ONNX form here
            if node.type in layers.UNSUPPORTED:
                raise UnsupportedConstruct(node.type, layers.UNSUPPORTED[node.type], layer=node.name)
            module = layers.get(node.type)
            reason = module.problem(node.layer, dtype, self.opset) if hasattr(module, "problem") else None
            if reason:
                raise UnsupportedConstruct(node.type, reason, layer=node.name)
        return OnnxRuntimeSession(model, dtype=dtype, device=device, threads=self.threads, opset=self.opset,
                                  exporter=self.exporter, recipe=recipe)
