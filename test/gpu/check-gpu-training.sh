#!/usr/bin/env bash
# check-gpu-training.sh BUILD_DIR ARTIFACT_DIR - the GPU test set (ctest label
# "gpu", outside the default run): every training fixture takes one step on
# the GPU (kiln_run_step --device cuda), compared with its PyTorch float64
# reference exactly as check-training.sh compares the CPU backend's step
# (rtol 1e-4, atol 1e-5: loss, gradients, updated parameters) -- twice: the
# first step of a session (eager), and a step replayed from the CUDA graph
# captured on the one before (--replay).
#
# ARTIFACT_DIR/NAME.kiln are the fixtures compiled with NAME.args (the GPU
# machine has no compiler: scripts/prepare-gpu-check.sh makes them); where
# one is missing and BUILD_DIR has the compiler, it is compiled here.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: check-gpu-training.sh BUILD_DIR ARTIFACT_DIR}
artifacts=${2:?usage: check-gpu-training.sh BUILD_DIR ARTIFACT_DIR}
run=$build/test/runtime/kiln_run_step
compare=$build/test/runtime/kiln_compare_tensors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
passed=0 failed=0
for ref in "$here"/training/fixtures/*.safetensors; do
  name=$(basename "$ref" .safetensors)
  model=$artifacts/$name.kiln
  if [[ ! -f $model && -x $build/tools/kiln ]]; then
    read -r -a args < "$here/training/fixtures/$name.args"
    "$build/tools/kiln" compile "$here/training/fixtures/$name.onnx" \
      "${args[@]}" -o "$model" >"$work/log" 2>&1 || {
      echo "FAIL: $name does not compile"; sed 's/^/    /' "$work/log" | head -5
      ((failed++)); continue; }
  fi
  if [[ ! -f $model ]]; then
    echo "FAIL: $name: no $model (run scripts/prepare-gpu-check.sh)"
    ((failed++)); continue
  fi
  for mode in eager replay; do
    flags=(--device cuda)
    [[ $mode == replay ]] && flags+=(--replay)
    if "$run" "$model" "$ref" "$work/out.safetensors" "${flags[@]}" \
         >"$work/log" 2>&1 &&
       "$compare" "$work/out.safetensors" "$ref" --rtol 1e-4 --atol 1e-5 \
         >>"$work/log" 2>&1; then
      ((passed++))
    else
      echo "FAIL: $name, $mode"
      sed 's/^/    /' "$work/log" | head -12
      ((failed++))
    fi
    rm -f "$work/out.safetensors"
  done
done
echo "check-gpu-training: $passed passed, $failed failed"
((failed == 0))
