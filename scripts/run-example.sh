#!/usr/bin/env bash
# scripts/run-example.sh - the README's main command: installs what is
# missing, builds kiln, and trains the example MLP
# (examples/fashion_mlp/fashion_mlp.onnx, made by make_model.py there) on
# Fashion-MNIST (Debian's dataset-fashion-mnist), on the GPU if there is one,
# else on the CPU; prints per-epoch loss and test accuracy, then the final
# test accuracy. Metrics and a checkpoint go to build/example/.
#
#   EPOCHS=N   epochs to train (default 10, AdamW with a cosine schedule:
#              88.8% test accuracy)
set -euo pipefail
cd "$(dirname "$0")/.."

KILN_SETUP_EXAMPLE=1 bash scripts/setup.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "${KILN_JOBS:-$(nproc)}"
out=build/example
mkdir -p "$out"
rm -f "$out/metrics.jsonl"
model=examples/fashion_mlp/fashion_mlp.onnx
echo "== kiln train $model on Fashion-MNIST"
build/tools/kiln train "$model" --data fashion-mnist --epochs "${EPOCHS:-10}" \
  --batch 64 --optimizer adamw --lr 1e-3 --lr-schedule cosine --device auto \
  --checkpoint "$out/checkpoint" --metrics "$out/metrics.jsonl"
echo "metrics: $out/metrics.jsonl, checkpoint: $out/checkpoint/checkpoint.safetensors"
