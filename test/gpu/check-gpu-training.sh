#!/usr/bin/env bash
# check-gpu-training.sh BUILD_DIR ARTIFACT_DIR - the GPU test set (ctest label
# "gpu", outside the default run): every training fixture takes one step on
# the GPU (kiln_run_step --device cuda), compared with its PyTorch float64
# reference exactly as check-training.sh compares the CPU backend's step
# (rtol 1e-4, atol 1e-5: loss, gradients, updated parameters) -- three
# times: the first step of a session (eager), a step replayed from the CUDA
# graph captured on the one before (replay), and that replayed step as a
# data-parallel job of one rank (one-rank: the gradient all-reduces go
# through NCCL, captured in the graph, and must change nothing); and the
# replayed step with cuBLASLt's algorithms timed and chosen per GEMM form
# (gemm-tune: KILN_GEMM_TUNE=1).
#
# ARTIFACT_DIR/NAME.kiln are the fixtures compiled with NAME.args (the GPU
# machine has no compiler: scripts/prepare-gpu-check.sh makes them); where
# one is missing and BUILD_DIR has the compiler, it is compiled here.
# JOBS fixtures run at once (default 4: one GPU is shared); each run may
# take at most STEP_TIMEOUT seconds (default 180), so that a hang is a
# failure, not a stuck test set. FILTER (a regex) picks fixtures by name.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: check-gpu-training.sh BUILD_DIR ARTIFACT_DIR}
artifacts=${2:?usage: check-gpu-training.sh BUILD_DIR ARTIFACT_DIR}
run=$build/test/runtime/kiln_run_step
compare=$build/test/runtime/kiln_compare_tensors
jobs=${JOBS:-4}
limit=${STEP_TIMEOUT:-180}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

# One fixture, all modes; its report goes to $work/NAME.report, one line
# per mode: "pass MODE" or "FAIL: NAME, MODE" and the log indented.
check() {
  local name=$1 ref=$here/training/fixtures/$1.safetensors
  local model=$artifacts/$name.kiln dir=$work/$name report=$work/$name.report
  mkdir -p "$dir"
  if [[ ! -f $model && -x $build/tools/kiln ]]; then
    read -r -a args < "$here/training/fixtures/$name.args"
    "$build/tools/kiln" compile "$here/training/fixtures/$name.onnx" \
      "${args[@]}" -o "$model" >"$dir/log" 2>&1 || {
      { echo "FAIL: $name does not compile"; sed 's/^/    /' "$dir/log" | head -5
      } >"$report"; return; }
  fi
  if [[ ! -f $model ]]; then
    echo "FAIL: $name: no $model (run scripts/prepare-gpu-check.sh)" >"$report"
    return
  fi
  : >"$report"
  for mode in eager replay one-rank gemm-tune; do
    local flags=(--device cuda) tune=0
    [[ $mode != eager ]] && flags+=(--replay)
    [[ $mode == one-rank ]] && flags+=(--one-rank)
    [[ $mode == gemm-tune ]] && tune=1
    local start=$SECONDS
    if KILN_GEMM_TUNE=$tune timeout "$limit" "$run" "$model" "$ref" "$dir/out.safetensors" \
         "${flags[@]}" >"$dir/log" 2>&1 &&
       "$compare" "$dir/out.safetensors" "$ref" --rtol 1e-4 --atol 1e-5 \
         >>"$dir/log" 2>&1; then
      echo "pass $mode" >>"$report"
    else
      local rc=$?
      { echo "FAIL: $name, $mode$( ((rc == 124)) && echo " (no result within $limit s)")"
        sed 's/^/    /' "$dir/log" | head -12; } >>"$report"
    fi
    rm -f "$dir/out.safetensors"
    echo "$name $mode $((SECONDS - start)) s" >>"$work/times"
  done
}

names=()
for ref in "$here"/training/fixtures/*.safetensors; do
  name=$(basename "$ref" .safetensors)
  [[ -n ${FILTER:-} && ! $name =~ $FILTER ]] && continue
  names+=("$name")
done
running=0
for name in "${names[@]}"; do
  if ((running >= jobs)); then wait -n; ((running--)); fi
  check "$name" &
  ((running++))
done
wait
passed=0 failed=0
for name in "${names[@]}"; do
  report=$work/$name.report
  [[ -f $report ]] || { echo "FAIL: $name: no report"; ((failed++)); continue; }
  grep -v '^pass ' "$report"
  ((passed += $(grep -c '^pass ' "$report")))
  ((failed += $(grep -c '^FAIL' "$report")))
done
[[ -f $work/times ]] && sort -k3 -n -r "$work/times" | head -3 |
  sed 's/^/slowest: /'
echo "check-gpu-training: $passed passed, $failed failed (${#names[@]} fixtures x eager, replay, one-rank, gemm-tune)"
((failed == 0))
