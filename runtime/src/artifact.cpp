//===- artifact.cpp - the .kiln artifact container ------------------------===//
#include "artifact.h"

#include "io.h"

#include <cstring>

namespace kiln::runtime {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'A', 'R', 'T', '\0'};
constexpr size_t kHeaderSize = 64;
constexpr size_t kEntrySize = 48;
constexpr size_t kAlign = 64;

void putU32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void putU64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t getU32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}
uint64_t getU64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}
size_t alignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

Status corrupt(const std::string &origin, const std::string &message) {
  return Status(KILN_STATUS_DATA_LOSS, origin + ": " + message);
}

} // namespace

Status ArtifactWriter::addSection(const std::string &name,
                                  std::vector<uint8_t> bytes) {
  if (name.empty() || name.size() > kArtifactSectionNameMax)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "artifact section name '" + name + "' must have 1 to " +
                      std::to_string(kArtifactSectionNameMax) + " bytes");
  for (const auto &[existing, data] : sections_)
    if (existing == name)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "artifact section '" + name + "' is added twice");
  sections_.emplace_back(name, std::move(bytes));
  return Status();
}

std::vector<uint8_t> ArtifactWriter::serialize() const {
  size_t tableEnd = kHeaderSize + kEntrySize * sections_.size();
  size_t size = alignUp(tableEnd);
  std::vector<size_t> offsets;
  for (const auto &[name, data] : sections_) {
    offsets.push_back(size);
    size = alignUp(size + data.size());
  }
  std::vector<uint8_t> out(size, 0);
  uint8_t *table = out.data() + kHeaderSize;
  for (size_t i = 0; i < sections_.size(); ++i) {
    const auto &[name, data] = sections_[i];
    uint8_t *entry = table + i * kEntrySize;
    std::memcpy(entry, name.data(), name.size());
    putU64(entry + 24, offsets[i]);
    putU64(entry + 32, data.size());
    putU32(entry + 40, crc32(data.data(), data.size()));
    if (!data.empty())
      std::memcpy(out.data() + offsets[i], data.data(), data.size());
  }
  std::memcpy(out.data(), kMagic, 8);
  putU32(out.data() + 8, kArtifactVersion);
  putU32(out.data() + 12, static_cast<uint32_t>(sections_.size()));
  putU64(out.data() + 16, out.size());
  putU32(out.data() + 24, crc32(table, kEntrySize * sections_.size()));
  putU32(out.data() + 28, crc32(out.data(), 28));
  return out;
}

Status ArtifactWriter::write(const std::string &path) const {
  std::vector<uint8_t> bytes = serialize();
  return writeFileAtomically(path, {{bytes.data(), bytes.size()}});
}

Status Artifact::read(const std::string &path, Artifact &out) {
  std::vector<uint8_t> bytes;
  if (Status status = readFile(path, bytes); !status.ok())
    return status;
  return parse(std::move(bytes), path, out);
}

Status Artifact::parse(std::vector<uint8_t> bytes, const std::string &origin,
                       Artifact &out) {
  // The magic and the version sit where every version keeps them, so they
  // are checked first: a newer file is refused as newer, not as corrupt.
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  origin + " is not a kiln artifact (it does not start with "
                           "KILNART); compile one with `kiln compile`");
  if (bytes.size() < kHeaderSize)
    return corrupt(origin, "is " + std::to_string(bytes.size()) +
                               " bytes, shorter than an artifact's header "
                               "(truncated)");
  uint32_t version = getU32(bytes.data() + 8);
  if (version > kArtifactVersion)
    return Status(KILN_STATUS_UNIMPLEMENTED,
                  origin + " has artifact format version " +
                      std::to_string(version) + "; this runtime reads up to " +
                      std::to_string(kArtifactVersion) +
                      " (update the runtime, or compile the model with the "
                      "kiln that matches it)");
  if (getU32(bytes.data() + 28) != crc32(bytes.data(), 28) || version == 0)
    return corrupt(origin, "the artifact header is corrupt (checksum "
                           "mismatch)");
  uint64_t fileSize = getU64(bytes.data() + 16);
  if (fileSize != bytes.size())
    return corrupt(origin, "truncated or padded: the header says " +
                               std::to_string(fileSize) +
                               " bytes, the file has " +
                               std::to_string(bytes.size()));
  uint32_t count = getU32(bytes.data() + 12);
  uint64_t tableEnd = kHeaderSize + uint64_t(kEntrySize) * count;
  if (tableEnd > bytes.size())
    return corrupt(origin, "the section table runs past the end of the file");
  const uint8_t *table = bytes.data() + kHeaderSize;
  if (getU32(bytes.data() + 24) != crc32(table, kEntrySize * count))
    return corrupt(origin, "the section table is corrupt (checksum mismatch)");

  std::vector<std::pair<std::string, std::vector<uint8_t>>> sections;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t *entry = table + i * kEntrySize;
    std::string name(reinterpret_cast<const char *>(entry),
                     strnlen(reinterpret_cast<const char *>(entry), 24));
    uint64_t offset = getU64(entry + 24), size = getU64(entry + 32);
    if (offset < tableEnd || offset > bytes.size() ||
        size > bytes.size() - offset)
      return corrupt(origin, "section '" + name + "' lies outside the file");
    if (crc32(bytes.data() + offset, size) != getU32(entry + 40))
      return corrupt(origin,
                     "section '" + name + "' is corrupt (checksum mismatch)");
    sections.emplace_back(name,
                          std::vector<uint8_t>(bytes.data() + offset,
                                               bytes.data() + offset + size));
  }
  out.version_ = version;
  out.sections_ = std::move(sections);
  return Status();
}

const std::vector<uint8_t> *Artifact::section(std::string_view name) const {
  for (const auto &[existing, data] : sections_)
    if (existing == name)
      return &data;
  return nullptr;
}

std::vector<uint8_t> Artifact::take(std::string_view name) {
  for (auto &[existing, data] : sections_)
    if (existing == name)
      return std::move(data);
  return {};
}

std::vector<std::string> Artifact::sectionNames() const {
  std::vector<std::string> names;
  for (const auto &[name, data] : sections_)
    names.push_back(name);
  return names;
}

} // namespace kiln::runtime
