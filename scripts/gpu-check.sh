#!/usr/bin/env bash
# scripts/gpu-check.sh - run ON THE GPU MACHINE, in one command: builds the
# runtime (KILN_BUILD_COMPILER=OFF: that machine has CUDA and cmake but no
# LLVM/MLIR), runs the GPU test set (test/gpu/check-gpu-training.sh), then
# kiln's benchmark of the three workloads and the PyTorch baseline (and JAX's,
# where JAX is installed) in the same run, so that their figures compare.
# Needs gpu-check/ from scripts/prepare-gpu-check.sh. Prints JSON lines and
# keeps everything in gpu-check/results/ (copy it to $OUT to bring it back).
#
#   bash scripts/gpu-check.sh            # everything
#   PARTS=tests bash scripts/gpu-check.sh  # or any of: tests kiln torch jax
#
# kiln's figures per workload: the first step with a cold kernel cache (NVRTC
# compiles every kernel), with a warm one (nothing compiled), then the
# steady-state step with TF32 GEMMs (mode kiln-cuda, precision tf32).
set -uo pipefail
cd "$(dirname "$0")/.."
parts=${PARTS:-tests kiln torch jax}
results=gpu-check/results
mkdir -p "$results"
status=0
has() { [[ " $parts " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  | tee "$results/gpu.txt"
start=$SECONDS
cmake -S . -B build-gpu -DKILN_BUILD_COMPILER=OFF -DKILN_BUILD_TESTS=ON \
  -DCMAKE_BUILD_TYPE=Release -DKILN_GPU_ARTIFACTS="$PWD/gpu-check/fixtures" \
  >"$results/cmake.txt" 2>&1 &&
  cmake --build build-gpu -j "$(nproc)" --target kiln_run_step \
    kiln_compare_tensors kiln_bench >>"$results/cmake.txt" 2>&1 || {
  tail -30 "$results/cmake.txt"; exit 1; }
echo "gpu-check: runtime built in $((SECONDS - start)) s"
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
if has tests; then
  bash test/gpu/check-gpu-training.sh build-gpu gpu-check/fixtures \
    2>&1 | tee "$results/gpu-tests.txt"
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
fi
if has kiln; then
  for w in mlp cnn gpt; do
    gunzip -kf "gpu-check/bench/$w.kiln.gz"
    rm -rf "$KILN_CACHE_DIR"
    for cache in cold warm; do
      # The cold run's first step compiles; both print the steady state too.
      build-gpu/bench/kiln_bench "gpu-check/bench/$w.kiln" --entry train_step \
        --device cuda --precision tf32 --workload "$w" --synthetic-weights \
        $([[ $cache == cold ]] && echo "--windows 1 --steps 5 --warmup 2") \
        2>>"$results/kiln-stderr.txt" | sed "s/}\$/, \"kernel_cache\": \"$cache\"}/" \
        | tee -a "$results/kiln.jsonl"
      [[ ${PIPESTATUS[0]} == 0 ]] || { status=1; tail -1 "$results/kiln-stderr.txt"; }
    done
    # The same workload with activations kept (--no-recompute), warm.
    if [[ -f gpu-check/bench/$w.kept.kiln.gz ]]; then
      gunzip -kf "gpu-check/bench/$w.kept.kiln.gz"
      build-gpu/bench/kiln_bench "gpu-check/bench/$w.kept.kiln" --entry train_step \
        --device cuda --precision tf32 --workload "$w" --synthetic-weights \
        2>>"$results/kiln-stderr.txt" | sed "s/}\$/, \"kernel_cache\": \"warm\", \"recompute\": false}/" \
        | tee -a "$results/kiln.jsonl"
      [[ ${PIPESTATUS[0]} == 0 ]] || { status=1; tail -1 "$results/kiln-stderr.txt"; }
    fi
    # Where the time goes: each step timed between CUDA events (no graph),
    # the slowest 40 with their rates.
    KILN_PROFILE=1 KILN_PROFILE_STEPS=40 build-gpu/bench/kiln_bench \
      "gpu-check/bench/$w.kiln" --entry train_step --device cuda \
      --precision tf32 --workload "$w" --synthetic-weights --windows 1 \
      --steps 3 --warmup 1 >/dev/null 2>"$results/profile-$w.txt" || true
    grep -A42 "kiln profile: train_step" "$results/profile-$w.txt" | tail -43
  done
fi
if has torch; then
  python3 gpu-check/bench/torch_baseline.py --workloads mlp,cnn,gpt \
    --modes "${TORCH_MODES:-eager,compile-cg}" 2>>"$results/torch-stderr.txt" \
    | tee "$results/torch.jsonl"
fi
if has jax && python3 -c "import jax" 2>/dev/null; then
  python3 gpu-check/bench/jax_baseline.py 2>>"$results/jax-stderr.txt" \
    | tee "$results/jax.jsonl"
fi
[[ -n ${OUT:-} ]] && cp -r "$results" "$OUT/"
echo "gpu-check: done in $((SECONDS - start)) s, status $status"
exit $status
