//===- nvrtc.h - NVRTC, loaded at run time ---------------------------------===//
//
// kiln links no CUDA library: NVRTC is opened with dlopen when a kernel must
// be compiled (kiln compile --precompile; the CUDA backend's JIT), so the
// same binaries run on machines without CUDA. NVRTC needs no GPU.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_CUDA_NVRTC_H
#define KILN_RUNTIME_SRC_CUDA_NVRTC_H

#include "kiln/runtime.hpp"

#include <string>
#include <vector>

namespace kiln::runtime::cuda {

class Nvrtc {
public:
  /// The process's NVRTC, opened on first use: libnvrtc.so.13 (or .12, or
  /// libnvrtc.so) from the library path, then $CUDA_HOME/lib64 and
  /// /usr/local/cuda/lib64. Fails saying where it looked.
  static Status get(Nvrtc *&out);

  /// "13.0": the library's version.
  std::string version() const;

  /// Compiles `source` (one translation unit) for `arch` ("sm_80") to a
  /// cubin. On failure the status names `name` and carries NVRTC's log.
  Status compile(const std::string &source, const std::string &name,
                 const std::string &arch, std::vector<uint8_t> &cubin) const;

private:
  Nvrtc() = default;
  struct Api;
  Api *api_ = nullptr;
  int major_ = 0, minor_ = 0;
};

} // namespace kiln::runtime::cuda

#endif // KILN_RUNTIME_SRC_CUDA_NVRTC_H
