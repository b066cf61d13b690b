#!/usr/bin/env bash
# scripts/check-benchmark-precompile.sh - the three full-size benchmark models
# (../shared/bench/torch_baseline.py: mlp, cnn, gpt) compile to training
# artifacts (AdamW, lr 1e-3, the benchmark's settings) whose every kernel
# NVRTC compiles for sm_80 and sm_90 (kiln compile --precompile; no GPU
# needed). Prints the kernel counts, the time and the artifact size.
# Outside the default suite: it needs ../shared/bench and a Python with torch
# and onnx (PyPI) for the export, given as TORCH_PYTHON; the models are
# exported as scripts/check-benchmark-train.sh exports them (and reused from
# its folder when they are there).
#
#   TORCH_PYTHON=/tmp/venv/bin/python bash scripts/check-benchmark-precompile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH:-../shared/bench/torch_baseline.py}
out=${OUT:-build/bench-train}
mkdir -p "$out"
status=0
for m in ${WORKLOADS:-mlp cnn gpt}; do
  if [[ ! -f $out/$m.onnx ]]; then
    python=${TORCH_PYTHON:?set TORCH_PYTHON to a python with torch and onnx}
    "$python" scripts/export-benchmark.py "$bench" "$m" "$out"
  fi
  start=$(date +%s%N)
  if build/tools/kiln compile "$out/$m.onnx" --optimizer adamw --lr 1e-3 \
       --precompile --device-arch sm_80,sm_90 -o "$out/$m.kiln"; then
    ms=$((($(date +%s%N) - start) / 1000000))
    build/tools/kiln inspect "$out/$m.kiln" > "$out/$m.inspect.txt"
    kernels=$(grep '^cuda:' "$out/$m.inspect.txt")
    echo "== $m: precompiled in $ms ms; $kernels; $(du -h "$out/$m.kiln" | cut -f1)"
  else
    echo "== $m: FAILED"
    status=1
  fi
done
exit $status
