#!/usr/bin/env bash
# scripts/run-example.sh - the README's main command: installs what is
# missing, builds kiln, and compiles a small MLP exported from PyTorch
# (test/onnx/fixtures/mlp_small.onnx, the benchmark MLP's structure) through
# the importer and the graph pipeline, printing the IR.
#
# This is the end-to-end path that exists today. It grows into "train the
# example model on Fashion-MNIST" as the importer, runtime and training land.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "${KILN_JOBS:-$(nproc)}"
echo "== kiln compile test/onnx/fixtures/mlp_small.onnx --emit mlir =="
build/tools/kiln compile test/onnx/fixtures/mlp_small.onnx --emit mlir
