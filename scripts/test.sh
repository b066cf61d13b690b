#!/usr/bin/env bash
# scripts/test.sh - the README's test command: installs what is missing,
# builds kiln twice and runs every test.
#   1. the full build (compiler + runtime) in build/, all tests;
#   2. the runtime alone (KILN_BUILD_COMPILER=OFF) in build-runtime/, its
#      tests: proves the runtime builds with no LLVM, MLIR or protobuf.
# Ends with ctest's own summary of the full build. Exit status non-zero if
# anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

jobs=${KILN_JOBS:-$(nproc)}
start=$SECONDS

echo "== runtime-only build (no LLVM/MLIR/protobuf) =="
cmake -S . -B build-runtime -G Ninja -DKILN_BUILD_COMPILER=OFF >/dev/null
cmake --build build-runtime -j "$jobs"
# The runtime's link line must name none of the compiler's libraries.
if grep -Eq 'libMLIR|libLLVM|libprotobuf' build-runtime/build.ninja; then
  echo "error: the runtime-only build links LLVM, MLIR or protobuf" >&2
  exit 1
fi
# The GPU test set (label gpu) needs a GPU: scripts/gpu-check.sh runs it.
ctest --test-dir build-runtime --output-on-failure -j "$jobs" -LE gpu

echo "== full build =="
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" -LE gpu
echo "scripts/test.sh: built and tested in $((SECONDS - start)) s"
