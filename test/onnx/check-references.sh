#!/usr/bin/env bash
# check-references.sh BUILD_DIR - runs every fixture model with kiln (compiled
# on the fly for inference, CPU backend) on the inputs of its reference file
# (fixtures/reference/, made by make_references.py with onnxruntime) and
# compares the outputs (rtol 1e-4, atol 1e-5).
#
# Models kiln cannot run yet are listed in reference-xfail.txt with the
# reason; they must fail (a listed model that passes is reported, so the
# list stays true). Prints each failure, then "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: check-references.sh BUILD_DIR}
kiln=$build/tools/kiln
compare=$build/test/runtime/kiln_compare_tensors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declare -A xfail
while IFS= read -r line; do
  [[ -z $line || $line == \#* ]] && continue
  xfail[${line%%:*}]=${line#*: }
done < "$here/reference-xfail.txt"

passed=0 failed=0 expected=0
for ref in "$here"/fixtures/reference/*.safetensors; do
  name=$(basename "$ref" .safetensors)
  model=$here/fixtures/${name//__//}.onnx
  args=()
  [[ $name == symbolic_batch ]] && args=(--input-shape x=3,8)
  if "$kiln" run "$model" "${args[@]}" --inputs "$ref" -o "$work/out.safetensors" \
       >"$work/log" 2>&1 && "$compare" "$work/out.safetensors" "$ref" >>"$work/log" 2>&1; then
    ok=1
  else
    ok=0
  fi
  if [[ -n ${xfail[$name]:-} ]]; then
    if ((ok)); then
      echo "UNEXPECTED PASS: $name (listed in reference-xfail.txt: ${xfail[$name]})"
      ((failed++))
    else
      ((expected++))
    fi
  elif ((ok)); then
    ((passed++))
  else
    echo "FAIL: $name"
    sed 's/^/    /' "$work/log" | head -5
    ((failed++))
  fi
  rm -f "$work/out.safetensors"
done
echo "reference models: $expected expected failures (reference-xfail.txt)"
echo "$passed passed, $failed failed"
((failed == 0))
