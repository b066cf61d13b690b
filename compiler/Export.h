//===- Export.h - trained weights back into the ONNX model ----------------===//
#ifndef KILN_COMPILER_EXPORT_H
#define KILN_COMPILER_EXPORT_H

#include "runtime/src/program.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <vector>

namespace kiln {

/// The ONNX model at `path` as a training artifact embeds it (section
/// "onnx"), so that `kiln export` needs only the artifact: external data read
/// in, and the data of every initializer that is a persistent buffer of
/// `program` left out (the artifact's init section holds it).
llvm::Expected<std::vector<uint8_t>>
embeddableModel(llvm::StringRef path, const runtime::Program &program);

/// `kiln export`: writes to `outPath` the forward ONNX model of `model` (a
/// training artifact, or the ONNX model itself) with every initializer that
/// the safetensors `checkpoint` holds replaced by its value (same dtype and
/// shape, or an error naming it). Written atomically.
llvm::Error exportModel(llvm::StringRef model, llvm::StringRef checkpoint,
                        llvm::StringRef outPath);

} // namespace kiln

#endif // KILN_COMPILER_EXPORT_H
