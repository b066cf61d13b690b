//===- safetensors.h - tensors in and out as safetensors files ------------===//
//
// The format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...,
//    "__metadata__": {"key": "value"}}
// then the data, which the offsets (relative to its start) cover exactly:
// no overlaps, no holes. PyTorch, numpy and JAX read and write it.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_SAFETENSORS_H
#define KILN_RUNTIME_SRC_SAFETENSORS_H

#include "dtype.h"
#include "io.h"

#include "kiln/runtime.hpp"

#include <map>
#include <string>
#include <vector>

namespace kiln::runtime {

/// One tensor of a file: its bytes point into the file's buffer.
struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t *data;
  size_t bytes;

  int64_t elements() const;
};

/// A parsed safetensors file; owns its bytes. Tensors are in data order.
class SafeTensors {
public:
  /// Reads and checks `path`. Errors name the file and say what is wrong.
  static Status read(const std::string &path, SafeTensors &out);
  /// Checks and takes `bytes`; `origin` names them in errors.
  static Status parse(std::vector<uint8_t> bytes, const std::string &origin,
                      SafeTensors &out);

  const std::vector<TensorView> &tensors() const { return tensors_; }
  const TensorView *find(std::string_view name) const;
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }

private:
  std::vector<uint8_t> bytes_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// Collects tensors and writes them as one safetensors file, atomically.
class SafeTensorsWriter {
public:
  /// Adds a tensor; `data` must stay valid until write(). Names are unique.
  Status add(const std::string &name, DType dtype,
             const std::vector<int64_t> &shape, const void *data, size_t bytes);
  void setMetadata(const std::string &key, const std::string &value) {
    metadata_[key] = value;
  }
  /// The file's bytes: header and data.
  std::vector<uint8_t> serialize() const;
  Status write(const std::string &path) const;

private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    const void *data;
    size_t bytes;
  };
  std::string header() const;
  /// The file as pieces: length, header text (kept in `text`), tensors.
  std::vector<Chunk> layout(std::string &text, uint8_t (&length)[8]) const;
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_SAFETENSORS_H
