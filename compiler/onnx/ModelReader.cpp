//===- ModelReader.cpp - reading ONNX ModelProtos safely ------------------===//
//
// Built with exceptions enabled (unlike the rest of the compiler): ONNX's
// text parser may throw on malformed numbers, and nothing may escape.
//
//===----------------------------------------------------------------------===//
#include "compiler/onnx/ModelReader.h"

#include "onnx/defs/parser.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <climits>
#include <exception>

namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace kiln::onnx {
namespace {

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Writes a byte count the way people read it.
std::string formatBytes(uint64_t bytes) {
  char buffer[32];
  if (bytes >= (1ull << 30))
    std::snprintf(buffer, sizeof buffer, "%.1f GiB",
                  bytes / double(1ull << 30));
  else if (bytes >= (1ull << 20))
    std::snprintf(buffer, sizeof buffer, "%.1f MiB",
                  bytes / double(1ull << 20));
  else
    std::snprintf(buffer, sizeof buffer, "%llu bytes",
                  static_cast<unsigned long long>(bytes));
  return buffer;
}

} // namespace

llvm::Expected<std::unique_ptr<::onnx::ModelProto>>
readModel(llvm::StringRef modelPath) {
  fs::file_status status;
  if (std::error_code ec = fs::status(modelPath, status))
    return error("cannot read '" + modelPath + "': " + ec.message());
  if (status.type() == fs::file_type::directory_file)
    return error("cannot read '" + modelPath + "': it is a directory");
  uint64_t size = status.getSize();
  if (size == 0)
    return error("'" + modelPath + "' is empty, not an ONNX model");
  // Protobuf cannot parse a message over 2 GB; such models keep their
  // weights in external data files.
  if (size > static_cast<uint64_t>(INT_MAX))
    return error("'" + modelPath + "' is " + formatBytes(size) +
                 ": protobuf cannot read a model over 2 GB; save its weights "
                 "as external data (onnx.save_model(..., "
                 "save_as_external_data=True)) and pass the small .onnx file");

  auto buffer = llvm::MemoryBuffer::getFile(modelPath, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/true);
  if (!buffer)
    return error("cannot read '" + modelPath +
                 "': " + buffer.getError().message());

  auto model = std::make_unique<::onnx::ModelProto>();
  if (path::extension(modelPath) == ".onnxtxt") {
    try {
      ::onnx::OnnxParser parser((*buffer)->getBufferStart());
      ::onnx::Common::Status parsed = parser.Parse(*model);
      if (!parsed.IsOK())
        return error("'" + modelPath +
                     "': ONNX text syntax error: " + parsed.ErrorMessage());
    } catch (const std::exception &e) {
      return error("'" + modelPath + "': ONNX text syntax error: " + e.what());
    }
  } else if (!model->ParseFromArray((*buffer)->getBufferStart(),
                                    static_cast<int>(size))) {
    return error("'" + modelPath +
                 "' is not an ONNX model: protobuf cannot parse it as a "
                 "ModelProto (truncated, or another kind of file)");
  }
  // Protobuf accepts many byte strings as some message; an ONNX model has a
  // graph and an IR version.
  if (!model->has_graph() || model->ir_version() <= 0)
    return error("'" + modelPath + "' is not an ONNX model: it has no " +
                 (model->has_graph() ? "ir_version" : "graph"));
  return model;
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readExternalData(const ::onnx::TensorProto &tensor, llvm::StringRef modelPath) {
  std::string location;
  int64_t offset = 0, length = -1;
  std::string what = "tensor '" + tensor.name() + "'";
  for (const auto &entry : tensor.external_data()) {
    const std::string &key = entry.key(), &value = entry.value();
    if (key == "location") {
      location = value;
    } else if (key == "offset" || key == "length") {
      char *end = nullptr;
      long long parsed = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || parsed < 0)
        return error(what + ": external data " + key + " '" + value +
                     "' is not a non-negative integer");
      (key == "offset" ? offset : length) = parsed;
    }
  }
  if (location.empty())
    return error(what + " is stored externally but names no location");
  if (path::is_absolute(location) || path::has_root_name(location))
    return error(what + ": external data location '" + location +
                 "' is an absolute path; it must be relative to the model's "
                 "folder");
  for (auto it = path::begin(location), e = path::end(location); it != e; ++it)
    if (*it == "..")
      return error(what + ": external data location '" + location +
                   "' leaves the model's folder");

  llvm::SmallString<256> dir(path::parent_path(modelPath));
  if (dir.empty())
    dir = ".";
  llvm::SmallString<256> file(dir);
  path::append(file, location);
  llvm::SmallString<256> realDir, realFile;
  if (fs::real_path(dir, realDir) || fs::real_path(file, realFile))
    return error(what + ": external data file '" + file + "' does not exist");
  // A symlink inside the folder may still point outside it.
  llvm::SmallString<256> prefix(realDir);
  path::append(prefix, "");
  if (!llvm::StringRef(realFile).starts_with(prefix))
    return error(what + ": external data location '" + location +
                 "' resolves to '" + realFile +
                 "', outside the model's folder");
  if (!fs::is_regular_file(realFile))
    return error(what + ": external data location '" + location +
                 "' is not a regular file");

  uint64_t size = 0;
  if (std::error_code ec = fs::file_size(realFile, size))
    return error(what + ": cannot read '" + file + "': " + ec.message());
  if (static_cast<uint64_t>(offset) > size)
    return error(what + ": external data offset " + llvm::Twine(offset) +
                 " is beyond the end of '" + location + "' (" +
                 formatBytes(size) + ")");
  if (length < 0)
    length = static_cast<int64_t>(size) - offset;
  if (static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) > size)
    return error(what + ": external data '" + location + "' holds " +
                 formatBytes(size) + " but offset " + llvm::Twine(offset) +
                 " + length " + llvm::Twine(length) + " reaches past its end");
  auto slice = llvm::MemoryBuffer::getFileSlice(realFile, length, offset);
  if (!slice)
    return error(what + ": cannot read '" + file +
                 "': " + slice.getError().message());
  return std::move(*slice);
}

} // namespace kiln::onnx
