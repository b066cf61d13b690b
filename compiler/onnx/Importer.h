//===- Importer.h - ONNX models into the kiln graph dialect ---------------===//
//
// The importer's public API. It reads a ModelProto (binary `.onnx`, or ONNX's
// textual syntax in `.onnxtxt`), resolves symbolic dimensions, folds shape
// computations and converts every node into kiln ops of one function,
// `@forward`, with static shapes.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_COMPILER_ONNX_IMPORTER_H
#define KILN_COMPILER_ONNX_IMPORTER_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace kiln::onnx {

struct ImportOptions {
  /// Sizes for graph inputs with symbolic or unknown dimensions, by input
  /// name (`--input-shape NAME=D0,D1,...`). A shape given here must agree with
  /// the model's static sizes.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Graph inputs whose values are fixed at compile time (a shape or axes
  /// tensor a model takes as an input): they become constants, which shape
  /// computations fold, and are no longer inputs of @forward.
  llvm::StringMap<mlir::DenseElementsAttr> constantInputs;
  /// When positive, the size of every input's first dimension that the
  /// model leaves symbolic (`kiln train --batch`); an input whose first
  /// dimension is static and different is an error (unless
  /// `batchSizeIfSymbolic`: then it stays as the model has it).
  int64_t batchSize = 0;
  bool batchSizeIfSymbolic = false;
  /// Import training-mode BatchNormalization (whose updated statistics the
  /// graph does not use) in its inference form, on the running statistics.
  /// Set when compiling for training: @forward then evaluates as PyTorch's
  /// eval mode does, and kiln-build-train-step builds the training form and
  /// the statistics update in @train_step.
  bool batchNormForTraining = false;
  /// Initializers at or above this many bytes are stored as MLIR resources
  /// (blobs, printed separately) instead of inline dense attributes.
  size_t resourceThresholdBytes = 1024;
};

/// Imports the model at `path`. Errors and warnings are reported through the
/// context's diagnostics, each naming the file and, where there is one, the
/// node, op and tensor; on any error the result is null.
mlir::OwningOpRef<mlir::ModuleOp> importModel(llvm::StringRef path,
                                              const ImportOptions &options,
                                              mlir::MLIRContext &context);

/// Parses `--input-shape` values: "NAME=D0,D1,...". Returns false and sets
/// `error` when malformed.
bool parseInputShape(llvm::StringRef text, std::string &name,
                     llvm::SmallVector<int64_t> &shape, std::string &error);

} // namespace kiln::onnx

#endif // KILN_COMPILER_ONNX_IMPORTER_H
