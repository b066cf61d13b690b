//===- cache.cpp - JIT-compiled cubins kept on disk ------------------------===//
#include "cache.h"

#include "runtime/src/io.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace kiln::runtime::cuda {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'C', 'U', 'B', '1'};

/// 64-bit FNV-1a of `text`, from `basis`: two bases give a 128-bit key.
uint64_t fnv1a(const std::string &text, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

/// What a cache file starts with: the magic, then the key's text (arch,
/// NVRTC version, source size and hashes) and its length, then the cubin.
std::string keyText(const std::string &source, const std::string &arch,
                    const std::string &nvrtcVersion) {
  char hashes[64];
  std::snprintf(hashes, sizeof hashes, "%016llx%016llx",
                (unsigned long long)fnv1a(source, 0xcbf29ce484222325ull),
                (unsigned long long)fnv1a(source, 0x84222325cbf29ce4ull));
  return arch + " nvrtc-" + nvrtcVersion + " " +
         std::to_string(source.size()) + " " + hashes;
}

} // namespace

std::string cacheDir() {
  if (const char *dir = std::getenv("KILN_CACHE_DIR"); dir && *dir)
    return dir;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/kiln";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/kiln";
  return "/tmp/kiln-cache";
}

Status cachedCubin(const Nvrtc &nvrtc, const std::string &source,
                   const std::string &name, const std::string &arch,
                   std::vector<uint8_t> &cubin, CacheResult &result) {
  std::string key = keyText(source, arch, nvrtc.version());
  char file[48];
  std::snprintf(file, sizeof file, "%016llx%016llx.cubin",
                (unsigned long long)fnv1a(key, 0xcbf29ce484222325ull),
                (unsigned long long)fnv1a(key, 0x84222325cbf29ce4ull));
  std::string dir = cacheDir();
  result = CacheResult();
  result.path = dir + "/" + file;
  // A hit: the magic, the same key, and a cubin after it.
  if (std::ifstream in(result.path, std::ios::binary); in) {
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    size_t header = sizeof kMagic + 4 + key.size();
    uint32_t keySize = 0;
    if (bytes.size() > header) {
      std::memcpy(&keySize, bytes.data() + sizeof kMagic, 4);
      if (!std::memcmp(bytes.data(), kMagic, sizeof kMagic) &&
          keySize == key.size() &&
          !std::memcmp(bytes.data() + sizeof kMagic + 4, key.data(),
                       key.size())) {
        cubin.assign(bytes.begin() + header, bytes.end());
        return Status();
      }
    }
  }
  if (Status s = nvrtc.compile(source, name, arch, cubin); !s.ok())
    return s;
  result.compiled = true;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  std::string temp =
      result.path + ".tmp" + std::to_string(long(::getpid()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    uint32_t keySize = uint32_t(key.size());
    out.write(kMagic, sizeof kMagic);
    out.write(reinterpret_cast<const char *>(&keySize), 4);
    out.write(key.data(), std::streamsize(key.size()));
    out.write(reinterpret_cast<const char *>(cubin.data()),
              std::streamsize(cubin.size()));
    if (!out.flush())
      error = std::make_error_code(std::errc::io_error);
  }
  if (!error)
    std::filesystem::rename(temp, result.path, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    result.warning = "cannot keep the compiled kernels in " + dir + " (" +
                     error.message() +
                     "); the next load compiles them again (set "
                     "KILN_CACHE_DIR to a writable directory)";
  }
  return Status();
}

namespace {

constexpr char kRecordMagic[] = "KILNREC1\n";

std::string recordPath(const std::string &key) {
  char file[48];
  std::snprintf(file, sizeof file, "%016llx%016llx.rec",
                (unsigned long long)fnv1a(key, 0xcbf29ce484222325ull),
                (unsigned long long)fnv1a(key, 0x84222325cbf29ce4ull));
  return cacheDir() + "/" + file;
}

} // namespace

std::string cachedRecord(const std::string &key) {
  std::vector<uint8_t> bytes;
  if (!readFile(recordPath(key), bytes).ok())
    return "";
  std::string text(bytes.begin(), bytes.end());
  std::string head = kRecordMagic + key + "\n";
  if (text.compare(0, head.size(), head) != 0)
    return "";
  return text.substr(head.size());
}

std::string storeRecord(const std::string &key, const std::string &value) {
  std::string dir = cacheDir();
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  std::string text = kRecordMagic + key + "\n" + value;
  Status s = writeFileAtomically(recordPath(key), {{text.data(), text.size()}});
  if (s.ok())
    return "";
  return "cannot keep what was measured in " + dir + " (" +
         std::string(s.message()) + "); the next load measures it again";
}

} // namespace kiln::runtime::cuda
