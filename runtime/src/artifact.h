//===- artifact.h - the .kiln artifact container --------------------------===//
//
// The one file that passes from the compiler to the runtime. Its layout is
// defined here, in the runtime; the compiler writes it through
// ArtifactWriter. A container of named sections (program, kernels, memory
// plan, signature, parameters...), each checksummed:
//
//   offset 0   magic "KILNART\0"            8 bytes  (never changes)
//          8   format version (u32 LE)               (never moves)
//         12   section count (u32)
//         16   file size in bytes (u64)
//         24   CRC-32 of the section table (u32)
//         28   CRC-32 of bytes 0..27 (u32)
//         32   reserved, zero, up to 64
//         64   section table: per section 48 bytes:
//                name (24 bytes, NUL-padded), offset (u64), size (u64),
//                CRC-32 of its bytes (u32), reserved (u32)
//   then the sections' bytes, each starting 64-byte aligned.
//
// A reader refuses a file that is not an artifact, one of a newer format
// version, and one that is truncated or corrupt, each with its own message.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_ARTIFACT_H
#define KILN_RUNTIME_SRC_ARTIFACT_H

#include "kiln/runtime.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::runtime {

/// The format version this runtime writes and the newest it reads.
constexpr uint32_t kArtifactVersion = 1;
constexpr size_t kArtifactSectionNameMax = 23;

class ArtifactWriter {
public:
  /// Adds a section (names are unique, at most 23 bytes).
  Status addSection(const std::string &name, std::vector<uint8_t> bytes);
  /// The whole file.
  std::vector<uint8_t> serialize() const;
  /// Writes the file atomically (no partial file on failure).
  Status write(const std::string &path) const;

private:
  std::vector<std::pair<std::string, std::vector<uint8_t>>> sections_;
};

class Artifact {
public:
  static Status read(const std::string &path, Artifact &out);
  /// Checks and takes `bytes`; `origin` names them in errors.
  static Status parse(std::vector<uint8_t> bytes, const std::string &origin,
                      Artifact &out);

  uint32_t version() const { return version_; }
  /// The section named `name`, or null.
  const std::vector<uint8_t> *section(std::string_view name) const;
  std::vector<std::string> sectionNames() const;
  /// Moves the section named `name` out (empty if there is none), leaving
  /// it empty: the init bytes, without a copy of tens of megabytes.
  std::vector<uint8_t> take(std::string_view name);

private:
  uint32_t version_ = 0;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> sections_;
};

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_ARTIFACT_H
