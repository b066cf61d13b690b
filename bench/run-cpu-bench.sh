#!/usr/bin/env bash
# bench/run-cpu-bench.sh - kiln's CPU backend beside PyTorch on the CPU, for
# the forward pass of the benchmark workloads (training steps follow with
# the training compiler). Needs ../shared/bench and Debian's python3-torch.
#
#   WORKLOADS="mlp cnn" BENCH=../shared/bench/torch_baseline.py bash bench/run-cpu-bench.sh
#
# Prints JSON lines: kiln's (mode kiln-cpu-forward) and PyTorch's
# (torch-cpu-forward), same machine, same threads.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH:-../shared/bench/torch_baseline.py}
out=build/bench-onnx
[[ -x build/tools/kiln && -x build/bench/kiln_bench ]] || {
  echo "build kiln first (scripts/test.sh)" >&2; exit 1; }
mkdir -p "$out"
/usr/bin/python3 "$bench" --export "$out" >/dev/null 2>&1
for w in ${WORKLOADS:-mlp cnn}; do
  build/tools/kiln compile "$out/$w.onnx" --inference -o "$out/$w.kiln"
  build/bench/kiln_bench "$out/$w.kiln" --workload "$w"
  /usr/bin/python3 bench/torch_cpu_forward.py "$bench" "$w" 2>/dev/null
done
