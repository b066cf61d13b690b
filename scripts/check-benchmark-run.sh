#!/usr/bin/env bash
# scripts/check-benchmark-run.sh - runs the full-size benchmark models with
# kiln (compiled for inference, CPU backend) and compares their logits with
# onnxruntime's (rtol 1e-4, atol 1e-4). Outside the default suite: it needs
# ../shared/bench, Debian's python3-torch for the export, and a Python with
# onnxruntime, numpy and safetensors (PyPI), given as ORT_PYTHON.
#
#   ORT_PYTHON=/tmp/venv/bin/python bash scripts/check-benchmark-run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH:-../shared/bench/torch_baseline.py}
python=${ORT_PYTHON:?set ORT_PYTHON to a python with onnxruntime, numpy, safetensors}
out=${OUT:-build/bench-onnx}
mkdir -p "$out"
/usr/bin/python3 "$bench" --export "$out" >/dev/null 2>&1
status=0
for m in ${WORKLOADS:-mlp cnn gpt}; do
  "$python" - "$out/$m.onnx" "$out/$m.reference.safetensors" <<'PY'
import sys
import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import save_file
path, ref = sys.argv[1], sys.argv[2]
model = onnx.load(path, load_external_data=False)
rng = np.random.default_rng(0)
feeds = {}
for vi in model.graph.input:
    t = vi.type.tensor_type
    shape = [d.dim_value for d in t.shape.dim]
    if t.elem_type == onnx.TensorProto.INT64:
        feeds[vi.name] = rng.integers(0, 4096, shape).astype(np.int64)
    else:
        feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
outs = session.run(None, feeds)
tensors = dict(feeds)
for vi, v in zip(session.get_outputs(), outs):
    tensors["expected:" + vi.name] = np.array(v, order="C", copy=True)
save_file(tensors, ref)
PY
  start=$(date +%s%N)
  build/tools/kiln run "$out/$m.onnx" --inputs "$out/$m.reference.safetensors" \
    -o "$out/$m.kiln-out.safetensors"
  ms=$((($(date +%s%N) - start) / 1000000))
  if build/test/runtime/kiln_compare_tensors "$out/$m.kiln-out.safetensors" \
       "$out/$m.reference.safetensors" --rtol 1e-4 --atol 1e-4; then
    echo "== $m: kiln's outputs match onnxruntime's (compile and run: $ms ms)"
  else
    echo "== $m: MISMATCH"
    status=1
  fi
done
exit $status
