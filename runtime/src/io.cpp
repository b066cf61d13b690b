//===- io.cpp - files in and out, atomically; checksums -------------------===//
#include "io.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln::runtime {
namespace {

Status ioError(const std::string &what, const std::string &path) {
  return Status(KILN_STATUS_UNAVAILABLE,
                what + " '" + path + "': " + std::strerror(errno));
}

bool writeAll(int fd, const void *data, size_t size) {
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

} // namespace

Status readFile(const std::string &path, std::vector<uint8_t> &out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Status(errno == ENOENT ? KILN_STATUS_NOT_FOUND
                                  : KILN_STATUS_UNAVAILABLE,
                  "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "'" + path + "' is not a regular file");
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      Status status = ioError("cannot read", path);
      ::close(fd);
      return status;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return Status();
}

Status writeFileAtomically(const std::string &path,
                           const std::vector<Chunk> &chunks) {
  std::string dir = ".";
  if (size_t slash = path.rfind('/'); slash != std::string::npos)
    dir = slash == 0 ? "/" : path.substr(0, slash);
  std::string temp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(temp.data());
  if (fd < 0)
    return ioError("cannot create a temporary file next to", path);
  // mkstemp makes the file private (0600); give it the permissions a plain
  // open() would (0666 less the umask).
  mode_t mask = ::umask(0);
  ::umask(mask);
  bool ok = ::fchmod(fd, 0666 & ~mask) == 0;
  for (const Chunk &chunk : chunks)
    ok = ok && writeAll(fd, chunk.data, chunk.size);
  ok = ok && ::fsync(fd) == 0;
  Status status;
  if (!ok)
    status = ioError("cannot write", temp);
  if (::close(fd) != 0 && ok) {
    ok = false;
    status = ioError("cannot write", temp);
  }
  if (ok && ::rename(temp.c_str(), path.c_str()) != 0) {
    ok = false;
    status = ioError("cannot rename the temporary file to", path);
  }
  if (!ok) {
    ::unlink(temp.c_str());
    return status;
  }
  // Make the rename itself durable.
  int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd >= 0) {
    ::fsync(dirfd);
    ::close(dirfd);
  }
  return Status();
}

uint32_t crc32(const void *data, size_t size, uint32_t crc) {
  // The reflected IEEE polynomial (zlib's CRC-32), eight bytes a step
  // ("slicing by 8": table k is the CRC of a byte followed by k zero bytes):
  // about six times the speed of a byte a step, which mattered for the
  // tens of megabytes of weights an artifact carries.
  static const auto tables = [] {
    struct Tables {
      uint32_t t[8][256];
    } s{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      s.t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int k = 1; k < 8; ++k)
        s.t[k][i] = (s.t[k - 1][i] >> 8) ^ s.t[0][s.t[k - 1][i] & 0xFF];
    return s;
  }();
  const auto &t = tables.t;
  const uint8_t *p = static_cast<const uint8_t *>(data);
  crc = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    uint32_t lo = crc ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 |
                         uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
    uint32_t hi = uint32_t(p[4]) | uint32_t(p[5]) << 8 |
                  uint32_t(p[6]) << 16 | uint32_t(p[7]) << 24;
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^
          t[4][lo >> 24] ^ t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^
          t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; size > 0; --size, ++p)
    crc = t[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

} // namespace kiln::runtime
