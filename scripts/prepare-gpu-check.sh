#!/usr/bin/env bash
# scripts/prepare-gpu-check.sh - makes here what scripts/gpu-check.sh needs on
# the GPU machine, which has no compiler (../shared/GPU.md), in gpu-check/
# (git-ignored: name it in the device tool's `carry`):
#   gpu-check/fixtures/NAME.kiln  every training fixture, compiled with its
#                                 NAME.args, cubins precompiled for $ARCH;
#   gpu-check/bench/W.kiln.gz     the benchmark workloads mlp, cnn, gpt
#                                 (W.kept.kiln.gz: cnn and gpt compiled with
#                                 --no-recompute, W.unfused.kiln.gz: each
#                                 with --no-fusion, benchmarked beside them)
#                                 (../shared/bench/torch_baseline.py), trained
#                                 as it trains them (AdamW, lr 1e-3, weight
#                                 decay 0.01, its batch sizes), without cubins
#                                 (their first step measures NVRTC and the
#                                 kernel cache), weights stripped (kiln_bench
#                                 --strip-weights; the benchmark fills them
#                                 with --synthetic-weights) and gzipped, so
#                                 that all of gpu-check/ fits the 64 MiB the
#                                 device tool carries;
#   gpu-check/bench/*.py          the PyTorch and JAX baselines.
# The exports need a Python with torch and onnx (TORCH_PYTHON) unless
# build/bench-train/W.onnx exist already.
#
#   TORCH_PYTHON=/tmp/venv/bin/python bash scripts/prepare-gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${ARCH:-sm_90}
bench=${BENCH:-../shared/bench}
kiln=build/tools/kiln
exports=build/bench-train
out=gpu-check
[[ -x $kiln ]] || { echo "build kiln first (scripts/test.sh)" >&2; exit 1; }
mkdir -p "$out/fixtures" "$out/bench" "$exports"
for onnx in test/training/fixtures/*.onnx; do
  name=$(basename "$onnx" .onnx)
  # (Kept when newer than the compiler, the model and its arguments.)
  model=$out/fixtures/$name.kiln
  [[ $model -nt $kiln && $model -nt $onnx && \
     $model -nt test/training/fixtures/$name.args ]] && continue
  read -r -a args < "test/training/fixtures/$name.args"
  "$kiln" compile "$onnx" "${args[@]}" --precompile --device-arch "$arch" \
    -o "$model.part" 2>/dev/null
  mv "$model.part" "$model"
done
echo "prepare-gpu-check: $(ls "$out"/fixtures/*.kiln | wc -l) fixtures for $arch"
for w in mlp cnn gpt; do
  if [[ ! -f $exports/$w.onnx ]]; then
    python=${TORCH_PYTHON:?set TORCH_PYTHON to a python with torch and onnx}
    "$python" scripts/export-benchmark.py "$bench/torch_baseline.py" "$w" "$exports"
  fi
  # W.kiln as kiln compiles by default; W.kept.kiln with --no-recompute
  # (activations kept instead of recomputed in the backward), to weigh the
  # memory it saves against the step time it costs (not for mlp: nothing
  # to recompute); W.unfused.kiln with --no-fusion (one kernel per op), the
  # step before fusion that issue 7 compares with.
  for variant in default kept unfused; do
    name=$w flags=()
    if [[ $variant == kept ]]; then
      [[ $w == mlp ]] && continue
      name=$w.kept flags=(--no-recompute)
    elif [[ $variant == unfused ]]; then
      name=$w.unfused flags=(--no-fusion)
    fi
    [[ $out/bench/$name.kiln.gz -nt $kiln ]] && continue
    "$kiln" compile "$exports/$w.onnx" --optimizer adamw --lr 1e-3 \
      --weight-decay 0.01 "${flags[@]}" -o "$out/bench/$name.full.kiln"
    build/bench/kiln_bench "$out/bench/$name.full.kiln" --strip-weights "$out/bench/$name.kiln"
    rm -f "$out/bench/$name.full.kiln" "$out/bench/$name.kiln.gz"
    gzip -9 "$out/bench/$name.kiln"
  done
done
cp "$bench"/*.py "$out/bench/"
du -sh "$out"
