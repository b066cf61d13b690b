//===- ModelReader.h - reading ONNX ModelProtos safely --------------------===//
#ifndef KILN_COMPILER_ONNX_MODELREADER_H
#define KILN_COMPILER_ONNX_MODELREADER_H

#include "onnx/onnx_pb.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>
#include <string>

namespace kiln::onnx {

/// Reads a model from `path`: ONNX's textual syntax when the name ends in
/// `.onnxtxt`, a binary ModelProto otherwise. Checks what protobuf does not:
/// the 2 GB limit, an empty or non-ONNX file. Errors say what is wrong with
/// which file.
llvm::Expected<std::unique_ptr<::onnx::ModelProto>>
readModel(llvm::StringRef path);

/// Reads the bytes of a tensor stored outside the model (`data_location:
/// EXTERNAL`). The location must name a regular file inside the model's
/// folder: absolute paths, `..` components and symlinks that lead outside
/// are refused (the onnx CVE-2022-25882 / CVE-2024-27318 family), as are
/// offsets and lengths beyond the file.
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readExternalData(const ::onnx::TensorProto &tensor, llvm::StringRef modelPath);

} // namespace kiln::onnx

#endif // KILN_COMPILER_ONNX_MODELREADER_H
