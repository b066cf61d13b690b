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

/// The number of an architecture name: 90 for "sm_90" or "compute_90", 120
/// for "sm_120"; -1 for anything else.
int architectureNumber(const std::string &arch);

class Nvrtc {
public:
  /// The process's NVRTC, opened on first use: libnvrtc.so.13 (or .12, or
  /// libnvrtc.so) from the library path, then $CUDA_HOME/lib64 and
  /// /usr/local/cuda/lib64. Fails saying where it looked.
  static Status get(Nvrtc *&out);

  /// "13.0": the library's version.
  std::string version() const;

  /// Compiles `source` (one translation unit) for `arch`: a real
  /// architecture ("sm_80") gives a cubin, a virtual one ("compute_90")
  /// PTX text (NUL-terminated), which the driver compiles for the GPU it
  /// is loaded on (any of that architecture or newer). On failure the
  /// status names `name` and carries NVRTC's log.
  Status compile(const std::string &source, const std::string &name,
                 const std::string &arch, std::vector<uint8_t> &cubin) const;

  /// The real architectures NVRTC generates code for, ascending (75, 80,
  /// ..., 120); empty where the library cannot say (then any is tried).
  const std::vector<int> &architectures() const { return archs_; }
  /// architectures() for a message: "sm_75 to sm_121 (75, 80, ..., 121)".
  std::string architecturesText() const;

  /// What to compile for a GPU of architecture `arch` ("sm_90"): `arch`
  /// itself where NVRTC supports it; for a GPU newer than this NVRTC knows,
  /// PTX for the newest architecture it does ("compute_120"), for the
  /// driver to compile; an error naming what NVRTC supports for a GPU older
  /// than all of it.
  Status target(const std::string &arch, std::string &out) const;

private:
  Nvrtc() = default;
  struct Api;
  Api *api_ = nullptr;
  int major_ = 0, minor_ = 0;
  std::vector<int> archs_;
};

} // namespace kiln::runtime::cuda

#endif // KILN_RUNTIME_SRC_CUDA_NVRTC_H
