#!/usr/bin/env bash
# check-precompile.sh BUILD_DIR - every model of the suite compiles to an
# artifact whose kernels NVRTC compiles for sm_80 and sm_90 (kiln compile
# --precompile; NVRTC needs no GPU): the importer fixtures as inference
# artifacts, the training fixtures as training artifacts. Models that kiln
# cannot compile at all are the ones test/onnx/reference-xfail.txt lists
# (random ops without kernels); they must still fail, with the reason there.
# Prints each failure, then "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: check-precompile.sh BUILD_DIR}
kiln=$build/tools/kiln
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declare -A xfail
while IFS= read -r line; do
  [[ -z $line || $line == \#* ]] && continue
  xfail[${line%%:*}]=1
done < "$here/onnx/reference-xfail.txt"

passed=0 failed=0 expected=0
check() { # NAME MODEL ARGS...
  local name=$1 model=$2
  shift 2
  if "$kiln" compile "$model" "$@" --precompile --device-arch sm_80,sm_90 \
       -o "$work/m.kiln" >"$work/log" 2>&1; then
    if [[ -n ${xfail[$name]:-} ]]; then
      echo "UNEXPECTED PASS: $name (listed in reference-xfail.txt)"
      ((failed++))
    else
      ((passed++))
    fi
  elif [[ -n ${xfail[$name]:-} ]]; then
    ((expected++))
  else
    echo "FAIL: $name"
    sed 's/^/    /' "$work/log" | head -8
    ((failed++))
  fi
  rm -f "$work/m.kiln"
}
for model in "$here"/onnx/fixtures/*.onnx "$here"/onnx/fixtures/*/*.onnx; do
  rel=${model#"$here"/onnx/fixtures/}
  [[ $rel == bad/* ]] && continue # Deliberately broken files.
  name=${rel%.onnx}
  name=${name//\//__}
  args=(--inference)
  [[ $name == symbolic_batch ]] && args+=(--input-shape x=3,8)
  check "$name" "$model" "${args[@]}"
done
for model in "$here"/training/fixtures/*.onnx; do
  name=training__$(basename "$model" .onnx)
  read -r -a args < "${model%.onnx}.args"
  check "$name" "$model" "${args[@]}"
done
echo "precompiled models: $expected expected failures (reference-xfail.txt)"
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
