//===- CudaKernel.h - kernel descriptions as CUDA C++ ---------------------===//
//
// Prints a runtime Kernel (loop nest + scalar body, runtime/src/kernel.h) as
// an `extern "C" __global__` function whose parameters are the kernel's
// arguments in order (element pointers into the arena); a program's kernels
// form one NVRTC-compilable translation unit. The launch contract:
//
//  - a 1-D grid of any size; each thread walks the parallel points in a
//    grid-stride loop (64-bit indices), so any grid covers the domain;
//  - each parallel point's reduction runs in that thread, in the order the
//    CPU interpreter uses, with float sums accumulated in double as there;
//  - integers compute in 64 bits, 16-bit floats in float, as on the CPU.
//
// Sizes are constants in the source: a kernel is specialized to its shapes.
// A block-reduction kernel (kernel.h, Kernel::Reduce::Block) is launched with
// kBlockReduceThreads threads per block and any grid: each block reduces
// the parallel points blockIdx.x, + gridDim.x, ..., each thread a stride of
// the reduction, then a tree in shared memory.
// A segmented kernel (kernel.h) takes its points as a last argument
// `kiln_n`, and has a second entry, `<entry>_segments(const long long*
// table)`, for a multi-tensor launch: one flat grid striding over virtual
// blocks; the table is the number of rows R, the R + 1 rows' first virtual
// blocks (the last: their total), then row g = {points, one pointer per
// argument}, each 8 bytes (KILN_CUDA_ABI 2, runtime/src/kernel.h).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_CODEGEN_CUDA_CUDAKERNEL_H
#define KILN_CODEGEN_CUDA_CUDAKERNEL_H

#include "runtime/src/kernel.h"

#include <cstddef>
#include <string>
#include <vector>

namespace kiln::codegen::cuda {

/// The name of kernel `index`'s entry function.
std::string entryName(size_t index);

/// The CUDA C++ function of `kernel` with entry name `entry` (without the
/// shared prelude). Returns false and says why in `error` for what it cannot
/// print.
bool printKernel(const runtime::Kernel &kernel, const std::string &entry,
                 std::string &source, std::string &error);

/// All kernels of a program as one translation unit (one NVRTC compile, one
/// module per architecture): the prelude, then kernel i as entryName(i).
struct Module {
  std::string source;
  std::vector<size_t> kernelLines; ///< The 1-based line where each begins.
};
bool printModule(const std::vector<runtime::Kernel> &kernels, Module &out,
                 std::string &error);

/// The module made compilable by a host C++ compiler, plus
/// `extern "C" void kiln_host_launch(int kernel, void **args, long long
/// points)` (points: a segmented kernel's launch size): what the
/// tests use to run the printed kernels on the CPU and compare them with
/// the interpreter, where no GPU is. A launch is three blocks, one after
/// another, of four threads (one warp), or with `gpuGeometry` of the
/// runtime's block sizes with warps of 32 and the GPU's tiles (slower:
/// hundreds of host threads a block).
bool printHostModule(const std::vector<runtime::Kernel> &kernels,
                     std::string &source, std::string &error,
                     bool gpuGeometry = false);

/// The kernel whose text holds 1-based `line` of the module (SIZE_MAX for
/// the prelude): how NVRTC's errors are traced to a kernel.
size_t kernelAtLine(const Module &module, size_t line);

} // namespace kiln::codegen::cuda

#endif // KILN_CODEGEN_CUDA_CUDAKERNEL_H
