"""A spec model on ONNX Runtime: canonical parameters in, the model exported from the spec, predictions out.

The session holds the canonical float64 parameters; the first forward after `set_parameters` exports the
model with them (adapters/onnxruntime/export.py), checks it with onnx.checker and opens an
InferenceSession with the target's provider and threads. It is a deployment runtime: predictions only, so
every training method raises UnsupportedConstruct (the conformance suite reports levels 2-4 unsupported).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lockstep.adapters.base import Arrays, Session, StepResult, UnsupportedConstruct
from lockstep.adapters.onnxruntime.export import Exporter, export_model
from lockstep.spec.graph import build_graph

if TYPE_CHECKING:
    import onnx

    from lockstep.spec.documents import Model, Recipe

PREDICTIONS_ONLY = "ONNX Runtime runs a deployed model: predictions only (no losses, gradients or optimizer steps)"
NUMPY = {"float32": np.float32, "float64": np.float64, "float16": np.float16}


def providers(device: str) -> list[Any]:
    """ONNX Runtime's execution providers for a Lockstep device name (`cpu`, `cuda`, `cuda:N`)."""
    kind, _, index = device.partition(":")
    if kind == "cuda":
        return [("CUDAExecutionProvider", {"device_id": int(index or 0)}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRuntimeSession(Session):
    """One spec model, exported from the spec and run by an onnxruntime.InferenceSession."""

    def __init__(self, model: Model, *, dtype: str, device: str = "cpu", threads: int = 1, opset: int = 17,
                 exporter: type[Exporter] = Exporter, recipe: Recipe | None = None) -> None:
        self.model = model
        self.dtype = dtype
        self.device = device
        self.threads = threads
        self.opset = opset
        self.exporter = exporter
        self.recipe = recipe
        graph = build_graph(model)
        self.input_names = list(graph.input_shapes)
        self.int_inputs = {n for n, t in graph.input_dtypes.items() if t == "int64"}
        specs = {**graph.parameters(), **graph.buffers()}
        self.shapes = {k: tuple(s.shape) for k, s in specs.items()}
        self.params: Arrays = {k: np.zeros(s) for k, s in self.shapes.items()}
        self._proto: onnx.ModelProto | None = None
        self._ort: Any = None

    # -------------------------------------------------------------------------------------- parameters
    def set_parameters(self, params: Arrays) -> None:
        missing = [k for k in self.shapes if k not in params]
        if missing:
            raise KeyError(f"missing parameters: {', '.join(missing)}")
        for k, shape in self.shapes.items():
            a = np.array(params[k], dtype=np.float64)
            if a.shape != shape:
                raise ValueError(f"`{k}` has shape {list(a.shape)}, the model needs {list(shape)}")
            self.params[k] = a
        self._proto = self._ort = None

    def get_parameters(self) -> Arrays:
        return {k: v.copy() for k, v in self.params.items()}

    # ----------------------------------------------------------------------------------------- export
    def proto(self) -> onnx.ModelProto:
        """The checked ONNX model of the current parameters."""
        if self._proto is None:
            self._proto = export_model(self.model, self.params, dtype=self.dtype, opset=self.opset,
                                       exporter=self.exporter)
        return self._proto

    def export(self, path: str | Path, *, format: str = "onnx") -> Path:
        from lockstep.spec import atomic

        if format != "onnx":
            raise UnsupportedConstruct(f"export:{format}", "the onnxruntime adapter exports ONNX only")
        atomic.write_bytes(path, self.proto().SerializeToString())
        return Path(path)

    def inference_session(self) -> Any:
        """The onnxruntime.InferenceSession of the current parameters (opened on first use)."""
        if self._ort is None:
            self._ort = open_session(self.proto().SerializeToString(), self.device, self.threads, self.dtype)
        return self._ort

    def feeds(self, x: np.ndarray | Arrays) -> dict[str, np.ndarray]:
        arrays = x if isinstance(x, dict) else {self.input_names[0]: x}
        if not isinstance(x, dict) and len(self.input_names) != 1:
            raise ValueError(f"the model takes inputs {self.input_names}; pass a dict of arrays")
        return {n: np.ascontiguousarray(arrays[n], dtype=np.int64 if n in self.int_inputs else NUMPY[self.dtype])
                for n in self.input_names}

    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None
                ) -> np.ndarray:
        if training:
            raise UnsupportedConstruct("training", PREDICTIONS_ONLY)
        outs = self.inference_session().run(None, self.feeds(x))
        result = [np.array(o, dtype=np.float64) for o in outs]
        return result[0] if len(result) == 1 else result  # type: ignore[return-value]

    # -------------------------------------------------------------------------------- no training here
    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        raise UnsupportedConstruct("training", PREDICTIONS_ONLY)

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        raise UnsupportedConstruct("training", PREDICTIONS_ONLY)

    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        raise UnsupportedConstruct("training", PREDICTIONS_ONLY)

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        raise UnsupportedConstruct("training", PREDICTIONS_ONLY)


DISABLED = {"float16": ["NchwcTransformer"], "float64": ["NoopElimination"]}
"""Graph optimizers left out, by the graph's dtype (onnxruntime 1.32). float16: the NCHWc layout transformer
(ORT_ENABLE_ALL, CPU) ends the process with a segmentation fault while it opens a float16 graph with a Transpose into
a MatMul, which every recurrent layer returning sequences into a dense layer exports
(docs/reproducers/onnxruntime-float16-nchwc); it rewrites float32 convolutions only, so a float16 graph loses
nothing. float64: NoopElimination deletes an `Add(x, ε)` whose float64 ε is 0 in float32 (below about 1e-45), so
layer_norm and rms_norm with such an ε gave NaN on a constant row where the standard gives 0; what it removes
elsewhere costs a float64 graph next to nothing."""


def open_session(model: bytes, device: str, threads: int, dtype: str = "float32") -> Any:
    """An InferenceSession with `threads` intra-op threads (one inter-op thread) on `device`'s provider, for a graph
    computing in `dtype`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: warnings about unused initializers are not the user's
    return ort.InferenceSession(model, sess_options=options, providers=providers(device),
                                disabled_optimizers=DISABLED.get(dtype))
