//===- cache.h - JIT-compiled cubins kept on disk --------------------------===//
//
// Kernels that an artifact carries no cubin for (no --precompile, or another
// GPU architecture) are compiled by NVRTC when a session loads, once: the
// cubin is kept in a file named by a hash of the source, the architecture
// and NVRTC's version, so a second load compiles nothing. The directory is
// $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln. A file that
// does not hold what its name promises (truncated, another key) is compiled
// again and replaced; files are written whole or not at all (a temporary
// file renamed). Small records (cuDNN's measured algorithm choices) are
// kept alike.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_CUDA_CACHE_H
#define KILN_RUNTIME_SRC_CUDA_CACHE_H

#include "nvrtc.h"

#include <string>
#include <vector>

namespace kiln::runtime::cuda {

/// The cache directory (not created).
std::string cacheDir();

struct CacheResult {
  bool compiled = false; ///< NVRTC ran (else the cubin came from the cache).
  std::string path;      ///< The cache file.
  /// Set when the cubin could not be stored (the run goes on without it).
  std::string warning;
};

/// The cubin of `source` (a module named `name` in errors) for `arch`.
Status cachedCubin(const Nvrtc &nvrtc, const std::string &source,
                   const std::string &name, const std::string &arch,
                   std::vector<uint8_t> &cubin, CacheResult &result);

/// A short text kept under `key` in the same directory (a file named by the
/// key's hash, holding the key first): what was measured once on this GPU
/// (cuDNN's fastest algorithm for a convolution). Empty when there is none.
std::string cachedRecord(const std::string &key);
/// Keeps `value` under `key`; a warning when it cannot (the run goes on).
std::string storeRecord(const std::string &key, const std::string &value);

} // namespace kiln::runtime::cuda

#endif // KILN_RUNTIME_SRC_CUDA_CACHE_H
