#!/usr/bin/env bash
# check-training.sh BUILD_DIR - one `kiln step` per fixture model
# (fixtures/NAME.onnx, with the options of NAME.args) on the batch in
# NAME.safetensors, compared with PyTorch's float64 step stored there
# (make_fixtures.py): loss, gradients and updated parameters, rtol 1e-4,
# atol 1e-5; once as compiled (fused kernels) and once with --no-fusion (one
# kernel per op), so that fusion is checked numerically on every model.
#
# Models kiln cannot train yet are listed in xfail.txt with the reason and
# the error kiln must give; a listed model that passes, or fails with another
# message, is a failure (so the list stays true).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: check-training.sh BUILD_DIR}
kiln=$build/tools/kiln
compare=$build/test/runtime/kiln_compare_tensors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declare -A xfail
while IFS= read -r line; do
  [[ -z $line || $line == \#* ]] && continue
  xfail[${line%%:*}]=${line#*: }
done < "$here/xfail.txt"

passed=0 failed=0 expected=0
for ref in "$here"/fixtures/*.safetensors; do
 for fusion in fused unfused; do
  name=$(basename "$ref" .safetensors)
  read -r -a args < "$here/fixtures/$name.args"
  [[ $fusion == unfused ]] && args+=(--no-fusion)
  if "$kiln" step "$here/fixtures/$name.onnx" "${args[@]}" --inputs "$ref" \
       -o "$work/out.safetensors" >"$work/log" 2>&1 &&
     "$compare" "$work/out.safetensors" "$ref" --rtol 1e-4 --atol 1e-5 \
       >>"$work/log" 2>&1; then
    ok=1
  else
    ok=0
  fi
  if [[ -n ${xfail[$name]:-} ]]; then
    if ((ok)); then
      echo "UNEXPECTED PASS: $name (listed in xfail.txt)"
      ((failed++))
    elif ! grep -qF -- "${xfail[$name]}" "$work/log"; then
      echo "FAIL: $name failed, but not with the error xfail.txt expects:"
      echo "    expected: ${xfail[$name]}"
      sed 's/^/    /' "$work/log" | head -5
      ((failed++))
    else
      ((expected++))
    fi
  elif ((ok)); then
    ((passed++))
  else
    echo "FAIL: $name, $fusion (kiln step ${args[*]})"
    sed 's/^/    /' "$work/log" | head -8
    ((failed++))
  fi
  rm -f "$work/out.safetensors"
 done
done
echo "training models: $expected expected failures (xfail.txt)"
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
