#!/usr/bin/env bash
# The GPU checks, as one short run on a CUDA machine (the project's CI has no GPU; these run where one is lent).
# Writes every log under $OUT (default: gpu-out/). Each step has its own time limit, so a slow step costs only
# itself; the order is by importance.
#
#   1. the machine: GPU, driver, torch/CUDA versions, onnxruntime's execution providers
#   2. the `gpu`-marked tests: every example on CUDA (float64 to the float64 rule, float32 judged re-synchronized,
#      TF32 off asserted), layers on CUDA against the CPU, replicas sharing one GPU against the reference semantics
#   3. `lockstep compare` reference vs torch on CUDA, float32 and float64
#   4. `lockstep certify --adapter torch --device cuda:0` (levels 1-4, both dtypes)
#   5. runner overhead on CUDA against the hand-written loop (benchmarks/runner_overhead.py)
#   6. data parallel on one GPU: 2 replicas sharing it over gloo (benchmarks/data_parallel.py)
#
# Usage: benchmarks/gpu/checks.sh   (python3 must have torch with CUDA and Lockstep importable)
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-python3}
step() { echo; echo "== $1 (limit $2 s)"; }

step machine 30
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $PY -c "import sys, torch; print('python', sys.version.split()[0]); print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
  $PY -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
  nproc; } 2>&1 | tee "$OUT/machine.txt"

step tests 170
timeout 170 $PY -m pytest -q -p no:cacheprovider -m gpu tests/backends/torch_specific/test_torch_gpu.py tests/backends/torch_specific/test_torch_data_parallel.py \
  2>&1 | tee "$OUT/tests.txt" | tail -25

step compare 60
{ timeout 30 $PY -m lockstep compare examples/small-cnn/recipe.yaml --backends reference,torch --device cuda --every 50
  timeout 30 $PY -m lockstep compare examples/tiny-attention/recipe.yaml --backends reference,torch --device cuda --dtype float64 --every 50
} 2>&1 | tee "$OUT/compare.txt"

step certify 130
timeout 130 $PY -m lockstep certify --adapter torch --device cuda:0 --report "$OUT/certify" 2>&1 | tail -40 | tee "$OUT/certify.txt"

step overhead 80
timeout 80 $PY benchmarks/runner_overhead.py --backend torch --device cuda --repeats 2 2>&1 | tee "$OUT/overhead.txt"

step data-parallel 50
timeout 50 $PY benchmarks/data_parallel.py --device cuda --backend gloo --replicas 2 --steps 20 --repeats 1 \
  2>&1 | tee "$OUT/data_parallel.txt"
rm -rf "$OUT/certify/failures" 2>/dev/null
ls "$OUT" "$OUT/certify" 2>/dev/null
