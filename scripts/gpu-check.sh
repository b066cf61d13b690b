#!/usr/bin/env bash
# scripts/gpu-check.sh - run ON THE GPU MACHINE, in one command: the runtime
# (carried from here in build-gpu/, or built there with
# KILN_BUILD_COMPILER=OFF: that machine has CUDA and cmake but no LLVM/MLIR),
# the GPU test set (test/gpu/check-gpu-training.sh), then kiln's benchmark
# of the three workloads and the PyTorch baseline (and JAX's, where JAX is
# installed) in the same run, so that their figures compare.
# Needs gpu-check/ from scripts/prepare-gpu-check.sh. Prints JSON lines and
# keeps everything in $OUT/results (the device tool brings $OUT back, at
# most 8 files: bench.jsonl, stderr.txt, profiles.txt, convs.txt,
# gpu-tests.txt, gpu.txt, cmake.txt, skipped.txt; without OUT,
# gpu-check/results), written as it goes, so that a run stopped at its time
# limit still brings back what it measured.
#
#   bash scripts/gpu-check.sh                 # everything
#   PARTS="tests kiln" bash scripts/gpu-check.sh  # any of: tests kiln torch jax compile
#                                             # (and cudnn, gemmtune: not by default)
#   BUDGET=420 bash scripts/gpu-check.sh      # parts that would start after
#                                             # BUDGET seconds are skipped
#
# kiln's figures per workload: the first step with a cold kernel cache (NVRTC
# compiles every kernel), with a warm one (nothing compiled), then the
# steady-state step with TF32 GEMMs (mode kiln-cuda, precision tf32); the
# same with activations kept (--no-recompute) and without fusion
# (--no-fusion). PyTorch: eager (part torch), then torch.compile with CUDA
# graphs (part compile: long to compile, so last).
#
# Carrying a runtime built here (Debian 12's binaries run there):
#   cmake -S . -B build-gpu -G Ninja -DKILN_BUILD_COMPILER=OFF \
#     -DCMAKE_BUILD_TYPE=Release -DKILN_OPENBLAS=OFF \
#     -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON
#   ninja -C build-gpu kiln_run_step kiln_compare_tensors kiln_bench
# (no OpenBLAS or MPI: neither is installed there), and carry build-gpu.
set -uo pipefail
cd "$(dirname "$0")/.."
parts=${PARTS:-tests kiln torch jax compile}
budget=${BUDGET:-100000}
results=${OUT:+$OUT/}results
[[ -n ${OUT:-} ]] || results=gpu-check/results
mkdir -p "$results"
status=0
start=$SECONDS
has() { [[ " $parts " == *" $1 "* ]]; }
# Whether there is time left to start a part that takes about $1 seconds.
time_for() {
  if ((SECONDS - start + $1 > budget)); then
    echo "gpu-check: skipped $2 ($((SECONDS - start)) s of $budget used)" |
      tee -a "$results/skipped.txt"
    return 1
  fi
}
left() { echo $((budget - (SECONDS - start) > 10 ? budget - (SECONDS - start) : 10)); }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  ls /usr/lib/x86_64-linux-gnu/libnccl.so* /usr/local/cuda/lib64/libnvrtc.so* 2>/dev/null
} | tee "$results/gpu.txt"
bins=(build-gpu/test/runtime/kiln_run_step build-gpu/test/runtime/kiln_compare_tensors
      build-gpu/bench/kiln_bench)
carried=1
for b in "${bins[@]}"; do [[ -x $b ]] || carried=0; done
# (Its usage message, exit status 2: it loads and runs there.)
if ((carried)); then "${bins[0]}" >/dev/null 2>&1; [[ $? == 2 ]] || carried=0; fi
if ((!carried)); then
  rm -rf build-gpu
  cmake -S . -B build-gpu -DKILN_BUILD_COMPILER=OFF -DKILN_BUILD_TESTS=ON \
    -DCMAKE_BUILD_TYPE=Release >"$results/cmake.txt" 2>&1 &&
    cmake --build build-gpu -j "$(nproc)" --target kiln_run_step \
      kiln_compare_tensors kiln_bench >>"$results/cmake.txt" 2>&1 || {
    tail -30 "$results/cmake.txt"; exit 1; }
  echo "gpu-check: runtime built in $((SECONDS - start)) s"
else
  echo "gpu-check: runtime carried in build-gpu/"
fi
export KILN_CACHE_DIR=$PWD/gpu-check/cache
# cuDNN for convolutions: that machine has it only inside PyTorch's wheel
# (without it the CUDA backend runs them as im2col GEMMs on cuBLASLt). Its
# sub-libraries are found through the library path.
if [[ -z ${KILN_CUDNN_DIR:-} ]]; then
  KILN_CUDNN_DIR=$(python3 -c 'import nvidia.cudnn as c, os; print(os.path.join(list(c.__path__)[0], "lib"))' 2>/dev/null || true)
fi
if [[ -n $KILN_CUDNN_DIR && -d $KILN_CUDNN_DIR ]]; then
  export KILN_CUDNN_DIR LD_LIBRARY_PATH=$KILN_CUDNN_DIR:${LD_LIBRARY_PATH:-}
  echo "gpu-check: cuDNN from $KILN_CUDNN_DIR"
fi
if has tests && time_for 60 tests; then
  t=$SECONDS
  JOBS=${JOBS:-6} timeout "$(left)" bash test/gpu/check-gpu-training.sh \
    build-gpu gpu-check/fixtures 2>&1 | tee "$results/gpu-tests.txt"
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
  echo "gpu-check: tests took $((SECONDS - t)) s"
fi
# bench NAME CACHE EXTRA-JSON [kiln_bench flags...]: one kiln_bench run of
# gpu-check/bench/NAME.kiln, its JSON line tagged and kept.
bench() {
  local name=$1 cache=$2 extra=$3 w=${1%%.*}
  shift 3
  gunzip -kf "gpu-check/bench/$name.kiln.gz" || return
  timeout 150 build-gpu/bench/kiln_bench "gpu-check/bench/$name.kiln" \
    --entry train_step --device cuda --precision tf32 --workload "$w" \
    --synthetic-weights "$@" 2>>"$results/stderr.txt" |
    sed "s/}\$/, \"kernel_cache\": \"$cache\"$extra}/" |
    tee -a "$results/bench.jsonl"
  [[ ${PIPESTATUS[0]} == 0 ]] || { status=1; tail -3 "$results/stderr.txt"; }
}
# profile NAME LABEL: where the time of workload NAME's step goes (each step
# timed between CUDA events, no graph; the slowest 40 with their rates),
# into profiles.txt with each line labelled; the run's stderr stays in
# profile.tmp. Environment variables before the call apply to the run.
profile() {
  gunzip -kf "gpu-check/bench/$1.kiln.gz" || return
  KILN_PROFILE=1 KILN_PROFILE_STEPS=40 timeout 120 build-gpu/bench/kiln_bench \
    "gpu-check/bench/$1.kiln" --entry train_step --device cuda \
    --precision tf32 --workload "$1" --synthetic-weights --windows 1 \
    --steps 3 --warmup 1 >/dev/null 2>"$results/profile.tmp" || true
  sed "s/^/$2: /" "$results/profile.tmp" >>"$results/profiles.txt"
}
if has kiln; then
  for w in mlp cnn gpt; do
    time_for 40 "kiln $w" || break
    rm -rf "$KILN_CACHE_DIR"
    # The cold run's first step compiles; both print the steady state too.
    bench "$w" cold "" --windows 1 --steps 5 --warmup 2
    bench "$w" warm ""
    # (Their first steps find the default's kernels cached, not their own.
    # VARIANTS=0 skips them.)
    [[ ${VARIANTS:-1} == 0 ]] || {
    [[ -f gpu-check/bench/$w.kept.kiln.gz ]] &&
      bench "$w.kept" "default's" ', "recompute": false'
    [[ -f gpu-check/bench/$w.unfused.kiln.gz ]] &&
      bench "$w.unfused" "default's" ', "fusion": false'
    }
    profile "$w" "$w"
    grep "kiln profile: open" "$results/profile.tmp" | head -1
    grep -A42 "kiln profile: train_step" "$results/profile.tmp" | tail -43
    rm -f "$results/profile.tmp"
  done
fi
# cuBLASLt's candidates timed per GEMM form (KILN_GEMM_TUNE; part gemmtune,
# not run by default: on an H100 the measured choices made mlp's step slower,
# 0.126 ms against the heuristic's 0.116): the profile names each form's
# choice against the heuristic's first and times the steps with them (kept
# in the cache); then the steady state.
if has gemmtune && time_for 60 gemmtune; then
  for w in mlp cnn gpt; do
    KILN_GEMM_TUNE=1 profile "$w" "$w gemm-tuned"
    grep "kiln profile: GEMM" "$results/profile.tmp"
    KILN_GEMM_TUNE=1 bench "$w" warm ', "gemm_tune": true'
    rm -f "$results/profile.tmp"
  done
fi
# cuDNN's algorithm choices weighed on cnn (part cudnn, not run by default):
# the heuristics' or the measured fastest (KILN_CUDNN_FIND) within each
# convolution workspace cap (KILN_CUDA_CONV_WORKSPACE): the step time, the
# peak, and each convolution's choice (KILN_PROFILE, a run of its own); and
# the fixtures with convolutions under each, for their accuracy in fp32.
if has cudnn && time_for 60 cudnn; then
  for find in 0 1; do
    for ws in 67108864 268435456 1073741824; do
      KILN_CUDNN_FIND=$find KILN_CUDA_CONV_WORKSPACE=$ws bench cnn warm \
        ", \"cudnn_find\": $find, \"conv_workspace\": $ws"
      KILN_CUDNN_FIND=$find KILN_CUDA_CONV_WORKSPACE=$ws KILN_PROFILE=1 \
        timeout 60 build-gpu/bench/kiln_bench gpu-check/bench/cnn.kiln \
        --entry train_step --device cuda --precision tf32 --workload cnn \
        --synthetic-weights --windows 1 --steps 1 --warmup 0 2>&1 >/dev/null |
        grep "convolution" | sed "s/^/find $find, workspace $ws: /" \
        >>"$results/convs.txt"
    done
    KILN_CUDNN_FIND=$find FILTER='lenet|cnn|resnet|mobilenet|convnext' JOBS=6 \
      timeout 120 bash test/gpu/check-gpu-training.sh build-gpu \
      gpu-check/fixtures 2>&1 | tail -4 | sed "s/^/find $find: /"
  done
fi
if has torch && time_for 40 "torch eager"; then
  timeout "$(left)" python3 gpu-check/bench/torch_baseline.py --workloads mlp,cnn,gpt \
    --modes eager 2>>"$results/stderr.txt" | tee -a "$results/bench.jsonl"
fi
if has jax && python3 -c "import jax" 2>/dev/null && time_for 60 jax; then
  timeout "$(left)" python3 gpu-check/bench/jax_baseline.py \
    2>>"$results/stderr.txt" | tee -a "$results/bench.jsonl"
fi
if has compile && time_for 120 "torch compile-cg"; then
  timeout "$(left)" python3 gpu-check/bench/torch_baseline.py --workloads mlp,cnn,gpt \
    --modes compile-cg 2>>"$results/stderr.txt" | tee -a "$results/bench.jsonl"
fi
echo "gpu-check: done in $((SECONDS - start)) s, status $status"
exit $status
