"""Latency of a model deployed by `lockstep deploy` (ONNX Runtime) against the native torch eval-mode forward.

For each example recipe asked for, the model with its initial weights (latency does not depend on the
values) is exported from the spec and opened on ONNX Runtime's CPU provider, and the same model is built by
the torch adapter in eval mode; both run the same inputs, with the same thread count, in one process,
one after the other: warm-up runs, then timed single forwards (lockstep.deploy.latency: at least 300 runs and one
second). The native side is the torch module called directly under `torch.inference_mode()` on a tensor
made once (no NumPy conversion), what a hand-written torch server does.

Prints one row per recipe and batch size (p50 and p99 in ms of each, the ratio of the p50s) and, last,
`ratio: X`: the median over rows of ONNX Runtime p50 / torch p50 (below 1: the deployed model is faster).

    python benchmarks/deploy_latency.py [--recipes digits-mlp,small-cnn,tiny-attention,lstm-sequences]
                                        [--batch-sizes 1,32] [--threads 1] [--dtype float32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/deploy_latency.py` from anywhere
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from lockstep.adapters.onnxruntime.export import export_model  # noqa: E402
from lockstep.adapters.onnxruntime.session import open_session  # noqa: E402
from lockstep.deploy import latency  # noqa: E402
from lockstep.runner import prepare_run  # noqa: E402


def _pair(ort_session: object, net: object, feeds: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """(ONNX Runtime's, torch's) latency on the same inputs."""
    import torch

    tensor = torch.from_numpy(next(iter(feeds.values())))

    def run_torch(_: object) -> None:
        with torch.inference_mode():
            net(tensor)  # type: ignore[operator]

    return latency(lambda f: ort_session.run(None, f), feeds), latency(run_torch, feeds)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default="digits-mlp,small-cnn,tiny-attention,lstm-sequences")
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = p.parse_args(argv)
    import torch

    from lockstep.adapters.torch.session import TorchSession

    torch.set_num_threads(args.threads)
    print("| recipe | batch | ORT p50 ms | ORT p99 ms | torch p50 ms | torch p99 ms | ratio (p50) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = []
    for name in args.recipes.split(","):
        prep = prepare_run(ROOT / "examples" / name / "recipe.yaml")
        ort_session = open_session(export_model(prep.model, prep.initial, dtype=args.dtype).SerializeToString(),
                                   "cpu", args.threads, args.dtype)
        native = TorchSession(prep.model, dtype=args.dtype)
        native.set_parameters(prep.initial)
        native.net.eval()
        input_name = next(iter(prep.graph.input_shapes))
        integer = prep.graph.input_dtypes[input_name] == "int64"
        for b in (int(v) for v in args.batch_sizes.split(",")):
            x = np.resize(prep.data.x_eval[:b], (b, *prep.data.x_eval.shape[1:]))
            x = x.astype(np.int64 if integer else args.dtype)
            o, t = _pair(ort_session, native.net, {input_name: x})
            ratio = o["p50_ms"] / t["p50_ms"]
            ratios.append(ratio)
            print(f"| {name} | {b} | {o['p50_ms']:.4f} | {o['p99_ms']:.4f} | {t['p50_ms']:.4f} | {t['p99_ms']:.4f} "
                  f"| {ratio:.3f} |", flush=True)
    print(f"ratio: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
