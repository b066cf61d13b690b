#!/usr/bin/env bash
# scripts/setup.sh - installs every Debian package kiln's build and tests need.
#
# Idempotent: packages already present are left alone, so running it twice is
# cheap. Needs root (or sudo) the first time only. Both README commands and
# .ci/run call it; nothing else is assumed to be installed by hand.
#
#   KILN_SETUP_RUNTIME_ONLY=1  install only what the runtime-only build needs
#                             (no LLVM/MLIR/protobuf/onnx).
#   KILN_SETUP_EXAMPLE=1       also install the example's data set
#                             (dataset-fashion-mnist; the tests never need it).
set -euo pipefail

runtime_pkgs=(
  cmake ninja-build ccache g++ make pkg-config
  libgtest-dev libopenblas-dev zlib1g-dev
  python3
)
compiler_pkgs=(
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  openmpi-bin libopenmpi-dev
)

pkgs=("${runtime_pkgs[@]}")
if [[ "${KILN_SETUP_RUNTIME_ONLY:-0}" != 1 ]]; then
  pkgs+=("${compiler_pkgs[@]}")
fi
if [[ "${KILN_SETUP_EXAMPLE:-0}" == 1 ]]; then
  pkgs+=(dataset-fashion-mnist)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
