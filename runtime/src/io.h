//===- io.h - files in and out, atomically; checksums ---------------------===//
#ifndef KILN_RUNTIME_SRC_IO_H
#define KILN_RUNTIME_SRC_IO_H

#include "kiln/runtime.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::runtime {

/// Reads the whole file at `path`.
Status readFile(const std::string &path, std::vector<uint8_t> &out);

/// A piece of a file being written.
struct Chunk {
  const void *data;
  size_t size;
};

/// Writes `chunks` to `path` so that a crash or an error never leaves a
/// partial file: into a temporary file in the same folder, flushed to disk
/// (fsync), then renamed over `path`, and the folder synced. On failure the
/// temporary file is removed and `path` is untouched.
Status writeFileAtomically(const std::string &path,
                           const std::vector<Chunk> &chunks);

/// CRC-32 (the zlib / PNG polynomial) of `size` bytes, continuing `crc`.
uint32_t crc32(const void *data, size_t size, uint32_t crc = 0);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_IO_H
