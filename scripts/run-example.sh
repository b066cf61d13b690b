#!/usr/bin/env bash
# scripts/run-example.sh - the README's main command: installs what is
# missing, builds kiln, compiles a small MLP exported from PyTorch
# (test/onnx/fixtures/mlp_small.onnx, the benchmark MLP's structure) into an
# artifact, runs it on the CPU and checks the logits against onnxruntime's.
#
# This is the end-to-end path that exists today. It grows into "train the
# example model on Fashion-MNIST" as the importer, runtime and training land.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "${KILN_JOBS:-$(nproc)}"
model=test/onnx/fixtures/mlp_small.onnx
out=build/example
mkdir -p "$out"
echo "== kiln compile $model --inference -o $out/mlp_small.kiln"
build/tools/kiln compile "$model" --inference -o "$out/mlp_small.kiln"
build/tools/kiln inspect "$out/mlp_small.kiln"
echo "== kiln run on the reference inputs (test/onnx/fixtures/reference/)"
build/tools/kiln run "$out/mlp_small.kiln" \
  --inputs test/onnx/fixtures/reference/mlp_small.safetensors -o "$out/outputs.safetensors"
build/test/runtime/kiln_compare_tensors "$out/outputs.safetensors" \
  test/onnx/fixtures/reference/mlp_small.safetensors &&
  echo "logits match onnxruntime's (rtol 1e-4)"
