#!/usr/bin/env bash
# scripts/run-example.sh - the README's main command: installs what is
# missing, builds kiln, and compiles the example MLP (examples/mlp.mlir)
# through the graph pipeline, printing the shaped IR.
#
# This is the end-to-end path that exists today. It grows into "train the
# example model on Fashion-MNIST" as the importer, runtime and training land.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "${KILN_JOBS:-$(nproc)}"
echo "== kiln compile examples/mlp.mlir --emit mlir =="
build/tools/kiln compile examples/mlp.mlir --emit mlir
