#!/usr/bin/env bash
# scripts/check-benchmark-import.sh - imports the three full-size benchmark
# models (outside the default test suite: it needs ../shared and PyTorch).
#
#   1. exports mlp, cnn and gpt with ../shared/bench/torch_baseline.py --export
#      (Debian's python3-torch: the TorchScript exporter, opset 17);
#   2. imports each with `kiln compile --emit mlir`, timing it;
#   3. re-parses the IR with kiln-opt and prints the kiln op counts.
# Exits non-zero if any step fails.
#
#   BENCH=path/to/torch_baseline.py  OUT=folder (default build/bench-onnx)
#   PYTHON=python with PyTorch 2.x (e.g. a venv with torch and onnxscript from
#          PyPI): its exporter is dynamo, opset 18+, optimize=True by default,
#          so kiln warns about the LayerNorm parameters it merges.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=${BENCH:-../shared/bench/torch_baseline.py}
out=${OUT:-build/bench-onnx}
[[ -f $bench ]] || { echo "error: $bench not found (set BENCH=...)" >&2; exit 1; }
python=${PYTHON:-/usr/bin/python3}
missing=()
[[ -n ${PYTHON:-} ]] || for p in python3-torch python3-onnx; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  ${SUDO:-$( [[ $(id -u) == 0 ]] || echo sudo)} apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[[ -x build/tools/kiln ]] || { echo "error: build kiln first (scripts/test.sh or cmake --build build)" >&2; exit 1; }

mkdir -p "$out"
echo "== exporting with $bench"
"$python" "$bench" --export "$out" >/dev/null 2>&1
for m in mlp cnn gpt; do
  start=$(date +%s%N)
  build/tools/kiln compile "$out/$m.onnx" --emit mlir -o "$out/$m.mlir"
  ms=$((($(date +%s%N) - start) / 1000000))
  build/tools/kiln-opt "$out/$m.mlir" -o /dev/null
  printf '== %s: %s bytes of ONNX imported in %d ms; IR re-parses; ops:' \
    "$m" "$(stat -c %s "$out/$m.onnx")" "$ms"
  grep -o 'kiln\.[a-z_]*' "$out/$m.mlir" | grep -v 'kiln\.name' | sort | uniq -c |
    awk '{printf " %s=%s", substr($2, 6), $1}'
  echo
done
