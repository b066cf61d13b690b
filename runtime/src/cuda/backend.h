//===- backend.h - the CUDA backend ---------------------------------------===//
//
// Runs a program on one NVIDIA GPU: the kernels of the artifact's
// "cuda.source" (its precompiled cubin for the GPU's architecture, else
// compiled by NVRTC into the on-disk cache, cache.h), GEMMs on cuBLASLt (bias
// and ReLU as its epilogues), all on one stream (a data-parallel run's NCCL
// all-reduces on a second, joined by events). Memory is one device
// allocation made when the session opens: the program's arena at its
// planned offsets, then the multi-tensor launches' segment tables and the
// GEMM workspace; nothing is allocated while a step runs. An entry's first
// run executes its steps one by one; the next captures them as one CUDA
// graph, which every later run replays (inputs enter through their fixed
// arena slots). KILN_CUDA_GRAPHS=0 turns graphs off; KILN_CUDA_SYNC=1 waits
// after every step, so that an error names the step that caused it.
// Convolutions run on cuDNN 9 where it is installed (KILN_CUDNN_DIR; on the
// GPU machine only PyTorch's wheel has it) and its descriptors can express
// them (symmetric padding), with its heuristics' first algorithm that fits
// the workspace; otherwise (or with KILN_CUDA_CONV=im2col) they are GEMMs
// over patches (im2col, in the CPU backend's layout) on cuBLASLt, in blocks
// of images whose patches fit a workspace of 64 MiB
// (KILN_CUDA_CONV_WORKSPACE bytes), which needs nothing but cuBLAS.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_CUDA_BACKEND_H
#define KILN_RUNTIME_SRC_CUDA_BACKEND_H

#include "runtime/src/session.h"

#include <future>

namespace kiln::runtime::cuda {

/// The entry function of the program's kernel `index` in the CUDA module
/// ("kiln_k3"; a segmented kernel's multi-tensor entry adds "_segments").
std::string entryName(size_t index);

/// The runtime's own kernels, beside the program's: what a GEMM needs
/// around cuBLASLt (extern "C" kiln_fill_f32|f64: C broadcast into the
/// output; kiln_relu_bias_grad_f32|f64: the gradient through a ReLU and the
/// bias gradient; kiln_operand_sum_f32|f64: a bias gradient that cuBLASLt's
/// BGRAD epilogues cannot make; the convolutions' im2col, col2im, gather
/// and scatter). Compiled and cached like the program's module.
const char *builtinsSource();

/// Whether a GPU is usable: the driver loads, initializes and sees one.
Status available();

/// Whether a module's CUDA source follows this runtime's contract with the
/// code generator (kCudaAbi): an error naming both when it does not (an
/// artifact compiled by another kiln), to compile it again.
Status checkAbi(const std::string &source);

/// What preload() made ready: a reference to GPU `ordinal`'s primary
/// context, where it could take one, which release() drops (once the
/// session's backend holds its own, or the session failed to open).
struct Preloaded {
  int ordinal = 0;
  bool held = false;
  int device = 0; ///< (A CUdevice.)
  /// Set by preload() as soon as it knows whether the driver loads and sees
  /// GPU `ordinal` (before it makes the context), so that the opening
  /// thread loads cuDNN only where a GPU may use it.
  std::promise<bool> gpuFound;
  /// How long each part took, in seconds (for KILN_PROFILE): loading and
  /// initializing the driver, making the context (cuBLASLt's library loads
  /// meanwhile), then waiting for cuBLASLt, and its first heuristic query.
  double driverSeconds = 0, contextSeconds = 0, blasSeconds = 0,
         heuristicsSeconds = 0;
  void release();
  ~Preloaded() { release(); }
};

/// Loads the NVIDIA driver (cuInit, ~0.1 s on an H100) and cuBLASLt (~0.07 s,
/// on a thread of its own while GPU `out.ordinal`'s primary context is made,
/// ~0.11 s), then asks cuBLASLt's heuristics once (its first query is slow,
/// ~0.1 s; the backend's then are not), ignoring failures (available() and
/// the backend report them): Session::open calls it on a thread of its own
/// while it reads the artifact, since these take a few hundred milliseconds
/// together and need nothing of it.
void preload(Preloaded &out);

/// Loads cuDNN's libraries now (~0.1 s, needing no GPU context), ignoring
/// failures (the backend reports them): Session::open calls it for a program
/// with convolutions while it waits for preload(). False (nothing loaded)
/// where KILN_CUDA_CONV=im2col keeps convolutions off cuDNN.
bool preloadCudnn();

/// Opens GPU `options.ordinal` and loads `program` there. Fails, saying why,
/// when no GPU is usable, a library is missing, a kernel does not compile or
/// load, or the program needs what this backend does not do yet.
Status createBackend(const Program &program, const std::vector<uint8_t> &init,
                     const DeviceCode &code, const SessionOptions &options,
                     std::unique_ptr<Backend> &out);

} // namespace kiln::runtime::cuda

#endif // KILN_RUNTIME_SRC_CUDA_BACKEND_H
